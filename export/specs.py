"""Product specifications and the options each product takes.

All print geometry lives here, in inches. Stickers and mugs are written at ``DPI``; a tee's
PNG keeps the art's own resolution (at most ``DPI``). Art below ``MIN_DPI`` at print size is
refused by the preflight, and ``print_pixels`` says how many art pixels a product needs. A
product's options are normalised once (``normalize_options``) so that equal requests give
equal export keys.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from render.errors import StyleBoothError

DPI = 300  # stickers and mugs are written at this resolution; a tee at most at it
MIN_DPI = 150  # the preflight refuses art coarser than this at print size
TEE_DPI = 150  # the art a tee asks for by default (the ``tee_dpi`` setting; 300 on a GPU)
BLEED_IN = 1 / 16  # sticker and mug PDFs: art extended this far beyond the trim
PRODUCTS = ("tee", "sticker", "mug", "photo")

TEE_SIZE_IN = (12.0, 16.0)  # DTG front print area, portrait, of an adult M to 3XL
# Print area per shirt size. Print shops keep one platen for M to 3XL and a smaller design on
# the small cuts (a 12 in wide print covers an XS from seam to seam); 3:4 throughout, so a
# design looks the same on every size.
TEE_SIZES = {
    "XS": (9.0, 12.0),
    "S": (10.5, 14.0),
    "M": TEE_SIZE_IN,
    "L": TEE_SIZE_IN,
    "XL": TEE_SIZE_IN,
    "2XL": TEE_SIZE_IN,
    "3XL": TEE_SIZE_IN,
}
TEE_COLOURS = ("white", "black")  # the shirt
TEE_LAYOUTS = ("full", "people")  # the whole rectangle, or the people on a transparent ground
TEE_PROOF_DPI = 150  # the proof PDF shows the design at this resolution (at most the file's)
TEE_PROOF_MARGIN_IN = 0.5
TEE_PROOF_CAPTION_IN = 1.0
TEE_PEOPLE_MARGIN = 0.04  # people-only tee: the crop around the people, as a fraction

STICKER_SIZES = (2, 3, 4)  # inches along the sticker's longest side (its trim box)
STICKER_BORDER_IN = 1 / 8  # white border around the people; the cut line runs along its edge
STICKER_CORNER_IN = 1 / 8  # corner radius of the rectangle cut (no people found)
CUT_CONTOUR = "CutContour"  # the spot colour name cutters and RIPs look for
CUT_LINE_PT = 0.5

MUG_SIZES = {"11oz": (9.0, 3.5), "15oz": (9.0, 3.8)}  # wrap print area, width × height
MUG_LAYOUTS = ("centred", "sides", "wrap")
MUG_HANDLE_SAFE_IN = 0.5  # kept blank at both ends of the wrap, where the handle sits
MUG_SIDES_GAP_IN = 0.25  # between the two pictures of the "sides" layout

# On-site photo print (export/photo_print.py): 4×6 in photo paper, or a 2×6 in strip, at DPI.
PHOTO_SIZES = {"4x6": (6.0, 4.0), "2x6": (2.0, 6.0)}  # the page, landscape for 4x6
PHOTO_ORIENTATIONS = ("auto", "landscape", "portrait")  # auto: the painting's own
PHOTO_MARGIN_IN = 0.16  # white border around the painting (a printer's safe margin)
PHOTO_LABEL_IN = {"4x6": 0.42, "2x6": 0.62}  # the label band under the painting

DEFAULTS: dict[str, dict[str, Any]] = {
    "tee": {"size": "M", "colour": "white", "layout": "full"},
    "sticker": {"size": 3},
    "mug": {"size": "11oz", "layout": "centred"},
    "photo": {"size": "4x6", "orientation": "auto"},
}
TAG_PREFIX = "stylebooth-export"  # PNG text chunk and PDF keywords name the product


class ExportError(StyleBoothError, code="bad_options"):
    """A request the export cannot honour; the message says why, for a person."""


@dataclass(frozen=True)
class PrintSize:
    """A physical print area; ``at(dpi)`` is its pixel size at a resolution."""

    width_in: float
    height_in: float

    def at(self, dpi: float) -> tuple[int, int]:
        return round(self.width_in * dpi), round(self.height_in * dpi)

    @property
    def points(self) -> tuple[float, float]:
        return self.width_in * 72, self.height_in * 72


def _choice(product: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text == "centered":  # the American spelling is accepted
        text = "centred"
    if text not in allowed:
        raise ExportError(f"{product} {name} must be one of {', '.join(allowed)}; got {value!r}")
    return text


def _tee_size(value: Any) -> str:
    text = str(value).strip().upper().replace("XXXL", "3XL").replace("XXL", "2XL")
    if text not in TEE_SIZES:
        raise ExportError(f"tee size must be one of {', '.join(TEE_SIZES)}; got {value!r}")
    return text


def _sticker_size(value: Any) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.0+)?)\s*(in|inch|inches|\")?\s*", str(value).lower())
    size = int(float(match.group(1))) if match else None
    if size not in STICKER_SIZES:
        allowed = ", ".join(f"{s} in" for s in STICKER_SIZES)
        raise ExportError(f"sticker size must be {allowed}; got {value!r}")
    return size


def _mug_size(value: Any) -> str:
    match = re.fullmatch(r"\s*(\d+)\s*(oz)?\s*", str(value).lower())
    size = f"{match.group(1)}oz" if match else ""
    if size not in MUG_SIZES:
        raise ExportError(f"mug size must be {' or '.join(MUG_SIZES)}; got {value!r}")
    return size


def normalize_options(product: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The product's full option set with defaults filled in, or ``ExportError``."""
    if product not in PRODUCTS:
        raise ExportError(f"unknown product {product!r}; choose {', '.join(PRODUCTS)}")
    given = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = sorted(set(given) - set(DEFAULTS[product]))
    if unknown:
        known = ", ".join(DEFAULTS[product])
        raise ExportError(f"{product} has no option {', '.join(unknown)} (it takes {known})")
    merged = {**DEFAULTS[product], **given}
    if product == "tee":
        return {
            "size": _tee_size(merged["size"]),
            "colour": _choice("tee", "colour", merged["colour"], TEE_COLOURS),
            "layout": _choice("tee", "layout", merged["layout"], TEE_LAYOUTS),
        }
    if product == "sticker":
        return {"size": _sticker_size(merged["size"])}
    if product == "photo":
        return {
            "size": _choice("photo", "size", merged["size"], tuple(PHOTO_SIZES)),
            "orientation": _choice(
                "photo", "orientation", merged["orientation"], PHOTO_ORIENTATIONS
            ),
        }
    return {
        "size": _mug_size(merged["size"]),
        "layout": _choice("mug", "layout", merged["layout"], MUG_LAYOUTS),
    }


def tee_size(size: str = "M") -> PrintSize:
    return PrintSize(*TEE_SIZES[size])


def mug_size(size: str) -> PrintSize:
    return PrintSize(*MUG_SIZES[size])


def photo_page_in(options: dict[str, Any], aspect: float) -> tuple[float, float]:
    """The photo print's page (w, h inches): a 4×6 in print turned to the painting's own
    orientation (or the one asked for); a strip is always 2 in wide and 6 in tall."""
    width_in, height_in = PHOTO_SIZES[options["size"]]
    turn = options["orientation"]
    if turn == "auto":
        turn = "landscape" if aspect >= 1 else "portrait"
    if options["size"] == "4x6" and turn == "portrait":
        return height_in, width_in
    return width_in, height_in


def photo_frame_in(options: dict[str, Any], aspect: float) -> tuple[float, float, float, float]:
    """Where the painting sits on the photo print: (left, top, width, height) in inches from
    the page's top-left corner: inside the white border, above the label band."""
    page_w, page_h = photo_page_in(options, aspect)
    label = PHOTO_LABEL_IN[options["size"]]
    return (
        PHOTO_MARGIN_IN,
        PHOTO_MARGIN_IN,
        page_w - 2 * PHOTO_MARGIN_IN,
        page_h - 2 * PHOTO_MARGIN_IN - label,
    )


def check_scale(scale: float) -> float:
    """A test's print scale: a fraction in (0, 1] (1: real print sizes), or ``ExportError``."""
    if not (isinstance(scale, int | float) and 0 < scale <= 1):
        raise ExportError(f"the print scale is a fraction in (0, 1]; got {scale!r}")
    return float(scale)


def art_area_in(product: str, options: dict[str, Any], aspect: float) -> tuple[float, float] | None:
    """The print size (w, h inches) the art's frame covers, for art of ``aspect`` (w/h).

    The tee and the mug's "centred" and "sides" show the whole frame as large as it fits; a
    sticker shows the people cropped, so its frame's size depends on them (None here: the
    sticker's longest side is taken as the frame's, the least it can be). The mug's "wrap"
    covers the wrap between the handle zones, cropping the frame.
    """
    if product == "tee":
        area = tee_size(options["size"])
        return _contain(aspect, area.width_in, area.height_in)
    if product == "sticker":
        side = float(options["size"])
        return (side, side / aspect) if aspect >= 1 else (side * aspect, side)
    if product == "photo":  # cover: the painting fills its frame, cropped on one axis
        _left, _top, frame_w, frame_h = photo_frame_in(options, aspect)
        scale = max(frame_w / aspect, frame_h)
        return scale * aspect, scale
    width_in, height_in = MUG_SIZES[options["size"]]
    usable = width_in - 2 * MUG_HANDLE_SAFE_IN
    if options["layout"] == "sides":
        usable = (usable - MUG_SIDES_GAP_IN) / 2
    if options["layout"] == "wrap":  # cover: the frame overhangs the wrap on one axis
        scale = max(usable / aspect, height_in)
        return scale * aspect, scale
    return _contain(aspect, usable, height_in)


def _contain(aspect: float, width_in: float, height_in: float) -> tuple[float, float]:
    if aspect >= width_in / height_in:
        return width_in, width_in / aspect
    return height_in * aspect, height_in


def print_pixels(
    product: str,
    options: dict[str, Any] | None,
    aspect: float,
    scale: float = 1.0,
    *,
    dpi: float = TEE_DPI,
    people_box: tuple[float, float, float, float] | None = None,
) -> tuple[int, int]:
    """The art pixels (w, h) ``product`` needs at its print DPI, for art of ``aspect`` (w/h).

    The DPI is ``dpi`` for a tee (the ``tee_dpi`` setting) and ``DPI`` (300) for stickers and
    mugs; ``scale`` (a test's ``print_scale_percent / 100``) shrinks the answer, as the
    preflight's ``scale`` lowers its floor. A tee's "people" layout and a sticker print a crop
    around the people, larger on the product than the frame would be: given the people's box
    as fractions of the frame (x0, y0, x1, y1), the answer is large enough for that crop.
    """
    if not aspect > 0 or not math.isfinite(aspect):
        raise ExportError(f"an art's aspect (width / height) must be positive; got {aspect}")
    scale = check_scale(scale)
    opts = normalize_options(product, options)
    target_dpi = dpi if product == "tee" else DPI
    width_in, height_in = art_area_in(product, opts, aspect)  # type: ignore[misc]
    crops = product == "sticker" or (product == "tee" and opts["layout"] == "people")
    if crops and people_box is not None:
        x0, y0, x1, y1 = people_box
        pad = TEE_PEOPLE_MARGIN * max(x1 - x0, (y1 - y0) / aspect) if product == "tee" else 0.0
        crop_w, crop_h = min(1.0, x1 - x0 + 2 * pad), min(1.0, y1 - y0 + 2 * pad * aspect)
        shown = art_area_in(product, opts, aspect * crop_w / crop_h)
        width_in, height_in = shown[0] / crop_w, shown[1] / crop_h  # type: ignore[index]
    return (
        math.ceil(width_in * target_dpi * scale - 1e-6),
        math.ceil(height_in * target_dpi * scale - 1e-6),
    )


def effective_dpi(art_pixels: tuple[int, int], area_in: tuple[float, float]) -> float:
    """Art pixels per inch where the art is printed over ``area_in`` (the coarser axis)."""
    return min(art_pixels[0] / area_in[0], art_pixels[1] / area_in[1])


def art_facts(art_pixels: tuple[int, int], art_dpi: float) -> dict[str, str]:
    """What every print file records of its art (``product_tag``'s fields): the art's own
    pixel size, the inches it spans at the print's scale and its effective DPI there."""
    width, height = art_pixels
    return {
        "art": f"{width}x{height}",
        "art_in": f"{width / art_dpi:.4g}x{height / art_dpi:.4g}",
        "art_dpi": f"{art_dpi:.1f}",
    }


def product_tag(product: str, options: dict[str, Any], **facts: Any) -> str:
    """``stylebooth-export product=sticker size=3 shape=people``: written into every file."""
    items = {"product": product, **options, **facts}
    return " ".join([TAG_PREFIX, *(f"{k}={v}" for k, v in items.items())])


def parse_tag(text: str | None) -> dict[str, str] | None:
    """The fields of a ``product_tag``, or None when the text is not one."""
    if not text or not text.startswith(TAG_PREFIX + " "):
        return None
    fields = dict(part.split("=", 1) for part in text.split()[1:] if "=" in part)
    return fields if "product" in fields else None
