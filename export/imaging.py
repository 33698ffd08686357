"""Pixels for print: resampling in linear light, alpha hardening, tagged PNG files.

Exports start from the print master, painted at the product's print size, so a tee keeps
the art's own pixels and a sticker or a mug (written at 300 DPI from art of at least 150)
enlarges at most about 2×. Upscaling uses Lanczos (OpenCV ``INTER_LANCZOS4``) on 16-bit linear
light, so bright and dark edges keep their weight, followed by a mild unsharp mask in the
gamma-encoded image. Downscaling averages areas first.
"""

from __future__ import annotations

import io
import math
import struct
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms, PngImagePlugin

from export.specs import DPI, TAG_PREFIX
from render.files import atomic_write

PNG_COMPRESS_LEVEL = 3  # zlib level: 6 is 3× slower on a tee for ~10 % smaller files
SHARPEN_AMOUNT = 0.35  # unsharp mask strength after an upscale; mild on purpose
SHARPEN_MIN_SCALE = 1.25  # below this upscale factor the picture is left as it is
HARDEN_HIGH = 128  # alpha at least this: surely a person
HARDEN_LOW = 64  # at least this and touching a person: part of them


@cache
def srgb_icc() -> bytes:
    """LittleCMS's sRGB profile with a fixed creation date, so equal exports are equal bytes."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[24:36] = struct.pack(">6H", 2024, 1, 1, 0, 0, 0)  # header dateTimeNumber
    return bytes(profile)


@cache
def _linear_lut() -> np.ndarray:
    """uint8 sRGB → uint16 linear light."""
    x = np.arange(256) / 255.0
    linear = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    return np.round(linear * 65535).astype(np.uint16)


@cache
def _srgb_lut() -> np.ndarray:
    """uint16 linear light → uint8 sRGB."""
    y = np.arange(65536) / 65535.0
    encoded = np.where(y <= 0.0031308, y * 12.92, 1.055 * y ** (1 / 2.4) - 0.055)
    return np.round(encoded * 255).astype(np.uint8)


def _scaled(
    src: np.ndarray,
    scale: float,
    origin: tuple[float, float],
    size: tuple[int, int],
    *,
    interpolation: int,
    border: int,
) -> np.ndarray:
    """Output pixel (u, v) shows source point ``origin + (u, v) / scale``, to within a pixel.

    ``cv2.resize`` is separable and many times faster than a general warp: the source window
    under the output (plus the filter's reach, padded past the edge with ``border``) is
    resized as a whole and the output cut from it at the nearest whole pixel.
    """
    width, height = size
    ox, oy = origin
    reach = 4 + math.ceil(1 / scale)
    x0, y0 = math.floor(ox) - reach, math.floor(oy) - reach
    x1, y1 = math.ceil(ox + width / scale) + reach, math.ceil(oy + height / scale) + reach
    sh, sw = src.shape[:2]
    pads = (max(0, -y0), max(0, y1 - sh), max(0, -x0), max(0, x1 - sw))
    window = src[max(0, y0) : min(sh, y1), max(0, x0) : min(sw, x1)]
    if any(pads):
        window = cv2.copyMakeBorder(window, *pads, border, value=0)
    big = cv2.resize(
        window,
        (round((x1 - x0) * scale), round((y1 - y0) * scale)),
        interpolation=interpolation if scale > 1 else cv2.INTER_AREA,
    )
    u0, v0 = round((ox - x0) * scale), round((oy - y0) * scale)
    return np.ascontiguousarray(big[v0 : v0 + height, u0 : u0 + width])


def resample(
    rgb: np.ndarray, scale: float, origin: tuple[float, float], size: tuple[int, int]
) -> np.ndarray:
    """An RGB uint8 view of ``rgb`` scaled by ``scale`` from ``origin``, ``size`` = (w, h).

    Pixels beyond the source's edge mirror it (the art extends, it does not turn black).
    """
    linear = _linear_lut()[rgb]
    out = _scaled(
        linear, scale, origin, size, interpolation=cv2.INTER_LANCZOS4, border=cv2.BORDER_REFLECT_101
    )
    out = _srgb_lut()[out]
    if scale >= SHARPEN_MIN_SCALE:
        sigma = min(3.0, max(1.0, 0.5 * scale))
        blurred = cv2.GaussianBlur(out, (0, 0), sigma)
        out = cv2.addWeighted(out, 1 + SHARPEN_AMOUNT, blurred, -SHARPEN_AMOUNT, 0)
    return out


def resample_alpha(
    alpha: np.ndarray, scale: float, origin: tuple[float, float], size: tuple[int, int]
) -> np.ndarray:
    """A uint8 alpha resampled like ``resample``; nothing beyond the source's edge."""
    return _scaled(
        alpha, scale, origin, size, interpolation=cv2.INTER_CUBIC, border=cv2.BORDER_CONSTANT
    )


def harden(alpha: np.ndarray, min_area: int, smooth: int = 0) -> np.ndarray:
    """A 0/255 alpha for print: no pixel half transparent.

    DTG printers lay a white underbase under every pixel that is not fully transparent, so a
    soft edge prints as a pale halo; hard edges at print resolution look smooth. Pixels of at
    least 50 % are people, and so are pixels of at least 25 % joined to them (hysteresis:
    an uncertain patch inside a person stays whole instead of turning to lace). Specks and
    pinholes smaller than ``min_area`` px go; ``smooth`` px closes and opens ragged edges.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (alpha >= HARDEN_LOW).view(np.uint8), connectivity=8
    )
    anchored = np.bincount(labels[alpha >= HARDEN_HIGH], minlength=count) > 0
    keep = anchored & (stats[:, cv2.CC_STAT_AREA] >= min_area)
    keep[0] = False  # label 0: the background
    solid = keep[labels].view(np.uint8)
    if smooth:
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * smooth + 1, 2 * smooth + 1))
        solid = cv2.morphologyEx(solid, cv2.MORPH_CLOSE, disk)
        solid = cv2.morphologyEx(solid, cv2.MORPH_OPEN, disk)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(1 - solid, connectivity=4)
    x, y, w, h, area = stats.T
    height, width = solid.shape
    pinhole = (area < min_area) & (x > 0) & (y > 0) & (x + w < width) & (y + h < height)
    pinhole[0] = False  # label 0: the people
    return (solid.astype(bool) | pinhole[labels]).astype(np.uint8) * np.uint8(255)


def png_bytes(pixels: np.ndarray, tag: str, dpi: float = DPI) -> bytes:
    """PNG with the sRGB ICC profile, ``dpi`` and the product tag; RGB or RGBA uint8."""
    mode = "RGBA" if pixels.shape[2] == 4 else "RGB"
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "StyleBooth")
    info.add_text(TAG_PREFIX, tag)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(
        buffer,
        "PNG",
        pnginfo=info,
        icc_profile=srgb_icc(),
        dpi=(dpi, dpi),
        compress_level=PNG_COMPRESS_LEVEL,
    )
    return buffer.getvalue()


def save_png(path: Path, pixels: np.ndarray, tag: str, *, dpi: float = DPI) -> Path:
    with atomic_write(path) as stream:
        stream.write(png_bytes(pixels, tag, dpi))
    return path
