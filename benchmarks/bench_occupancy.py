"""Booth occupancy benchmark: how long one guest holds the booth when they walk away after the
fast picture (issue 14, "walk away while it paints"), and when their HQ painting is done.

A real headless Chromium (the booth page, its fake webcam playing a photo-booth shot), the
real server and its render worker process at the product's default sizes (fast 640 px, HQ
512 px in its 90 s budget, the 3 s countdown). ``GUESTS`` guests in a row, each tapping at a
fixed pace (``PACE_S`` between taps: Touch to start, a painting, a scene, the shutter, "Use
it!", then "I'm done" once the fast picture and the QR code are there). Measured per guest:

* occupancy: "Touch to start" to the booth back at attract, ready for the next guest;
* the fast path alone: "Use it!" to the fast picture with its panel on screen;
* the guest's own time: the paced taps and the countdown;
* the HQ painting's end after the guest left (another thread polls the API meanwhile).

Target: occupancy ≤ the fast path plus the guest's own time (what is left is the booth's
own screen changes). Run alone: ``python -m benchmarks.bench_occupancy``;
``BENCH_OCCUPANCY_SMALL=1`` makes a smoke run (2 guests, tiny sizes), marked as one.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.run import cpu, figures, loadavg, run_alone

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = Path(os.environ.get("STYLEBOOTH_SHARED_DATA", ROOT.parent / "shared" / "data")) / "people"
MODEL_DIR = Path(os.environ.get("STYLEBOOTH_MODEL_DIR", ROOT / "data" / "models"))
SMOKE = bool(os.environ.get("BENCH_OCCUPANCY_SMALL"))
GUESTS = 2 if SMOKE else 5
PACE_S = 1.5  # a guest's time between two taps (reading, choosing)
SMALL: dict[str, Any] = {"fast_size": 256, "hq_size": 128, "hq_budget_s": 8, "countdown_s": 1}
STYLES = ("starry_night", "the_scream", "great_wave", "mosaic", "udnie")
STATE_TIMEOUT_MS = 180_000
HQ_TIMEOUT_S = 900.0
POLL_S = 0.25


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:
        found: dict[str, Any] = json.load(response)
    return found


class HQWatch:
    """A thread polling the guests' HQ jobs: when each was first seen done (monotonic)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jobs: dict[str, str] = {}  # status URL -> its status
        self.done_at: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def add(self, status_url: str) -> None:
        self.jobs[status_url] = "queued"

    def _run(self) -> None:
        while not self.stop.wait(POLL_S):
            for url in list(self.jobs):
                if url in self.done_at:
                    continue
                status = get_json(self.base + url)["status"]
                self.jobs[url] = status
                if status in ("done", "failed", "cancelled"):
                    self.done_at[url] = time.monotonic()

    def wait_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.done_at) < len(self.jobs):
            if time.monotonic() > deadline:
                raise TimeoutError(f"HQ paintings still not done: {self.jobs}")
            time.sleep(POLL_S)


def one_guest(page: Any, style: str, countdown_s: float) -> dict[str, Any]:
    """One guest from "Touch to start" to "I'm done", at the fixed pace; the booth's times."""

    waited = {"clicks_s": 0.0, "screens_s": 0.0}

    def wait(state: str) -> None:
        begun = time.monotonic()
        page.wait_for_selector(f'body[data-state="{state}"]', timeout=STATE_TIMEOUT_MS)
        waited["screens_s"] += time.monotonic() - begun

    def tap(selector: str) -> None:
        time.sleep(PACE_S)
        begun = time.monotonic()  # Playwright waits for the target to be visible and still
        page.click(selector)
        waited["clicks_s"] += time.monotonic() - begun

    page.wait_for_selector('body[data-state="attract"]', timeout=STATE_TIMEOUT_MS)
    started = time.monotonic()
    # Touch to start, no pause before it: the guest walked up. Forced: the button pulses
    # without end, and Playwright would wait (about 1.5 s) for it to hold still.
    page.click("#start", force=True)
    waited["clicks_s"] += time.monotonic() - started
    wait("style")
    tap(f'#style-choices .card[data-name="{style}"]')
    wait("scene")
    tap('#scene-choices .card[data-name="own"]')
    wait("camera")
    camera = time.monotonic()
    page.wait_for_selector("#shoot", state="visible", timeout=STATE_TIMEOUT_MS)
    camera_ready = time.monotonic()
    tap("#shoot")
    shot = time.monotonic()
    wait("review")
    reviewed = time.monotonic()
    tap("#use")
    used = time.monotonic()
    wait("finishing")  # the fast picture with the QR code and the orders
    fast = time.monotonic()
    status = "finishing"
    if page.evaluate("() => booth.session.job?.status") == "done":
        status = "result"  # a tiny HQ painting may be done already
    capture = page.evaluate("() => booth.session.capture")
    tap("#done")
    left = time.monotonic()
    wait("attract")
    ready = time.monotonic()
    # Where the booth's own time goes (beyond the fast path and the guest's taps).
    steps = {
        "camera_start_s": camera_ready - camera,
        "shutter_to_review_s": reviewed - shot - countdown_s,  # beyond the countdown
        "done_to_attract_s": ready - left,
        **waited,  # every tap's click and every wait for the next screen, in all
    }
    taps = 5 * PACE_S + countdown_s  # the guest's own time: five paced taps and the countdown
    return {
        "style": style,
        "status_url": capture["status_url"],
        "occupancy_s": ready - started,
        "fast_path_s": fast - used,
        "guest_s": taps,
        "left_at": left,
        "state_when_leaving": status,
        "booth_steps": {name: round(value, 3) for name, value in steps.items()},
    }


def warm_up(base: str, photo: str) -> None:
    """The worker loads its models on its first job: a capture through the API, its fast
    picture waited for and its HQ job cancelled, so the guests meet a warm booth."""
    import aiohttp

    from tests.support.jobs import upload

    async def go() -> None:
        async with aiohttp.ClientSession(base) as client:
            created = await upload(client, photo)
            while True:
                state = await (await client.get(created["status_url"])).json()
                if state["fast_url"]:
                    break
                await asyncio.sleep(0.2)
            auth = {"Authorization": aiohttp.encode_basic_auth("bench", "bench")}
            await client.post(f"/admin/api/jobs/{created['job_id']}/cancel", headers=auth)

    asyncio.run(go())


def measure() -> dict[str, Any]:
    from kiosk.config import load_settings
    from tests.e2e.test_browser_booth import write_y4m
    from tests.support.browser import BoothServer

    with tempfile.TemporaryDirectory(prefix="stylebooth-occupancy-") as tmp:
        settings = load_settings(
            env={}, data_dir=Path(tmp) / "data", model_dir=MODEL_DIR, admin_password="bench"
        )
        if SMOKE:
            settings = replace(settings, **SMALL)
        webcam = write_y4m(PEOPLE / "booth_group.jpg", Path(tmp) / "cam.y4m")
        raw: dict[str, Any] = {
            "smoke": SMOKE,
            "guests": GUESTS,
            "pace_s": PACE_S,
            "fast_size": settings.fast_size,
            "hq_size": settings.hq_size,
            "hq_budget_s": settings.hq_budget_s,
            "countdown_s": settings.countdown_s,
        }
        with BoothServer(settings) as server:
            warm_up(server.url, "hiker.jpg")  # before Playwright, whose sync API holds a loop
            raw["per_guest"] = guests_at(server.url, webcam, settings.countdown_s)
    return raw


def guests_at(base: str, webcam: Path, countdown_s: float) -> list[dict[str, Any]]:
    """``GUESTS`` guests at the booth page in a row, each with when their HQ painting ended
    after they left."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import PORTRAIT, launch

    viewport: Any = PORTRAIT
    watch = HQWatch(base)
    guests = []
    with sync_playwright() as playwright:
        browser = launch(
            playwright,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={webcam}",
        )
        page = browser.new_page(viewport=viewport)
        page.goto(base)
        watch.thread.start()
        try:
            for index in range(GUESTS):
                guest = one_guest(page, STYLES[index % len(STYLES)], countdown_s)
                watch.add(guest["status_url"])
                guests.append(guest)
            watch.wait_all(HQ_TIMEOUT_S)
        finally:
            watch.stop.set()
            browser.close()
    for guest in guests:
        url = guest.pop("status_url")
        guest["hq_done_after_leaving_s"] = watch.done_at[url] - guest.pop("left_at")
        guest["hq_status"] = watch.jobs[url]
    return guests


def run() -> dict[str, Any]:
    load_before = loadavg()
    raw = measure()
    raw["machine"] = {**cpu(), "loadavg_before": load_before, "loadavg_after": loadavg()}
    guests = raw["per_guest"]
    occupancy = [g["occupancy_s"] for g in guests]
    fast = [g["fast_path_s"] for g in guests]
    own = guests[0]["guest_s"]
    overhead = [g["occupancy_s"] - g["fast_path_s"] - g["guest_s"] for g in guests]
    hq_after = [g["hq_done_after_leaving_s"] for g in guests]
    mark = " (smoke: tiny sizes)" if raw["smoke"] else ""
    sizes = f"fast {raw['fast_size']} px, HQ {raw['hq_size']} px"
    rows = figures(
        (
            f"occupancy per guest who leaves after the fast picture, median of {len(guests)}{mark}",
            statistics.median(occupancy),
            "s",
            "≤ fast path + own taps",
        ),
        ("… worst guest", max(occupancy), "s", ""),
        (
            f"fast path alone ('Use it!' → fast picture with QR), median, {sizes}",
            statistics.median(fast),
            "s",
            "",
        ),
        (f"the guest's own taps ({PACE_S} s apart) and countdown", own, "s", ""),
        (
            "the booth's own time besides (camera start, shutter, screens), worst",
            max(overhead),
            "s",
            "",
        ),
        ("HQ painting done after the guest left, median", statistics.median(hq_after), "s", ""),
        ("HQ painting done after the guest left, last guest", hq_after[-1], "s", ""),
    )
    return {"rows": rows, "raw": raw}


if __name__ == "__main__":
    run_alone(run)
