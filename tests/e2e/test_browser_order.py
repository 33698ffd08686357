"""Ordering as a guest meets it (issue 12), in a real headless Chromium against the real server,
its real render worker and export process, at tiny render and print sizes: pick a product and
its options, watch the preview change, confirm, read the order number; then the phone page
follows the order until its print files are ready, by itself.

Every step is screenshotted in portrait and landscape into tests/artifacts/browser/."""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import PORTRAIT, SHOTS, BoothServer, Guest
from tests.support.paths import PEOPLE
from tests.support.qr import phone_link

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EVENT = "Gala of the Painted"
PHONE = {"width": 390, "height": 844}
PRINT_TIMEOUT_MS = 240_000  # the print job paints at 10 % of print size, then makes the files

# The preview as drawn: its size, and the mean brightness of its opaque pixels (0..255).
PREVIEW_JS = """() => {
  const img = document.querySelector('#preview-image');
  const canvas = Object.assign(document.createElement('canvas'),
      {width: img.naturalWidth, height: img.naturalHeight});
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0, opaque = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 200) { sum += data[i] + data[i + 1] + data[i + 2]; opaque++; }
  }
  return {size: [canvas.width, canvas.height], brightness: sum / (3 * opaque), opaque};
}"""


# Records what the preview says while it is loading (a MutationObserver never misses it).
LOADING_WATCH_JS = """() => {
  const preview = document.querySelector('#preview');
  window.loadingSeen = null;
  new MutationObserver(() => {
    if ('loading' in preview.dataset) {
      window.loadingSeen = preview.querySelector('.preview-message').textContent;
    }
  }).observe(preview, {attributes: true, attributeFilter: ['data-loading']});
}"""


@pytest.fixture(scope="module")
def booth(module_settings) -> Iterator[str]:
    settings = module_settings(
        "order", event_name=EVENT, fast_size=256, hq_size=128, hq_budget_s=8,
        print_scale_percent=10,
    )  # fmt: skip
    with BoothServer(settings) as server:
        yield server.url


@contextmanager
def worker_paused(booth: str) -> Iterator[None]:
    """The render worker stopped (SIGSTOP) for a moment, well within the staleness limit: an
    order placed meanwhile waits, so the phone page surely sees it before its files are made."""
    with urllib.request.urlopen(f"{booth}/healthz") as response:
        [worker] = json.load(response)["workers"]
    os.kill(worker["pid"], signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(worker["pid"], signal.SIGCONT)


def wait_preview(page: Page, *parts: str) -> dict:
    """Wait until the preview on screen is the one for these query parts; return its pixels."""
    page.wait_for_function(
        """(parts) => { const p = document.querySelector('#preview');
        const shown = p.dataset.shown || '';
        return !('loading' in p.dataset) && parts.every(part => shown.includes(part)); }""",
        arg=list(parts),
        timeout=60_000,
    )
    return page.evaluate(PREVIEW_JS)


def pressed(page: Page, selector: str) -> list[str]:
    return page.locator(f'{selector}[aria-pressed="true"]').all_inner_texts()


def summary(page: Page) -> dict[str, str]:
    rows = page.locator("#order-summary div")
    return {
        rows.nth(i).locator("dt").inner_text(): rows.nth(i).locator("dd").inner_text()
        for i in range(rows.count())
    }


def test_a_guest_orders_a_tee_and_follows_it_on_the_phone(booth: str, browser: Browser) -> None:
    guest = Guest(browser, booth, "order", PORTRAIT)
    page = guest.page
    guest.upload_to_result(PEOPLE / "seaside.jpg")
    capture_id = page.evaluate("() => booth.session.capture.capture_id")

    # The product: the T-shirt with its options as big choices, defaults picked, its preview.
    page.click('.order[data-product="tee"]')
    guest.wait_state("order")
    assert pressed(page, ".product-tab") == ["T-shirt"]
    sizes = page.locator('.option[data-option="size"] .choice').all_inner_texts()
    assert sorted(sizes) == sorted(["XS", "S", "M", "L", "XL", "2XL", "3XL"])
    assert pressed(page, '.option[data-option="size"] .choice') == ["M"]
    assert pressed(page, '.option[data-option="colour"] .choice') == ["White"]
    white = wait_preview(page, f"/api/captures/{capture_id}/preview/tee.png", "colour=white")
    assert white["size"][0] == 480 and white["opaque"] > 0
    guest.shot("tee-white")

    # A black shirt: the preview is drawn again (a loading state meanwhile), and is darker.
    page.evaluate(LOADING_WATCH_JS)
    page.click('.choice[data-option="colour"][data-value="black"]')
    black = wait_preview(page, "colour=black")
    assert page.evaluate("() => window.loadingSeen") == "Drawing your preview…"
    assert black["brightness"] < white["brightness"] - 40, (white, black)
    page.click('.choice[data-option="size"][data-value="L"]')
    wait_preview(page, "colour=black", "size=L")
    guest.shot("tee-black")

    # Another product and back: each keeps what the guest chose.
    page.click('.product-tab[data-product="mug"]')
    mug = wait_preview(page, "/preview/mug.png")
    assert mug["size"][0] == 480
    assert page.locator('.option[data-option="layout"] .choice').count() == 3
    guest.shot("mug")
    page.click('.product-tab[data-product="tee"]')
    wait_preview(page, "/preview/tee.png", "colour=black", "size=L")
    assert pressed(page, '.option[data-option="size"] .choice') == ["L"]

    # Confirm: what will be ordered, nothing ordered yet; Back keeps every choice.
    page.click("#order-next")
    guest.wait_state("confirm")
    expected = {
        "Product": "T-shirt",
        "Size": "L",
        "Shirt colour": "Black",
        "Design": "Whole picture",
        "Quantity": "1",
    }
    assert summary(page) == expected
    assert page.request.get(f"{booth}/api/captures/{capture_id}/orders").json()["orders"] == []
    guest.shot("confirm")
    page.click("#confirm-back")
    guest.wait_state("order")
    assert pressed(page, '.option[data-option="colour"] .choice') == ["Black"]
    page.click("#order-next")
    guest.wait_state("confirm")
    assert summary(page) == expected

    # The network drops the order: a clear sentence, the choice kept, the button again.
    page.route(f"**/api/captures/{capture_id}/orders", lambda route: route.abort("failed"))
    page.click("#confirm-order")
    expect(page.locator("#order-error")).to_contain_text("cannot reach its server")
    expect(page.locator("#confirm-order")).to_be_enabled()
    guest.shot("network-error")
    page.unroute(f"**/api/captures/{capture_id}/orders")

    # An option the server does not sell is refused in its own words (400); nothing ordered.
    page.evaluate("() => { booth.session.drafts.tee.size = '5XL'; }")
    page.click("#confirm-order")
    expect(page.locator("#order-error")).to_contain_text("The booth could not take it:")
    expect(page.locator("#order-error")).to_contain_text("5XL")
    assert page.request.get(f"{booth}/api/captures/{capture_id}/orders").json()["orders"] == []
    page.evaluate("() => { booth.session.drafts.tee.size = 'L'; }")

    # Confirmed: the number, big, to show at the print desk. (The worker waits meanwhile, so
    # the phone page opens on an order not yet made, and has to follow it by itself.)
    phone = browser.new_page(viewport=PHONE)
    errors: list[str] = []
    phone.on("pageerror", lambda error: errors.append(str(error)))
    with worker_paused(booth):
        page.click("#confirm-order")
        guest.wait_state("ordered", timeout=30_000)
        number = guest.text("#ticket-number")
        assert re.fullmatch(r"A-\d{3}", number), number
        assert guest.text(".ticket-label") == "Show this at the print desk:"
        assert "painting your T-shirt at print size" in guest.text("#ticket-note")
        expect(page.locator("#ticket-qr")).to_have_js_property("complete", True)
        [order] = page.request.get(f"{booth}/api/captures/{capture_id}/orders").json()["orders"]
        assert order["number"] == number and order["product"] == "tee"
        assert order["options"] == {"size": "L", "colour": "black", "layout": "full"}
        assert order["quantity"] == 1

        # The phone page: the event's name, the order and its status in words, live.
        phone.goto(phone_link(page.evaluate("() => booth.session.job.download_url"), booth))
        assert phone.locator("h1").inner_text() == EVENT
        item = phone.locator(f'.order[data-number="{number}"]')
        expect(item.locator(".product")).to_have_text(
            "T-shirt · size L · colour black · layout full"
        )
        expect(item).to_have_attribute("data-status", "received")
        expect(item.locator(".order-status")).to_have_text("Order received")
        expect(item.locator("progress")).to_be_visible()
        expect(phone.locator("body")).to_have_attribute("data-live", "1")
        expect(phone.locator("#download-note")).to_be_empty()  # no print master yet
        phone.screenshot(path=SHOTS / "phone-01-received.png", full_page=True)
        guest.shot("ordered")

    # The worker goes on: the page follows the order to its files by itself (never reloaded).
    expect(item).to_have_attribute("data-status", "files_ready", timeout=PRINT_TIMEOUT_MS)
    expect(item.locator(".order-status")).to_contain_text("Print files ready")
    expect(phone.locator("body")).to_have_attribute("data-live", "")
    # Now the download is the print master: bigger than the booth's painting.
    expect(phone.locator("#download-note")).to_contain_text("Print quality:")
    href = phone.locator("#download").get_attribute("href")
    assert href and "/print.png" in href
    master = Image.open(BytesIO(phone.request.get(f"{booth}{href}").body()))
    assert master.format == "PNG" and max(master.size) > 128, master.size  # hq_size
    expect(phone.locator("#share")).to_be_visible()  # share, or copy the link without https
    phone.screenshot(path=SHOTS / "phone-02-files-ready.png", full_page=True)
    phone.close()
    assert not errors, errors

    # Order something else, then back to the painting: the result lists the order.
    page.click("#order-another")
    guest.wait_state("order")
    # A preview that cannot be fetched says so; touching the product again draws it.
    page.route("**/preview/sticker.png*", lambda route: route.abort("failed"))
    page.click('.product-tab[data-product="sticker"]')
    expect(page.locator("#preview")).to_have_attribute("data-failed", "")
    expect(page.locator("#preview-message")).to_have_text(
        "The preview could not be drawn. The booth cannot reach its server right now. "
        "Touch your choice again to try once more."
    )
    guest.shot("preview-failed", both=False)
    page.unroute("**/preview/sticker.png*")
    page.click('.product-tab[data-product="sticker"]')
    sticker = wait_preview(page, "/preview/sticker.png")
    assert sticker["size"][0] == 480
    expect(page.locator("#preview")).not_to_have_attribute("data-failed", "")
    page.click("#back")
    guest.wait_state("result")
    expect(page.locator("#order-status")).to_have_text(re.compile(f"Your orders: {number}\\."))
    guest.shot("result-with-order")
    page.click("#done")
    guest.wait_state("attract")
    guest.close()
