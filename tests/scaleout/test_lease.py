"""Lease-based liveness on a real PostgreSQL, with real worker processes where it matters.

A worker is dead when its lease (its last beat plus its lease, both by the database's
clock) runs out, whatever its host, PID namespace or clock: a ``kill -9``'d worker's job is
requeued within about one lease, a worker whose clock is 40 s behind or a stale row with the
same hostname and pid costs a live job nothing, and a late write of a worker that lost its
job changes nothing. An idle worker costs the shared database under one transaction a
second."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from db.models import Job, JobStatus, Lane, ResultKind, new_id
from kiosk.config import Settings
from kiosk.queue import manager, tasks, worker
from kiosk.queue.jobs import job_options
from tests.support.postgres import autovacuum, xacts

LEASE_S = 3  # short, so the tests are: the bounds below are in leases
IDLE_WINDOW_S = 12.0
STATS_LAG_S = 11.0  # pg_stat_database counts an idle backend's transactions within 10 s
REPO = Path(__file__).resolve().parents[2]

# A worker process that holds its fast job until it is no longer its own (no models: the
# body only waits). argv: data dir, database URL, lease, clock skew in seconds.
HOLDING_WORKER = """
import sys, time
from datetime import timedelta
skew = float(sys.argv[4])
if skew:  # this process's clock is wrong: nothing of the liveness may depend on it
    real_time = time.time
    time.time = lambda: real_time() + skew
    import db.models, kiosk.queue.manager
    real_now = db.models.utcnow
    db.models.utcnow = kiosk.queue.manager.utcnow = lambda: real_now() + timedelta(seconds=skew)
from db.models import Lane
from kiosk.config import load_settings
from kiosk.queue import worker
settings = load_settings(env={}, data_dir=sys.argv[1], database_url=sys.argv[2],
                         worker_lease_s=int(sys.argv[3]))
holder = worker.Worker(settings)
holder.painter = object()
def hold(ctx):
    while not ctx.should_stop():
        time.sleep(0.05)
    return None
holder.bodies = {Lane.FAST: hold}
print(holder.worker_id, flush=True)
holder.serve([Lane.FAST])
"""


def add_capture(sessions: sessionmaker[Session], settings: Settings) -> str:
    capture_id = new_id()
    manager.in_session(sessions, manager.create_capture, capture_id=capture_id, source="camera",
                       photo_path=f"captures/{capture_id}/photo.jpg", size=(64, 64),
                       style="candy", scene=None, options=job_options(settings))  # fmt: skip
    return capture_id


def fast_job(sessions: sessionmaker[Session], capture_id: str) -> Job:
    with sessions() as session:
        job = session.scalar(select(Job).where(Job.capture_id == capture_id, Job.mode == Lane.FAST))
        assert job is not None
        return job


def register(sessions: sessionmaker[Session], worker_id: str, **row: Any) -> None:
    fields: dict[str, Any] = dict(host="render-1", pid=4242, parent=None, device="cpu", info={})
    manager.in_session(sessions, manager.register_worker, worker_id, **{**fields, **row})


def expire(sessions: sessionmaker[Session], worker_id: str) -> None:
    """The worker's last beat an hour ago by the database's clock: its lease is long over."""
    with sessions.begin() as session:
        session.execute(
            text("UPDATE workers SET heartbeat_at = now() - interval '1 hour' WHERE id = :id"),
            {"id": worker_id},
        )


def wait_until(predicate: Any, timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout:.1f} s"
        time.sleep(0.05)
    return time.monotonic() - started


class ServingWorker:
    """An in-process worker serving ``lanes`` with bodies that finish at once."""

    def __init__(self, settings: Settings, lanes: list[Lane]) -> None:
        self.worker = worker.Worker(settings)
        self.worker.painter = cast(Any, object())
        self.worker.bodies = {lane: lambda ctx: {"total": 0.0} for lane in Lane}
        self.thread = threading.Thread(target=self.worker.serve, args=(lanes,), daemon=True)

    def __enter__(self) -> worker.Worker:
        self.thread.start()
        wait_until(
            lambda: self.worker.listener is not None and self.worker.listener.connected.is_set(),
            10,
            "the worker's listener connecting",
        )
        return self.worker

    def __exit__(self, *_exc: object) -> None:
        self.worker.stop()
        self.thread.join(15)
        assert not self.thread.is_alive(), "the worker did not stop"


@pytest.fixture
def lease_settings(settings: Settings) -> Settings:
    return replace(settings, worker_lease_s=LEASE_S)


@pytest.fixture
def holding_worker(lease_settings: Settings, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Start a worker process that holds the next fast job (``skew``: its clock's error)."""
    started: list[subprocess.Popen[str]] = []

    def start(skew: float = 0.0) -> tuple[subprocess.Popen[str], str]:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDING_WORKER, str(lease_settings.data_dir),
             lease_settings.db_url, str(LEASE_S), str(skew)],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "TZ": "Pacific/Kiritimati" if skew else "UTC"},
        )  # fmt: skip
        started.append(process)
        assert process.stdout is not None
        return process, process.stdout.readline().strip()

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_a_killed_worker_has_its_job_requeued_within_one_lease(
    lease_settings: Settings, sessions: sessionmaker[Session], holding_worker: Any
) -> None:
    process, holder_id = holding_worker()
    capture_id = add_capture(sessions, lease_settings)
    wait_until(
        lambda: fast_job(sessions, capture_id).worker_id == holder_id, 30, "the holder's claim"
    )
    with ServingWorker(lease_settings, [Lane.FAST]) as rescuer:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        bound = LEASE_S + rescuer.beat_s + 1.0  # its last beat, then one recovery's beat
        took = wait_until(
            lambda: fast_job(sessions, capture_id).status == JobStatus.done,
            bound,
            "the killed worker's job requeued and run by the live worker",
        )
        job = fast_job(sessions, capture_id)  # (its row's removal at its stop unnames it)
        assert job.worker_id == rescuer.worker_id and job.attempts == 2, (job.worker_id, took)


def test_a_skewed_clock_or_a_twin_host_and_pid_causes_no_requeue(
    lease_settings: Settings, sessions: sessionmaker[Session], holding_worker: Any
) -> None:
    """The holder's clock is 40 s behind (``time.time``, ``utcnow`` and its time zone); a dead
    worker's row names the same host and pid (another PID namespace). Over three leases of
    recoveries only the dead row's job is requeued."""
    import socket

    process, holder_id = holding_worker(skew=-40.0)
    held = add_capture(sessions, lease_settings)
    wait_until(lambda: fast_job(sessions, held).worker_id == holder_id, 30, "the holder's claim")
    twin = new_id()
    register(sessions, twin, host=socket.gethostname(), pid=process.pid)
    orphan = add_capture(sessions, lease_settings)
    with sessions.begin() as session:  # the twin takes the next job before dying
        claimed = manager.claim(session, Lane.FAST, twin)
        assert claimed is not None and claimed.capture.id == orphan
    expire(sessions, twin)
    with ServingWorker(lease_settings, []) as recovering:  # recovers, claims nothing
        wait_until(
            lambda: fast_job(sessions, orphan).status == JobStatus.queued,
            recovering.beat_s + 2,
            "the dead twin's job requeued",
        )
        time.sleep(LEASE_S * 3)
        job = fast_job(sessions, held)
        assert (job.status, job.worker_id, job.attempts) == (JobStatus.running, holder_id, 1)
    assert process.poll() is None, "the holder gave up its job"


def test_a_late_report_or_finish_from_a_requeued_worker_changes_nothing(
    lease_settings: Settings, sessions: sessionmaker[Session]
) -> None:
    db = manager.in_session
    late, owner = new_id(), new_id()
    register(sessions, late)
    register(sessions, owner)
    capture_id = add_capture(sessions, lease_settings)
    claimed = db(sessions, manager.claim, Lane.FAST, late)
    assert claimed is not None
    expire(sessions, late)
    assert db(sessions, manager.requeue_stale, LEASE_S) == [claimed.id]
    assert db(sessions, manager.claim, Lane.FAST, owner) is not None
    assert db(sessions, manager.report, claimed.id, owner, stage="painting", progress=0.5)

    assert not db(sessions, manager.report, claimed.id, late, stage="late", progress=0.9)
    assert not db(sessions, manager.save_result, job_id=claimed.id, worker_id=late,
                  capture_id=capture_id, kind=ResultKind.FAST, path="late.jpg", size=(1, 1),
                  sha256="0" * 64)  # fmt: skip
    assert not db(sessions, manager.finish, claimed.id, late, JobStatus.done)
    assert not db(sessions, manager.release, claimed.id, late)
    job = fast_job(sessions, capture_id)
    assert (job.status, job.worker_id, job.stage, job.progress) == (
        JobStatus.running, owner, "painting", 0.5)  # fmt: skip
    assert db(sessions, manager.result_paths, capture_id, (ResultKind.FAST,)) == {}

    # The late worker's render, at its next report, stops and says why.
    ctx = tasks.JobContext(job=claimed, worker_id=late, store=cast(Any, None),
                           painter=cast(Any, None), db=functools.partial(db, sessions),
                           stopping=threading.Event(), fast_turn=tasks.FastTurn())  # fmt: skip
    with pytest.raises(tasks.JobLost, match="no longer this worker's"):
        ctx.report(progress=0.95)
    assert ctx.should_stop()


def test_an_idle_worker_costs_under_one_transaction_a_second(settings: Settings, pg: Any) -> None:
    """Every lane idle and listening, the lease the default one: pg_stat_database counts
    the transactions of the worker's database over ``IDLE_WINDOW_S``."""
    dbname = settings.db_url.rsplit("/", 1)[1]
    admin = pg.url("postgres")  # the counter is read from another database
    autovacuum(admin, on=False)  # its visits are transactions of the database too
    try:
        with ServingWorker(settings, list(Lane)) as idle:
            # PostgreSQL publishes an idle connection's counts up to 10 s late: the window opens
            # once its start (registering, the first recovery and claims) has been counted.
            time.sleep(STATS_LAG_S)
            before = xacts(admin, dbname)
            time.sleep(IDLE_WINDOW_S)
            after = xacts(admin, dbname)
            per_s = (after - before) / IDLE_WINDOW_S
            assert idle.listener is not None and idle.listener.connected.is_set()
    finally:
        autovacuum(admin, on=True)
    assert per_s <= 1.0, f"an idle worker made {after - before} transactions in {IDLE_WINDOW_S} s"
    assert after - before >= IDLE_WINDOW_S / idle.beat_s - 1, "its beats were not counted"
