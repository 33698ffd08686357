"""Where a capture's files live in the data directory, and writing them safely.

Every file of a capture sits in ``captures/<capture_id>/`` (easy to purge); the database
stores paths relative to the data directory. Files are written to a temporary name and
renamed into place, so a killed worker never leaves half an image, and the server never
serves one. Routes never take a path from a URL: they look a row up by id and serve its path.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from render.files import sha256_bytes, write_atomic

PHOTO = "photo.jpg"
MAX_PHOTO_SIDE = 3072  # the stored photo; renders and prints never need more
# The largest guest photo: what a camera makes (6000×4000). A 49 MP file is not a photo a
# booth meets; decoding a dozen of them at once took the server to 2.6 GB (issue 10).
MAX_GUEST_PIXELS = 24_000_000
PENDING_PREFIX = ".pending-"  # a guest photo whose database row is not committed yet


def capture_dir(capture_id: str) -> Path:
    """The capture's folder, relative to the data directory (ids are hex: no traversal)."""
    if not capture_id.isalnum():
        raise ValueError(f"not a capture id: {capture_id!r}")
    return Path("captures") / capture_id


def resolve(data_dir: Path, relative: str | Path) -> Path:
    """The absolute path of a stored file; refuses anything outside the data directory."""
    root = data_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"path outside the data directory: {relative}")
    return path


def pending_path(path: Path) -> Path:
    """Where a file waits for its database row: the server writes the guest's photo here,
    inserts the row, and only then renames it into place (``kiosk.guest``)."""
    return path.with_name(PENDING_PREFIX + path.name)


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image = image.convert("RGB")
        options = {"quality": 92, "optimize": True, **options}
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def save_image(path: Path, image: Image.Image, fmt: str = "JPEG", **options: object) -> str:
    """Write the image atomically; return the sha256 of the file."""
    data = encode(image, fmt, **options)
    write_atomic(path, data)
    return sha256_bytes(data)
