"""Die-cut sticker (2, 3 or 4 in): a PDF with bleed and a CutContour line, and a PNG.

Geometry, at 300 DPI (or a preview's DPI): the people, scaled so that they plus a white
border fill the sticker's longest side; the cut line runs along the outside of the border
(``cutline.people_cut``); the page's TrimBox is the cut line's bounding box and its BleedBox
and MediaBox 1/16 in larger. The bleed is made by extending the art beyond the cut line —
the border's white is painted on past the line, or, for a picture cut as a rectangle, the
picture itself continues (drawn from beyond the crop, mirrored past the photo's edge) —
never by scaling the page. Both files record the art's effective DPI on the sticker.
With no people in the picture the sticker is the whole picture with rounded corners.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from export.artwork import Artwork
from export.cutline import people_cut, polygon_mask, rounded_rect
from export.imaging import harden, resample, resample_alpha, save_png
from export.pdf import PageBoxes, PrintPage
from export.specs import (
    BLEED_IN,
    DPI,
    STICKER_BORDER_IN,
    STICKER_CORNER_IN,
    art_facts,
    product_tag,
)

MIN_SPECK_IN = 0.03  # bits of people smaller than this square are dropped
SMOOTH_IN = 0.02  # ragged mask edges are closed and opened at this radius
EDGE_SOFTNESS_PX = 0.7


@dataclass(frozen=True)
class StickerLayout:
    """Everything about one sticker, in pixels of the bleed canvas (at ``dpi``)."""

    rgba: np.ndarray  # the bleed canvas: art where printed, alpha 0 beyond the bleed
    cut: np.ndarray  # N×2 closed polygon, continuous pixel coordinates
    people: np.ndarray | None  # hard people mask on the canvas (None: rectangle sticker)
    bleed: int  # px between the canvas edge and the trim box
    trim: tuple[int, int]  # trim box size (w, h) in px
    dpi: float  # canvas pixels per inch
    scale: float  # canvas pixels per art pixel

    @property
    def shape(self) -> str:
        return "rectangle" if self.people is None else "people"

    @property
    def art_dpi(self) -> float:
        """The art's own pixels per inch on the sticker."""
        return self.dpi / self.scale


def layout(art: Artwork, size_in: int, dpi: float = DPI) -> StickerLayout:
    bleed = round(BLEED_IN * dpi + 0.5)  # whole pixels, at least 1/16 in
    long_side = round(size_in * dpi)
    if art.people_box is None:
        return _rectangle(art, long_side, bleed, dpi)
    return _people(art, long_side, bleed, dpi)


def _rectangle(art: Artwork, long_side: int, bleed: int, dpi: float) -> StickerLayout:
    width, height = art.size
    scale = long_side / max(width, height)
    tw, th = round(width * scale), round(height * scale)
    origin = (-bleed / scale, -bleed / scale)
    canvas = (tw + 2 * bleed, th + 2 * bleed)
    rgb = resample(art.rgb, scale, origin, canvas)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    cut = rounded_rect(bleed, bleed, bleed + tw, bleed + th, STICKER_CORNER_IN * dpi)
    return StickerLayout(rgba, cut, None, bleed, (tw, th), dpi, scale)


def _people(art: Artwork, long_side: int, bleed: int, dpi: float) -> StickerLayout:
    x0, y0, x1, y1 = art.people_box  # type: ignore[misc]
    border = STICKER_BORDER_IN * dpi
    scale = (long_side - 2 * border) / max(x1 - x0, y1 - y0)
    tw, th = round((x1 - x0) * scale + 2 * border), round((y1 - y0) * scale + 2 * border)
    canvas = (tw + 2 * bleed, th + 2 * bleed)
    origin = (x0 - (border + bleed) / scale, y0 - (border + bleed) / scale)
    rgb = resample(art.rgb, scale, origin, canvas).astype(np.float32)
    soft = resample_alpha(art.alpha, scale, origin, canvas)  # type: ignore[arg-type]
    hard = harden(soft, round((MIN_SPECK_IN * dpi) ** 2), smooth=round(SMOOTH_IN * dpi))
    people = hard > 0
    cut = people_cut(people, border, dpi)
    # the trim box is the border's extent; pixel rounding may overshoot it by a pixel
    cut = np.clip(cut, bleed, [bleed + tw, bleed + th])
    inside = polygon_mask(cut, people.shape)
    painted = cv2.distanceTransform((~inside).view(np.uint8), cv2.DIST_L2, 5) <= bleed
    edge = cv2.GaussianBlur(hard, (0, 0), EDGE_SOFTNESS_PX)  # anti-aliased onto the white
    a = (edge.astype(np.float32) / 255)[..., None] * inside[..., None]
    white = np.float32(255)
    art_on_white = np.round(rgb * a + white * (1 - a)).astype(np.uint8)
    rgba = np.dstack([art_on_white, painted.astype(np.uint8) * 255])
    return StickerLayout(rgba, cut, people, bleed, (tw, th), dpi, scale)


def _boxes(sticker: StickerLayout) -> PageBoxes:
    pt = 72 / DPI
    bleed_pt = BLEED_IN * 72
    tw, th = sticker.trim[0] * pt, sticker.trim[1] * pt
    media = (0.0, 0.0, tw + 2 * bleed_pt, th + 2 * bleed_pt)
    return PageBoxes(
        media=media, bleed=media, trim=(bleed_pt, bleed_pt, bleed_pt + tw, bleed_pt + th)
    )


def make(art: Artwork, options: dict[str, Any], out_dir: Path, stem: str) -> dict[str, Path]:
    sticker = layout(art, options["size"])
    tag = product_tag(
        "sticker", options, shape=sticker.shape, **art_facts(art.size, sticker.art_dpi)
    )
    b, (tw, th) = sticker.bleed, sticker.trim

    png = sticker.rgba[b : b + th, b : b + tw].copy()
    png[..., 3] = polygon_mask(sticker.cut - b, (th, tw)) * np.uint8(255)
    png[..., :3][png[..., 3] == 0] = 0
    png_path = save_png(out_dir / f"{stem}.png", png, tag)

    # pixel (x, y) of the canvas → page points; the canvas's trim corner sits on the TrimBox's
    boxes = _boxes(sticker)
    pt = 72 / DPI
    tx0, _, _, ty1 = boxes.trim
    height_px = sticker.rgba.shape[0]
    page = PrintPage(boxes, title=f"StyleBooth sticker {options['size']} in die-cut", tag=tag)
    page.image(
        sticker.rgba,
        (
            tx0 - b * pt,
            ty1 + b * pt - height_px * pt,
            tx0 + (sticker.rgba.shape[1] - b) * pt,
            ty1 + b * pt,
        ),
    )
    cut_pt = np.column_stack(
        [tx0 + (sticker.cut[:, 0] - b) * pt, ty1 - (sticker.cut[:, 1] - b) * pt]
    )
    page.cut_line(cut_pt)
    pdf_path = page.save(out_dir / f"{stem}.pdf")
    return {"pdf": pdf_path, "png": png_path}
