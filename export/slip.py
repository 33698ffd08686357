"""The order slip: one 4 × 6 in page the print desk prints and puts in the bag with the order.

It is read at arm's length across a counter, so the order number is the biggest thing on it;
below it the guest's painting (so the desk can match bag and guest at a glance), the product,
its options and the quantity, and the guest's QR code (their download page) drawn as vector
squares, sharp on any printer. 4 × 6 in is the label size of thermal printers and a common
photo paper, and prints on A4 or Letter just as well.

The fonts (Bitstream Vera, shipped inside reportlab) are embedded, so a strict preflight or a
print shop's RIP finds every glyph in the file. The slip takes plain data (``Slip``): it
knows nothing of the booth's database.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import qrcode
import reportlab
from PIL import Image, UnidentifiedImageError
from qrcode.constants import ERROR_CORRECT_M
from reportlab.lib.units import inch
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from render.errors import StyleBoothError

PAGE = (4 * inch, 6 * inch)
MARGIN = 0.22 * inch
FONTS = {"SlipSans": "Vera.ttf", "SlipSans-Bold": "VeraBd.ttf"}
REGULAR, BOLD = "SlipSans", "SlipSans-Bold"
QR_SIDE = 1.3 * inch
QR_QUIET_MODULES = 2  # white around the code: the slip's margin adds to it
INK, GREY = (0.07, 0.07, 0.1), (0.38, 0.38, 0.42)


class SlipError(StyleBoothError, code="bad_slip"):
    """The slip cannot be drawn from what it was given; the message says what is wrong."""


@dataclass(frozen=True)
class Slip:
    """What one slip shows, already in words for people."""

    number: str  # "A-042"
    product: str  # "T-shirt"
    details: tuple[str, ...]  # "Size M", "Shirt white", …
    quantity: int
    download_url: str  # what the QR code carries
    event_name: str = ""
    ordered_at: str = ""  # "2 Dec 2026, 14:05"
    picture: Path | None = None  # the guest's painting; None draws a frame saying so
    notes: tuple[str, ...] = field(default_factory=tuple)  # "Reprint", a failure's reason


def _register_fonts() -> None:
    """Register the TrueType fonts once per process (reportlab keeps a global registry)."""
    folder = Path(reportlab.__file__).parent / "fonts"
    for name, file in FONTS.items():
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(folder / file)))


def _fit(text: str, font: str, size: float, width: float, smallest: float = 7) -> float:
    """The largest font size up to ``size`` at which ``text`` fits in ``width``."""
    measured = pdfmetrics.stringWidth(text, font, size)
    return max(smallest, size * width / measured) if measured > width else size


def _clip(text: str, font: str, size: float, width: float) -> str:
    """``text`` shortened with an ellipsis until it fits in ``width`` at ``size``."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _qr_modules(url: str) -> list[list[bool]]:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QR_QUIET_MODULES)
    code.add_data(url)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


def _draw_qr(canvas: Canvas, url: str, x: float, y: float, side: float) -> None:
    """The QR code as filled rectangles (one per run of dark modules in a row), white ground."""
    modules = _qr_modules(url)
    cell = side / len(modules)
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(x, y, side, side, stroke=0, fill=1)
    canvas.setFillColorRGB(0, 0, 0)
    for row_index, row in enumerate(modules):
        top = y + side - (row_index + 1) * cell
        start = None
        for column, dark in enumerate([*row, False]):
            if dark and start is None:
                start = column
            elif not dark and start is not None:
                canvas.rect(x + start * cell, top, (column - start) * cell, cell, stroke=0, fill=1)
                start = None


def _open_picture(path: Path | None) -> Image.Image | None:
    """The painting, or None when there is none to show (purged, unreadable)."""
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        return None


def _draw_picture(canvas: Canvas, picture: Image.Image | None, box: tuple[float, ...]) -> None:
    """The painting fitted into ``box`` (x, y, width, height), centred; or a frame saying
    there is no picture, so the slip still prints."""
    x, y, width, height = box
    if picture is None:
        canvas.setStrokeColorRGB(*GREY)
        canvas.setDash(3, 3)
        canvas.rect(x, y, width, height, stroke=1, fill=0)
        canvas.setDash()
        canvas.setFillColorRGB(*GREY)
        canvas.setFont(REGULAR, 9)
        canvas.drawCentredString(x + width / 2, y + height / 2 - 3, "no picture on file")
        return
    scale = min(width / picture.width, height / picture.height)
    drawn_w, drawn_h = picture.width * scale, picture.height * scale
    # The thumbnail at ~200 DPI on the slip: sharp enough, and the PDF stays small.
    picture.thumbnail((max(1, round(drawn_w / 72 * 200)), max(1, round(drawn_h / 72 * 200))))
    jpeg = io.BytesIO()  # embedded as JPEG (DCTDecode): a slip of tens of KB, not hundreds
    picture.save(jpeg, "JPEG", quality=88)
    left, bottom = x + (width - drawn_w) / 2, y + (height - drawn_h) / 2
    canvas.drawImage(ImageReader(jpeg), left, bottom, drawn_w, drawn_h)


def order_slip(slip: Slip) -> bytes:
    """The slip as a one-page PDF (4 × 6 in, fonts embedded)."""
    if not slip.number.strip():
        raise SlipError("an order slip needs the order's number")
    if slip.quantity < 1:
        raise SlipError(f"an order slip needs a quantity of at least 1, not {slip.quantity}")
    _register_fonts()
    picture = _open_picture(slip.picture)
    buffer = io.BytesIO()
    # The initial font is ours too: reportlab's default (Helvetica) would be named, unembedded.
    canvas = Canvas(buffer, pagesize=PAGE, pageCompression=1, initialFontName=REGULAR)
    canvas.setTitle(f"Order {slip.number}")
    canvas.setAuthor("StyleBooth")
    canvas.setSubject(f"{slip.product} × {slip.quantity}")
    page_w, page_h = PAGE
    inner = page_w - 2 * MARGIN
    top = page_h - MARGIN

    canvas.setFillColorRGB(*GREY)
    canvas.setFont(REGULAR, 9)
    header = slip.event_name or "StyleBooth"
    canvas.drawString(MARGIN, top - 9, _clip(header, REGULAR, 9, inner * 0.62))
    if slip.ordered_at:
        canvas.drawRightString(page_w - MARGIN, top - 9, slip.ordered_at)

    size = _fit(slip.number, BOLD, 64, inner)
    canvas.setFillColorRGB(*INK)
    canvas.setFont(BOLD, size)
    number_base = top - 18 - size * 0.78  # clear of the header line
    canvas.drawCentredString(page_w / 2, number_base, slip.number)

    qr_top = MARGIN + QR_SIDE
    text_top = qr_top + 0.16 * inch + 12 * (2 + len(slip.details) + len(slip.notes))
    picture_top = number_base - 0.14 * inch
    _draw_picture(
        canvas,
        picture,
        (MARGIN, text_top + 0.12 * inch, inner, picture_top - text_top - 0.12 * inch),
    )

    line = text_top
    canvas.setFont(BOLD, 14)
    canvas.drawString(MARGIN, line - 12, _clip(slip.product, BOLD, 14, inner * 0.7))
    canvas.drawRightString(page_w - MARGIN, line - 12, f"× {slip.quantity}")
    line -= 12 + 4
    canvas.setFont(REGULAR, 10)
    for detail in slip.details:
        line -= 12
        canvas.drawString(MARGIN, line, _clip(detail, REGULAR, 10, inner))
    canvas.setFont(BOLD, 10)
    for note in slip.notes:
        line -= 12
        canvas.drawString(MARGIN, line, _clip(note, BOLD, 10, inner))

    _draw_qr(canvas, slip.download_url, MARGIN, MARGIN, QR_SIDE)
    words_x = MARGIN + QR_SIDE + 0.14 * inch
    words_w = page_w - MARGIN - words_x
    canvas.setFillColorRGB(*INK)
    canvas.setFont(BOLD, 11)
    canvas.drawString(words_x, MARGIN + QR_SIDE * 0.62, "Your picture")
    canvas.setFont(REGULAR, 9)
    canvas.setFillColorRGB(*GREY)
    for index, text in enumerate(("Scan the code with your", "phone to download it.")):
        canvas.drawString(words_x, MARGIN + QR_SIDE * 0.62 - 13 - 11 * index, text)
    canvas.setFont(REGULAR, 7)
    canvas.drawString(words_x, MARGIN + 2, _clip(f"Order {slip.number}", REGULAR, 7, words_w))
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
