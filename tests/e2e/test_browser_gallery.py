"""The gallery screen (/gallery) in a real headless Chromium at 1920×1080, against the real
server and its real render worker at tiny render sizes (two paintings in all): a finished
painting with its title and a QR code that reads back as its guest's phone page; a guest's
painting finished at the booth while the screen is open appears on it without a reload; the
guest's "Don't show me on the gallery" on the result screen takes it off; the operator's
Hide on the admin page empties the screen and Show again brings the painting back; purging
the guests' data empties it for good.

Screenshots (gallery, portrait and landscape; the result screen with its switch; the admin
panel) go to tests/artifacts/browser/gallery-*.png."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import (
    LANDSCAPE,
    PORTRAIT,
    RENDER_TIMEOUT_MS,
    SETTLE_JS,
    SHOTS,
    BoothServer,
    Guest,
    csp_violation,
)
from tests.support.paths import PEOPLE
from tests.support.photos import thumbnail_jpeg
from tests.support.qr import decode_qr

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EVENT = "Gala of the Painted"
PASSWORD = "s3cret"
SAME_PAGE = "() => window.sameGalleryPage === true"  # set once: a reload would drop it


@pytest.fixture(scope="module")
def booth(module_settings) -> Iterator[str]:
    settings = module_settings(
        "gallery", event_name=EVENT, admin_password=PASSWORD, fast_size=128, hq_size=96,
        hq_budget_s=8, hq_options={"steps": 12, "preview_every": 0},
    )  # fmt: skip
    with BoothServer(settings) as server:
        yield server.url


def painted_by_api(page: Page, booth: str, style: str) -> dict:
    """A guest's photo posted as the booth posts it, followed until its painting is done;
    the job's final state."""
    photo = thumbnail_jpeg(Image.open(PEOPLE / "hiker.jpg"), 320, quality=85)
    created = page.request.post(
        f"{booth}/api/captures",
        multipart={
            "style": style,
            "scene": "own",
            "source": "upload",
            "photo": {"name": "hiker.jpg", "mimeType": "image/jpeg", "buffer": photo},
        },
    )
    assert created.status == 201, created.text()
    deadline = time.monotonic() + RENDER_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        job = page.request.get(f"{booth}{created.json()['status_url']}").json()
        assert job["status"] not in {"failed", "cancelled"}, job
        if job["status"] == "done":
            return job
        time.sleep(0.3)
    raise AssertionError(f"the painting was never finished: {job}")


def open_page(browser: Browser, url: str, viewport: dict, **context) -> tuple[Page, list[str]]:
    page = browser.new_context(viewport=viewport, **context).new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: csp_violation(message, problems))
    page.goto(url)
    return page, problems


def on_screen(gallery: Page) -> list[str]:
    """The titles of the slides the gallery holds, newest first."""
    return gallery.evaluate("() => window.gallery.items.map(item => item.title)")


def current_title(gallery: Page) -> str:
    return gallery.locator(".slide.is-current .slide-title").inner_text()


def shoot(page: Page, name: str) -> None:
    """Screenshot in portrait and landscape, back to 1920×1080."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for orientation, viewport in (("portrait", PORTRAIT), ("landscape", LANDSCAPE)):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(200)
        page.evaluate(SETTLE_JS)
        page.screenshot(path=SHOTS / f"gallery-{name}-{orientation}.png")
    page.set_viewport_size(LANDSCAPE)


def test_the_gallery_follows_the_guests_and_the_operator(booth: str, browser: Browser) -> None:
    # A long dwell: the screenshots and checks see one painting, not a crossfade.
    gallery, problems = open_page(browser, f"{booth}/gallery?dwell=600", LANDSCAPE)
    expect(gallery.locator("body")).to_have_attribute("data-state", "empty", timeout=15_000)
    expect(gallery.locator("#empty-event")).to_have_text(EVENT)
    expect(gallery.locator(".gallery-empty-text")).to_have_text(
        "Paintings appear here as guests take them"
    )
    gallery.evaluate("() => { window.sameGalleryPage = true; }")
    shoot(gallery, "01-empty")

    # A first painting: its title, its artist, and a QR code (read off the screen itself)
    # that leads to its guest's phone page.
    scream = painted_by_api(gallery, booth, "the_scream")
    expect(gallery.locator(".slide.is-current .slide-title")).to_have_text(
        "The Scream", timeout=15_000
    )
    expect(gallery.locator(".slide.is-current .slide-artist")).to_have_text("after Edvard Munch")
    gallery.evaluate(SETTLE_JS)
    code = gallery.locator(".slide.is-current .slide-qr-code")
    assert code.bounding_box()["width"] >= 250  # a phone reads it from a step or two away
    assert decode_qr(code.screenshot()) == scream["download_url"]
    assert "/d/" in scream["download_url"]  # the phone page, on the booth's public address
    painting = gallery.locator(".slide.is-current .slide-painting")
    assert painting.evaluate("img => img.naturalWidth") == 96  # hq_size: the final painting
    assert gallery.evaluate(SAME_PAGE)

    # A guest at the booth: their painting, finished while the gallery is open, comes to
    # the front of it without a reload, marked as just painted.
    guest = Guest(browser, booth, "gallery-guest", PORTRAIT)
    page = guest.page
    guest.upload_to_result(PEOPLE / "seaside.jpg")
    capture_id = page.evaluate("() => booth.session.capture.capture_id")
    expect(gallery.locator(".slide.is-current .slide-title")).to_have_text(
        "The Starry Night", timeout=15_000
    )
    expect(gallery.locator(".slide.is-current .slide-new")).to_be_visible()
    assert on_screen(gallery) == ["The Starry Night", "The Scream"]
    assert gallery.evaluate(SAME_PAGE)
    shoot(gallery, "02-new-painting")
    # Left alone, a screen goes round the paintings by itself.
    cycling, cycling_problems = open_page(browser, f"{booth}/gallery?dwell=2", LANDSCAPE)
    expect(cycling.locator(".slide.is-current .slide-title")).to_have_text("The Starry Night")
    expect(cycling.locator(".slide.is-current .slide-title")).to_have_text(
        "The Scream", timeout=10_000
    )
    expect(cycling.locator(".slide.is-current .slide-title")).to_have_text(
        "The Starry Night", timeout=10_000
    )
    cycling.context.close()
    assert not cycling_problems, cycling_problems

    # The result screen's switch: "Don't show me on the gallery", and the gallery drops it.
    switch = page.locator("#gallery-optout")
    expect(switch).to_be_visible()
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(switch).to_contain_text("Don't show me on the gallery")
    guest.shot("result-switch-off")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    guest.shot("result-switch-on")
    choice = page.request.get(f"{booth}/api/captures/{capture_id}/gallery").json()
    assert choice == {"show": False}
    expect(gallery.locator(".slide")).to_have_count(1, timeout=15_000)
    expect(gallery.locator(".slide.is-current .slide-title")).to_have_text("The Scream")
    assert on_screen(gallery) == ["The Scream"] and gallery.evaluate(SAME_PAGE)
    # Back from ordering, the switch still says what the server keeps.
    page.click('.order[data-product="sticker"]')
    guest.wait_state("order")
    page.click("#back")
    guest.wait_state("result")
    expect(switch).to_have_attribute("aria-checked", "true")
    guest.close()

    # The operator: the panel lists both, says the guest opted out (nothing to undo), and
    # Hide takes The Scream off the open gallery; Show again brings it back.
    admin, admin_problems = open_page(
        browser,
        f"{booth}/admin/",
        LANDSCAPE,
        http_credentials={"username": "operator", "password": PASSWORD},
    )
    items = admin.locator("#gallery-items .gallery-item")
    expect(items).to_have_count(2, timeout=15_000)
    opted_out, shown = items.nth(0), items.nth(1)
    expect(opted_out).to_have_attribute("data-state", "opted_out")
    expect(opted_out).to_contain_text("The guest asked not to be shown")
    expect(opted_out.locator("button")).to_have_count(0)
    expect(shown).to_contain_text("On the gallery")
    thumb = shown.locator("img.thumb")
    thumb.evaluate("img => img.decode()")
    assert thumb.evaluate("img => img.naturalWidth") == 96
    # The booth drops away for a moment (a restart, the network): the screen keeps its
    # painting, and takes up the operator's change once it is back.
    refused: list[str] = []
    gallery.route(
        "**/api/gallery", lambda route: refused.append(route.request.url) or route.abort()
    )
    while not refused:
        gallery.wait_for_timeout(200)
    expect(gallery.locator(".slide.is-current .slide-title")).to_have_text("The Scream")
    shown.locator("button", has_text="Hide").click()
    expect(admin.locator("#gallery-status")).to_contain_text("The Scream")
    gallery.unroute("**/api/gallery")
    expect(gallery.locator("body")).to_have_attribute("data-state", "empty", timeout=20_000)
    assert gallery.evaluate(SAME_PAGE)
    expect(items.nth(1)).to_have_attribute("data-state", "hidden")
    admin.locator("#gallery-title").scroll_into_view_if_needed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin.locator("section.gallery-panel").screenshot(path=SHOTS / "gallery-03-admin-panel.png")
    items.nth(1).locator("button", has_text="Show again").click()
    expect(gallery.locator(".slide.is-current .slide-title")).to_have_text(
        "The Scream", timeout=15_000
    )

    # Purging every guest's data: gone from the gallery, its picture no longer served.
    picture = gallery.evaluate("() => window.gallery.items[0].image_url")
    assert gallery.request.get(f"{booth}{picture}").ok
    token = admin.request.get(f"{booth}/admin/api/session").json()
    purged = admin.request.post(
        f"{booth}/admin/api/purge",
        data={"older_than_hours": 0},
        headers={token["header"]: token["csrf_token"]},
    )
    assert purged.ok and purged.json()["deleted"] == 2, purged.text()
    expect(gallery.locator("body")).to_have_attribute("data-state", "empty", timeout=15_000)
    assert gallery.request.get(f"{booth}{picture}").status == 404
    assert gallery.evaluate(SAME_PAGE)
    assert not problems and not admin_problems, problems + admin_problems
