"""One-page print PDFs with reportlab: explicit page boxes, tagged sRGB images, cut lines.

Coordinates are PDF points (1/72 in) from the page's lower-left corner. Images are embedded
losslessly (Flate) unless a proof asks for JPEG, and their colour space is rewritten from
DeviceRGB to an ICCBased sRGB profile so a RIP knows exactly which colours are meant.
The cut line is stroked in a Separation colour space named ``CutContour`` (alternate:
100 % magenta), overprinting, so cutters find it and it never knocks out the art below.
Text is set in Bitstream Vera, a TrueType font that ships inside reportlab, embedded as a
subset: a RIP that lacks a font substitutes another (or refuses the file), so none is left
to the printer's (reportlab's built-in Helvetica would be).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import reportlab
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, StreamObject
from reportlab import rl_config
from reportlab.lib.colors import CMYKColorSep, Color
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from export.imaging import srgb_icc
from export.specs import CUT_CONTOUR, CUT_LINE_PT
from render.files import atomic_write

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in points

CUT_COLOUR = CMYKColorSep(0, 1, 0, 0, spotName=CUT_CONTOUR)
FONTS = {False: ("StyleBooth-Vera", "Vera.ttf"), True: ("StyleBooth-Vera-Bold", "VeraBd.ttf")}


@cache
def _font(bold: bool) -> str:
    """The name of the embedded TrueType font, registered with reportlab on first use."""
    name, file = FONTS[bold]
    pdfmetrics.registerFont(TTFont(name, str(Path(reportlab.__file__).parent / "fonts" / file)))
    return name


@dataclass(frozen=True)
class PageBoxes:
    media: Box
    bleed: Box
    trim: Box


@contextmanager
def _binary_streams() -> Iterator[None]:
    """reportlab wraps streams in ASCII85 by default: 25 % larger for nothing."""
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved


class PrintPage:
    """A single-page PDF being drawn; ``save`` writes it atomically."""

    def __init__(self, boxes: PageBoxes, *, title: str, tag: str) -> None:
        self._buffer = io.BytesIO()
        x0, y0, x1, y1 = boxes.media
        if (x0, y0) != (0, 0):
            raise ValueError("the MediaBox starts at the origin")
        with _binary_streams():
            self.canvas = Canvas(
                self._buffer,
                pagesize=(x1, y1),
                invariant=True,
                pageCompression=1,
                initialFontName=_font(bold=False),  # a TrueType font: none is set until used
            )
        self.canvas.setTrimBox(list(boxes.trim))
        self.canvas.setBleedBox(list(boxes.bleed))
        self.canvas.setTitle(title)
        self.canvas.setAuthor("StyleBooth")
        self.canvas.setCreator("StyleBooth export")
        self.canvas.setSubject(title)
        self.canvas.setKeywords(tag)

    def image(self, pixels: np.ndarray, box: Box, *, jpeg_quality: int | None = None) -> None:
        """Draw RGB or RGBA pixels filling ``box``; alpha becomes a soft mask."""
        x0, y0, x1, y1 = box
        with _binary_streams():
            if jpeg_quality is not None:
                data = io.BytesIO()
                Image.fromarray(pixels[..., :3]).save(data, "JPEG", quality=jpeg_quality)
                data.seek(0)
                reader = ImageReader(data)
                self.canvas.drawImage(reader, x0, y0, x1 - x0, y1 - y0)
            else:
                mode = "RGBA" if pixels.shape[2] == 4 else "RGB"
                reader = ImageReader(Image.fromarray(pixels, mode))
                self.canvas.drawImage(reader, x0, y0, x1 - x0, y1 - y0, mask="auto")

    def cut_line(self, points: np.ndarray) -> None:
        """Stroke a closed polygon (N×2, points) as the CutContour line."""
        path = self.canvas.beginPath()
        path.moveTo(*points[0])
        for x, y in points[1:]:
            path.lineTo(x, y)
        path.close()
        self.canvas.saveState()
        self.canvas.setStrokeColor(CUT_COLOUR)
        self.canvas.setStrokeOverprint(True)
        self.canvas.setLineWidth(CUT_LINE_PT)
        self.canvas.setLineJoin(1)
        self.canvas.drawPath(path, stroke=1, fill=0)
        self.canvas.restoreState()

    def rule(self, box: Box, grey: float = 0.6, width: float = 0.5) -> None:
        x0, y0, x1, y1 = box
        self.canvas.saveState()
        self.canvas.setStrokeColor(Color(grey, grey, grey))
        self.canvas.setLineWidth(width)
        self.canvas.rect(x0, y0, x1 - x0, y1 - y0, stroke=1, fill=0)
        self.canvas.restoreState()

    def text(self, x: float, y: float, line: str, *, size: float = 10, bold: bool = False) -> None:
        self.canvas.setFont(_font(bold), size)
        self.canvas.setFillColor(Color(0.2, 0.2, 0.2))
        self.canvas.drawString(x, y, line)

    def save(self, path: Path) -> Path:
        with _binary_streams():
            self.canvas.showPage()
            self.canvas.save()
        data = _tag_images_srgb(self._buffer.getvalue())
        with atomic_write(path) as stream:
            stream.write(data)
        return path


def _tag_images_srgb(pdf: bytes) -> bytes:
    """Give every DeviceRGB image an ICCBased sRGB colour space."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    profile = StreamObject()
    profile[NameObject("/N")] = NumberObject(3)
    profile[NameObject("/Alternate")] = NameObject("/DeviceRGB")
    profile.set_data(srgb_icc())
    profile = profile.flate_encode()
    space = ArrayObject([NameObject("/ICCBased"), writer._add_object(profile)])
    for page in writer.pages:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources else None
        for ref in (xobjects or DictionaryObject()).values():
            image = ref.get_object()
            if image.get("/Subtype") == "/Image" and image.get("/ColorSpace") == "/DeviceRGB":
                image[NameObject("/ColorSpace")] = space
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
