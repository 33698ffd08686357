"""Each photo print layout through a real CUPS queue (tests/support/cups.py: a private cupsd
with cups-pdf) as the booth's spooler sends it: the product's PDF, the spooler's PWG media
name, ``kiosk.printing.cups.submit``; what cups-pdf writes is the paper asked for (4×6 in
either way round, the 2×6 in strip). The whole booth flow, painting included, is
tests/e2e/test_photo_print.py; this one needs no render, so it runs every layout."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pypdf import PdfReader

from export.api import export_product
from export.photo_print import PhotoLabel
from kiosk.printing.cups import submit
from kiosk.printing.spooler import MEDIA
from tests.support.cups import CupsServer
from tests.support.photos import guest_photo

pytestmark = [pytest.mark.slow]

LABEL = PhotoLabel("The Starry Night", "Vincent van Gogh", "Summer Gala", "2 Dec 2026")


@pytest.mark.parametrize(
    ("art", "options", "paper_pt"),
    [
        ((1760, 990), {}, (432, 288)),  # 6 × 4 in, landscape
        ((990, 1760), {}, (288, 432)),  # 4 × 6 in, portrait
        ((1760, 990), {"size": "2x6"}, (144, 432)),  # the strip
    ],
)
def test_each_layout_comes_out_of_cups_on_its_paper(
    cups_pdf: CupsServer, settings, tmp_path: Path, art, options, paper_pt
) -> None:
    made = export_product(
        guest_photo(art).convert("RGB"), "photo", options=options, out_dir=tmp_path, label=LABEL
    )
    assert made.problems == ()
    size = options.get("size", "4x6")
    printing = replace(settings, printer=cups_pdf.queue, cups_server=cups_pdf.address)
    before = len(cups_pdf.pdfs())
    job = submit(
        printing,
        Path(made.files["pdf"]).read_bytes(),
        copies=1,
        title=f"paper test {size}",
        media=MEDIA[size],
    )
    assert job.job_id > 0
    printed = _newest(cups_pdf, before)
    page = PdfReader(printed).pages[0]
    # The paper, whichever way it is fed: CUPS puts a landscape 6×4 page onto 4×6 in media
    # turned (photo printers take 4×6 in short edge first), and never scales it to another.
    printed_pt = (round(float(page.mediabox.width)), round(float(page.mediabox.height)))
    assert sorted(printed_pt) == sorted(paper_pt), printed_pt
    assert "The Starry Night" in page.extract_text()  # the label survived CUPS's filters


def _newest(cups_pdf: CupsServer, before: int) -> Path:
    found = cups_pdf.wait_for_pdfs(before + 1)
    return max(found, key=lambda path: path.stat().st_mtime)
