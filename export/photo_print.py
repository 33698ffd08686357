"""The on-site photo print: the painting on 4×6 in photo paper (or a 2×6 in strip) with a label.

A guest takes this home from the booth's printer, so it is a print, not a proof: the painting
fills its frame (cropped around the people on one axis, as the mug's "wrap" is), a white
border runs round it (a dye-sublimation or inkjet photo printer's safe margin, so no printer
crops the painting), and a small label below names the painting it was made after, the
event and the date. 4×6 in turns to the painting's orientation unless one is asked for; the
strip is 2 in wide and 6 in tall, the photo-booth format a 4×6 in printer cuts in two.

Files: a 300 DPI PNG and a one-page PDF whose MediaBox, BleedBox and TrimBox are the paper
itself (4×6 in): a photo printer picks its media by the page size, and a page 1/16 in larger
would be scaled or sent to the wrong tray; the design's white border is the bleed's safe
zone instead. The PDF's label is vector text in Bitstream Vera (embedded, as every file of
ours); the PNG's is the same font drawn at 300 DPI. Label text is plain data
(``PhotoLabel``): the booth fills it in, the library knows nothing of events.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import reportlab
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.colors import Color
from reportlab.pdfbase import pdfmetrics

from export.artwork import Artwork
from export.imaging import resample, save_png
from export.mug import Placement, _cover
from export.pdf import FONTS, PageBoxes, PrintPage, _font
from export.specs import DPI, PHOTO_MARGIN_IN, art_facts, photo_frame_in, photo_page_in, product_tag

INK = (34, 34, 40)  # the label's text: near black, softer than pure black on photo paper
GREY = (105, 105, 112)
LABEL_GAP_IN = 0.05  # between the painting and the label's first line


@dataclass(frozen=True)
class PhotoLabel:
    """What the label says, already in words: empty fields are left out."""

    title: str = ""  # the painting's title: "The Starry Night"
    artist: str = ""  # "Vincent van Gogh" (printed "after Vincent van Gogh")
    event: str = ""  # the event's name
    date: str = ""  # "2 Dec 2026"

    def fields(self) -> tuple[str, ...]:
        return self.title, self.artist, self.event, self.date


@dataclass(frozen=True)
class Line:
    """One line of the label: position in inches from the page's top-left corner (the
    baseline), size in points, alignment of ``x`` (left, right or centre)."""

    x_in: float
    baseline_in: float
    text: str
    size_pt: float
    bold: bool
    align: str  # "left" | "right" | "centre"
    grey: bool = False


def _clip(text: str, bold: bool, size_pt: float, width_in: float) -> str:
    """``text`` shortened with an ellipsis until it fits ``width_in`` at ``size_pt``."""
    font, width_pt = _font(bold), width_in * 72
    if pdfmetrics.stringWidth(text, font, size_pt) <= width_pt:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size_pt) > width_pt:
        text = text[:-1]
    return text.rstrip() + "…" if text else ""


def label_lines(label: PhotoLabel, options: dict[str, Any], aspect: float) -> list[Line]:
    """The label's lines under the painting's frame. 4×6 in: the painting's title and
    "after" its artist on the left, the event and the date on the right; the strip: three
    centred lines (title, artist, event and date)."""
    page_w, _page_h = photo_page_in(options, aspect)
    left, top, frame_w, frame_h = photo_frame_in(options, aspect)
    below = top + frame_h + LABEL_GAP_IN
    artist = f"after {label.artist}" if label.artist else ""
    lines: list[Line] = []
    if options["size"] == "2x6":
        when = " · ".join(part for part in (label.event, label.date) if part)
        texts = [
            (label.title, 8.0, True, False),
            (artist, 6.5, False, True),
            (when, 6.5, False, True),
        ]
        baseline = below
        for text, size, bold, grey in texts:
            baseline += size / 72 * 1.3
            if text:
                fitted = _clip(text, bold, size, frame_w)
                lines.append(Line(page_w / 2, baseline, fitted, size, bold, "centre", grey))
        return lines
    column = frame_w * 0.58 if frame_w > 4 else frame_w * 0.54  # the title gets more room
    first, second = below + 10 / 72 * 1.05, below + 10 / 72 * 1.05 + 8 / 72 * 1.35
    right = page_w - PHOTO_MARGIN_IN
    rest = frame_w - column - 0.12
    for x, align, width, pair in (
        (left, "left", column, ((label.title, True), (artist, False))),
        (right, "right", rest, ((label.event, True), (label.date, False))),
    ):
        for baseline, (text, bold) in zip((first, second), pair, strict=True):
            if text:
                size = 10.0 if bold else 8.0
                lines.append(
                    Line(
                        x,
                        baseline,
                        _clip(text, bold, size, width),
                        size,
                        bold,
                        align,
                        grey=not bold,
                    )
                )
    return lines


def placement(art: Artwork, options: dict[str, Any]) -> Placement:
    """The painting in its frame at ``DPI``: covering it, cropped around the people."""
    aspect = art.size[0] / art.size[1]
    left, top, width, height = (round(v * DPI) for v in photo_frame_in(options, aspect))
    return _cover(art, (left, top, left + width, top + height))


def render(art: Artwork, options: dict[str, Any]) -> np.ndarray:
    """The page at ``DPI`` without its label: white paper, the painting in its frame."""
    aspect = art.size[0] / art.size[1]
    width, height = (round(v * DPI) for v in photo_page_in(options, aspect))
    canvas = np.full((height, width, 3), 255, np.uint8)
    place = placement(art, options)
    x0, y0, x1, y1 = place.rect
    canvas[y0:y1, x0:x1] = resample(art.rgb, place.scale, place.origin, (x1 - x0, y1 - y0))
    return canvas


@cache
def _pil_font(bold: bool, pixels: int) -> ImageFont.FreeTypeFont:
    """The PDF's font (Bitstream Vera from reportlab) for the PNG, at a pixel size."""
    path = Path(reportlab.__file__).parent / "fonts" / FONTS[bold][1]
    return ImageFont.truetype(str(path), pixels)


def draw_label(canvas: np.ndarray, lines: list[Line], dpi: float = DPI) -> np.ndarray:
    """The label's lines drawn onto a copy of the page at ``dpi``."""
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    anchors = {"left": "ls", "right": "rs", "centre": "ms"}
    for line in lines:
        font = _pil_font(line.bold, round(line.size_pt / 72 * dpi))
        draw.text(
            (line.x_in * dpi, line.baseline_in * dpi),
            line.text,
            fill=GREY if line.grey else INK,
            font=font,
            anchor=anchors[line.align],
        )
    return np.asarray(image)


def make(
    art: Artwork,
    options: dict[str, Any],
    out_dir: Path,
    stem: str,
    label: PhotoLabel | None = None,
) -> dict[str, Path]:
    """The photo print's PNG and PDF in ``out_dir``."""
    label = label or PhotoLabel()
    aspect = art.size[0] / art.size[1]
    page_w_in, page_h_in = photo_page_in(options, aspect)
    page = render(art, options)
    lines = label_lines(label, options, aspect)
    place = placement(art, options)
    facts = art_facts(art.size, DPI / place.scale)
    tag = product_tag("photo", options, page=f"{page_w_in:g}x{page_h_in:g}", **facts)
    png = save_png(out_dir / f"{stem}.png", draw_label(page, lines), tag)

    media = (0.0, 0.0, page_w_in * 72, page_h_in * 72)
    pdf_page = PrintPage(
        PageBoxes(media=media, bleed=media, trim=media),
        title=f"StyleBooth photo print {options['size']}"
        + (f": {label.title}" if label.title else ""),
        tag=tag,
    )
    pdf_page.image(page, media)
    canvas = pdf_page.canvas
    draw = {
        "left": canvas.drawString,
        "right": canvas.drawRightString,
        "centre": canvas.drawCentredString,
    }
    for line in lines:
        canvas.setFont(_font(line.bold), line.size_pt)
        canvas.setFillColor(Color(*(c / 255 for c in (GREY if line.grey else INK))))
        draw[line.align](line.x_in * 72, (page_h_in - line.baseline_in) * 72, line.text)
    pdf = pdf_page.save(out_dir / f"{stem}.pdf")
    return {"png": png, "pdf": pdf}
