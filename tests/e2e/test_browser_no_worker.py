"""The booth in real Chromium when no painter (render worker) is running: the guest is told,
with the hint for the staff, instead of watching a queue that never moves; "try again"
follows the same job, which is painted once a worker is back (no second capture)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select, update

from db.models import Capture, Job, utcnow
from db.session import make_engine, make_sessionmaker
from kiosk.config import Settings
from kiosk.job_view import PAINTER_GRACE_S
from kiosk.queue import manager
from tests.support.browser import (
    LANDSCAPE,
    RENDER_TIMEOUT_MS,
    BoothServer,
    Guest,
)
from tests.support.paths import PEOPLE
from tests.support.processes import start_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def booth_settings(settings: Settings) -> Settings:
    return replace(
        settings,
        fast_size=192,
        hq_size=96,
        hq_budget_s=4,
        hq_options={"steps": 4},
    )


def captures_and_backdate(settings: Settings, seconds: float) -> int:
    """Make every job look queued ``seconds`` ago; the number of captures."""
    engine = make_engine(settings.db_url)
    with make_sessionmaker(engine).begin() as session:
        session.execute(update(Job).values(created_at=utcnow() - timedelta(seconds=seconds)))
        count = session.scalar(select(func.count()).select_from(Capture))
    engine.dispose()
    return count


def test_no_painter_is_told_and_try_again_follows_the_same_job(
    booth_settings: Settings, browser: Browser, tmp_path
) -> None:
    with BoothServer(booth_settings, worker=False) as server:
        settings = server.settings
        guest = Guest(browser, server.url, "no-painter", LANDSCAPE)
        page = guest.page
        page.click("#start")
        guest.wait_state("style")
        guest.pick("starry_night", "own")
        page.set_input_files("#upload-input", PEOPLE / "hiker.jpg")
        guest.wait_state("review")
        page.click("#use")
        guest.wait_state("render")
        page.wait_for_function("() => booth.session.capture && booth.session.job", timeout=30_000)
        job_id = page.evaluate("() => booth.session.capture.job_id")
        assert page.evaluate("() => booth.session.job.status") == "queued"

        # Nothing happens for longer than the grace period: the booth says why, with the hint
        # for the staff, and keeps the photo.
        assert captures_and_backdate(settings, PAINTER_GRACE_S + 5) == 1
        guest.wait_state("failsafe", timeout=30_000)
        message = guest.text("#failsafe-message")
        assert "painter is not running" in message and "staff" in message, message
        expect(page.locator("#failsafe-kept")).to_be_visible()
        expect(page.locator("#failsafe-retry")).to_be_visible()
        guest.shot("no-painter")

        # A painter comes back; "try again" watches the same job, which now gets painted.
        worker = start_worker(settings, tmp_path / "worker.log")
        try:
            deadline = time.monotonic() + 180
            engine = make_engine(settings.db_url)
            sessions = make_sessionmaker(engine)
            while not manager.in_session(sessions, manager.live_workers, settings.worker_lease_s):
                assert time.monotonic() < deadline and worker.poll() is None, "no worker came"
                time.sleep(0.2)
            engine.dispose()
            page.click("#failsafe-retry")
            guest.wait_state("render")
            guest.wait_state("result", timeout=RENDER_TIMEOUT_MS)
        finally:
            worker.terminate()
            worker.wait(60)
        assert page.evaluate("() => booth.session.job.id") == job_id
        assert page.evaluate("() => booth.session.job.status") == "done"
        assert captures_and_backdate(settings, 0) == 1  # the photo was not sent again
        guest.shot("painted")
        guest.close()
