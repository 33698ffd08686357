"""Mug wrap (11 oz 9×3.5 in, 15 oz 9×3.8 in): a 300 DPI PNG and a PDF with 1/16 in bleed.

The wrap's left and right ends meet at the handle; ``MUG_HANDLE_SAFE_IN`` at each end stays
blank in every layout. Layouts: "centred" (one picture opposite the handle), "sides" (one
picture on each side, seen whichever hand holds the mug) and "wrap" (the picture fills the
wrap between the safe zones, cropped around the people). White is no ink on a sublimation
mug, so blank areas are white.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from export.artwork import Artwork
from export.imaging import resample, save_png
from export.pdf import PageBoxes, PrintPage
from export.specs import (
    BLEED_IN,
    DPI,
    MUG_HANDLE_SAFE_IN,
    MUG_SIDES_GAP_IN,
    art_facts,
    mug_size,
    product_tag,
)


@dataclass(frozen=True)
class Placement:
    """Source window → destination rectangle (trim pixels, end exclusive)."""

    origin: tuple[float, float]  # source point at the rectangle's top-left corner
    scale: float
    rect: tuple[int, int, int, int]


def _contain(art: Artwork, box: tuple[int, int, int, int]) -> Placement:
    """The whole picture, as large as fits, centred in ``box``."""
    bx0, by0, bx1, by1 = box
    width, height = art.size
    scale = min((bx1 - bx0) / width, (by1 - by0) / height)
    w, h = round(width * scale), round(height * scale)
    x0, y0 = bx0 + (bx1 - bx0 - w) // 2, by0 + (by1 - by0 - h) // 2
    return Placement((0.0, 0.0), scale, (x0, y0, x0 + w, y0 + h))


def _cover(art: Artwork, box: tuple[int, int, int, int]) -> Placement:
    """The picture filling ``box``, cropped around the people (heads first)."""
    bx0, by0, bx1, by1 = box
    width, height = art.size
    scale = max((bx1 - bx0) / width, (by1 - by0) / height)
    win_w, win_h = (bx1 - bx0) / scale, (by1 - by0) / scale
    px0, py0, px1, py1 = art.people_box or (0, 0, width, height)
    left = (px0 + px1) / 2 - win_w / 2
    top = (py0 + py1) / 2 - win_h / 2 if py1 - py0 <= win_h else py0 - 0.05 * win_h
    left = min(max(left, 0.0), width - win_w)
    top = min(max(top, 0.0), height - win_h)
    return Placement((left, top), scale, box)


def placements(art: Artwork, size: str, layout: str, dpi: float = DPI) -> list[Placement]:
    width, height = mug_size(size).at(dpi)
    safe = round(MUG_HANDLE_SAFE_IN * dpi)
    usable = (safe, 0, width - safe, height)
    if layout == "centred":
        return [_contain(art, usable)]
    if layout == "wrap":
        return [_cover(art, usable)]
    gap = round(MUG_SIDES_GAP_IN * dpi)
    half = (width - 2 * safe - gap) // 2
    return [
        _contain(art, (safe, 0, safe + half, height)),
        _contain(art, (width - safe - half, 0, width - safe, height)),
    ]


def art_dpi(art: Artwork, size: str, layout: str) -> float:
    """The art's own pixels per inch on the mug (where it is enlarged most)."""
    return DPI / max(place.scale for place in placements(art, size, layout))


def render(art: Artwork, size: str, layout: str, bleed: int, dpi: float = DPI) -> np.ndarray:
    """RGB wrap at ``dpi`` with ``bleed`` px around it; pictures touching the trim run on
    into it."""
    width, height = mug_size(size).at(dpi)
    canvas = np.full((height + 2 * bleed, width + 2 * bleed, 3), 255, np.uint8)
    for place in placements(art, size, layout, dpi):
        x0, y0, x1, y1 = place.rect
        grow = [bleed if edge else 0 for edge in (x0 == 0, y0 == 0, x1 == width, y1 == height)]
        origin = (place.origin[0] - grow[0] / place.scale, place.origin[1] - grow[1] / place.scale)
        w, h = x1 - x0 + grow[0] + grow[2], y1 - y0 + grow[1] + grow[3]
        left, top = x0 + bleed - grow[0], y0 + bleed - grow[1]
        canvas[top : top + h, left : left + w] = resample(art.rgb, place.scale, origin, (w, h))
    return canvas


def make(art: Artwork, options: dict[str, Any], out_dir: Path, stem: str) -> dict[str, Path]:
    size, layout = options["size"], options["layout"]
    bleed = round(BLEED_IN * DPI + 0.5)
    canvas = render(art, size, layout, bleed)
    tag = product_tag("mug", options, **art_facts(art.size, art_dpi(art, size, layout)))
    height, width = canvas.shape[0] - 2 * bleed, canvas.shape[1] - 2 * bleed
    png = save_png(out_dir / f"{stem}.png", canvas[bleed:-bleed, bleed:-bleed], tag)

    pt, bleed_pt = 72 / DPI, BLEED_IN * 72
    trim_w, trim_h = width * pt, height * pt
    media = (0.0, 0.0, trim_w + 2 * bleed_pt, trim_h + 2 * bleed_pt)
    trim = (bleed_pt, bleed_pt, bleed_pt + trim_w, bleed_pt + trim_h)
    page = PrintPage(
        PageBoxes(media=media, bleed=media, trim=trim),
        title=f"StyleBooth mug {size} wrap, {layout}",
        tag=tag,
    )
    offset = bleed * pt - bleed_pt  # the canvas's bleed is whole pixels, a hair over 1/16 in
    page.image(canvas, (-offset, -offset, media[2] + offset, media[3] + offset))
    pdf = page.save(out_dir / f"{stem}.pdf")
    return {"png": png, "pdf": pdf}
