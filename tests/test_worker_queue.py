"""The job queue in a real SQLite file: exclusive claims, lane order, recovery of dead jobs."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from db.migrate import upgrade
from db.models import Job, JobStatus, new_id, utcnow
from db.session import make_engine, make_sessionmaker
from kiosk import jobs
from kiosk.worker import DeviceLock


@pytest.fixture
def sessions(settings):
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def add_capture(sessions, settings) -> Job:
    """A capture with its fast and HQ jobs (the photo file is not needed by the queue)."""
    with sessions.begin() as session:
        return jobs.create_capture(
            session,
            capture_id=new_id(),
            source="upload",
            photo_path="captures/x/photo.jpg",
            size=(640, 480),
            style="starry_night",
            scene=None,
            options=jobs.job_options(settings),
        )


def fast_job_of(sessions, hq: Job) -> str:
    with sessions.begin() as session:
        return session.scalar(
            select(Job.id).where(Job.capture_id == hq.capture_id, Job.mode == jobs.FAST)
        )


def test_hq_job_waits_for_its_fast_job(sessions, settings) -> None:
    hq = add_capture(sessions, settings)
    assert jobs.claim(sessions, jobs.HQ, "a:1") is None  # the composite is not there yet
    fast_id = jobs.claim(sessions, jobs.FAST, "a:1")
    assert fast_id == fast_job_of(sessions, hq)
    assert jobs.claim(sessions, jobs.HQ, "a:1") is None  # still running
    jobs.finish(sessions, fast_id, JobStatus.done, timings={"fast": 0.1})
    assert jobs.claim(sessions, jobs.HQ, "a:1") == hq.id
    assert jobs.claim(sessions, jobs.HQ, "a:1") is None


def test_fast_lane_takes_a_new_guest_while_an_hq_render_runs(sessions, settings) -> None:
    first, second = add_capture(sessions, settings), add_capture(sessions, settings)
    jobs.finish(sessions, jobs.claim(sessions, jobs.FAST, "w:1"), JobStatus.done)
    assert jobs.claim(sessions, jobs.HQ, "w:1") == first.id
    # The second guest's fast job is claimable while the first HQ job runs.
    assert jobs.claim(sessions, jobs.FAST, "w:1") == fast_job_of(sessions, second)
    with sessions.begin() as session:
        state = jobs.describe(session, second.id, jobs.Links("http://booth"))
    assert state["status"] == "queued" and state["queue_position"] == 1


def test_concurrent_claims_never_share_a_job(sessions, settings) -> None:
    for _ in range(30):
        add_capture(sessions, settings)
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while (job_id := jobs.claim(sessions, jobs.FAST, name)) is not None:
            with lock:
                claimed.append(job_id)

    threads = [threading.Thread(target=claimer, args=(f"w:{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 30 and len(set(claimed)) == 30
    with sessions.begin() as session:
        attempts = session.scalars(select(Job.attempts).where(Job.mode == jobs.FAST)).all()
    assert attempts == [1] * 30


def run_and_get_dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def test_interrupted_jobs_are_requeued_then_failed_after_three_attempts(sessions, settings):
    hq = add_capture(sessions, settings)
    fast_id = jobs.claim(sessions, jobs.FAST, "elsewhere:42")
    # A fresh heartbeat from another machine: left alone.
    assert jobs.requeue_interrupted(sessions, stale_after=30) == []

    # Silent for a minute: requeued, unless the caller has it in hand or its worker beats.
    def silence() -> None:
        with sessions.begin() as session:
            session.execute(
                update(Job)
                .where(Job.id == fast_id)
                .values(heartbeat_at=utcnow() - timedelta(seconds=60))
            )

    silence()
    in_hand = frozenset({fast_id})
    assert jobs.requeue_interrupted(sessions, stale_after=30, working_on=in_hand) == []
    jobs.heartbeat(sessions, "elsewhere:42", [fast_id])
    assert jobs.requeue_interrupted(sessions, stale_after=30) == []
    silence()
    jobs.heartbeat(sessions, "elsewhere:42", [])  # its worker lost track of it: no beat
    assert jobs.requeue_interrupted(sessions, stale_after=30) == [fast_id]
    # A worker on this machine whose process is gone: requeued at once, heartbeat or not.
    dead = f"{jobs.this_worker_id().rpartition(':')[0]}:{run_and_get_dead_pid()}"
    assert jobs.claim(sessions, jobs.FAST, dead) == fast_id
    assert jobs.requeue_interrupted(sessions, stale_after=30) == [fast_id]
    # The third interruption fails the job with a message instead of looping forever.
    assert jobs.claim(sessions, jobs.FAST, dead) == fast_id
    assert jobs.requeue_interrupted(sessions, stale_after=30) == [fast_id]
    with sessions.begin() as session:
        job = session.get(Job, fast_id)
        assert job.status == JobStatus.failed and job.attempts == 3
        assert "interrupted 3 times" in job.error
    # The HQ job now runs (it makes its own composite).
    assert jobs.claim(sessions, jobs.HQ, "w:1") == hq.id


def test_a_stopping_worker_releases_its_job_without_counting_an_attempt(sessions, settings):
    add_capture(sessions, settings)
    fast_id = jobs.claim(sessions, jobs.FAST, "w:1")
    jobs.release(sessions, fast_id)
    with sessions.begin() as session:
        job = session.get(Job, fast_id)
        assert job.status == JobStatus.queued and job.attempts == 0 and job.worker is None


def test_retry_and_cancel(sessions, settings) -> None:
    hq = add_capture(sessions, settings)
    with sessions.begin() as session:
        with pytest.raises(ValueError, match="already queued"):
            jobs.retry(session, hq.id)
        assert jobs.cancel(session, hq.id).status == JobStatus.cancelled
        assert jobs.retry(session, hq.id).status == JobStatus.queued
        assert jobs.retry(session, "nope") is None


def test_one_hq_render_per_device_across_workers(settings) -> None:
    first = DeviceLock(settings.data_dir, "cpu")
    second = DeviceLock(settings.data_dir, "cpu")  # another worker process on this machine
    other_device = DeviceLock(settings.data_dir, "cuda0")
    assert first.try_acquire()
    assert not second.try_acquire()
    assert other_device.try_acquire()
    first.release()
    assert second.try_acquire()
