"""Print-ready merchandise files: tee, sticker, mug."""
