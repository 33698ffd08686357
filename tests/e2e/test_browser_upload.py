"""What the booth page does when the server refuses an upload, in a real headless Chromium
against the real server (no render worker: these guests never get as far as painting).

A photo the server refuses (4xx) shows the server's reason and sends the guest back for
another photo; a busy booth (503) or a full disk (507) says so, keeps the photo and offers to
try again. Screenshots go to tests/artifacts/browser/ (upload-*.png).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, expect

from kiosk.keys import UPLOADS
from tests.support.browser import BoothServer, Guest
from tests.support.paths import PEOPLE

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def serve(module_settings, **changes) -> BoothServer:
    return BoothServer(module_settings("upload-booth", **changes), worker=False)


@pytest.fixture(scope="module")
def busy_booth(module_settings) -> Iterator[BoothServer]:
    """One upload at a time, so one stalled upload makes the booth busy."""
    with serve(module_settings, max_uploads=1, upload_timeout_s=120) as server:
        yield server


@pytest.fixture(scope="module")
def full_booth(module_settings) -> Iterator[BoothServer]:
    """A booth whose disk is "nearly full": it wants more free space than any disk has."""
    with serve(module_settings, min_free_mb=10**12) as server:
        yield server


def photo_file(path: Path, size: tuple[int, int] | None = None) -> Path:
    image = Image.open(PEOPLE / "seaside.jpg").convert("RGB")
    image = image.resize(size, Image.Resampling.NEAREST) if size else image
    image.save(path, "JPEG", quality=40)
    return path


def to_review(guest: Guest, photo: Path) -> None:
    guest.page.click("#start")
    guest.wait_state("style")
    guest.pick("udnie", "own")
    guest.page.set_input_files("#upload-input", photo)
    guest.wait_state("review")


def stalled_upload(url: str) -> socket.socket:
    """A guest's upload that sends its first kilobyte and then nothing: it holds the slot."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        b"POST /api/captures HTTP/1.1\r\nHost: booth\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
        + b'--b\r\nContent-Disposition: form-data; name="photo"\r\n\r\n'
        + b"\xff" * 1024
    )
    return sock


def until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.05)


def test_a_photo_the_server_refuses_shows_why_and_asks_for_another(
    busy_booth: BoothServer, browser: Browser, tmp_path: Path
) -> None:
    guest = Guest(browser, busy_booth.url, "upload", {"width": 1080, "height": 1920})
    page = guest.page
    # 6200×4000: a fine JPEG to the browser, over the booth's 24-megapixel limit.
    to_review(guest, photo_file(tmp_path / "huge.jpg", (6200, 4000)))
    page.click("#use")
    guest.wait_state("failsafe", timeout=60_000)
    message = guest.text("#failsafe-message")
    assert message.startswith("That photo could not be used:"), message
    assert "megapixels" in message and "hiccup" not in message, message
    expect(page.locator("#failsafe-kept")).to_be_hidden()  # this photo will not do
    guest.settle()
    guest.shot("refused-24mp", both=False)
    page.click("#failsafe-retry")
    guest.wait_state("camera")  # a new photo, not the same one again
    guest.close()


def test_a_busy_booth_says_so_and_sends_the_same_photo_again(
    busy_booth: BoothServer, browser: Browser, tmp_path: Path
) -> None:
    guest = Guest(browser, busy_booth.url, "upload", {"width": 1920, "height": 1080})
    page = guest.page
    to_review(guest, photo_file(tmp_path / "photo.jpg"))
    gate = busy_booth.runner.app[UPLOADS]
    stalled = stalled_upload(busy_booth.url)
    try:
        until(lambda: gate.active == 1)  # the stalled upload holds the booth's one slot
        page.click("#use")
        guest.wait_state("failsafe", timeout=60_000)
        assert "busy" in guest.text("#failsafe-message")
        expect(page.locator("#failsafe-kept")).to_be_visible()
        expect(page.locator("#failsafe-retry")).to_be_visible()
        guest.settle()
        guest.shot("busy", both=False)
    finally:
        stalled.close()  # that guest walks away; the server frees the slot when it notices
    until(lambda: gate.active == 0)
    page.click("#failsafe-retry")
    guest.wait_state("render")
    page.wait_for_function("() => Boolean(booth.session.capture)", timeout=60_000)
    assert page.evaluate("() => booth.session.capture.job_id")  # the same photo went through
    guest.close()


def test_a_full_disk_says_so_and_keeps_the_photo(
    full_booth: BoothServer, browser: Browser, tmp_path: Path
) -> None:
    guest = Guest(browser, f"{full_booth.url}/?lang=de", "upload", {"width": 1080, "height": 1920})
    page = guest.page
    to_review(guest, photo_file(tmp_path / "photo.jpg"))
    page.click("#use")
    guest.wait_state("failsafe", timeout=60_000)
    assert "keinen Platz" in guest.text("#failsafe-message")
    expect(page.locator("#failsafe-kept")).to_be_visible()
    guest.settle()
    guest.shot("disk-full-de", both=False)
    page.evaluate("() => { document.querySelector('#failsafe-message').textContent = ''; }")
    page.click("#failsafe-retry")  # still full: the same answer, the photo still kept
    expect(page.locator("#failsafe-message")).to_contain_text("keinen Platz", timeout=60_000)
    assert page.evaluate("() => booth.session.photo instanceof Blob")
    guest.close()
