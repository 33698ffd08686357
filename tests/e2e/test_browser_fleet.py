"""The admin page's "Render fleet" panel in a real Chromium: a booth server that supervises no
worker, on a database that two render hosts on other machines beat into, with guests of two
booths. The operator sees both workers (host, device, lanes, slots, the job in hand with its
id cut short, the last beat), the queue per booth, the booth of every job, and no "no render
worker" problem. Screenshots in portrait and landscape go to tests/artifacts/browser/."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from db.migrate import upgrade
from db.models import JobStatus, Lane, new_id
from db.session import make_engine, make_sessionmaker
from kiosk.queue import manager
from kiosk.queue.jobs import job_options
from tests.support.browser import LANDSCAPE, PORTRAIT, SHOTS, BoothServer, csp_violation

pytestmark = [pytest.mark.browser]

PASSWORD = "s3cret"
LEASE_S = 600  # the rows stay alive for the whole test without a beating thread


@pytest.fixture(scope="module")
def fleet(module_settings) -> Iterator[dict]:
    settings = module_settings("fleet", admin_password=PASSWORD, booth_id="hall-a")
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    db = functools.partial(manager.in_session, make_sessionmaker(engine))

    def capture(booth: str) -> str:
        return db(functools.partial(
            manager.create_capture, capture_id=new_id(), source="upload",
            photo_path="captures/x/photo.jpg", size=(640, 480), style="starry_night",
            scene=None, options=job_options(settings), booth_id=booth,
        )).id  # fmt: skip

    def worker(host: str, device: str, name: str, lanes: list[str], slots: int) -> str:
        worker_id = new_id()
        info = {"device_name": name, "bf16": True, "torch": "2.x", "lanes": lanes,
                "device_slots": slots, "lease_s": LEASE_S}  # fmt: skip
        db(manager.register_worker, worker_id, host=host, pid=4242, parent=None, device=device,
           info=info)  # fmt: skip
        return worker_id

    for booth in ("hall-a", "hall-b", "hall-b"):
        capture(booth)
    gpu_1 = worker("gpu-1", "cuda0", "NVIDIA H200", ["hq", "print"], 2)
    gpu_2 = worker("gpu-2", "cpu", "cpu", ["fast"], 1)
    fast = db(manager.claim, Lane.FAST, gpu_2)  # hall-a's, the oldest
    db(manager.finish, fast.id, gpu_2, JobStatus.done)
    hq = db(manager.claim, Lane.HQ, gpu_1)  # then its painting
    db(manager.report, hq.id, gpu_1, stage="painting", progress=0.4)
    try:
        with BoothServer(settings, worker=False) as server:
            yield {"url": server.url, "job": hq.id}
    finally:
        engine.dispose()


def test_the_operator_sees_every_worker_of_the_fleet_and_each_booths_queue(
    fleet: dict, browser: Browser
) -> None:
    context = browser.new_context(
        viewport=LANDSCAPE, http_credentials={"username": "operator", "password": PASSWORD}
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: csp_violation(message, problems))
    try:
        page.goto(f"{fleet['url']}/admin/")
        rows = page.locator("#fleet tbody tr")
        expect(rows).to_have_count(2, timeout=15_000)
        expect(page.locator("#fleet-summary")).to_have_text("2 render workers alive on 2 hosts")
        gpu = rows.filter(has_text="gpu-1")
        expect(gpu).to_contain_text("cuda0 (NVIDIA H200)")
        expect(gpu).to_contain_text("paintings, print renders")
        expect(gpu.locator("td").nth(3)).to_have_text("2")
        short = fleet["job"][: manager.SHOWN_ID]
        expect(gpu.locator(".in-hand")).to_have_text(f"{short} painting for hall-a: painting, 40 %")
        expect(rows.filter(has_text="gpu-2").locator(".in-hand")).to_have_text("idle")
        booths = page.locator("#booths tbody tr")
        expect(booths).to_have_count(2)
        expect(booths.nth(0)).to_have_text("hall-a (this server)–0 waiting · 1 in progress–")
        expect(booths.nth(1)).to_have_text(
            "hall-b2 waiting · 0 in progress2 waiting · 0 in progress–"
        )
        expect(page.locator("#jobs tbody tr")).to_have_count(6)
        expect(page.locator(f'#jobs tr[data-job="{fleet["job"]}"] td').nth(1)).to_have_text(
            "hall-a"
        )
        expect(page.locator("#problems")).not_to_contain_text("render worker")
        expect(page.locator("#health")).to_have_text("Booth hall-a · 2 render workers in the fleet")
        assert fleet["job"] not in page.locator("#fleet").inner_html()  # bearer keys stay cut
        SHOTS.mkdir(parents=True, exist_ok=True)
        fleet_panel = page.locator("section[aria-labelledby=fleet-title]")
        for orientation, viewport in (("portrait", PORTRAIT), ("landscape", LANDSCAPE)):
            page.set_viewport_size(viewport)
            page.wait_for_timeout(150)
            fleet_panel.screenshot(path=SHOTS / f"admin-fleet-{orientation}.png")
        assert problems == []
    finally:
        context.close()
