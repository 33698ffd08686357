"""Photos as the tests send them: a generated stand-in for a guest's photo, for tests of pure
logic (uploads, decoding, storage, the queue: no shared data, the same picture on every run),
and any picture encoded or thumbnailed the way a phone sends it."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

PHOTO_SIZE = (600, 399)  # the shared kit's hiker.jpg: landscape, odd height


def guest_photo(size: tuple[int, int] = PHOTO_SIZE) -> Image.Image:
    """A photo-like RGB picture: a sky-to-ground gradient, a figure with a head, and seeded
    noise (so JPEG and PNG sizes behave like a camera's, not like a flat fill). Asymmetric, so
    a rotation or a mirror shows."""
    width, height = size
    rows = np.linspace(0.0, 1.0, height)[:, None, None]
    sky, ground = np.array([120.0, 170.0, 230.0]), np.array([70.0, 110.0, 50.0])
    pixels = np.broadcast_to(sky * (1 - rows) + ground * rows, (height, width, 3)).copy()
    rng = np.random.default_rng(20261202)
    pixels += rng.normal(0.0, 12.0, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    x, y = width * 0.3, height * 0.25  # left of centre: asymmetric
    unit = min(width, height) / 10
    draw.ellipse((x - unit, y - unit, x + unit, y + unit), fill=(224, 172, 140))
    draw.rectangle((x - 1.6 * unit, y + unit, x + 1.6 * unit, height), fill=(200, 40, 40))
    draw.rectangle((width * 0.8, height * 0.1, width * 0.95, height * 0.3), fill=(250, 230, 90))
    return image


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    """The picture as a file of format ``fmt``, in memory."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def guest_jpeg(side: int = 320, quality: int = 85) -> bytes:
    """The generated photo thumbnailed to ``side`` as a JPEG: a guest's upload."""
    return thumbnail_jpeg(guest_photo(), side, quality)


def thumbnail_jpeg(image: Image.Image, side: int, quality: int = 85) -> bytes:
    """``image`` shrunk to fit ``side`` (never enlarged) as a JPEG, the way a phone sends it."""
    image = image.convert("RGB")
    image.thumbnail((side, side))
    return encode(image, "JPEG", quality=quality)
