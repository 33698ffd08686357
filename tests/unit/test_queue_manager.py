"""The job queue in a real SQLite file: exclusive claims, lane order, the workers table as the
one liveness record (database-time heartbeats), recovery of a stale worker's jobs, and writes
guarded by the worker's id."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select, text, update

import kiosk.queue.manager
from db.migrate import upgrade
from db.models import Job, JobStatus, Lane, Result, ResultKind, Worker, new_id, utcnow
from db.session import make_engine, make_sessionmaker
from kiosk import job_view
from kiosk.app import create_app
from kiosk.config import ConfigError, load_settings
from kiosk.keys import LINKS
from kiosk.queue import manager, print_job, tasks
from kiosk.queue.jobs import MAX_ATTEMPTS, JobOptions, JobOptionsError, job_options
from kiosk.queue.manager import JobConflict
from kiosk.queue.worker import DeviceLock
from kiosk.queue.worker import Worker as RenderWorker
from kiosk.storage import LocalStore, save_image


@pytest.fixture
def db(sessions):
    """``db(manager.fn, *args)``: one transaction, as the worker runs the manager."""
    return functools.partial(manager.in_session, sessions)


def register(db, *, device: str | None = "cpu", parent: str | None = None, **info) -> str:
    """A worker's row, as a ready worker writes it; its random id."""
    worker_id = new_id()
    db(manager.register_worker, worker_id, host="booth", pid=os.getpid(), parent=parent,
       device=device, info=info)  # fmt: skip
    return worker_id


def add_capture(db, settings) -> Job:
    """A capture with its fast and HQ jobs (the photo file is not needed by the queue)."""
    return db(
        functools.partial(
            manager.create_capture,
            capture_id=new_id(),
            source="upload",
            photo_path="captures/x/photo.jpg",
            size=(640, 480),
            style="starry_night",
            scene=None,
            options=job_options(settings),
        )
    )


def claim_id(db, lane: Lane, worker_id: str) -> str | None:
    job = db(manager.claim, lane, worker_id)
    return None if job is None else job.id


def fast_job_of(sessions, hq: Job) -> str:
    with sessions.begin() as session:
        return session.scalar(
            select(Job.id).where(Job.capture_id == hq.capture_id, Job.mode == Lane.FAST)
        )


def silence(sessions, worker_id: str, seconds: float = 60) -> None:
    """As if the worker had not beaten for ``seconds`` (killed, frozen, cut off)."""
    with sessions.begin() as session:
        session.execute(
            update(Worker)
            .where(Worker.id == worker_id)
            .values(heartbeat_at=utcnow() - timedelta(seconds=seconds))
        )


def test_hq_job_waits_for_its_fast_job(db, sessions, settings) -> None:
    worker = register(db)
    hq = add_capture(db, settings)
    assert claim_id(db, Lane.HQ, worker) is None  # the composite is not there yet
    fast = db(manager.claim, Lane.FAST, worker)
    assert fast.id == fast_job_of(sessions, hq) and fast.lane == Lane.FAST
    assert fast.options == JobOptions.from_settings(settings) and fast.attempts == 1
    assert fast.capture.style == "starry_night" and fast.capture.scene is None
    assert claim_id(db, Lane.HQ, worker) is None  # still running
    assert db(manager.finish, fast.id, worker, JobStatus.done, timings={"fast": 0.1})
    assert claim_id(db, Lane.HQ, worker) == hq.id
    assert claim_id(db, Lane.HQ, worker) is None


def test_a_print_job_waits_for_its_captures_hq_painting(db, sessions, settings) -> None:
    """An order placed while the guest's painting is still being made (the guest walked
    away after the fast picture): its print job is not claimable while the capture's HQ job
    is queued or running, and is once it ends; another capture's HQ job does not hold it."""
    worker = register(db)
    hq = add_capture(db, settings)
    db(manager.finish, claim_id(db, Lane.FAST, worker), worker, JobStatus.done)
    printing = db(manager.print_job, hq.capture_id, JobOptions().for_print((300, 400)))
    assert claim_id(db, Lane.PRINT, worker) is None  # its HQ job is queued
    assert not db(manager.has_claimable, Lane.PRINT)
    other = add_capture(db, settings)  # a later guest, whose jobs come after
    db(manager.finish, claim_id(db, Lane.FAST, worker), worker, JobStatus.done)
    assert claim_id(db, Lane.HQ, worker) == hq.id
    assert claim_id(db, Lane.PRINT, worker) is None  # its HQ job is running
    assert db(manager.finish, hq.id, worker, JobStatus.done)
    # The other guest's HQ job is queued still: it does not hold this capture's print job.
    assert db(manager.hq_status, other.capture_id) == JobStatus.queued
    assert db(manager.has_claimable, Lane.PRINT)
    assert claim_id(db, Lane.PRINT, worker) == printing.id
    # A failed HQ painting ends the wait as well (the print job then fails its orders in
    # words: kiosk.order_book.start_painting).
    db(manager.finish, claim_id(db, Lane.HQ, worker), worker, JobStatus.failed, error="x")
    later = db(manager.print_job, other.capture_id, JobOptions().for_print((300, 400)))
    assert claim_id(db, Lane.PRINT, worker) == later.id


def test_fast_lane_takes_a_new_guest_while_an_hq_render_runs(db, sessions, settings) -> None:
    worker = register(db)
    first, second = add_capture(db, settings), add_capture(db, settings)
    db(manager.finish, claim_id(db, Lane.FAST, worker), worker, JobStatus.done)
    assert claim_id(db, Lane.HQ, worker) == first.id
    # The second guest's fast job is claimable while the first HQ job runs.
    assert claim_id(db, Lane.FAST, worker) == fast_job_of(sessions, second)
    state = db(job_view.describe, second.id, create_app(settings)[LINKS])
    # The first guest's painting is in hand, not ahead: the second guest's is next.
    assert state["status"] == "queued" and state["queue_position"] == 0
    assert state["mode"] == "hq" and state["stage"] == "queued"
    assert state["orders_url"] == f"/api/captures/{second.capture_id}/orders"


def test_concurrent_claims_never_share_a_job(db, sessions, settings) -> None:
    for _ in range(30):
        add_capture(db, settings)
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(worker_id: str) -> None:
        while (job_id := claim_id(db, Lane.FAST, worker_id)) is not None:
            with lock:
                claimed.append(job_id)

    threads = [threading.Thread(target=claimer, args=(register(db),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 30 and len(set(claimed)) == 30
    with sessions.begin() as session:
        attempts = session.scalars(select(Job.attempts).where(Job.mode == Lane.FAST)).all()
    assert attempts == [1] * 30


def test_a_stale_workers_jobs_are_requeued_then_failed_after_three_attempts(
    db, sessions, settings
) -> None:
    hq = add_capture(db, settings)
    elsewhere = register(db)  # another machine on the same database
    fast_id = claim_id(db, Lane.FAST, elsewhere)
    # Its worker beats: left alone, however long the job runs.
    assert db(manager.requeue_stale, 30) == []
    silence(sessions, elsewhere)
    assert db(manager.beat, elsewhere, 1)  # it beat after all
    assert db(manager.requeue_stale, 30) == []

    # Silent for a minute: requeued.
    silence(sessions, elsewhere)
    assert db(manager.requeue_stale, 30) == [fast_id]
    # A supervised worker that exited (its supervisor removed its row): requeued at once.
    second = register(db)
    assert claim_id(db, Lane.FAST, second) == fast_id
    assert db(manager.take_fatal, second) is None
    assert db(manager.requeue_stale, 30) == [fast_id]
    # The third interruption (a worker that failed: stopped row) fails the job with a message
    # instead of looping forever.
    third = register(db)
    assert claim_id(db, Lane.FAST, third) == fast_id
    db(manager.record_fatal, third, host="booth", pid=1, parent=None, error="out of memory")
    assert db(manager.requeue_stale, 30) == [fast_id]
    with sessions.begin() as session:
        job = session.get(Job, fast_id)
        assert job.status == JobStatus.failed and job.attempts == MAX_ATTEMPTS
        assert "interrupted 3 times" in job.error and job.worker_id is None
    # The HQ job now runs (it makes its own composite).
    assert claim_id(db, Lane.HQ, register(db)) == hq.id


def test_a_requeued_workers_late_writes_leave_the_new_owners_job_alone(
    db, sessions, settings
) -> None:
    """A worker given up on (frozen, cut off) that comes back must not overwrite the job now
    in another worker's hands: every write is guarded by the worker's id."""
    add_capture(db, settings)
    late, owner = register(db), register(db)
    job_id = claim_id(db, Lane.FAST, late)
    silence(sessions, late)
    assert db(manager.requeue_stale, 30) == [job_id]
    assert claim_id(db, Lane.FAST, owner) == job_id
    assert db(manager.report, job_id, owner, stage="painting", progress=0.5)

    assert not db(manager.report, job_id, late, stage="cutout", progress=0.9)
    assert not db(manager.is_running, job_id, late)
    assert not db(manager.save_result, job_id=job_id, worker_id=late, capture_id="x",
                  kind=ResultKind.FAST, path="x.jpg", size=(1, 1), sha256="0" * 64)  # fmt: skip
    assert not db(manager.finish, job_id, late, JobStatus.failed, error="too late")
    assert not db(manager.release, job_id, late)
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        assert job.status == JobStatus.running and job.worker_id == owner
        assert job.stage == "painting" and job.progress == 0.5 and job.error is None
    assert db(manager.result_paths, job.capture_id, tuple(ResultKind)) == {}
    assert db(manager.finish, job_id, owner, JobStatus.done)


def test_liveness_uses_the_database_clock_never_the_workers(
    db, sessions, settings, monkeypatch
) -> None:
    """A worker whose clock is an hour wrong still counts as alive and keeps its job: every
    heartbeat and every comparison is the database's own time."""
    skewed = utcnow() - timedelta(hours=1)
    monkeypatch.setattr(kiosk.queue.manager, "utcnow", lambda: skewed)
    add_capture(db, settings)
    worker = register(db)
    job_id = claim_id(db, Lane.FAST, worker)
    assert db(manager.beat, worker, 1)
    assert db(manager.requeue_stale, 30) == []
    [seen] = db(manager.live_workers, 30)
    assert seen["worker"] == worker and 0 <= seen["seen_s"] < 5
    with sessions.begin() as session:
        beat_at = manager.aware(session.get(Worker, worker).heartbeat_at)
        assert abs((manager.db_now(session) - beat_at).total_seconds()) < 5
    assert db(manager.is_running, job_id, worker)


def test_live_workers_are_ready_fresh_and_running(db, sessions) -> None:
    """What /healthz counts: a ready worker that beat lately; not one still loading, one
    silent, one that stopped, or one that could not start."""
    info = {"device_name": "NVIDIA H200", "bf16": True, "torch": "2.5.1"}
    alive = register(db, device="cuda0", parent="booth:1234", **info)
    register(db, device=None)  # loading its models
    silent = register(db)
    silence(sessions, silent)
    stopped = register(db)
    db(manager.stop_worker, stopped)
    failed = new_id()
    db(manager.record_fatal, failed, host="booth", pid=7, parent=None, error="model missing")
    assert db(manager.beat, alive, 2)

    [seen] = db(manager.live_workers, 30)
    assert seen["worker"] == alive and seen["device"] == "cuda0" and seen["busy"] == 2
    assert {key: seen[key] for key in info} == info and seen["parent"] == "booth:1234"
    assert seen["pid"] == os.getpid() and 0 <= seen["seen_s"] < 5
    assert len(db(manager.live_workers, 120)) == 2  # the silent one, within a longer window
    assert db(manager.any_worker_alive, 30)
    # The fatal error is read once, by the supervisor.
    assert db(manager.take_fatal, failed) == "model missing"
    assert db(manager.take_fatal, failed) is None
    # A row gone (pruned, or taken) registers again on the next beat.
    assert not db(manager.beat, stopped, 0)
    # Old rows are forgotten.
    silence(sessions, silent, seconds=2 * 24 * 3600)
    db(manager.prune_workers, 24 * 3600)
    with sessions.begin() as session:
        assert session.get(Worker, silent) is None and session.get(Worker, alive) is not None


def test_worker_ids_are_random_per_run(settings) -> None:
    """Two workers with the same hostname and pid (another PID namespace, a restart) never
    share an id."""
    first, second = RenderWorker(settings), RenderWorker(settings)
    try:
        assert first.worker_id != second.worker_id and len(first.worker_id) == 32
    finally:
        first.engine.dispose()
        second.engine.dispose()


async def test_painter_alive_reads_the_database_at_most_once_a_second(
    aiohttp_client, settings, db
) -> None:
    client = await aiohttp_client(create_app(settings))
    app = client.server.app
    assert await job_view.painter_alive(app) is False
    register(db)
    assert await job_view.painter_alive(app) is False  # cached
    await asyncio.sleep(job_view.LIVE_CACHE_S + 0.1)
    assert await job_view.painter_alive(app) is True


def test_a_stopping_worker_releases_its_job_without_counting_an_attempt(db, sessions, settings):
    add_capture(db, settings)
    worker = register(db)
    fast_id = claim_id(db, Lane.FAST, worker)
    assert db(manager.release, fast_id, worker)
    with sessions.begin() as session:
        job = session.get(Job, fast_id)
        assert job.status == JobStatus.queued and job.attempts == 0 and job.worker_id is None


def test_retry_and_cancel(db, sessions, settings) -> None:
    hq = add_capture(db, settings)
    with sessions.begin() as session:
        with pytest.raises(JobConflict, match="already queued"):
            manager.retry(session, hq.id)
        assert manager.cancel(session, hq.id).status == JobStatus.cancelled
        assert manager.retry(session, hq.id).status == JobStatus.queued
        assert manager.retry(session, "nope") is None


def test_a_job_body_stops_when_its_job_is_cancelled_or_taken_over(db, sessions, settings):
    """``should_stop()``: the worker stopping, an operator's cancel, or the job given to
    another worker."""
    add_capture(db, settings)
    worker = register(db)
    job = db(manager.claim, Lane.FAST, worker)

    def context(worker_id: str) -> tasks.JobContext:
        return tasks.JobContext(job=job, worker_id=worker_id, store=LocalStore(settings.data_dir),
                                painter=None, db=db, stopping=threading.Event(),
                                fast_turn=tasks.FastTurn())  # fmt: skip

    ctx = context(worker)
    assert not ctx.should_stop()
    ctx.stopping.set()
    assert ctx.should_stop()
    assert context(register(db)).should_stop()  # not that worker's job
    fresh = context(worker)
    with sessions.begin() as session:
        manager.cancel(session, job.id)
    assert fresh.should_stop()


def test_the_hq_render_yields_while_a_fast_job_holds_the_turn() -> None:
    turn, stopping = tasks.FastTurn(), threading.Event()
    assert turn.wait_free(stopping) == 0.0  # nothing to wait for
    waited: list[float] = []
    with turn.held():
        hq = threading.Thread(target=lambda: waited.append(turn.wait_free(stopping)))
        hq.start()
        hq.join(0.3)
        assert hq.is_alive()  # the HQ lane waits while the fast job runs
    hq.join(5)
    assert not hq.is_alive() and waited[0] >= 0.25
    with turn.held():  # a stopping worker does not wait for the turn
        stopping.set()
        assert turn.wait_free(stopping) < 1.0


def test_the_workers_migration_keeps_results_and_requeues_what_was_running(settings) -> None:
    """0003 → 0004 on a booth's database: results keep their job, and a job that was running
    under the old per-job heartbeat has no worker row, so the next worker runs it again."""
    upgrade(settings.db_url, "0003")
    engine = make_engine(settings.db_url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO captures (id, created_at, source, photo_path, width, height, style, "
            "token) VALUES ('c1', '2026-01-01', 'upload', 'p.jpg', 8, 8, 'starry_night', 't1')"
        ))  # fmt: skip
        connection.execute(text(
            "INSERT INTO jobs (id, capture_id, mode, options, status, progress, attempts, "
            "created_at, timings, worker, heartbeat_at) VALUES ('j1', 'c1', 'hq', '{}', "
            "'running', 0.4, 1, '2026-01-01', '{}', 'booth:42', '2026-01-01')"
        ))  # fmt: skip
        connection.execute(text(
            "INSERT INTO results (id, capture_id, job_id, kind, path, width, height, sha256, "
            "created_at) VALUES ('r1', 'c1', 'j1', 'fast', 'f.jpg', 8, 8, 'x', '2026-01-01')"
        ))  # fmt: skip
    engine.dispose()
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    db = functools.partial(manager.in_session, make_sessionmaker(engine))
    try:
        assert db(manager.result_paths, "c1", tuple(ResultKind)) == {ResultKind.FAST: "f.jpg"}
        with engine.connect() as connection:
            assert connection.execute(text("SELECT job_id FROM results")).scalar() == "j1"
        assert db(manager.requeue_stale, 30) == ["j1"]
        assert claim_id(db, Lane.HQ, register(db)) == "j1"
    finally:
        engine.dispose()


def test_one_hq_render_per_device_across_workers(settings) -> None:
    first = DeviceLock(settings.data_dir, "cpu")
    second = DeviceLock(settings.data_dir, "cpu")  # another worker process on this machine
    other_device = DeviceLock(settings.data_dir, "cuda0")
    assert first.try_acquire()
    assert not second.try_acquire()
    assert other_device.try_acquire()
    first.release()
    assert second.try_acquire()


# --- the print lane ---------------------------------------------------------------------------


def test_a_print_render_hands_the_device_to_a_waiting_hq_painting(db, sessions, settings) -> None:
    """``yield_to_guests()``: with no HQ painting waiting it keeps the device; with one queued
    it releases the device lock (the HQ lane can take it at once), waits until none waits,
    then takes the lock back."""
    worker = register(db)
    hq = add_capture(db, settings)
    for lane in (Lane.FAST, Lane.HQ):
        db(manager.finish, claim_id(db, lane, worker), worker, JobStatus.done)
    db(manager.print_job, hq.capture_id, JobOptions().for_print((300, 400)))
    print_lock, hq_lock = DeviceLock(settings.data_dir, "cpu"), DeviceLock(settings.data_dir, "cpu")
    assert print_lock.try_acquire()
    job = db(manager.claim, Lane.PRINT, worker)
    assert job.lane == Lane.PRINT and job.options.print_size == (300, 400)
    ctx = tasks.JobContext(job=job, worker_id=worker, store=LocalStore(settings.data_dir),
                           painter=None, db=db, stopping=threading.Event(),
                           fast_turn=tasks.FastTurn(), device_lock=print_lock)  # fmt: skip
    ctx.yield_to_guests()  # nothing waits: the render keeps the device
    assert not hq_lock.try_acquire() and ctx.paused_s == 0

    with sessions.begin() as session:  # the next guest's painting (queued again)
        manager.retry(session, hq.id)
    assert db(manager.hq_waiting)
    time.sleep(tasks.HQ_CHECK_EVERY_S)  # the check is made at most this often
    pausing = threading.Thread(target=ctx.yield_to_guests)
    pausing.start()
    deadline = time.monotonic() + 2
    while not hq_lock.try_acquire():
        assert time.monotonic() < deadline, "the print render kept the device"
        time.sleep(0.02)
    assert db(manager.claim, Lane.HQ, worker).id == hq.id
    time.sleep(0.6)
    assert pausing.is_alive()  # waits while the HQ painting runs
    db(manager.finish, hq.id, worker, JobStatus.done)
    hq_lock.release()
    pausing.join(5)
    assert not pausing.is_alive() and ctx.paused_s >= 0.5
    assert not hq_lock.try_acquire()  # the print render has the device again


def test_a_stopping_worker_does_not_wait_for_the_device(db, settings) -> None:
    lock, holder = DeviceLock(settings.data_dir, "cpu"), DeviceLock(settings.data_dir, "cpu")
    assert holder.try_acquire()
    stopping = threading.Event()
    stopping.set()
    assert not lock.acquire(stopping)
    holder.release()
    assert lock.acquire(threading.Event())


def test_a_jobs_stored_print_options_are_checked_again(settings) -> None:
    stored = JobOptions.from_settings(replace(settings, tee_dpi=300, print_scale_percent=10))
    assert stored.tee_dpi == 300 and stored.print_scale == 0.1 and stored.print_size is None
    again = JobOptions.from_json(stored.for_print((180, 240)).to_json())
    assert again.print_size == (180, 240) and again.tee_dpi == 300
    assert JobOptions.from_json({}) == JobOptions()  # an older row: the defaults
    for bad, words in (
        ({"print_size": [180]}, "print_size must be two positive whole numbers"),
        ({"print_size": [0, 10]}, "print_size must be two positive whole numbers"),
        ({"print_size": "big"}, "print_size must be two positive whole numbers"),
        ({"print_scale": -1}, "print_scale must be a positive number"),
        ({"tee_dpi": True}, "tee_dpi must be a positive number"),
    ):
        with pytest.raises(JobOptionsError, match=words):
            JobOptions.from_json(bad)


def test_the_print_settings_are_checked_at_load() -> None:
    assert load_settings(env={"STYLEBOOTH_PRINT_SCALE_PERCENT": "10"}).print_scale_percent == 10
    for env, words in (
        ({"STYLEBOOTH_TEE_DPI": "72"}, "tee_dpi: a whole number from 150 to 300"),
        ({"STYLEBOOTH_PRINT_SCALE_PERCENT": "0"}, "print_scale_percent: a whole number from 1"),
    ):
        with pytest.raises(ConfigError, match=words):
            load_settings(env=env)


class RecordingPainter:
    """Stands in for the models: paints a flat picture of the size asked, and says what it
    was asked to continue from."""

    def __init__(self) -> None:
        self.started_from: list[tuple[int, int]] = []

    def print_master(self, painting, composite, style, size, **_callbacks):
        self.started_from.append(painting.size)
        return Image.new("RGB", size, (40, 80, 160))


def test_the_print_body_paints_only_what_the_stored_print_master_lacks(
    db, sessions, settings
) -> None:
    """A print master big enough is used as it is; a smaller one is continued from; one
    older than the HQ painting (re-rendered since) is another picture and is not used."""
    worker = register(db)
    hq = add_capture(db, settings)
    capture_id = hq.capture_id
    for lane in (Lane.FAST, Lane.HQ):
        db(manager.finish, claim_id(db, lane, worker), worker, JobStatus.done)

    def store(kind: ResultKind, size: tuple[int, int], mode: str = "RGB") -> None:
        path = f"captures/{capture_id}/{kind}.png"
        sha = save_image(settings.data_dir / path, Image.new(mode, size, 128), "PNG")
        db(lambda s: s.merge(Result(id=f"{capture_id[:20]}{kind}", capture_id=capture_id,
                                    kind=kind, path=path, width=size[0], height=size[1],
                                    sha256=sha, created_at=utcnow())))  # fmt: skip

    for kind, size, mode in ((ResultKind.MASTER, (120, 160), "RGB"),
                             (ResultKind.COMPOSITE, (384, 512), "RGB"),
                             (ResultKind.ALPHA, (384, 512), "L")):  # fmt: skip
        store(kind, size, mode)

    def paint(size: tuple[int, int]) -> RecordingPainter:
        painter = RecordingPainter()
        db(manager.print_job, capture_id, JobOptions().for_print(size))
        job = db(manager.claim, Lane.PRINT, worker)
        ctx = tasks.JobContext(job=job, worker_id=worker, store=LocalStore(settings.data_dir),
                               painter=painter, db=db, stopping=threading.Event(),
                               fast_turn=tasks.FastTurn(), sessions=sessions)  # fmt: skip
        assert print_job.run_print(ctx) is not None
        db(manager.finish, job.id, worker, JobStatus.done)
        return painter

    assert paint((240, 320)).started_from == [(120, 160)]  # from the HQ painting
    stored = db(manager.stored_results, capture_id, (ResultKind.PRINT,))[ResultKind.PRINT]
    assert stored.size == (240, 320)
    assert paint((240, 320)).started_from == []  # big enough: used as it is
    assert paint((360, 480)).started_from == [(240, 320)]  # continued from the print master
    time.sleep(1.1)  # the HQ painting made again, a moment later
    store(ResultKind.MASTER, (120, 160))
    assert paint((240, 320)).started_from == [(120, 160)]  # the old print master is another
