"""The print desk in a real Chromium, as an operator uses it: the admin page lists the guests'
orders (paintings from the shared kit, print files made by the real export library), the
operator marks one printed and then collected, filters by status, opens a slip, and
downloads a batch whose ZIP holds the selected orders' files and their manifest. Screenshots
in portrait and landscape go to tests/artifacts/browser/."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from db.migrate import upgrade
from db.session import make_engine, make_sessionmaker
from kiosk import order_book
from tests.support.browser import LANDSCAPE, PORTRAIT, SHOTS, BoothServer, csp_violation
from tests.support.desk import fail_order, make_files, painted_capture, place_order
from tests.support.paths import PEOPLE

pytestmark = [pytest.mark.browser]

PASSWORD = "s3cret"


def painting(name: str) -> Image.Image:
    image = Image.open(PEOPLE / name).convert("RGB")
    image.thumbnail((320, 320))
    return image


@pytest.fixture(scope="module")
def desk(module_settings) -> Iterator[dict]:
    """The booth (no render worker: the orders are made here) with four orders of two
    guests: a sticker and a mug with their files, a tee still waiting, a failed sticker."""
    settings = module_settings("desk", admin_password=PASSWORD)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    sessions = make_sessionmaker(engine)
    data_dir = settings.data_dir
    hiker = painted_capture(sessions, data_dir, painting("hiker.jpg"))
    seaside = painted_capture(sessions, data_dir, painting("seaside.jpg"))
    sticker = place_order(sessions, hiker, "sticker", {"size": 2})
    make_files(sessions, data_dir, sticker)
    mug = place_order(sessions, seaside, "mug", {"size": "11oz", "layout": "wrap"}, 2)
    make_files(sessions, data_dir, mug)
    failed = place_order(sessions, seaside, "sticker", {"size": 3})
    fail_order(sessions, failed, "the print render stopped: the booth was restarted")
    tee = place_order(sessions, hiker, "tee", {"size": "L", "colour": "black"})
    try:
        with BoothServer(settings, worker=False) as server:
            yield {
                "url": server.url,
                "sessions": sessions,
                "numbers": {"sticker": sticker, "mug": mug, "failed": failed, "tee": tee},
                "capture": hiker,
            }
    finally:
        engine.dispose()


def operator_page(browser: Browser) -> tuple[Page, list[str]]:
    context = browser.new_context(
        viewport=LANDSCAPE,
        http_credentials={"username": "operator", "password": PASSWORD},
        accept_downloads=True,
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: csp_violation(message, problems))
    return page, problems


def shots(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for orientation, viewport in (("portrait", PORTRAIT), ("landscape", LANDSCAPE)):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(150)
        page.screenshot(path=SHOTS / f"desk-{name}-{orientation}.png", full_page=True)
    page.set_viewport_size(LANDSCAPE)


def card(page: Page, number: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#desk-orders .order[data-number="{number}"]')


def stored_status(sessions, number: str) -> list[str]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        order = order_book.by_number(session, number)
        assert order is not None
        return [event.status.value for event in order.events]


def test_the_operator_prints_hands_over_and_hands_off_orders(desk: dict, browser: Browser) -> None:
    numbers, sessions = desk["numbers"], desk["sessions"]
    page, problems = operator_page(browser)
    try:
        page.goto(f"{desk['url']}/admin/")
        cards = page.locator("#desk-orders .order")
        expect(cards).to_have_count(4, timeout=15_000)
        newest_first = [numbers[key] for key in ("tee", "failed", "mug", "sticker")]
        assert [c.get_attribute("data-number") for c in cards.all()] == newest_first
        sticker = card(page, numbers["sticker"])
        expect(sticker.locator(".order-status")).to_have_text("Files ready")
        expect(sticker.locator(".files a")).to_have_text(["PDF", "PNG", "Slip"])
        expect(sticker.locator("img.thumb")).to_be_visible()
        assert sticker.locator("img.thumb").evaluate("img => img.naturalWidth") > 0
        expect(card(page, numbers["tee"]).locator("progress")).to_be_visible()
        expect(card(page, numbers["failed"]).locator(".error")).to_contain_text("restarted")
        expect(card(page, numbers["failed"]).locator("button")).to_have_text(["Retry"])
        expect(card(page, numbers["mug"])).to_contain_text("Mug × 2")
        shots(page, "01-orders")

        sticker.locator("button", has_text="Mark printed").click()
        expect(sticker.locator(".order-status")).to_have_text("Printed")
        expect(page.locator("#desk-status")).to_contain_text(f"{numbers['sticker']}: printed")
        card(page, numbers["sticker"]).locator("button", has_text="Mark collected").click()
        expect(card(page, numbers["sticker"]).locator(".order-status")).to_have_text("Collected")
        assert stored_status(sessions, numbers["sticker"])[-2:] == ["printed", "collected"]

        slip = page.request.get(
            f"{desk['url']}{sticker.locator('a', has_text='Slip').get_attribute('href')}"
        )
        assert slip.ok and slip.body().startswith(b"%PDF")

        for key in ("sticker", "mug"):
            card(page, numbers[key]).locator(".pick").check()
        expect(page.locator("#desk-batch")).to_have_text("Download batch (2)")
        assert card(page, numbers["tee"]).locator(".pick").is_disabled()  # no files yet
        shots(page, "02-selected")
        with page.expect_download() as downloaded:
            page.click("#desk-batch")
        archive = zipfile.ZipFile(downloaded.value.path())
        manifest = json.loads(archive.read("manifest.json"))
        assert [order["external_id"] for order in manifest["orders"]] == [
            numbers["mug"],
            numbers["sticker"],
        ]
        named = {file["file"] for order in manifest["orders"] for file in order["files"]}
        assert set(archive.namelist()) == named | {"manifest.csv", "manifest.json"}
        expect(page.locator("#desk-status")).to_contain_text("Saved stylebooth-")

        page.select_option("#desk-filter", "failed")
        expect(cards).to_have_count(1)
        expect(cards.first).to_have_attribute("data-number", numbers["failed"])
        expect(page.locator("#desk-batch")).to_be_disabled()  # the selection is not on screen
        shots(page, "03-failed")

        # The event's toggles: a new order prefix numbers the next guest's order.
        expect(page.locator("#event input[name=order_prefix]")).to_have_value("A")
        page.fill("#event input[name=order_prefix]", "gl")
        page.check("#event input[name=print_masters_for_all]")
        page.click("#event button[type=submit]")
        expect(page.locator("#event-status")).to_contain_text("Saved")
        settings = page.request.get(f"{desk['url']}/admin/api/settings").json()
        assert settings["order_prefix"] == "GL" and settings["print_masters_for_all"] is True
        placed = page.request.post(
            f"{desk['url']}/api/captures/{desk['capture']}/orders",
            data={"product": "sticker", "options": {"size": 2}},
        )
        assert placed.status == 201, placed.text()
        number = placed.json()["order"]["number"]
        assert number == "GL-001"
        page.select_option("#desk-filter", "")
        expect(card(page, number).locator(".order-status")).to_contain_text(
            "Received", timeout=10_000
        )
        expect(cards.first).to_have_attribute("data-number", number)  # newest first
        assert not problems, problems
    finally:
        page.context.close()
