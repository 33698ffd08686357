"""The booth as a guest meets it: a real headless Chromium with a fake webcam fed from a photo,
the real server and render worker (tiny render sizes), the whole flow on screen.

Every step is screenshotted in portrait (1080x1920) and landscape (1920x1080) into
tests/artifacts/browser/ for people to look at.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.browser import (
    LANDSCAPE,
    PORTRAIT,
    RENDER_TIMEOUT_MS,
    SHOTS,
    BoothServer,
    Guest,
    csp_violation,
    launch,
)
from tests.support.paths import PEOPLE, REPO
from tests.support.qr import decode_qr as decode_qr_png
from tests.support.qr import phone_link

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EVENT = "Anna & Ben's Wedding"
ADMIN_PASSWORD = "s3cret"


def write_y4m(photo: Path, path: Path, size: tuple[int, int] = (640, 480), frames: int = 4) -> Path:
    """A YUV4MPEG2 (4:2:0) clip of a still photo: what Chromium's fake webcam plays."""
    image = ImageOps.fit(Image.open(photo).convert("RGB"), size)
    y, cb, cr = (np.asarray(plane, dtype=np.float32) for plane in image.convert("YCbCr").split())

    def subsample(plane: np.ndarray) -> np.ndarray:
        quads = plane.reshape(size[1] // 2, 2, size[0] // 2, 2).mean(axis=(1, 3))
        return np.round(quads).astype(np.uint8)

    frame = b"FRAME\n" + y.astype(np.uint8).tobytes() + subsample(cb).tobytes()
    frame += subsample(cr).tobytes()
    header = f"YUV4MPEG2 W{size[0]} H{size[1]} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * frames)
    return path


@pytest.fixture(scope="module")
def booth(module_settings) -> Iterator[str]:
    settings = module_settings(
        "booth",
        event_name=EVENT,
        fast_size=256,
        hq_size=128,
        hq_budget_s=8,
        admin_password=ADMIN_PASSWORD,
        print_scale_percent=10,  # print renders a tenth of print size
    )
    with BoothServer(settings) as server:
        yield server.url


@pytest.fixture(scope="module")
def browsers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Browser]]:
    """One Chromium whose webcam shows a photo-booth shot, and one with no camera at all."""
    webcam = write_y4m(PEOPLE / "booth_group.jpg", tmp_path_factory.mktemp("cam") / "cam.y4m")
    with sync_playwright() as playwright:
        camera = launch(
            playwright,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={webcam}",
        )
        no_camera = launch(playwright, "--use-fake-ui-for-media-stream")
        yield {"camera": camera, "none": no_camera}
        camera.close()
        no_camera.close()


def front_image(page: Page) -> dict:
    return page.evaluate(
        """() => { const img = document.querySelector('#art-frame .art-layer.is-front');
        return {src: img.getAttribute('src'), size: [img.naturalWidth, img.naturalHeight], kind:
        document.querySelector('#art-frame').dataset.kind}; }"""
    )


def decode_qr(page: Page) -> str:
    """The text of the QR code image the page shows (read back at its natural size)."""
    data_url = page.evaluate(
        """() => { const img = document.querySelector('#qr');
        const canvas = Object.assign(document.createElement('canvas'),
            {width: img.naturalWidth, height: img.naturalHeight});
        canvas.getContext('2d').drawImage(img, 0, 0);
        return canvas.toDataURL('image/png'); }"""
    )
    return decode_qr_png(base64.b64decode(data_url.split(",", 1)[1]))


def test_camera_flow_from_attract_to_order(booth: str, browsers: dict[str, Browser]) -> None:
    guest = Guest(browsers["camera"], booth, "camera", PORTRAIT)
    page = guest.page
    config = page.evaluate("() => booth.config")

    # Attract: the event name, the paintings drifting by, touch to start.
    assert guest.text("#event-name") == EVENT
    assert page.locator("#attract-wall img").count() >= len(config["styles"])
    assert guest.text("#start") == "Touch to start"
    guest.shot("attract")

    # Choose a painting: one card per painting, with its title and artist.
    page.click("#start")
    guest.wait_state("style")
    cards = page.locator("#style-choices .card")
    assert cards.count() == len(config["styles"])
    assert "The Starry Night" in cards.first.inner_text()
    assert "Vincent van Gogh" in cards.first.inner_text()
    guest.shot("painting")

    # Choose a scene: "keep my background" first, then the backdrops.
    page.click('#style-choices .card[data-name="starry_night"]')
    guest.wait_state("scene")
    scenes = page.locator("#scene-choices .card")
    assert scenes.count() == len(config["scenes"])
    assert "Keep my background" in scenes.first.inner_text()
    guest.shot("scene")
    scene = config["scenes"][1]
    page.click(f'#scene-choices .card[data-name="{scene["name"]}"]')

    # The live camera (the fake webcam's 640x480 photo-booth shot), the scene hinted.
    guest.wait_state("camera")
    expect(page.locator("#shoot")).to_be_visible(timeout=10_000)
    assert page.evaluate("() => document.querySelector('#camera-video').videoWidth") == 640
    assert scene["title"] in guest.text("#camera-scene-hint")
    assert page.locator("#backdrop").evaluate("el => el.style.backgroundImage").startswith("url(")
    guest.shot("camera")

    # 3-2-1, then the photo as taken.
    page.click("#shoot")
    expect(page.locator("#countdown")).to_have_text("3")
    expect(page.locator("#countdown")).to_have_text("2")
    guest.shot("countdown", both=False)
    guest.wait_state("review", timeout=10_000)
    photo = page.evaluate(
        "() => { const i = document.querySelector('#review-photo');"
        " return [i.naturalWidth, i.naturalHeight]; }"
    )
    assert photo == [360, 480]  # the 3:4 portrait frame's crop of the 640x480 camera
    guest.shot("review")

    # Retake goes back to the live camera; a second shot comes back to review.
    page.click("#retake")
    guest.wait_state("camera")
    expect(page.locator("#shoot")).to_be_visible()
    page.click("#shoot")
    guest.wait_state("review", timeout=10_000)

    # The painting appears: the fast picture first, then the final one replaces it.
    page.click("#use")
    guest.wait_state("render")
    started = time.monotonic()
    page.wait_for_function(
        "() => ['fast', 'preview', 'final'].includes(document.querySelector('#art-frame')"
        ".dataset.kind)",
        timeout=RENDER_TIMEOUT_MS,
    )
    first_picture_s = time.monotonic() - started
    first = front_image(page)
    assert re.search(r"/api/jobs/\w+/images/(fast|preview|final)\.jpg", first["src"]), first
    assert min(first["size"]) > 0
    print(f"first painted picture on screen {first_picture_s:.1f} s after 'use it'")
    if first["kind"] != "final":
        guest.shot("painting-appears")

    # The result: the final painting, a QR code of the phone page, the order buttons.
    guest.wait_state("result", timeout=RENDER_TIMEOUT_MS)
    final = front_image(page)
    assert "/images/final.jpg" in final["src"] and max(final["size"]) == 128, final  # hq_size
    assert guest.text("#art-title") == "Your masterpiece"
    assert "The Starry Night" in guest.text("#art-status")
    expect(page.locator("#qr")).to_have_js_property("complete", True)
    download = phone_link(decode_qr(page), booth)
    with urllib.request.urlopen(download) as response:  # the phone's page works
        assert response.status == 200 and "painting.jpg" in response.read().decode()
    orders = page.locator("#orders .order")
    assert [orders.nth(i).inner_text() for i in range(orders.count())] == [
        "T-shirt",
        "Sticker",
        "Mug",
    ]
    guest.shot("result")

    # A product opens the order screen on it (tests/e2e/test_browser_order.py orders one);
    # Back returns to the painting.
    page.click('.order[data-product="sticker"]')
    guest.wait_state("order")
    expect(page.locator('.product-tab[aria-pressed="true"]')).to_have_text("Sticker")
    page.click("#back")
    guest.wait_state("result")
    assert "/images/final.jpg" in front_image(page)["src"]

    # "New photo" starts again at the paintings; back from there is the attract screen.
    page.click("#again")
    guest.wait_state("style")
    page.click("#back")
    guest.wait_state("attract")
    guest.close()


def test_upload_flow_survives_a_network_failure(booth: str, browsers: dict[str, Browser]) -> None:
    guest = Guest(browsers["camera"], booth, "upload", LANDSCAPE)
    page = guest.page
    page.click("#start")
    guest.wait_state("style")
    guest.pick("the_scream", "own")
    assert guest.text("#camera-scene-hint") == "Your own background stays"

    # Upload a photo file instead of using the camera.
    page.set_input_files("#upload-input", PEOPLE / "hiker.jpg")
    guest.wait_state("review")
    assert guest.text("#review-note") == "Your uploaded photo"
    expect(page.locator("#review-photo")).to_have_js_property("naturalWidth", 600)
    guest.shot("review")

    # The network drops the upload: the failsafe says so, keeps the photo, and tries again.
    page.route("**/api/captures", lambda route: route.abort("connectionfailed"))
    page.click("#use")
    guest.wait_state("failsafe")
    assert "cannot reach its server" in guest.text("#failsafe-message")
    expect(page.locator("#failsafe-kept")).to_be_visible()
    expect(page.locator("#failsafe-retry")).to_be_visible()
    guest.shot("failsafe")
    page.unroute("**/api/captures")
    page.click("#failsafe-retry")
    guest.wait_state("render")
    guest.wait_state("result", timeout=RENDER_TIMEOUT_MS)
    final = front_image(page)
    assert "/images/final.jpg" in final["src"] and max(final["size"]) == 128, final
    job = page.evaluate("() => booth.session.job")
    assert job["style"] == "the_scream" and job["scene"] == "own" and job["status"] == "done"
    guest.shot("result")
    page.click("#done")
    guest.wait_state("attract")
    guest.close()


def test_without_a_camera_bad_files_get_a_clear_message(
    booth: str, browsers: dict[str, Browser], tmp_path: Path
) -> None:
    guest = Guest(browsers["none"], booth, "nocamera", PORTRAIT)
    page = guest.page
    page.click("#start")
    guest.wait_state("style")
    guest.pick("udnie", "own")

    # No camera: say so, offer the upload, no shutter button.
    expect(page.locator("#camera-message")).to_have_text("No camera here — upload a photo instead.")
    expect(page.locator("#shoot")).to_be_hidden()
    expect(page.locator("#upload-button")).to_be_visible()
    guest.shot("camera")

    # A file that is no picture at all never leaves the booth.
    text_file = tmp_path / "notes.jpg"
    text_file.write_text("this is not a photo")
    page.set_input_files("#upload-input", text_file)
    guest.wait_state("failsafe")
    assert "not a photo we can use" in guest.text("#failsafe-message")
    expect(page.locator("#failsafe-kept")).to_be_hidden()
    guest.shot("not-a-photo")
    page.click("#failsafe-retry")
    guest.wait_state("camera")

    # A picture the server refuses (too small to paint): its reason, and back to the camera.
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8), "teal").save(tiny)
    page.set_input_files("#upload-input", tiny)
    guest.wait_state("review")
    page.click("#use")
    guest.wait_state("failsafe")
    message = guest.text("#failsafe-message")
    assert message.startswith("That photo could not be used:") and "8×8" in message, message
    guest.shot("refused")
    page.click("#failsafe-retry")
    guest.wait_state("camera")
    page.click("#back")
    guest.wait_state("scene")
    guest.close()


def admin_settings(booth: str, changes: dict) -> dict:
    """PUT the event settings through the admin API, as the operator's page does."""
    token = base64.b64encode(f"operator:{ADMIN_PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        f"{booth}/admin/api/settings",
        data=json.dumps(changes).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def test_an_idle_booth_warns_then_goes_home(booth: str, browsers: dict[str, Browser]) -> None:
    assert admin_settings(booth, {"idle_timeout_s": 10})["idle_timeout_s"] == 10
    try:
        guest = Guest(browsers["none"], booth, "idle", PORTRAIT)
        page = guest.page
        page.click("#start")
        guest.wait_state("style")

        # Nobody touches the screen: a warning with a countdown; one touch keeps the guest.
        expect(page.locator("#idle")).to_be_visible(timeout=10_000)
        assert guest.text("#idle h2") == "Still there?"
        assert re.fullmatch(r"The booth restarts in \d seconds\.", guest.text("#idle-body"))
        guest.shot("warning")
        page.click("#idle-stay")
        expect(page.locator("#idle")).to_be_hidden()
        assert page.evaluate("() => document.body.dataset.state") == "style"

        # Still nobody: back to the attract screen, ready for the next guest, with what the
        # operator changed meanwhile.
        admin_settings(booth, {"event_name": "Night at the Museum"})
        guest.wait_state("attract", timeout=15_000)
        expect(page.locator("#idle")).to_be_hidden()
        expect(page.locator("#event-name")).to_have_text("Night at the Museum")
        guest.close()
    finally:
        admin_settings(booth, {"idle_timeout_s": None, "event_name": None})


def test_a_translation_replaces_the_guest_strings(booth: str, browsers: dict[str, Browser]) -> None:
    strings = REPO / "booth_ui" / "strings"
    english = json.loads((strings / "en.json").read_text())
    german = json.loads((strings / "de.json").read_text())
    assert set(english) - {"_comment"} <= set(german), "de.json misses keys"
    used = set(re.findall(r'\bt\("(\w+\.[\w.]+)"', _sources()))
    used |= set(re.findall(r'data-i18n="(\w+\.[\w.]+)"', _sources()))
    assert used <= set(english), f"strings used but not in en.json: {used - set(english)}"

    guest = Guest(browsers["none"], f"{booth}/?lang=de", "german", LANDSCAPE)
    page = guest.page
    assert page.evaluate("() => document.documentElement.lang") == "de"
    assert guest.text("#start") == "Zum Starten berühren"
    page.click("#start")
    guest.wait_state("style")
    assert guest.text("#style h2") == "Wähle dein Gemälde"
    assert guest.text("#back") == "Zurück"
    guest.pick("great_wave", "own")
    expect(page.locator("#camera-message")).to_contain_text("keine Kamera")
    guest.shot("camera")
    guest.close()


def test_the_operator_runs_the_event_from_the_admin_page(
    booth: str, browsers: dict[str, Browser]
) -> None:
    """Last in this module: it purges the booth's guests."""
    context = browsers["none"].new_context(
        viewport={"width": 1280, "height": 1000},
        http_credentials={"username": "operator", "password": ADMIN_PASSWORD},
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: csp_violation(message, errors))
    page.on("dialog", lambda dialog: dialog.accept())
    photo = io.BytesIO()
    ImageOps.contain(Image.open(PEOPLE / "seaside.jpg").convert("RGB"), (480, 480)).save(
        photo, "JPEG"
    )
    created = page.request.post(
        f"{booth}/api/captures",
        multipart={
            "style": "udnie",
            "scene": "own",
            "photo": {"name": "p.jpg", "mimeType": "image/jpeg", "buffer": photo.getvalue()},
        },
    ).json()
    try:
        page.goto(f"{booth}/admin")
        assert page.url == f"{booth}/admin/"
        expect(page.locator("#health")).to_have_attribute("data-status", "ok", timeout=30_000)
        expect(page.locator("#health")).to_contain_text("1 render worker")
        row = page.locator(f'#jobs tr[data-job="{created["job_id"]}"]')
        expect(row.locator("td[data-status]")).to_have_text("done", timeout=RENDER_TIMEOUT_MS)
        expect(row.locator("a", has_text="Painting")).to_be_visible()
        # An order appears on the print desk and gets its print files from the print lane.
        order = page.request.post(
            f"{booth}/api/captures/{created['capture_id']}/orders", data={"product": "mug"}
        ).json()["order"]
        card = page.locator(f'#desk-orders .order[data-number="{order["number"]}"]')
        expect(card.locator(".order-status")).to_have_attribute(
            "data-status", "files_ready", timeout=RENDER_TIMEOUT_MS
        )
        pdf = card.locator("a", has_text="PDF").get_attribute("href")
        assert pdf and page.request.get(f"{booth}{pdf}").body().startswith(b"%PDF")

        # Event settings: a new name and one painting fewer reach the booth's config.
        expect(page.locator("#event input[name=event_name]")).to_have_value(EVENT)
        page.fill("#event input[name=event_name]", "Gala Night")
        page.uncheck('#styles input[value="the_scream"]')
        page.click("#event button[type=submit]")
        expect(page.locator("#event-status")).to_contain_text("Saved")
        config = page.request.get(f"{booth}/api/config").json()
        assert config["event_name"] == "Gala Night"
        assert "the_scream" not in {s["name"] for s in config["styles"]} and config["styles"]
        page.fill("#event input[name=event_name]", "   ")  # the form passes it, the server not
        page.click("#event button[type=submit]")
        expect(page.locator("#event-status")).to_contain_text("Not saved: event_name")
        page.fill("#event input[name=event_name]", "Gala Night")
        page.screenshot(path=SHOTS / "admin-01-dashboard.png", full_page=True)

        # The guests' data: purged, and their files with it.
        page.select_option("#purge select", "0")
        page.click("#purge button[type=submit]")
        expect(page.locator("#purge-status")).to_contain_text("Deleted")
        expect(row).to_have_count(0, timeout=10_000)
        assert page.request.get(f"{booth}{pdf}").status == 404
        assert page.request.get(f"{booth}/api/jobs/{created['job_id']}").status == 404
        page.screenshot(path=SHOTS / "admin-02-purged.png", full_page=True)
        assert not errors, errors
    finally:
        admin_settings(booth, {"event_name": None, "styles": None, "countdown_s": None})
        context.close()
    with pytest.raises(urllib.error.HTTPError) as refused:  # no password, no page
        urllib.request.urlopen(f"{booth}/admin/")
    assert refused.value.code == 401


def _sources() -> str:
    ui = REPO / "booth_ui"
    return "\n".join(path.read_text() for path in [ui / "index.html", *ui.glob("js/**/*.js")])
