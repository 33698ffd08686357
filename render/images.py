"""Loading images from guests and operators: every bad input becomes a clear ``ImageError``.

One function, ``load_image``, for the booth, the worker and the CLI. It accepts a path, bytes,
a binary file object or a PIL image and returns an upright 8-bit RGB (or RGBA) image:
EXIF rotation applied, CMYK / 16-bit / palette / grayscale converted, transparency flattened
onto white unless asked to keep it. Oversized images (decompression bombs) are refused before
their pixels are decoded.

Pillow's decoders report a damaged file in many ways besides ``OSError`` ("Truncated File
Read", ``SyntaxError`` from a header parser, ``struct.error``, ``EOFError``, ``IndexError``,
``NotImplementedError`` for an unsupported variant, ``ValueError`` from a conversion...). A
guest's file is untrusted input, so everything from opening to the last conversion runs in one
guarded block and any of these becomes an ``ImageError``: the booth answers 400 with a sentence,
never a 500 (tests/unit/test_images_fuzz.py mutates files of many formats to hold it to that).
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from render.errors import StyleBoothError
from render.files import sha256_bytes

ImageSource = str | Path | bytes | bytearray | IO[bytes] | Image.Image

MAX_PIXELS = 50_000_000  # 50 MP: larger than any camera the booth meets, smaller than a bomb
MIN_SIDE = 16


class ImageError(StyleBoothError, code="bad_image"):
    """The input is not an image the booth can use; the message says why, for a person."""


def _open(source: ImageSource) -> tuple[Image.Image, IO[bytes] | None]:
    """The image with only its header read, and the file this call opened (to close), if any."""
    if isinstance(source, Image.Image):
        return source, None
    owned: IO[bytes] | None = None
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError("the file is empty")
        stream: IO[bytes] = io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"no such file: {path}")
        if path.stat().st_size == 0:
            raise ImageError(f"{path.name} is empty")
        stream = owned = path.open("rb")
    else:
        stream = source
        if stream.seekable():
            start = stream.tell()
            empty = not stream.read(1)
            stream.seek(start)
            if empty:
                raise ImageError("the file is empty")
    try:
        with warnings.catch_warnings():
            # Only the header is read here; load_image checks the size before decoding.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(stream), owned
    except UnidentifiedImageError as exc:
        _close(owned)
        raise ImageError("not an image, or an image format we cannot read") from exc
    except Image.DecompressionBombError as exc:
        _close(owned)
        raise ImageError(f"the image is far too large ({exc})") from exc
    except Exception as exc:  # a header parser tripping over a damaged file (see module doc)
        _close(owned)
        raise ImageError(f"the image file is truncated or corrupt ({_reason(exc)})") from exc


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        stream.close()


def _reason(exc: BaseException) -> str:
    """The decoder's own words, short: enough for an operator, harmless for a guest."""
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


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
            converted = ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
            if converted is not None:  # None only when converting in place
                return converted
        except (ImageCms.PyCMSError, OSError):
            pass
    # Adobe/JPEG CMYK is often stored inverted; PIL's plain conversion handles the usual case.
    return image.convert("RGB")


def _draft(image: Image.Image, reduce_to: int) -> None:
    """Let the JPEG decoder scale by 1/2, 1/4 or 1/8 while decoding (a DCT-domain reduction:
    a quarter of the memory and time per halving), never below ``reduce_to`` on the long side.
    Pillow's ``draft`` keeps both sides at least the requested size, so ask for the fitted
    size of the image's own aspect."""
    if image.format != "JPEG":
        return
    width, height = image.size
    scale = reduce_to / max(width, height)
    if scale < 0.5:  # draft only ever halves; nothing to gain above that
        image.draft(None, (max(1, int(width * scale)), max(1, int(height * scale))))


def _finish(image: Image.Image, keep_alpha: bool, ours: bool) -> Image.Image:
    """Decode the pixels and bring them to 8-bit upright RGB or RGBA. An image this module
    opened (``ours``) is rotated in place and not copied when it already is RGB: a 24 MP
    photo is 96 MB of pixels, and every needless copy is another 96 MB at the peak."""
    image.load()
    if ours:
        ImageOps.exif_transpose(image, in_place=True)
    else:
        image = ImageOps.exif_transpose(image) or image
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
    if keep_alpha:
        return image.convert("RGBA")
    return image if ours and image.mode == "RGB" else image.convert("RGB")


def load_image(
    source: ImageSource,
    *,
    keep_alpha: bool = False,
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
    reduce_to: int | None = None,
) -> Image.Image:
    """An upright 8-bit RGB image (RGBA with ``keep_alpha``), or ``ImageError``.

    ``max_pixels`` applies to the file's own size, read from its header before any pixel is
    decoded. With ``reduce_to``, a JPEG may be decoded at 1/2, 1/4 or 1/8 scale as long as its
    long side stays at least ``reduce_to`` (the caller still fits it to its final size).
    """
    image, owned = _open(source)
    try:
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
            if reduce_to is not None:
                _draft(image, reduce_to)
            return _finish(image, keep_alpha, ours=not isinstance(source, Image.Image))
        except ImageError:
            raise
        except MemoryError:
            raise  # the pixel limit keeps a sane file far from this: a real shortage, not input
        except Exception as exc:  # any decoder failure is bad input (see the module doc)
            raise ImageError(f"the image file is truncated or corrupt ({_reason(exc)})") from exc
    finally:
        _close(owned)


def fit_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(width, height) with the same aspect ratio and its longer side ``long_side``."""
    width, height = size
    factor = long_side / max(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def fit_long_side(image: Image.Image, long_side: int, *, enlarge: bool = True) -> Image.Image:
    """Resized so its longer side is ``long_side``, aspect ratio kept (LANCZOS); with
    ``enlarge=False`` an image already that small is kept as it is (a cap, never upscaled)."""
    if not enlarge and max(image.size) <= long_side:
        return image
    size = fit_size(image.size, long_side)
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def fit_area(image: Image.Image, area: float) -> Image.Image:
    """Resized to about ``area`` pixels (aspect ratio kept), never above its own size."""
    scale = min(1.0, math.sqrt(area / (image.width * image.height)))
    size = (max(16, round(image.width * scale)), max(16, round(image.height * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def image_digest(image: Image.Image) -> str:
    """sha256 of the decoded pixels: the same picture hashes the same whatever its file."""
    rgb = image.convert("RGB")
    return sha256_bytes(f"{rgb.width}x{rgb.height}".encode(), rgb.tobytes())
