"""Small images the server makes: style/scene thumbnails (cached on disk) and QR codes."""

from __future__ import annotations

import io
from pathlib import Path

import qrcode
from PIL import Image, ImageOps
from qrcode.constants import ERROR_CORRECT_M

from kiosk.storage import encode
from render.files import write_atomic

THUMB_SIZE = (360, 270)


def _source(kind: str, name: str) -> Image.Image:
    if kind == "styles":
        from render.styles import style_preset

        return Image.open(style_preset(name).path)
    from render.scenes import load_scene

    return load_scene(name)


def thumbnail(cache_dir: Path, kind: str, name: str) -> Path:
    """A small JPEG of a style or scene, made once (``kind``: styles | scenes)."""
    path = cache_dir / kind / f"{name}.jpg"
    if not path.is_file():
        with _source(kind, name) as image:
            thumb = ImageOps.fit(image.convert("RGB"), THUMB_SIZE, Image.Resampling.LANCZOS)
        write_atomic(path, encode(thumb, quality=85))
    return path


def qr_png(url: str, box_size: int = 10) -> bytes:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(url)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer)
    return buffer.getvalue()
