"""The order slip as a printer gets it: rendered by Poppler (``pdftoppm``), its QR code read
back from the pixels, its fonts embedded, its text inside the page, at 4 × 6 in. The
painting is one of the shared kit's photos; renders go to tests/artifacts/slip/."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from export.slip import Slip, SlipError, order_slip
from tests.support.paths import PEOPLE
from tests.support.qr import decode_qr

URL = "http://192.168.1.20:8080/d/Zq3f8W1oXyP0v9KcLrT2mB7sNaE4uHjD6gQ5iVwYtRk"


def slip(**changes: object) -> Slip:
    fields: dict[str, object] = {
        "number": "A-042",
        "product": "T-shirt",
        "details": ("Size M", "Shirt white", "Print the full picture"),
        "quantity": 2,
        "download_url": URL,
        "event_name": "Anna & Ben's wedding",
        "ordered_at": "02 Dec 2026, 14:05",
        "picture": PEOPLE / "seaside.jpg",
    }
    return Slip(**{**fields, **changes})  # type: ignore[arg-type]


def render(pdf: bytes, folder: Path, name: str, dpi: int = 150) -> bytes:
    """The slip's page as Poppler renders it (PNG), kept for people to look at."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(dpi), "-singlefile", folder / f"{name}.pdf", folder / name],
        check=True,
        timeout=60,
    )
    return (folder / f"{name}.png").read_bytes()


def poppler(tool: str, *args: str | Path) -> str:
    return subprocess.run(
        [tool, *map(str, args)], check=True, capture_output=True, text=True, timeout=60
    ).stdout


def words(path: Path) -> list[tuple[str, float, float]]:
    """Each word on the page with its left and right edge in points (``pdftotext -bbox``)."""
    html = poppler("pdftotext", "-bbox", path, "-")
    found = re.findall(
        r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"[^>]*>([^<]*)</word>', html
    )
    return [(text, float(left), float(right)) for left, right, text in found]


@pytest.fixture
def out(artifacts: Path) -> Path:
    return artifacts / "slip"


def test_the_slip_prints_the_number_the_picture_and_a_readable_qr(out: Path) -> None:
    png = render(order_slip(slip()), out, "slip-tee")
    assert decode_qr(png) == URL
    pdf = out / "slip-tee.pdf"
    info = poppler("pdfinfo", pdf)
    assert re.search(r"Page size:\s+288 x 432 pts", info), info  # 4 × 6 in
    assert re.search(r"Pages:\s+1\n", info), info
    fonts = poppler("pdffonts", pdf).splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts  # emb column
    text = [word for word, _left, _right in words(pdf)]
    for expected in ("A-042", "T-shirt", "×", "2", "Size", "M", "white", "wedding"):
        assert expected in text, (expected, text)
    assert all(left >= 0 and right <= 288 for _word, left, right in words(pdf))


def test_a_long_number_and_event_name_still_fit_the_page(out: Path) -> None:
    long = slip(
        number="ABC-12345",
        event_name="The annual general meeting and summer party of the society " * 2,
        details=("Size 3XL", "Shirt black", "Print the people only"),
    )
    render(order_slip(long), out, "slip-long")
    placed = words(out / "slip-long.pdf")
    assert "ABC-12345" in [word for word, _left, _right in placed]
    margin = 0.2 * 72
    assert all(margin - 1 <= left and right <= 288 - margin + 1 for _w, left, right in placed)


def test_a_slip_without_its_picture_still_prints(out: Path, tmp_path: Path) -> None:
    broken = tmp_path / "final.jpg"
    broken.write_bytes(b"\xff\xd8 not a whole JPEG")
    for name, picture in (("slip-no-picture", None), ("slip-broken-picture", broken)):
        png = render(order_slip(slip(picture=picture, product="Mug", quantity=1)), out, name)
        assert decode_qr(png) == URL
        text = [word for word, _l, _r in words(out / f"{name}.pdf")]
        assert "picture" in text and "Mug" in text


@pytest.mark.parametrize(
    ("changes", "words_"), [({"number": " "}, "number"), ({"quantity": 0}, "quantity")]
)
def test_a_slip_without_a_number_or_quantity_is_refused(changes: dict, words_: str) -> None:
    with pytest.raises(SlipError, match=words_):
        order_slip(slip(**changes))
