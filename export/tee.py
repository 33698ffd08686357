"""Tee (DTG front): a PNG at the art's own resolution with hard alpha, and a one-page PDF proof.

The print area depends on the shirt's size (``specs.TEE_SIZES``: 12×16 in from M up). The
design sits at the top of it, centred, as large as fits. "full" prints the whole picture as a
rectangle; "people" prints only the people (cropped to them) on a transparent ground.
Transparent pixels get no ink and no white underbase; every other pixel is fully opaque,
because a half-transparent edge prints as a pale halo of underbase.

The PNG is never an enlargement: its DPI is the art's pixels over the design's inches
(at most ``DPI``; bigger art is reduced), so a 1800×2400 print master fills a 12×16 in area
at 150 DPI, and a 384×512 booth painting would be 32 DPI, which the preflight refuses.

The people's edge is the picture's least trustworthy colour: the cut-out blended the old
background into it and the painting smeared the scene over it, so a light scene leaves a light
rim that a black shirt shows as a white fringe. The edge band is recoloured from the people's
inside, and on a black shirt the design is also choked (shrunk) a little, as print shops
choke an underbase on dark garments.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    art_facts,
    effective_dpi,
    product_tag,
    tee_size,
)

MIN_SPECK_IN = 0.04  # isolated bits smaller than this square are dropped from the design
SMOOTH_IN = 0.02  # ragged mask edges are closed and opened at this radius
EDGE_BAND_IN = 0.03  # the people's rim recoloured from their inside
CHOKE_IN = 0.01  # a black shirt's design is shrunk by this much all round
CHECKER_IN = 0.25
SHIRT_RGB = {"white": (255, 255, 255), "black": (24, 24, 26)}  # as the proof and preview show it
CHECKER_SHADE = {"white": -23, "black": 22}  # the proof's second checker square, on the shirt


@dataclass(frozen=True)
class TeeDesign:
    """The print area's pixels and where the art lies in it."""

    rgba: np.ndarray  # the print area at ``dpi``: the design at the top, transparent elsewhere
    shape: str  # "people" or "rectangle"
    dpi: float  # pixels per inch of ``rgba``
    art_dpi: float  # the art's own pixels per inch as printed (above ``dpi`` when reduced)
    design_in: tuple[float, float]  # the design's printed size
    frame: tuple[int, int, int, int]  # the part of the art printed (x0, y0, x1, y1)


def _people_frame(art: Artwork) -> tuple[int, int, int, int]:
    """The people's box with a margin, in whole art pixels."""
    x0, y0, x1, y1 = art.people_box  # type: ignore[misc]
    pad = TEE_PEOPLE_MARGIN * max(x1 - x0, y1 - y0)
    width, height = art.size
    return (
        max(0, round(x0 - pad)),
        max(0, round(y0 - pad)),
        min(width, round(x1 + pad)),
        min(height, round(y1 + pad)),
    )


def design(art: Artwork, options: dict[str, Any], dpi: float | None = None) -> TeeDesign:
    """The design for these (normalised) options; at the art's own resolution (at most
    ``DPI``) unless ``dpi`` asks for another (a preview)."""
    area = tee_size(options["size"])
    people = options["layout"] == "people" and art.people_box is not None
    x0, y0, x1, y1 = _people_frame(art) if people else (0, 0, *art.size)
    crop_w, crop_h = x1 - x0, y1 - y0
    fit = min(area.width_in / crop_w, area.height_in / crop_h)  # inches per art pixel
    design_in = (crop_w * fit, crop_h * fit)
    art_dpi = effective_dpi((crop_w, crop_h), design_in)
    dpi = min(float(DPI), art_dpi) if dpi is None else dpi
    width, height = area.at(dpi)
    scale = dpi * fit  # design pixels per art pixel: at most 1 for a print file
    w, h = min(width, round(crop_w * scale)), min(height, round(crop_h * scale))
    native = abs(scale - 1) < 1e-9
    rgb = (
        art.rgb[y0 : y0 + h, x0 : x0 + w] if native else resample(art.rgb, scale, (x0, y0), (w, h))
    )
    if people:
        assert art.alpha is not None
        if native:
            soft = art.alpha[y0 : y0 + h, x0 : x0 + w]
        else:
            soft = resample_alpha(art.alpha, scale, (x0, y0), (w, h))
        alpha = harden(soft, round((MIN_SPECK_IN * dpi) ** 2), smooth=round(SMOOTH_IN * dpi))
        if options["colour"] == "black":
            alpha = _choke(alpha, CHOKE_IN * dpi)
        rgb = _clean_edge(rgb, alpha, max(2.0, EDGE_BAND_IN * dpi))
        rgb = cv2.bitwise_and(rgb, rgb, mask=alpha)  # no colour where nothing prints
    else:
        alpha = np.full((h, w), 255, np.uint8)
    left = (width - w) // 2
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[:h, left : left + w] = cv2.merge([*cv2.split(np.ascontiguousarray(rgb)), alpha])
    shape = "people" if people else "rectangle"
    return TeeDesign(rgba, shape, dpi, art_dpi, design_in, (x0, y0, x1, y1))


def _choke(alpha: np.ndarray, radius: float) -> np.ndarray:
    """The hard alpha shrunk by ``radius`` px (at least one)."""
    inside = cv2.distanceTransform((alpha > 0).view(np.uint8), cv2.DIST_L2, 5)
    return (inside > max(1.0, radius)).astype(np.uint8) * np.uint8(255)


def _clean_edge(rgb: np.ndarray, alpha: np.ndarray, band: float) -> np.ndarray:
    """The people's colours with the rim ``band`` px wide taken from their inside.

    Normalised convolution: each rim pixel becomes the Gaussian-weighted mean of the inside
    pixels near it, so the rim continues the person's own colours instead of the scene's.
    A part too thin to have an inside (a strand of hair) keeps its colour.
    """
    depth = cv2.distanceTransform((alpha > 0).view(np.uint8), cv2.DIST_L2, 5)
    rim = (alpha > 0) & (depth <= band)
    inside = (depth > band).astype(np.float32)
    if not rim.any() or not inside.any():
        return rgb
    sigma = band
    weight = cv2.GaussianBlur(inside, (0, 0), sigma)
    spread = cv2.GaussianBlur(rgb.astype(np.float32) * inside[..., None], (0, 0), sigma)
    reach = rim & (weight > 1e-3)
    out = rgb.copy()
    out[reach] = np.clip(spread[reach] / weight[reach][:, None] + 0.5, 0, 255).astype(np.uint8)
    return out


def _checkerboard(width: int, height: int, cell: int, colour: str) -> np.ndarray:
    """The shirt's colour in checks: where the proof shows it, nothing is printed."""
    base = np.array(SHIRT_RGB[colour], np.int16)
    tile = np.broadcast_to(base, (2 * cell, 2 * cell, 3)).copy()
    tile[:cell, :cell] = tile[cell:, cell:] = base + CHECKER_SHADE[colour]
    reps = (height // (2 * cell) + 1, width // (2 * cell) + 1, 1)
    return np.tile(tile, reps)[:height, :width].astype(np.uint8)


def _proof(tee: TeeDesign, options: dict[str, Any], path: Path, png_name: str, tag: str) -> Path:
    size = tee_size(options["size"])
    proof_dpi = min(TEE_PROOF_DPI, tee.dpi)  # never more pixels than the print file has
    small_w, small_h = size.at(proof_dpi)
    small = cv2.resize(tee.rgba, (small_w, small_h), interpolation=cv2.INTER_AREA)
    # transparent pixels hold no colour, so the shrunk colour is premultiplied by coverage
    board = _checkerboard(
        small_w, small_h, max(1, round(CHECKER_IN * proof_dpi)), options["colour"]
    )
    cover = small[..., 3:].astype(np.float32) / 255
    shown = np.round(small[..., :3] + board * (1 - cover)).clip(0, 255).astype(np.uint8)

    margin, caption = TEE_PROOF_MARGIN_IN * 72, TEE_PROOF_CAPTION_IN * 72
    trim_w, trim_h = size.points
    trim = (margin, caption, margin + trim_w, caption + trim_h)
    media = (0.0, 0.0, trim_w + 2 * margin, caption + trim_h + margin)
    page = PrintPage(
        PageBoxes(media=media, bleed=trim, trim=trim), title="StyleBooth tee proof", tag=tag
    )
    page.image(shown, trim, jpeg_quality=90)
    page.rule(trim)
    what = (
        "the people only, on a transparent ground" if tee.shape == "people" else "the full picture"
    )
    height, width = tee.rgba.shape[:2]
    design_w, design_h = tee.design_in
    page.text(
        margin,
        caption - 22,
        f"StyleBooth tee · DTG front · {options['size']} · {options['colour']} shirt · proof",
        size=14,
        bold=True,
    )
    page.text(
        margin,
        caption - 38,
        f"Print file {png_name}: {width}×{height} px at {tee.dpi:.0f} DPI, sRGB; print area "
        f"{size.width_in:g}×{size.height_in:g} in (outlined); design {design_w:.2f}×"
        f"{design_h:.2f} in: {what}.",
    )
    page.text(
        margin,
        caption - 52,
        f"Checks in the shirt's colour ({options['colour']}) = transparent, not printed. "
        f"This proof shows the design at {proof_dpi:.0f} DPI.",
    )
    return page.save(path)


def make(art: Artwork, options: dict[str, Any], out_dir: Path, stem: str) -> dict[str, Path]:
    tee = design(art, options)
    tag = product_tag("tee", options, shape=tee.shape, **art_facts(art.size, tee.art_dpi))
    png = save_png(out_dir / f"{stem}.png", tee.rgba, tag, dpi=tee.dpi)
    proof = _proof(tee, options, out_dir / f"{stem}-proof.pdf", png.name, tag)
    return {"png": png, "pdf": proof}
