"""The job WebSocket's fan-out: one database poller per job however many sockets follow it,
every socket gets every update, caps refuse before the upgrade, a deleted job and a server
shutdown close the sockets. Real server, real SQLite; the "worker" is a second connection
writing the job's progress the way the render worker does."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import event, select, update

from db.models import Capture, Job, JobStatus
from db.session import make_engine, make_sessionmaker
from kiosk.app import create_app
from kiosk.keys import ENGINE, WATCHERS
from kiosk.watch import GONE_CODE, WS_FAST_POLL_S
from tests.support.photos import guest_jpeg as photo

TIMEOUT = 30.0  # generous: the machine is shared


async def new_job(client) -> str:
    data = aiohttp.FormData()
    for key, value in {"style": "starry_night", "scene": "own", "source": "camera"}.items():
        data.add_field(key, value)
    data.add_field("photo", photo(), filename="photo.jpg", content_type="image/jpeg")
    response = await client.post("/api/captures", data=data)
    assert response.status == 201, await response.text()
    return (await response.json())["job_id"]


class Screen:
    """One socket following a job, keeping every message it receives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.states = ws, []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            self.states.append(message.json())

    async def until(self, predicate) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.states and predicate(self.states[-1]):
                return self.states[-1]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no such state came: {self.states[-1:]}")


def worker_sessions(settings):
    """The render worker's side: its own engine on the same database file."""
    engine = make_engine(settings.db_url)
    return engine, make_sessionmaker(engine)


def set_job(sessions, job_id: str, **values: Any) -> None:
    with sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


async def handshake(client, path: str) -> aiohttp.ClientResponse:
    """A WebSocket opening handshake as a plain GET, to read a refusal's JSON and headers."""
    key = base64.b64encode(os.urandom(16)).decode()
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": key,
    }
    return await client.get(path, headers=headers)


async def test_many_sockets_on_one_job_cost_one_poller_and_all_get_every_update(
    aiohttp_client, settings
) -> None:
    app = create_app(replace(settings, max_job_sockets=30))
    client = await aiohttp_client(app)
    job_id = await new_job(client)
    transactions = 0

    def count(_connection) -> None:  # type: ignore[no-untyped-def]
        nonlocal transactions
        transactions += 1

    event.listen(app[ENGINE], "begin", count)  # every database transaction the server makes
    screens = [Screen(await client.ws_connect(f"/api/jobs/{job_id}/ws")) for _ in range(30)]
    for screen in screens:
        await screen.until(lambda s: s["status"] == "queued")
    registry = app[WATCHERS]
    assert len(registry) == 1 and registry.total == 30

    # While 30 sockets follow a job still waiting for its fast picture (the fastest pace), the
    # server reads the database no more often than one poller does (each socket used to).
    before, reads_before, started = transactions, registry.reads, time.monotonic()
    await asyncio.sleep(2.0)
    window = time.monotonic() - started
    one_poller = window / WS_FAST_POLL_S + 3
    assert 1 <= transactions - before <= one_poller, (transactions - before, window)
    assert registry.reads - reads_before <= one_poller

    # Every socket sees every step the worker writes, in order, then the server closes it.
    engine, sessions = worker_sessions(settings)
    try:
        steps = [0.25, 0.5, 0.75]
        for step in steps:
            set_job(sessions, job_id, status=JobStatus.running, stage="painting", progress=step)
            for screen in screens:
                await screen.until(lambda s, step=step: s["progress"] == step)
        set_job(sessions, job_id, status=JobStatus.done, stage="done", progress=1.0)
        for screen in screens:
            await screen.until(lambda s: s["status"] == "done")
            await asyncio.wait_for(screen.task, TIMEOUT)
            assert screen.ws.closed and screen.ws.close_code == aiohttp.WSCloseCode.OK
            progress = [s["progress"] for s in screen.states]
            # (a state may repeat a progress: "no painter is running" after its grace time)
            distinct = [p for i, p in enumerate(progress) if i == 0 or p != progress[i - 1]]
            assert distinct == [0.0, *steps, 1.0], progress
    finally:
        engine.dispose()
    for _ in range(100):  # the last socket out stops the poller
        if len(registry) == 0:
            break
        await asyncio.sleep(0.05)
    assert len(registry) == 0 and registry.total == 0


async def test_caps_refuse_before_the_upgrade_and_free_up(aiohttp_client, settings) -> None:
    app = create_app(replace(settings, max_job_sockets=3, max_sockets=5))
    client = await aiohttp_client(app)
    first, second = await new_job(client), await new_job(client)
    on_first = [await client.ws_connect(f"/api/jobs/{first}/ws") for _ in range(3)]
    refused = await handshake(client, f"/api/jobs/{first}/ws")
    assert refused.status == 429 and refused.headers["Retry-After"]
    body = await refused.json()
    assert body["code"] == "too_many_requests" and f"/api/jobs/{first}" in body["error"]

    on_second = [await client.ws_connect(f"/api/jobs/{second}/ws") for _ in range(2)]
    refused = await handshake(client, f"/api/jobs/{second}/ws")
    assert refused.status == 503 and refused.headers["Retry-After"]
    assert "poll" in (await refused.json())["error"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(f"/api/jobs/{second}/ws")
    assert caught.value.status == 503

    # A screen that leaves frees its place.
    await on_first.pop().close()
    deadline = time.monotonic() + TIMEOUT
    while (response := await handshake(client, f"/api/jobs/{second}/ws")).status != 101:
        assert response.status == 503 and time.monotonic() < deadline
        await asyncio.sleep(0.05)
    response.close()
    for ws in on_first + on_second:
        await ws.close()


async def test_an_unknown_job_is_a_404_and_starts_no_poller(aiohttp_client, settings) -> None:
    app = create_app(settings)
    client = await aiohttp_client(app)
    response = await handshake(client, "/api/jobs/no-such-job/ws")
    assert response.status == 404 and (await response.json())["code"] == "not_found"
    assert len(app[WATCHERS]) == 0 and app[WATCHERS].total == 0


async def test_a_job_deleted_while_watched_closes_its_sockets(aiohttp_client, settings) -> None:
    app = create_app(settings)
    client = await aiohttp_client(app)
    job_id = await new_job(client)
    screens = [Screen(await client.ws_connect(f"/api/jobs/{job_id}/ws")) for _ in range(3)]
    for screen in screens:
        await screen.until(lambda s: s["status"] == "queued")
    engine, sessions = worker_sessions(settings)
    try:
        with sessions.begin() as session:
            capture_id = session.scalar(select(Job.capture_id).where(Job.id == job_id))
            session.delete(session.get(Capture, capture_id))
    finally:
        engine.dispose()
    for screen in screens:
        await asyncio.wait_for(screen.task, TIMEOUT)
        assert screen.ws.close_code == GONE_CODE
    assert (await client.get(f"/api/jobs/{job_id}")).status == 404


async def test_shutdown_closes_the_sockets(settings) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as http:
            data = aiohttp.FormData()
            data.add_field("style", "starry_night")
            data.add_field("photo", photo(), filename="photo.jpg", content_type="image/jpeg")
            async with http.post(f"{base}/api/captures", data=data) as response:
                job_id = (await response.json())["job_id"]
            screen = Screen(await http.ws_connect(f"{base}/api/jobs/{job_id}/ws"))
            await screen.until(lambda s: s["status"] == "queued")
            await asyncio.wait_for(runner.cleanup(), TIMEOUT)
            await asyncio.wait_for(screen.task, TIMEOUT)
            assert screen.ws.close_code == aiohttp.WSCloseCode.GOING_AWAY
            assert len(app[WATCHERS]) == 0  # no poller outlives the server
    finally:
        await runner.cleanup()
