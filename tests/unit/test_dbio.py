"""A locked database is a quick 503 "busy, try again", never a hung request or a 500; the
database calls have their own bounded thread pool, apart from image decoding. Real server,
real SQLite, the lock held by a real second sqlite3 connection."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import update

from db.models import Job, JobStatus
from db.session import make_engine, make_sessionmaker
from kiosk.app import create_app
from kiosk.dbio import IoPool
from kiosk.errors import ApiError
from kiosk.keys import ENGINE
from tests.support.photos import guest_jpeg as photo

# The old server waited out a lock for 30 s and then answered 500; allow the tests' 1 s busy
# timeout (the `settings` fixture) plus a loaded machine's slack, well short of that.
ANSWER_WITHIN_S = 20.0


def capture_form() -> aiohttp.FormData:
    data = aiohttp.FormData()
    for key, value in {"style": "starry_night", "scene": "own", "source": "camera"}.items():
        data.add_field(key, value)
    data.add_field("photo", photo(), filename="photo.jpg", content_type="image/jpeg")
    return data


async def answer(call) -> aiohttp.ClientResponse:  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(call, ANSWER_WITHIN_S)


async def assert_busy(response: aiohttp.ClientResponse) -> None:
    assert response.status == 503, await response.text()
    body = await response.json()
    assert body["code"] == "busy" and "busy" in body["error"] and "try again" in body["error"]
    assert int(response.headers["Retry-After"]) > 0


def database_file(settings) -> Path:  # type: ignore[no-untyped-def]
    return Path(settings.db_url.removeprefix("sqlite:///"))


@pytest.fixture
async def client(aiohttp_client, settings):  # type: ignore[no-untyped-def]
    return await aiohttp_client(create_app(settings))


async def test_a_write_lock_held_elsewhere_is_a_quick_503_then_works_again(
    client, settings
) -> None:
    response = await client.post("/api/captures", data=capture_form())
    assert response.status == 201, await response.text()
    job_url = (await response.json())["status_url"]

    holder = sqlite3.connect(database_file(settings), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    try:
        await assert_busy(await answer(client.post("/api/captures", data=capture_form())))
        # In WAL mode readers never wait for a writer: the booth still shows the job.
        response = await answer(client.get(job_url))
        assert response.status == 200 and (await response.json())["status"] == "queued"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    response = await answer(client.post("/api/captures", data=capture_form()))
    assert response.status == 201, await response.text()
    assert (await answer(client.get(job_url))).status == 200


async def test_a_database_opened_exclusively_elsewhere_is_a_503_for_reads_too(
    client, settings
) -> None:
    response = await client.post("/api/captures", data=capture_form())
    job_id = (await response.json())["job_id"]
    # A second process that opens the database in exclusive locking mode (as `sqlite3` with
    # `PRAGMA locking_mode=EXCLUSIVE` does) keeps even readers out. It can only take that
    # lock while the server holds no connection open, so close the server's idle ones.
    client.server.app[ENGINE].dispose()
    holder = sqlite3.connect(database_file(settings), isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        await assert_busy(await answer(client.get(f"/api/jobs/{job_id}")))
        # The job's WebSocket is refused before the upgrade; the booth then polls.
        response = await answer(client.get(f"/api/jobs/{job_id}/ws", headers=upgrade_headers()))
        await assert_busy(response)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    response = await answer(client.get(f"/api/jobs/{job_id}"))
    assert response.status == 200 and (await response.json())["id"] == job_id
    async with client.ws_connect(f"/api/jobs/{job_id}/ws") as ws:
        assert (await ws.receive_json(timeout=ANSWER_WITHIN_S))["id"] == job_id


def upgrade_headers() -> dict[str, str]:
    return {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }


async def test_job_updates_do_not_wait_behind_a_busy_default_pool(client, settings) -> None:
    """Blocking work elsewhere (decoding, thumbnails) runs on the default pool; with every one
    of its threads taken, the booth's job socket still opens and brings the worker's progress:
    its database and file reads have threads of their own."""
    response = await client.post("/api/captures", data=capture_form())
    job_id = (await response.json())["job_id"]
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=2, thread_name_prefix="test-hog"))
    release = threading.Event()
    hogs = [loop.run_in_executor(None, release.wait, ANSWER_WITHIN_S * 2) for _ in range(2)]
    worker = make_engine(settings.db_url)
    try:
        ws = await answer(client.ws_connect(f"/api/jobs/{job_id}/ws"))
        assert (await ws.receive_json(timeout=ANSWER_WITHIN_S))["progress"] == 0.0
        with make_sessionmaker(worker).begin() as session:
            session.execute(
                update(Job).where(Job.id == job_id).values(status=JobStatus.running, progress=0.5)
            )
        while (state := await ws.receive_json(timeout=ANSWER_WITHIN_S))["progress"] != 0.5:
            pass
        assert state["status"] == "running"
        await ws.close()
    finally:
        release.set()
        await asyncio.gather(*hogs)
        worker.dispose()


async def test_the_pool_refuses_beyond_its_backlog_at_once() -> None:
    pool = IoPool(threads=1, backlog=1)
    release = threading.Event()
    try:
        running = asyncio.ensure_future(pool.run(release.wait, ANSWER_WITHIN_S))
        waiting = asyncio.ensure_future(pool.run(release.wait, ANSWER_WITHIN_S))
        await asyncio.sleep(0)
        with pytest.raises(ApiError) as refused:
            await pool.run(release.wait, ANSWER_WITHIN_S)
        assert refused.value.status == 503 and refused.value.headers["Retry-After"]
        release.set()
        assert await asyncio.wait_for(asyncio.gather(running, waiting), ANSWER_WITHIN_S) == [
            True,
            True,
        ]
        assert await pool.run(sum, [1, 2]) == 3  # free again
    finally:
        release.set()
        pool.shutdown()
