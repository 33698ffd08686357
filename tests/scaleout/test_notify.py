"""LISTEN/NOTIFY on a real PostgreSQL: a job change wakes an idle worker lane and a job
socket's poller at once, where without it they would wait for their slow fallback polls
(``FALLBACK_POLL_S``, ``WS_NOTIFIED_POLL_S``): each bound below is well under that poll, so
a lost notification fails the test."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from typing import Any, cast

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Job, JobStatus, Lane, new_id
from kiosk.config import Settings
from kiosk.queue import manager, notify, worker
from kiosk.queue.jobs import job_options
from kiosk.watch import WS_NOTIFIED_POLL_S, Watchers

WAKE_WITHIN_S = 1.0  # a claim or a socket read after a commit: far below the fallback polls
CONNECT_WITHIN_S = 10.0


def add_capture(sessions: sessionmaker[Session], settings: Settings) -> tuple[str, str]:
    """A capture with its queued fast and HQ jobs: (capture id, HQ job id)."""
    capture_id = new_id()
    hq = manager.in_session(
        sessions,
        manager.create_capture,
        capture_id=capture_id,
        source="camera",
        photo_path=f"captures/{capture_id}/photo.jpg",
        size=(64, 64),
        style="candy",
        scene=None,
        options=job_options(settings),
    )
    return capture_id, hq.id


def register(sessions: sessionmaker[Session], worker_id: str, **row: Any) -> None:
    """A worker's row, as a worker on some host writes it at its start."""
    fields: dict[str, Any] = dict(host="render-1", pid=4242, parent=None, device="cpu", info={})
    manager.in_session(sessions, manager.register_worker, worker_id, **{**fields, **row})


def lane_status(sessions: sessionmaker[Session], capture_id: str, lane: Lane) -> JobStatus | None:
    with sessions() as session:
        return session.scalar(
            select(Job.status).where(Job.capture_id == capture_id, Job.mode == lane)
        )


def test_payloads_round_trip_and_strangers_are_ignored() -> None:
    assert notify.parse("queued:hq:abc") == notify.Notice("queued", Lane.HQ, "abc")
    assert list(notify.wakes(notify.Notice("changed", Lane.HQ, "abc"))) == [Lane.PRINT]
    assert list(notify.wakes(notify.Notice("queued", Lane.FAST, "abc"))) == [Lane.FAST]
    assert notify.parse("queued:nolane:abc") is None and notify.parse("hello") is None
    assert notify.libpq_url("postgresql+psycopg://u@h:1/d") == "postgresql://u@h:1/d"


def test_a_notification_is_sent_at_commit_and_never_for_a_rollback(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with psycopg.connect(notify.libpq_url(settings.db_url), autocommit=True) as listener:
        listener.execute(f"LISTEN {notify.CHANNEL}")
        with pytest.raises(RuntimeError), sessions.begin() as session:
            notify.announce(session, Lane.FAST, "rolled-back", claimable=True)
            raise RuntimeError("roll back")
        capture_id, _ = add_capture(sessions, settings)
        payloads = [n.payload for n in listener.notifies(timeout=2.0, stop_after=1)]
    assert payloads == [f"queued:fast:{capture_id}"]


@pytest.fixture
def idle_worker(settings: Settings) -> Any:
    """A worker serving the fast and HQ lanes with bodies that finish at once (no models),
    its lanes idle and listening; stopped at the end."""
    serving = worker.Worker(replace(settings, worker_lease_s=10))
    serving.painter = cast(Any, object())
    claimed: dict[str, float] = {}

    def body(ctx: Any) -> dict[str, float]:
        claimed[ctx.job.capture.id + ctx.job.lane] = time.monotonic()
        return {"total": 0.0}

    serving.bodies = {Lane.FAST: body, Lane.HQ: body}
    thread = threading.Thread(target=serving.serve, args=([Lane.FAST, Lane.HQ],), daemon=True)
    thread.start()
    deadline = time.monotonic() + CONNECT_WITHIN_S
    while serving.listener is None or not serving.listener.connected.is_set():
        assert time.monotonic() < deadline, "the worker's listener did not connect"
        time.sleep(0.05)
    time.sleep(0.5)  # the lanes have looked once and sleep on their wake-ups now
    try:
        yield serving, claimed
    finally:
        serving.stop()
        thread.join(15)
        assert not thread.is_alive(), "the worker did not stop"


def test_a_notify_wakes_an_idle_lane_at_once_and_the_fast_job_frees_its_hq_job(
    idle_worker: Any, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    serving, claimed = idle_worker
    committed = time.monotonic()
    capture_id, _ = add_capture(sessions, settings)
    deadline = committed + WAKE_WITHIN_S * 2
    while capture_id + Lane.HQ not in claimed:
        assert time.monotonic() < deadline, (
            f"the lanes were not woken within {WAKE_WITHIN_S * 2} s (the fallback poll is "
            f"{worker.FALLBACK_POLL_S} s): claimed {claimed}"
        )
        time.sleep(0.01)
    assert claimed[capture_id + Lane.FAST] - committed < WAKE_WITHIN_S
    assert lane_status(sessions, capture_id, Lane.HQ) in (JobStatus.running, JobStatus.done)
    assert serving.listener.notices >= 2


def test_a_notify_wakes_a_watch_poller_at_once(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """The guest's HQ job is watched; the fast job's claim (another row of its capture)
    reaches the socket's state within ``WAKE_WITHIN_S``, not after ``WS_NOTIFIED_POLL_S``."""
    _, hq_id = add_capture(sessions, settings)

    def describe(job_id: str) -> dict[str, Any] | None:
        state = manager.in_session(sessions, manager.job_state, job_id)
        if state is None:
            return None
        return {"status": state.status.value, "capture_id": state.capture_id,
                "fast_status": str(state.fast_status), "fast_url": None}  # fmt: skip

    async def scenario() -> float:
        async def read(job_id: str) -> dict[str, Any] | None:
            return await asyncio.to_thread(describe, job_id)

        registry = Watchers(read, per_job=4, total=10)
        registry.listener = notify.AsyncListener(
            settings.db_url, registry.wake, registry.wake_all
        ).start()
        try:
            assert await registry.listener.wait_connected(CONNECT_WITHIN_S)
            watch = registry.join(hq_id)
            assert (await watch.first) is not None
            await asyncio.sleep(0.3)  # the poller waits on its notice now
            reads, seen = registry.reads, watch.version
            await asyncio.to_thread(register, sessions, "another-worker")
            started = time.monotonic()
            await asyncio.to_thread(
                manager.in_session, sessions, manager.claim, Lane.FAST, "another-worker"
            )
            await asyncio.wait_for(watch.changed(seen), WS_NOTIFIED_POLL_S * 2)
            elapsed = time.monotonic() - started
            assert watch.state is not None and watch.state["fast_status"] == "running"
            assert registry.reads - reads <= 2  # woken, not polling
            registry.leave(watch)
            return elapsed
        finally:
            await registry.listener.close()
            await registry.close()

    elapsed = asyncio.run(scenario())
    assert elapsed < WAKE_WITHIN_S, f"the watch saw the change after {elapsed:.2f} s"
