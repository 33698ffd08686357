"""Static files of the browser booth and admin pages."""
