"""Loading images from guests and operators: every bad input becomes a clear ``ImageError``.

One function, ``load_image``, for the booth, the worker and the CLI. It accepts a path, bytes,
a binary file object or a PIL image and returns an upright 8-bit RGB (or RGBA) image:
EXIF rotation applied, CMYK / 16-bit / palette / grayscale converted, transparency flattened
onto white unless asked to keep it. Oversized images (decompression bombs) are refused before
their pixels are decoded.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

ImageSource = str | Path | bytes | bytearray | BinaryIO | Image.Image

MAX_PIXELS = 50_000_000  # 50 MP: larger than any camera the booth meets, smaller than a bomb
MIN_SIDE = 16


class ImageError(ValueError):
    """The input is not an image the booth can use; the message says why, for a person."""


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError("the file is empty")
        stream: BinaryIO = io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"no such file: {path}")
        if path.stat().st_size == 0:
            raise ImageError(f"{path.name} is empty")
        stream = path.open("rb")
    else:
        stream = source
    try:
        with warnings.catch_warnings():
            # Only the header is read here; load_image checks the size before decoding.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(stream)
    except UnidentifiedImageError as exc:
        raise ImageError("not an image, or an image format we cannot read") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"the image is far too large ({exc})") from exc


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and float images scaled (not clipped) to 8-bit."""
    if image.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I"}:
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        return Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        top = 1.0 if array.max() <= 1.0 else 255.0
        return Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return image


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    profile = image.info.get("icc_profile")
    if profile:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            return ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
        except (ImageCms.PyCMSError, OSError):
            pass
    # Adobe/JPEG CMYK is often stored inverted; PIL's plain conversion handles the usual case.
    return image.convert("RGB")


def load_image(
    source: ImageSource,
    *,
    keep_alpha: bool = False,
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
) -> Image.Image:
    """An upright 8-bit RGB image (RGBA with ``keep_alpha``), or ``ImageError``."""
    image = _open(source)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"the image is {width}×{height} ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {max_pixels / 1e6:.0f} megapixels"
        )
    if min(width, height) < min_side:
        raise ImageError(
            f"the image is only {width}×{height} pixels; it needs at least {min_side} per side"
        )
    try:
        image.load()
        image = ImageOps.exif_transpose(image) or image
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"the image file is truncated or corrupt ({exc})") from exc
    image = _to_8bit(image)
    if image.mode == "CMYK":
        image = _cmyk_to_rgb(image)
    has_alpha = image.mode in {"RGBA", "LA", "PA"} or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        if keep_alpha:
            return rgba
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    rgb = image.convert("RGB")
    return rgb.convert("RGBA") if keep_alpha else rgb
