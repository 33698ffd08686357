"""Product previews: the design on a tee, a mug or a sticker, for the guest choosing one.

Each preview is drawn by the product's own layout code at a screen resolution, so what the
guest sees is where and how large the print file puts the picture: ``tee.design`` in the
print area of a shirt of the chosen size and colour (the area is 3 in below the collar, and a
bigger shirt shows it smaller), ``mug.render``'s wrap seen on the mug (the side facing the
viewer, bent round the cylinder) above the whole wrap laid flat, and ``sticker.layout``'s
white border and cut line on a backing sheet (a bigger sticker is drawn bigger). A preview
takes tens of milliseconds: the picture is first reduced to what the preview can show.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from export import mug, photo_print, sticker, tee
from export.artwork import Artwork
from export.cutline import polygon_mask
from export.specs import (
    DPI,
    MUG_HANDLE_SAFE_IN,
    STICKER_SIZES,
    ExportError,
    mug_size,
    normalize_options,
    tee_size,
)
from render.images import ImageSource

MIN_WIDTH, MAX_WIDTH = 120, 2048
SUPERSAMPLE = 2  # outlines are drawn at twice the size and reduced: smooth edges
BACKDROP = (236, 236, 238, 255)

# the shirt, flat, as fractions of the preview's width (the preview is 1.2 widths tall)
SHIRT = [
    (0.40, 0.06), (0.28, 0.09), (0.03, 0.34), (0.16, 0.42), (0.22, 0.36),
    (0.22, 1.16), (0.78, 1.16), (0.78, 0.36), (0.84, 0.42), (0.97, 0.34),
    (0.72, 0.09), (0.60, 0.06),
]  # fmt: skip
SHIRT_BODY = (0.22, 0.78)  # the body's left and right edge
SHIRT_COLLAR_Y = 0.115  # the bottom of the neckline
SHIRT_FLAT_WIDTH_IN = {"XS": 17, "S": 18, "M": 20, "L": 22, "XL": 24, "2XL": 26, "3XL": 28}
PRINT_BELOW_COLLAR_IN = 3.0  # DTG placement: the print area's top below the neckline
SHIRT_OUTLINE = {"white": (200, 200, 204, 255), "black": (70, 70, 74, 255)}

MUG_DIAMETER_IN = {"11oz": 3.25, "15oz": 3.4}
MUG_RIM_IN = 0.15  # unprinted ceramic above and below the wrap
MUG_BODY = 0.5  # the mug's width, as a fraction of the preview's width
STRIP = 0.9  # the flat wrap's width, as a fraction of the preview's width


def product_preview(
    image: ImageSource,
    alpha: Image.Image | None,
    product: str,
    options: dict[str, Any] | None,
    width: int = 480,
    label: photo_print.PhotoLabel | None = None,
) -> Image.Image:
    """The design on ``product`` as an RGBA picture ``width`` px wide.

    ``image`` and ``alpha`` are what an export takes (the painting and its people mask);
    ``options`` are the product's (``normalize_options``: an unknown one is ``ExportError``);
    ``label`` is a photo print's label text, drawn as the print has it.
    """
    opts = normalize_options(product, options)
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise ExportError(f"a preview is {MIN_WIDTH} to {MAX_WIDTH} px wide; got {width}")
    art = _reduced(image, alpha, 2 * width)
    if product == "tee":
        return _tee(art, opts, width)
    if product == "mug":
        return _mug(art, opts, width)
    if product == "photo":
        return _photo(art, opts, width, label)
    return _sticker(art, opts, width)


def _photo(
    art: Artwork, opts: dict[str, Any], width: int, label: photo_print.PhotoLabel | None
) -> Image.Image:
    """The photo print's page (``photo_print.render``: its border, frame and label) lying
    on the backdrop with a soft shadow, as large as fits a 1.2:1 panel."""
    aspect = art.size[0] / art.size[1]
    lines = photo_print.label_lines(label or photo_print.PhotoLabel(), opts, aspect)
    page = Image.fromarray(photo_print.draw_label(photo_print.render(art, opts), lines))
    height = round(width * 1.2)
    scale = min(0.86 * width / page.width, 0.86 * height / page.height)
    size = (round(page.width * scale), round(page.height * scale))
    page = page.resize(size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (width, height), BACKDROP)
    left, top = (width - page.width) // 2, (height - page.height) // 2
    shadow = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(shadow).rectangle(
        (left + 4, top + 6, left + page.width + 4, top + page.height + 6), fill=(0, 0, 0, 60)
    )
    from PIL import ImageFilter

    canvas.alpha_composite(shadow.filter(ImageFilter.GaussianBlur(6)))
    canvas.paste(page, (left, top))
    return canvas


def _reduced(image: ImageSource, alpha: Image.Image | None, long_side: int) -> Artwork:
    """The artwork (checked as an export checks it), reduced to ``long_side`` when larger:
    a preview shows no more."""
    art = Artwork.load(image, alpha)
    factor = max(art.size) / long_side
    if factor <= 1:
        return art
    size = (round(art.size[0] / factor), round(art.size[1] / factor))
    rgb = cv2.resize(art.rgb, size, interpolation=cv2.INTER_AREA)
    mask = None if art.alpha is None else cv2.resize(art.alpha, size, interpolation=cv2.INTER_AREA)
    return Artwork(rgb, mask)


def _outline(
    points: list[tuple[float, float]], size: tuple[int, int], fill: Any, line: Any
) -> Image.Image:
    """An anti-aliased filled polygon (fractions of the width) as an RGBA layer."""
    big = Image.new("RGBA", (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE), (0, 0, 0, 0))
    scale = size[0] * SUPERSAMPLE
    ImageDraw.Draw(big).polygon(
        [(x * scale, y * scale) for x, y in points], fill=fill, outline=line, width=SUPERSAMPLE * 2
    )
    return big.resize(size, Image.Resampling.LANCZOS)


# ---------------------------------------------------------------- tee


def tee_print_area(width: int, size: str) -> tuple[int, int, int, int]:
    """Where a shirt of ``size`` shows its print area in a ``width`` px preview (x0, y0, x1, y1)."""
    ppi = _shirt_ppi(width, size)
    area_w, area_h = tee_size(size).at(ppi)
    x0 = round(width / 2 - area_w / 2)
    y0 = round(SHIRT_COLLAR_Y * width + PRINT_BELOW_COLLAR_IN * ppi)
    return x0, y0, x0 + area_w, y0 + area_h


def _shirt_ppi(width: int, size: str) -> float:
    return (SHIRT_BODY[1] - SHIRT_BODY[0]) * width / SHIRT_FLAT_WIDTH_IN[size]


def _tee(art: Artwork, opts: dict[str, Any], width: int) -> Image.Image:
    height = round(1.2 * width)
    canvas = Image.new("RGBA", (width, height), BACKDROP)
    colour = opts["colour"]
    shirt = _outline(SHIRT, (width, height), (*tee.SHIRT_RGB[colour], 255), SHIRT_OUTLINE[colour])
    canvas.alpha_composite(shirt)
    collar = [(0.40, 0.06), (0.45, 0.105), (0.5, SHIRT_COLLAR_Y), (0.55, 0.105), (0.60, 0.06)]
    ImageDraw.Draw(canvas).line(
        [(x * width, y * width) for x, y in collar], fill=SHIRT_OUTLINE[colour], width=2
    )
    design = tee.design(art, opts, dpi=_shirt_ppi(width, opts["size"]))
    x0, y0, _, _ = tee_print_area(width, opts["size"])
    canvas.alpha_composite(Image.fromarray(design.rgba, "RGBA"), (x0, y0))
    return canvas


# ---------------------------------------------------------------- mug


def _mug(art: Artwork, opts: dict[str, Any], width: int) -> Image.Image:
    size, layout = opts["size"], opts["layout"]
    wrap_w_in, wrap_h_in = mug_size(size).width_in, mug_size(size).height_in
    diameter_in = MUG_DIAMETER_IN[size]
    body_w = round(MUG_BODY * width)
    ppi = body_w / diameter_in
    body_h = round((wrap_h_in + 2 * MUG_RIM_IN) * ppi)
    strip_w = round(STRIP * width)
    strip_ppi = strip_w / wrap_w_in
    strip_h = round(wrap_h_in * strip_ppi)
    margin = round(0.06 * width)
    height = margin + body_h + 2 * margin + strip_h + margin
    canvas = Image.new("RGBA", (width, height), BACKDROP)

    # the side facing the viewer: the middle of the picture (the left one of "sides")
    wrap_ppi = 2 * ppi  # enough for the cylinder's middle, where the wrap is least squeezed
    wrap = mug.render(art, size, layout, 0, dpi=wrap_ppi)
    centre_in = wrap_w_in / 2
    if layout == "sides":
        place = mug.placements(art, size, layout, dpi=wrap_ppi)[0]
        centre_in = (place.rect[0] + place.rect[2]) / 2 / wrap_ppi
    body = _cylinder(wrap, centre_in * wrap_ppi, wrap_w_in * wrap_ppi, body_w, body_h, ppi)
    left = (width - body_w) // 2
    _handle(canvas, left + body_w, margin, body_w, body_h)
    canvas.alpha_composite(Image.fromarray(body, "RGBA"), (left, margin))

    flat = mug.render(art, size, layout, 0, dpi=strip_ppi)
    flat = cv2.resize(flat, (strip_w, strip_h), interpolation=cv2.INTER_AREA)
    safe = round(MUG_HANDLE_SAFE_IN * strip_ppi)
    for zone in (flat[:, :safe], flat[:, strip_w - safe :]):  # the handle's zones, hatched
        zone[(np.add.outer(np.arange(zone.shape[0]), np.arange(zone.shape[1])) // 4) % 2 == 0] = (
            222,
            222,
            226,
        )
    strip = Image.fromarray(np.dstack([flat, np.full(flat.shape[:2], 255, np.uint8)]), "RGBA")
    top = margin + body_h + 2 * margin
    canvas.alpha_composite(strip, ((width - strip_w) // 2, top))
    ImageDraw.Draw(canvas).rectangle(
        ((width - strip_w) // 2 - 1, top - 1, (width + strip_w) // 2, top + strip_h),
        outline=(180, 180, 186, 255),
    )
    return canvas


def _cylinder(
    wrap: np.ndarray, centre: float, circumference: float, body_w: int, body_h: int, ppi: float
) -> np.ndarray:
    """The wrap (RGB, its own pixels) bent round a mug ``body_w`` × ``body_h`` px, lit from
    the left; the visible half of the circumference, centred on ``centre``."""
    radius_px = circumference / (2 * math.pi)
    u = (np.arange(body_w) + 0.5) / body_w * 2 - 1  # −1 … 1 across the mug
    theta = np.arcsin(np.clip(u, -1, 1))
    map_x = np.mod(centre + theta * radius_px, circumference).astype(np.float32)
    rim = MUG_RIM_IN * ppi
    rows = (np.arange(body_h) - rim) * wrap.shape[0] / (body_h - 2 * rim)
    map_y = rows.astype(np.float32)
    grid_x, grid_y = np.meshgrid(map_x, map_y)
    bent = cv2.remap(
        wrap,
        grid_x,
        grid_y,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(255, 255, 255),
    ).astype(np.float32)
    light = 0.72 + 0.28 * np.cos(theta - 0.35) + 0.12 * np.exp(-(((u + 0.45) / 0.12) ** 2))
    lit = np.clip(bent * light[None, :, None], 0, 255).astype(np.uint8)
    return np.dstack([lit, np.full(lit.shape[:2], 255, np.uint8)])


def _handle(canvas: Image.Image, x: int, top: int, body_w: int, body_h: int) -> None:
    """A C-shaped handle on the right of the mug's body."""
    reach, span = round(0.32 * body_w), round(0.6 * body_h)
    box = (x - reach, top + (body_h - span) // 2, x + reach, top + (body_h + span) // 2)
    thickness = max(4, round(0.07 * body_w))
    ImageDraw.Draw(canvas).ellipse(box, outline=(214, 214, 218, 255), width=thickness)


# ---------------------------------------------------------------- sticker


def _sticker(art: Artwork, opts: dict[str, Any], width: int) -> Image.Image:
    ppi = 0.8 * width / max(STICKER_SIZES)  # a 4 in sticker fills 80 % of the preview
    layout = sticker.layout(art, opts["size"], dpi=min(ppi, DPI))
    b, (tw, th) = layout.bleed, layout.trim
    inside = polygon_mask(layout.cut - b, (th, tw))
    rgba = layout.rgba[b : b + th, b : b + tw].copy()
    rgba[..., 3] = inside * np.uint8(255)
    canvas = Image.new("RGBA", (width, width), BACKDROP)
    left, top = (width - tw) // 2, (width - th) // 2
    shadow = Image.new("RGBA", (width, width), (0, 0, 0, 0))
    shade = np.zeros((width, width, 4), np.uint8)
    shade[top + 3 : top + 3 + th, left + 2 : left + 2 + tw, 3] = inside * np.uint8(70)
    shadow = Image.fromarray(cv2.GaussianBlur(shade, (0, 0), 3), "RGBA")
    canvas.alpha_composite(shadow)
    canvas.alpha_composite(Image.fromarray(rgba, "RGBA"), (left, top))
    cut = [(x + left, y + top) for x, y in (layout.cut - b).tolist()]
    ImageDraw.Draw(canvas).line([*cut, cut[0]], fill=(150, 150, 156, 255), width=1)
    return canvas
