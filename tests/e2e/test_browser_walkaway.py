"""A guest who walks away while the painting is finished (issue 14), in a real headless Chromium
with the fake webcam, against the real server and render worker at tiny sizes: the QR code
and the order buttons come with the fast picture; an order is taken before the HQ painting is
done; "I'm done" sends the booth home while the HQ painting goes on in the queue; the phone
page, opened on the QR code's link before the final, follows the painting (a preview, then
the final) without reloading; the order's print job is claimed only after the HQ painting.

Screenshots: tests/artifacts/browser/walkaway-*.png (the booth in both orientations), and
the phone page mid-painting and finished."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from sqlalchemy import select

from db.models import Job, Lane, Order, OrderEvent, OrderStatus
from db.session import make_engine, make_sessionmaker
from kiosk.config import Settings
from tests.e2e.test_browser_booth import write_y4m
from tests.support.browser import (
    LANDSCAPE,
    PORTRAIT,
    RENDER_TIMEOUT_MS,
    SHOTS,
    BoothServer,
    Guest,
    launch,
)
from tests.support.paths import PEOPLE
from tests.support.qr import decode_qr, phone_link

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}
PRINT_TIMEOUT_S = 240
# The HQ painting runs for its whole budget (more steps than it can make), with a preview
# every few steps: long enough for the guest to order and leave while it is still painting.
HQ_BUDGET_S = 20

# Every picture the phone page shows, in order (a MutationObserver never misses one), and a
# mark that a reload would wipe.
PHONE_WATCH_JS = """() => {
  window.stayed = 'never reloaded';
  window.kindsSeen = [];
  const note = () => {
    const img = document.querySelector('#painting');
    const kind = img ? img.dataset.kind : 'none';
    if (window.kindsSeen[window.kindsSeen.length - 1] !== kind) window.kindsSeen.push(kind);
  };
  note();
  new MutationObserver(note).observe(document.body,
      {subtree: true, childList: true, attributes: true, attributeFilter: ['src', 'data-kind']});
}"""


@pytest.fixture(scope="module")
def server(module_settings) -> Iterator[BoothServer]:
    settings = module_settings(
        "walkaway", fast_size=256, hq_size=128, hq_budget_s=HQ_BUDGET_S,
        hq_options={"steps": 400, "preview_every": 2}, print_scale_percent=10,
    )  # fmt: skip
    with BoothServer(settings) as booth:
        yield booth


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    webcam = write_y4m(PEOPLE / "booth_group.jpg", tmp_path_factory.mktemp("cam") / "cam.y4m")
    with sync_playwright() as playwright:
        chromium = launch(
            playwright,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={webcam}",
        )
        yield chromium
        chromium.close()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url) as response:
        return json.load(response)


def take_photo(guest: Guest) -> None:
    page = guest.page
    page.click("#start")
    guest.wait_state("style")
    guest.pick("starry_night", "own")
    expect(page.locator("#shoot")).to_be_visible(timeout=10_000)
    page.click("#shoot")
    guest.wait_state("review", timeout=10_000)
    page.click("#use")
    guest.wait_state("render")


def order_sticker(guest: Guest) -> str:
    """Order a 2 in sticker from the result panel; its number."""
    page = guest.page
    page.click('.order[data-product="sticker"]')
    guest.wait_state("order")
    page.click('.choice[data-option="size"][data-value="2"]')
    page.click("#order-next")
    guest.wait_state("confirm")
    page.click("#confirm-order")
    guest.wait_state("ordered", timeout=30_000)
    return guest.text("#ticket-number")


def hq_status(server: BoothServer, job: dict) -> str:
    return get_json(f"{server.url}{job['status_url']}")["status"]


def when(moment: datetime | None) -> datetime:
    assert moment is not None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_a_guest_leaves_after_the_fast_picture(server: BoothServer, camera: Browser) -> None:
    booth = server.url
    guest = Guest(camera, booth, "walkaway", PORTRAIT)
    page = guest.page
    take_photo(guest)

    # The fast picture comes with the panel: the QR code with its sentence, the products,
    # "I'm done"; the HQ painting is still being made.
    guest.wait_state("finishing", timeout=RENDER_TIMEOUT_MS)
    capture = page.evaluate("() => booth.session.capture")
    assert hq_status(server, capture) in ("queued", "running")
    assert page.locator("#art-frame").get_attribute("data-kind") in ("fast", "preview")
    expect(page.locator("#qr-title")).to_have_text(
        "Your painting is being finished — scan to get it on your phone"
    )
    expect(page.locator("#qr")).to_have_js_property("complete", True)
    qr_src = page.locator("#qr").get_attribute("src")
    with urllib.request.urlopen(f"{booth}{qr_src}") as response:
        phone_url = phone_link(decode_qr(response.read()), booth)
    assert page.locator("#orders .order").count() >= 3
    expect(page.locator("#done")).to_be_visible()
    guest.shot("finishing")
    for viewport in (PORTRAIT, LANDSCAPE):  # the way out is on screen in both orientations
        page.set_viewport_size(viewport)
        guest.settle()
        box = page.locator("#done").bounding_box()
        assert box and box["y"] + box["height"] <= viewport["height"], (viewport, box)
    page.set_viewport_size(guest.viewport)

    # The phone page, opened before the final: the newest picture and the progress.
    phone = camera.new_page(viewport=PHONE)
    phone_errors: list[str] = []
    phone.on("pageerror", lambda error: phone_errors.append(str(error)))
    phone.goto(phone_url)
    phone.evaluate(PHONE_WATCH_JS)
    expect(phone.locator("#making-progress")).to_be_visible()
    expect(phone.locator("#making-status")).to_contain_text("Your painting is being finished")
    assert capture["job_id"] not in phone.content()  # the page names the token only

    # An order before the final: taken at once.
    number = order_sticker(guest)
    [order] = get_json(f"{booth}/api/captures/{capture['capture_id']}/orders")["orders"]
    assert order["number"] == number and order["status"] == "received"

    # Back to the panel (still finishing), and "I'm done": home, the painting goes on.
    page.click("#order-another")
    guest.wait_state("order")
    page.click("#back")
    guest.wait_state("finishing")
    page.click("#done")
    guest.wait_state("attract")
    left = hq_status(server, capture)
    assert left in ("queued", "running"), f"the HQ painting was {left} when the guest left"
    assert page.evaluate("() => booth.machine.current") == "attract"

    # The phone shows a preview while it paints (screenshot), then the final: no reload.
    phone.wait_for_function(
        "() => document.querySelector('#painting')?.dataset.kind === 'preview'",
        timeout=RENDER_TIMEOUT_MS,
    )
    phone.wait_for_timeout(300)
    phone.screenshot(path=SHOTS / "walkaway-phone-01-painting.png", full_page=True)
    deadline = time.monotonic() + RENDER_TIMEOUT_MS / 1000
    while hq_status(server, capture) != "done":
        assert time.monotonic() < deadline, "the HQ painting did not finish"
        time.sleep(0.5)
    phone.wait_for_function(
        "() => document.querySelector('#painting')?.dataset.kind === 'final'", timeout=30_000
    )
    assert phone.evaluate("() => window.stayed") == "never reloaded"
    kinds = phone.evaluate("() => window.kindsSeen")
    assert "preview" in kinds and kinds[-1] == "final", kinds
    assert kinds.index("preview") < kinds.index("final"), kinds
    assert "/painting.jpg" in (phone.locator("#painting").get_attribute("src") or "")
    expect(phone.locator("#download")).to_be_visible()
    phone.wait_for_timeout(300)
    phone.screenshot(path=SHOTS / "walkaway-phone-02-final.png", full_page=True)
    phone.close()
    assert not phone_errors, phone_errors

    # A phone that opens the link now sees the final painting at once, and no socket.
    late = camera.new_page(viewport=PHONE)
    late.goto(phone_url)
    assert late.locator("#painting").get_attribute("data-kind") == "final"
    assert late.locator("body").get_attribute("data-ws") == ""
    late.close()

    # The order reaches its files; its print job was claimed only after the HQ painting.
    deadline = time.monotonic() + PRINT_TIMEOUT_S
    while True:
        [order] = get_json(f"{booth}/api/captures/{capture['capture_id']}/orders")["orders"]
        if order["status"] in ("files_ready", "failed"):
            break
        assert time.monotonic() < deadline, f"order {number} is still {order['status']}"
        time.sleep(1)
    assert order["status"] == "files_ready", order
    assert_print_waited(server.settings, capture["capture_id"], number)
    guest.close()


def assert_print_waited(settings: Settings, capture_id: str, number: str) -> None:
    """The database's own times: the order was taken before the HQ painting ended, and its
    print job started (and the order began painting) only after that."""
    engine = make_engine(settings.db_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            jobs = {
                Lane(job.mode): job
                for job in session.scalars(select(Job).where(Job.capture_id == capture_id))
            }
            order = session.scalar(select(Order).where(Order.number == number))
            assert order is not None
            events = {
                OrderStatus(event.status): when(event.at)
                for event in session.scalars(
                    select(OrderEvent).where(OrderEvent.order_id == order.id)
                )
            }
            hq_done = when(jobs[Lane.HQ].finished_at)
            print_started = when(jobs[Lane.PRINT].started_at)
            assert events[OrderStatus.received] <= hq_done, (events, hq_done)
            assert print_started >= hq_done, (print_started, hq_done)
            assert events[OrderStatus.painting] >= hq_done, (events, hq_done)
    finally:
        engine.dispose()
