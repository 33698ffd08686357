"""The claim on PostgreSQL (one ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)``):
claimers racing for one queue never share a job and never come back empty while a job is
still queued (the compare-and-set claim gave 151–174 empty answers for 400 jobs)."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from db.models import Job, JobStatus, Lane
from kiosk.queue import manager
from tests.unit.test_queue_manager import add_capture, claim_id, db, register  # noqa: F401

JOBS = 80
CLAIMERS = 8


def test_racing_claimers_share_nothing_and_never_answer_empty_early(
    db,  # noqa: F811
    sessions,
    settings,
) -> None:
    for _ in range(JOBS):
        add_capture(db, settings)
    claimed: list[str] = []
    # The queued jobs a claimer saw left when it was told "none". Some may be: those another
    # claimer has locked and not yet committed as running (not claimable, and gone a moment
    # later), at most one per other claimer. More than that is an empty answer while a job
    # was claimable (as the compare-and-set claim gave, with hundreds of jobs still queued).
    empty_with: list[int] = []
    lock = threading.Lock()

    def queued() -> int:
        with sessions.begin() as session:
            return session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.mode == Lane.FAST, Job.status == JobStatus.queued)
            )

    def claimer(worker_id: str) -> None:
        for _ in range(JOBS + 1):  # bounded: no claimer can take more than all of them
            job_id = claim_id(db, Lane.FAST, worker_id)
            if job_id is None:
                left = queued()  # jobs only leave the queue here: these were queued then
                with lock:
                    empty_with.append(left)
                return
            with lock:
                claimed.append(job_id)

    threads = [threading.Thread(target=claimer, args=(register(db),)) for _ in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    assert max(empty_with) <= CLAIMERS - 1, empty_with
    assert len(claimed) == JOBS and len(set(claimed)) == JOBS
    assert (
        manager.in_session(
            sessions,
            lambda s: s.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.mode == Lane.FAST, Job.status == JobStatus.running)
            ),
        )
        == JOBS
    )


def test_a_booth_whose_clock_is_behind_cannot_jump_the_shared_queue(
    db,  # noqa: F811
    settings,
    monkeypatch,
) -> None:
    """Jobs are queued at the database's time: a second booth host an hour slow queues
    behind the guest who came first, not in front of them."""
    first = add_capture(db, settings)
    slow = manager.utcnow() - timedelta(hours=1)
    monkeypatch.setattr(manager, "utcnow", lambda: slow)
    later = add_capture(db, settings)
    worker = register(db)
    fast_first = db(manager.claim, Lane.FAST, worker)
    fast_later = db(manager.claim, Lane.FAST, worker)
    assert (fast_first.capture.id, fast_later.capture.id) == (
        first.capture_id,
        later.capture_id,
    )
