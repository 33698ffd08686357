"""StyleBooth kiosk: the aiohttp server, its routes, the render worker and the CLI."""

__version__ = "0.1.0"
