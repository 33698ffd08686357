"""On-site photo prints through a real CUPS (issue 14): a private cupsd with a cups-pdf queue
(tests/support/cups.py), the real booth server with its spooler and render worker, a real
Chromium for the guest and the operator, at tiny render and print sizes.

A guest orders a photo print (2 copies) on the booth; the PDF comes out of cups-pdf 4 × 6 in
with the guest's painting in it. The printer stopped (``cupsdisable``) shows as stopped on the
operator page, a new order still completes and tells the guest to ask the host, the print
waits in CUPS; the operator reprints and cancels on the page; after ``cupsenable`` the
waiting print comes out. Screenshots go to tests/artifacts/browser/.
"""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from export.specs import photo_frame_in
from tests.support.browser import LANDSCAPE, PORTRAIT, SHOTS, BoothServer, Guest
from tests.support.cups import CupsServer
from tests.support.paths import PEOPLE

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "s3cret"
EVENT = "Summer Gala"
SCALE = 10  # print_scale_percent: the print master is painted at a tenth of print size
PRINT_TIMEOUT_S = 240.0  # the print job paints, makes the files; CUPS and Ghostscript print
RENDER_DPI = 100  # pdftoppm's resolution for looking at what came out


@pytest.fixture(scope="module")
def booth(module_settings, cups_pdf: CupsServer) -> Iterator[dict]:
    settings = module_settings(
        "photo",
        event_name=EVENT,
        fast_size=256,
        hq_size=128,
        hq_budget_s=4,
        print_scale_percent=SCALE,
        admin_password=PASSWORD,
        printer=cups_pdf.queue,
        cups_server=cups_pdf.address,
        print_copies_max=3,
    )
    with BoothServer(settings) as server:
        yield {"url": server.url, "cups": cups_pdf}


def order_photo(guest: Guest, copies: int) -> str:
    """From the order screen: the photo print, ``copies`` copies, confirmed; its number."""
    page = guest.page
    page.click('.product-tab[data-product="photo"]')
    page.click(f'.choice[data-option="copies"][data-value="{copies}"]')
    page.click("#order-next")
    guest.wait_state("confirm")
    rows = page.locator("#order-summary div")
    summary = {
        rows.nth(i).locator("dt").inner_text(): rows.nth(i).locator("dd").inner_text()
        for i in range(rows.count())
    }
    assert summary["Product"] == "Photo print" and summary["Copies"] == str(copies), summary
    page.click("#confirm-order")
    guest.wait_state("ordered", timeout=30_000)
    return guest.text("#ticket-number")


def operator_page(browser: Browser, url: str) -> Page:
    context = browser.new_context(
        viewport=LANDSCAPE, http_credentials={"username": "operator", "password": PASSWORD}
    )
    page = context.new_page()
    page.goto(f"{url}/admin/")
    return page


def print_row(page: Page, number: str, nth: int = 0):  # type: ignore[no-untyped-def]
    return page.locator(f'#prints-table tbody tr[data-number="{number}"]').nth(nth)


def wait_printer(url: str, page: Page, state: str) -> None:
    """Until the spooler has seen the printer in ``state`` (it asks CUPS every 2 s)."""
    deadline = time.monotonic() + 30
    while page.request.get(f"{url}/admin/api/prints").json()["printer"]["state"] != state:
        assert time.monotonic() < deadline, f"the printer never showed as {state}"
        time.sleep(0.3)


def rendered(pdf: Path, out: Path) -> Image.Image:
    """The printed PDF as a person sees it (pdftoppm, the page's rotation applied)."""
    subprocess.run(
        ["pdftoppm", "-r", str(RENDER_DPI), "-png", "-singlefile", str(pdf), str(out)],
        check=True,
        timeout=60,
    )
    return Image.open(out.with_suffix(".png")).convert("RGB")


def correlation(a: Image.Image, b: Image.Image) -> float:
    size = (64, 36)
    x = np.asarray(a.convert("L").resize(size, Image.Resampling.BOX), np.float64).ravel()
    y = np.asarray(b.convert("L").resize(size, Image.Resampling.BOX), np.float64).ravel()
    return float(np.corrcoef(x, y)[0, 1])


def test_photo_prints_come_out_of_cups_and_a_stopped_printer_never_stops_a_guest(
    booth: dict, browser: Browser, tmp_path: Path
) -> None:
    url, printer = booth["url"], booth["cups"]
    before = len(printer.pdfs())
    guest = Guest(browser, url, "photo", PORTRAIT)
    page = guest.page
    guest.upload_to_result(PEOPLE / "seaside.jpg")
    assert page.locator('.order[data-product="photo"]').count() == 1  # a printer is set
    final_url = page.evaluate("() => booth.session.job.final_url")
    painting = Image.open(io.BytesIO(page.request.get(f"{url}{final_url}").body())).convert("RGB")

    # The guest orders two copies; the booth says where to collect them.
    page.click('.order[data-product="photo"]')
    guest.wait_state("order")
    assert page.locator('.choice[data-option="copies"]').all_inner_texts() == ["1", "2", "3"]
    first = order_photo(guest, copies=2)
    expect(page.locator("#ticket-note")).to_have_text(
        "Your print is queued — collect it at the printer."
    )
    guest.shot("queued")

    # The PDF arrives in cups-pdf's folder: 4 × 6 in, the painting in its frame, a label.
    [pdf] = printer.wait_for_pdfs(before + 1, PRINT_TIMEOUT_S)[before:]
    box = PdfReader(pdf).pages[0].mediabox
    assert sorted((round(float(box.width)), round(float(box.height)))) == [288, 432]
    page_image = rendered(pdf, tmp_path / "print")
    assert page_image.size == (6 * RENDER_DPI, 4 * RENDER_DPI)  # landscape, as painted
    page_image.save(SHOTS / "photo-print-cups-pdf.png")
    left, top, width, height = photo_frame_in({"size": "4x6", "orientation": "auto"}, 852 / 480)
    inset = 4
    frame = page_image.crop(
        (
            round(left * RENDER_DPI) + inset,
            round(top * RENDER_DPI) + inset,
            round((left + width) * RENDER_DPI) - inset,
            round((top + height) * RENDER_DPI) - inset,
        )
    )
    assert correlation(frame, painting) > 0.85
    assert correlation(frame, painting.transpose(Image.Transpose.FLIP_TOP_BOTTOM)) < 0.6
    label = np.asarray(page_image.convert("L"))[round((top + height) * RENDER_DPI) + 3 :, 20:-20]
    assert (label < 128).sum() > 200 and (label > 230).mean() > 0.7  # dark words on white

    operator = operator_page(browser, url)
    expect(print_row(operator, first).locator(".job-state")).to_have_text(
        "completed", timeout=30_000
    )
    expect(print_row(operator, first)).to_contain_text("2")  # copies
    status = page.request.get(
        f"{url}/api/captures/{page.evaluate('() => booth.session.capture.capture_id')}/orders"
    )
    [placed] = [o for o in status.json()["orders"] if o["number"] == first]
    assert placed["status"] == "printed"

    # Out of paper: the printer is stopped; the operator page says so, with CUPS's reason.
    printer.disable("media-empty: load 4x6 paper")
    wait_printer(url, operator, "stopped")
    state = operator.locator("#printer-state")
    expect(state).to_have_attribute("data-state", "stopped", timeout=10_000)
    expect(state).to_contain_text("Stopped")
    expect(state).to_contain_text("load 4x6 paper")

    # A new order still completes; the guest is told to ask the host.
    page.click("#order-another")
    guest.wait_state("order")
    second = order_photo(guest, copies=1)
    expect(page.locator("#ticket-note")).to_have_text("Ask the host for your print.")
    guest.shot("ask-host")
    waiting = print_row(operator, second)
    expect(waiting.locator(".job-state")).to_have_text("pending", timeout=PRINT_TIMEOUT_S * 1000)
    assert len(printer.pdfs()) == before + 1  # held in CUPS, not printed

    # Reprint the first order, then cancel that reprint: CUPS cancels the job.
    print_row(operator, first).locator('button[data-action="reprint"]').click()
    reprint = operator.locator(f'#prints-table tbody tr[data-number="{first}"]').first
    expect(reprint).to_contain_text("reprint 1", timeout=10_000)
    expect(reprint.locator(".job-state")).to_have_text("pending", timeout=30_000)
    operator.set_viewport_size(LANDSCAPE)
    operator.wait_for_timeout(200)
    SHOTS.mkdir(parents=True, exist_ok=True)
    operator.screenshot(path=SHOTS / "photo-operator-print-queue.png")
    reprint.locator('button[data-action="cancel"]').click()
    expect(reprint.locator(".job-state")).to_have_text("canceled", timeout=15_000)

    # The printer back: the waiting print comes out; a reprint after that too.
    printer.enable()
    expect(waiting.locator(".job-state")).to_have_text("completed", timeout=60_000)
    printer.wait_for_pdfs(before + 2, 60)
    reprint.locator('button[data-action="reprint"]').click()
    printer.wait_for_pdfs(before + 3, 60)
    assert len(printer.pdfs()) == before + 3  # the cancelled reprint never printed
    guest.close()
    operator.context.close()
