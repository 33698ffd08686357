"""The export process dies or hangs: later orders still work, a hung one is a clear 504, and
``/healthz`` says so meanwhile. Real spawned export processes, killed with real signals."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time

import pytest
from PIL import Image

from db.migrate import upgrade
from db.models import Result, new_id
from db.session import make_engine, make_sessionmaker
from kiosk.app import create_app
from kiosk.keys import EXPORT_POOL
from kiosk.queue import manager
from kiosk.storage import capture_dir, resolve, save_image
from tests.support.paths import PEOPLE

pytestmark = pytest.mark.slow


def finished_capture(settings) -> str:
    """A capture whose painting is done (a real small PNG master and its people mask)."""
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    sessions = make_sessionmaker(engine)
    capture_id = new_id()
    folder = capture_dir(capture_id)
    painting = Image.open(PEOPLE / "hiker.jpg").convert("RGB")
    painting.thumbnail((320, 320))
    files = {
        "photo": (folder / "photo.jpg", painting, "JPEG"),
        "master": (folder / "master.png", painting, "PNG"),
        "alpha": (folder / "alpha.png", Image.new("L", painting.size, 255), "PNG"),
    }
    for path, image, fmt in files.values():
        save_image(resolve(settings.data_dir, path), image, fmt)
    with sessions.begin() as session:
        manager.create_capture(session, capture_id=capture_id, source="upload",
                            photo_path=str(files["photo"][0]), size=painting.size,
                            style="starry_night", scene=None, options={})  # fmt: skip
        for kind in ("master", "alpha"):
            path, image, _ = files[kind]
            digest = hashlib.sha256(resolve(settings.data_dir, path).read_bytes()).hexdigest()
            session.add(Result(capture_id=capture_id, kind=kind, path=str(path),
                               width=image.width, height=image.height, sha256=digest))  # fmt: skip
    engine.dispose()
    return capture_id


async def order(client, capture_id: str, product: str = "sticker"):
    return await client.post(f"/api/captures/{capture_id}/orders", json={"product": product})


async def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def problems(client) -> list[str]:
    return (await (await client.get("/healthz")).json())["problems"]


async def test_a_killed_export_process_is_replaced_and_the_next_order_works(
    aiohttp_client, settings, caplog
) -> None:
    capture_id = finished_capture(settings)
    app = create_app(settings)
    client = await aiohttp_client(app)
    pool = app[EXPORT_POOL]
    first = await order(client, capture_id)
    assert first.status == 201, await first.text()
    [victim] = pool.pids()
    os.kill(victim, signal.SIGKILL)
    # The pool notices its dead process; /healthz says so until the next order heals it.
    await wait_for(lambda: pool.problem() is not None, 30, "the pool to notice")
    assert any("export process stopped" in p for p in await problems(client))

    second = await order(client, capture_id, "tee")  # the old code: BrokenProcessPool, 500
    assert second.status == 201, await second.text()
    assert pool.pids() and victim not in pool.pids()
    assert not any("export" in p for p in await problems(client))

    # Killed while an order is under way: that order is tried again in a new process. (With
    # no pool, a process id appears only once the order has been handed to it.)
    pool.shutdown()
    pending = asyncio.ensure_future(order(client, capture_id, "mug"))
    await wait_for(lambda: pool.pids(), 30, "the export process")
    os.kill(pool.pids()[0], signal.SIGKILL)
    third = await pending
    assert third.status == 201, await third.text()
    assert "the export process died; starting a new one and trying again" in caplog.text


async def test_a_hung_export_is_a_504_and_the_next_order_gets_a_fresh_process(
    aiohttp_client, settings
) -> None:
    capture_id = finished_capture(settings)
    app = create_app(settings)
    client = await aiohttp_client(app)
    pool = app[EXPORT_POOL]
    pool.timeout_s = 0.05  # less than a spawn takes: this export cannot finish in time
    hung = await order(client, capture_id)
    assert hung.status == 504, await hung.text()
    body = await hung.json()
    assert body["code"] == "export_timeout" and "took longer than" in body["error"]
    assert pool.pids() == []  # its process was stopped, not left running

    pool.timeout_s = 120
    retried = await order(client, capture_id)
    assert retried.status == 201, await retried.text()
