"""Tee (DTG front): a 12×16 in, 300 DPI PNG with hard alpha, and a one-page PDF proof.

The design sits at the top of the print area, centred, as large as fits. "full" prints the
whole picture as a rectangle; "people" prints only the people (cropped to them) on a
transparent ground. Transparent pixels get no ink and no white underbase; every other pixel is
fully opaque, because a half-transparent edge prints as a pale halo of underbase.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from export.artwork import Artwork
from export.imaging import harden, resample, resample_alpha, save_png
from export.pdf import PageBoxes, PrintPage
from export.specs import (
    DPI,
    TEE_PEOPLE_MARGIN,
    TEE_PROOF_CAPTION_IN,
    TEE_PROOF_DPI,
    TEE_PROOF_MARGIN_IN,
    product_tag,
    tee_size,
)

MIN_SPECK_IN = 0.04  # isolated bits smaller than this square are dropped from the design
SMOOTH_IN = 0.02  # ragged mask edges are closed and opened at this radius
CHECKER_IN = 0.25


def _people_frame(art: Artwork) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = art.people_box  # type: ignore[misc]
    pad = TEE_PEOPLE_MARGIN * max(x1 - x0, y1 - y0)
    width, height = art.size
    return max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)


def design(art: Artwork, layout: str) -> tuple[np.ndarray, str]:
    """The 3600×4800 RGBA design and its shape ("people" or "rectangle")."""
    width, height = tee_size().pixels
    people = layout == "people" and art.people_box is not None
    x0, y0, x1, y1 = _people_frame(art) if people else (0, 0, *art.size)
    scale = min(width / (x1 - x0), height / (y1 - y0))
    w, h = min(width, round((x1 - x0) * scale)), min(height, round((y1 - y0) * scale))
    left = (width - w) // 2
    rgb = resample(art.rgb, scale, (x0, y0), (w, h))
    if people:
        soft = resample_alpha(art.alpha, scale, (x0, y0), (w, h))  # type: ignore[arg-type]
        alpha = harden(soft, round((MIN_SPECK_IN * DPI) ** 2), smooth=round(SMOOTH_IN * DPI))
        rgb = cv2.bitwise_and(rgb, rgb, mask=alpha)  # no colour where nothing prints
    else:
        alpha = np.full((h, w), 255, np.uint8)
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[:h, left : left + w] = cv2.merge([*cv2.split(rgb), alpha])
    return rgba, "people" if people else "rectangle"


def _checkerboard(width: int, height: int, cell: int) -> np.ndarray:
    tile = np.full((2 * cell, 2 * cell), 255, np.uint8)
    tile[:cell, :cell] = tile[cell:, cell:] = 232
    reps = (height // (2 * cell) + 1, width // (2 * cell) + 1)
    return np.tile(tile, reps)[:height, :width]


def _proof(rgba: np.ndarray, path: Path, png_name: str, shape: str, tag: str) -> Path:
    size = tee_size()
    ratio = TEE_PROOF_DPI / DPI
    small_w, small_h = round(rgba.shape[1] * ratio), round(rgba.shape[0] * ratio)
    small = cv2.resize(rgba, (small_w, small_h), interpolation=cv2.INTER_AREA)
    # transparent pixels hold no colour, so the shrunk colour is premultiplied by coverage
    board = _checkerboard(small_w, small_h, round(CHECKER_IN * TEE_PROOF_DPI))
    backdrop = cv2.multiply(board, 255 - small[..., 3], scale=1 / 255)
    shown = cv2.add(np.ascontiguousarray(small[..., :3]), cv2.merge([backdrop] * 3))

    margin, caption = TEE_PROOF_MARGIN_IN * 72, TEE_PROOF_CAPTION_IN * 72
    trim_w, trim_h = size.points
    trim = (margin, caption, margin + trim_w, caption + trim_h)
    media = (0.0, 0.0, trim_w + 2 * margin, caption + trim_h + margin)
    page = PrintPage(
        PageBoxes(media=media, bleed=trim, trim=trim), title="StyleBooth tee proof", tag=tag
    )
    page.image(shown, trim, jpeg_quality=90)
    page.rule(trim)
    what = "the people only, on a transparent ground" if shape == "people" else "the full picture"
    page.text(margin, caption - 22, "StyleBooth tee · DTG front · proof", size=14, bold=True)
    page.text(
        margin,
        caption - 38,
        f"Print file {png_name}: {rgba.shape[1]}×{rgba.shape[0]} px at {DPI} DPI, sRGB; "
        f"print area {size.width_in:g}×{size.height_in:g} in (outlined); design: {what}.",
    )
    page.text(
        margin,
        caption - 52,
        f"Checkerboard = transparent, not printed. This proof shows the design at "
        f"{TEE_PROOF_DPI} DPI.",
    )
    return page.save(path)


def make(art: Artwork, options: dict[str, Any], out_dir: Path, stem: str) -> dict[str, Path]:
    rgba, shape = design(art, options["layout"])
    tag = product_tag("tee", options, shape=shape)
    png = save_png(out_dir / f"{stem}.png", rgba, tag)
    proof = _proof(rgba, out_dir / f"{stem}-proof.pdf", png.name, shape, tag)
    return {"png": png, "pdf": proof}
