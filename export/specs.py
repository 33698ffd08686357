"""Product specifications and the options each product takes.

All print geometry lives here, in inches; files are written at ``DPI``. A product's options
are normalised once (``normalize_options``) so that equal requests give equal export keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from render.errors import StyleBoothError

DPI = 300  # every print file is written at this resolution
MIN_DPI = 150  # the preflight refuses anything coarser
BLEED_IN = 1 / 16  # sticker and mug PDFs: art extended this far beyond the trim
PRODUCTS = ("tee", "sticker", "mug")

TEE_SIZE_IN = (12.0, 16.0)  # DTG front print area, portrait
TEE_LAYOUTS = ("full", "people")  # the whole rectangle, or the people on a transparent ground
TEE_PROOF_DPI = 150  # the proof PDF shows the design at this resolution
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

DEFAULTS: dict[str, dict[str, Any]] = {
    "tee": {"layout": "full"},
    "sticker": {"size": 3},
    "mug": {"size": "11oz", "layout": "centred"},
}
TAG_PREFIX = "stylebooth-export"  # PNG text chunk and PDF keywords name the product


class ExportError(StyleBoothError, code="bad_options"):
    """A request the export cannot honour; the message says why, for a person."""


@dataclass(frozen=True)
class PrintSize:
    """A physical print area and its pixel size at ``DPI``."""

    width_in: float
    height_in: float

    @property
    def pixels(self) -> tuple[int, int]:
        return round(self.width_in * DPI), round(self.height_in * DPI)

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
        return {"layout": _choice("tee", "layout", merged["layout"], TEE_LAYOUTS)}
    if product == "sticker":
        return {"size": _sticker_size(merged["size"])}
    return {
        "size": _mug_size(merged["size"]),
        "layout": _choice("mug", "layout", merged["layout"], MUG_LAYOUTS),
    }


def tee_size() -> PrintSize:
    return PrintSize(*TEE_SIZE_IN)


def mug_size(size: str) -> PrintSize:
    return PrintSize(*MUG_SIZES[size])


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
