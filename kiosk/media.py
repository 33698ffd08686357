"""Small images the server makes: style/scene thumbnails (made once, kept in the store so
every booth server shares them) and QR codes."""

from __future__ import annotations

import io

import qrcode
from PIL import Image, ImageOps
from qrcode.constants import ERROR_CORRECT_M

from kiosk.storage import FileStore, encode
from render.files import sha256_bytes

THUMB_SIZE = (360, 270)


def _source(kind: str, name: str) -> Image.Image:
    if kind == "styles":
        from render.styles import style_preset

        return Image.open(style_preset(name).path)
    from render.scenes import load_scene

    return load_scene(name)


def thumbnail_key(kind: str, name: str) -> str:
    """The store key of a style's or scene's thumbnail (``kind``: styles | scenes)."""
    return f"cache/thumbs/{kind}/{name}.jpg"


def thumbnail(store: FileStore, kind: str, name: str) -> str:
    """The key of a small JPEG of a style or scene, made once and kept in the store (a
    second booth server finds the first one's). Blocking: call it off the event loop."""
    key = thumbnail_key(kind, name)
    if store.stat(key) is None:
        with _source(kind, name) as image:
            thumb = ImageOps.fit(image.convert("RGB"), THUMB_SIZE, Image.Resampling.LANCZOS)
        data = encode(thumb, quality=85)
        store.put(key, data, sha256=sha256_bytes(data))
    return key


def qr_png(url: str, box_size: int = 10) -> bytes:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(url)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer)
    return buffer.getvalue()
