"""The render queue, kept in the database so it survives restarts of server and worker.

Each capture gets two jobs: a ``fast`` one (cut-out, compose, the instant painting) and an
``hq`` one (the high-quality painting of the same composite). Workers claim the oldest queued
job of a lane with a compare-and-set UPDATE, so two workers never run the same job. The
``hq`` job waits until its capture's fast job has finished (it reuses the composite), and the
fast lane never waits behind another guest's HQ render. A running job carries its worker's
id (``host:pid``) and a heartbeat; a job whose worker died or stopped beating is requeued.

The guest API's job id is the ``hq`` job's id: its JSON (``describe``) also reports the
capture's fast picture.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from db.models import Capture, Job, JobStatus, Result, utcnow
from kiosk.config import Settings

FAST, HQ = "fast", "hq"
LANES = (FAST, HQ)
ACTIVE = (JobStatus.queued, JobStatus.running)
FINISHED = (JobStatus.done, JobStatus.failed, JobStatus.cancelled)
MAX_ATTEMPTS = 3  # a job that kills its worker this often is failed, not retried forever
IMAGE_KINDS = ("fast", "preview", "final")
# A job that has waited this long with no live render worker tells the booth so (``describe``):
# a guest should hear "no painter is running" from the staff's hint, not watch a queue that
# never moves. Long enough for the supervisor to restart a worker that just died.
PAINTER_GRACE_S = 15.0
NO_PAINTER = (
    "no painter is running: the booth's render worker is not working right now. The photo is "
    "kept and will be painted as soon as it is back; the staff can check the admin page."
)

T = TypeVar("T")


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; every stored time is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def this_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def in_session(sessions: sessionmaker[Session], fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(session, *args)`` in one transaction."""
    with sessions.begin() as session:
        return fn(session, *args)


# --- creating ---------------------------------------------------------------------------


def job_options(settings: Settings) -> dict[str, Any]:
    """What a new job stores, so a restarted worker renders it exactly the same way."""
    return {
        "fast_size": settings.fast_size,
        "hq_size": settings.hq_size,
        "budget_s": settings.hq_budget_s,
        "hq": dict(settings.extra.get("hq_options", {})),
    }


def create_capture(
    session: Session,
    *,
    capture_id: str,
    source: str,
    photo_path: str,
    size: tuple[int, int],
    style: str,
    scene: str | None,
    options: dict[str, Any],
) -> Job:
    """A capture with its fast and HQ jobs; returns the HQ job (the guest's job)."""
    capture = Capture(
        id=capture_id,
        source=source,
        photo_path=photo_path,
        width=size[0],
        height=size[1],
        style=style,
        scene=scene,
    )
    now = utcnow()
    fast = Job(capture=capture, mode=FAST, options=options, created_at=now)
    hq = Job(capture=capture, mode=HQ, options=options, created_at=now + timedelta(microseconds=1))
    session.add_all([capture, fast, hq])
    session.flush()
    return hq


# --- claiming and reporting (the worker's side) -----------------------------------------


def _claimable(mode: str):  # type: ignore[no-untyped-def]
    query = select(Job.id).where(Job.status == JobStatus.queued, Job.mode == mode)
    if mode == HQ:
        fast = aliased(Job)
        pending_fast = exists().where(
            and_(fast.capture_id == Job.capture_id, fast.mode == FAST, fast.status.in_(ACTIVE))
        )
        query = query.where(~pending_fast)
    return query.order_by(Job.created_at).limit(1)


def claim(sessions: sessionmaker[Session], mode: str, worker_id: str) -> str | None:
    """Atomically take the oldest claimable job of a lane; None when there is none."""
    for _ in range(5):  # another worker may win the race for a candidate: try the next one
        with sessions.begin() as session:
            job_id = session.scalar(_claimable(mode))
            if job_id is None:
                return None
            now = utcnow()
            taken = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.queued)
                .values(
                    status=JobStatus.running,
                    worker=worker_id,
                    started_at=now,
                    heartbeat_at=now,
                    attempts=Job.attempts + 1,
                    error=None,
                )
            )
            if taken.rowcount == 1:
                return job_id
    return None


def heartbeat(sessions: sessionmaker[Session], worker_id: str, job_ids: list[str]) -> None:
    """Keep the jobs a worker is really working on alive (a job it lost track of goes stale
    and is requeued)."""
    if not job_ids:
        return
    with sessions.begin() as session:
        session.execute(
            update(Job)
            .where(Job.id.in_(job_ids), Job.worker == worker_id, Job.status == JobStatus.running)
            .values(heartbeat_at=utcnow())
        )


def report(
    sessions: sessionmaker[Session],
    job_id: str,
    *,
    stage: str | None = None,
    progress: float | None = None,
) -> None:
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if stage is not None:
        values["stage"] = stage
    if progress is not None:
        values["progress"] = min(1.0, max(0.0, progress))
    with sessions.begin() as session:
        session.execute(
            update(Job).where(Job.id == job_id, Job.status == JobStatus.running).values(**values)
        )


def finish(
    sessions: sessionmaker[Session],
    job_id: str,
    status: JobStatus,
    *,
    error: str | None = None,
    timings: dict[str, float] | None = None,
) -> None:
    """Close a running job (a job cancelled meanwhile stays cancelled)."""
    values: dict[str, Any] = {"status": status, "error": error, "finished_at": utcnow()}
    if status == JobStatus.done:
        values.update(progress=1.0, stage="done")
    if timings is not None:
        values["timings"] = {k: round(v, 4) for k, v in timings.items()}
    with sessions.begin() as session:
        session.execute(
            update(Job).where(Job.id == job_id, Job.status == JobStatus.running).values(**values)
        )


def release(sessions: sessionmaker[Session], job_id: str) -> None:
    """Put a job back in the queue because its worker is stopping (not the job's fault)."""
    with sessions.begin() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.running)
            .values(
                status=JobStatus.queued,
                worker=None,
                stage="interrupted",
                attempts=func.max(Job.attempts - 1, 0),
            )
        )


def status_of(sessions: sessionmaker[Session], job_id: str) -> JobStatus | None:
    with sessions.begin() as session:
        return session.scalar(select(Job.status).where(Job.id == job_id))


def save_result(
    session: Session,
    *,
    capture_id: str,
    job_id: str | None,
    kind: str,
    path: str,
    size: tuple[int, int],
    sha256: str,
) -> Result:
    """Record an image of the capture, replacing the previous one of that kind."""
    result = session.scalar(
        select(Result).where(Result.capture_id == capture_id, Result.kind == kind)
    )
    if result is None:
        result = Result(capture_id=capture_id, kind=kind)
        session.add(result)
    result.job_id = job_id
    result.path = path
    result.width, result.height = size
    result.sha256 = sha256
    result.created_at = utcnow()
    session.flush()
    return result


# --- recovery ---------------------------------------------------------------------------


def process_gone(worker: str | None) -> bool:
    """True when the worker ran on this host and its process no longer exists."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed child not yet reaped is a zombie: as dead as it gets
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def requeue_interrupted(
    sessions: sessionmaker[Session],
    *,
    stale_after: float,
    working_on: frozenset[str] = frozenset(),
    now: datetime | None = None,
) -> list[str]:
    """Requeue running jobs whose worker died (same host) or stopped beating.

    A job interrupted ``MAX_ATTEMPTS`` times is failed with a message instead. Returns the
    ids of the jobs it touched.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=stale_after)
    with sessions.begin() as session:
        running = session.execute(
            select(Job.id, Job.worker, Job.heartbeat_at, Job.started_at, Job.attempts).where(
                Job.status == JobStatus.running
            )
        ).all()
    touched = []
    for job_id, worker, heartbeat_at, started_at, attempts in running:
        if job_id in working_on:  # the caller's own jobs in hand
            continue
        beat = aware(heartbeat_at) or aware(started_at)
        if not (beat is None or beat < cutoff or process_gone(worker)):
            continue
        if attempts >= MAX_ATTEMPTS:
            values: dict[str, Any] = {
                "status": JobStatus.failed,
                "finished_at": now,
                "error": f"the render was interrupted {attempts} times (its worker stopped); "
                "an operator can retry it",
            }
        else:
            values = {"status": JobStatus.queued, "stage": "interrupted"}
        with sessions.begin() as session:
            # Compare-and-set: untouched if the job moved on since we looked (its worker
            # beat after all, or another worker requeued and claimed it meanwhile).
            changed = session.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.status == JobStatus.running,
                    Job.worker == worker,
                    Job.attempts == attempts,
                    Job.heartbeat_at == heartbeat_at
                    if heartbeat_at is not None
                    else Job.heartbeat_at.is_(None),
                )
                .values(worker=None, **values)
            )
        if changed.rowcount == 1:
            touched.append(job_id)
    return touched


# --- the API's view -----------------------------------------------------------------------


@dataclass(frozen=True)
class Links:
    """How URLs are written: the API prefix for images, the public base for phones."""

    public_base: str

    def job(self, job_id: str) -> str:
        return f"/api/jobs/{job_id}"

    def download(self, token: str) -> str:
        return f"{self.public_base.rstrip('/')}/d/{token}"


def queue_position(session: Session, job: Job) -> int:
    """How many HQ renders are ahead of this one (0: running or next)."""
    if job.status != JobStatus.queued or job.mode != HQ:
        return 0
    return session.scalar(
        select(func.count())
        .select_from(Job)
        .where(
            Job.mode == HQ,
            Job.id != job.id,
            (Job.status == JobStatus.running)
            | ((Job.status == JobStatus.queued) & (Job.created_at < job.created_at)),
        )
    )


def queue_counts(session: Session) -> dict[str, dict[str, int]]:
    """Jobs waiting and in hand, per lane: ``{"fast": {"queued": n, "running": m}, "hq": ...}``."""
    counts = {mode: {"queued": 0, "running": 0} for mode in (FAST, HQ)}
    rows = session.execute(
        select(Job.mode, Job.status, func.count())
        .where(Job.status.in_(ACTIVE))
        .group_by(Job.mode, Job.status)
    )
    for mode, status, count in rows:
        counts.setdefault(mode, {"queued": 0, "running": 0})[status.value] = count
    return counts


def last_sign_of_life(job: Job, fast_job: Job | None) -> datetime | None:
    """When anything last happened to the guest's job pair: queued, claimed, or beating."""
    moments = [
        aware(moment)
        for candidate in (job, fast_job)
        if candidate is not None
        for moment in (
            candidate.created_at,
            candidate.started_at,
            candidate.heartbeat_at,
            candidate.finished_at,
        )
        if moment is not None
    ]
    return max(moments) if moments else None  # type: ignore[type-var]


def waiting_for_painter(
    job: Job, fast_job: Job | None, painter_alive: bool | None, now: datetime | None = None
) -> bool:
    """True when the job is still to be painted, no render worker is alive, and nothing has
    happened to it for ``PAINTER_GRACE_S``. ``painter_alive`` None: unknown, never True."""
    if painter_alive is None or painter_alive or job.status not in ACTIVE:
        return False
    since = last_sign_of_life(job, fast_job)
    now = now or utcnow()
    return since is None or (now - since).total_seconds() > PAINTER_GRACE_S


def describe(
    session: Session, job_id: str, links: Links, painter_alive: bool | None = None
) -> dict[str, Any] | None:
    """The job as the guest API shows it, or None for an unknown id. ``painter_alive`` (is a
    live render worker's beacon there?) lets it say when the job waits for no one."""
    job = session.get(Job, job_id)
    if job is None:
        return None
    capture = job.capture
    results = {r.kind: r for r in capture.results}
    fast_job = next((j for j in capture.jobs if j.mode == FAST), None)
    stage = job.stage
    if job.status == JobStatus.queued and fast_job and fast_job.status in ACTIVE:
        stage = fast_job.stage or "queued"
    elif job.status == JobStatus.queued and stage is None:
        stage = "queued"

    def image_url(kind: str) -> str | None:
        result = results.get(kind)
        if result is None:
            return None
        return f"{links.job(job.id)}/images/{kind}.jpg?v={result.sha256[:12]}"

    done = job.status == JobStatus.done
    no_painter = waiting_for_painter(job, fast_job, painter_alive)
    return {
        "id": job.id,
        "capture_id": capture.id,
        "mode": job.mode,
        "style": capture.style,
        "scene": capture.scene or "own",
        "person_found": capture.person_found,
        "status": job.status.value,
        "stage": stage,
        "progress": round(job.progress, 4),
        "queue_position": queue_position(session, job),
        "fast_url": image_url("fast"),
        "preview_url": image_url("preview"),
        "final_url": image_url("final"),
        "error": job.error,
        "download_url": links.download(capture.token) if done else None,
        "qr_url": f"{links.job(job.id)}/qr.png" if done else None,
        "waiting_for_painter": no_painter,
        "notice": NO_PAINTER if no_painter else None,
    }


def image_for(session: Session, job_id: str, kind: str) -> str | None:
    """The stored path of a job's capture image of this kind (fast, preview or final)."""
    if kind not in IMAGE_KINDS:
        return None
    job = session.get(Job, job_id)
    if job is None:
        return None
    return session.scalar(
        select(Result.path).where(Result.capture_id == job.capture_id, Result.kind == kind)
    )


def retry(session: Session, job_id: str) -> Job | None:
    """Queue a finished job again (an operator's retry). None: unknown id."""
    job = session.get(Job, job_id)
    if job is None:
        return None
    if job.status in ACTIVE:
        raise ValueError(f"job {job_id} is already {job.status.value}")
    job.status = JobStatus.queued
    job.progress = 0.0
    job.stage = "queued"
    job.error = None
    job.attempts = 0
    job.worker = None
    job.started_at = job.heartbeat_at = job.finished_at = None
    job.created_at = utcnow()  # to the back of the queue
    return job


def cancel(session: Session, job_id: str) -> Job | None:
    job = session.get(Job, job_id)
    if job is None:
        return None
    if job.status in ACTIVE:
        job.status = JobStatus.cancelled
        job.finished_at = utcnow()
        job.error = "cancelled by the operator"
    return job
