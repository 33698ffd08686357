"""Every query on jobs, results and workers: the one place the queue's SQL lives.

Each function takes the caller's session and runs in the caller's transaction: the server
calls them through ``kiosk.dbio.run_db`` (its I/O pool, a locked database answered 503), the
worker through ``in_session``.

Claims are compare-and-set UPDATEs, so two workers (on one host or several) never run the
same job. A running job names its worker (``jobs.worker_id``); every later write of the
worker (progress, results, the end) is guarded by that id, so a worker that was given up on
and comes back late cannot overwrite the job's new owner. Liveness is the ``workers`` table
alone: a worker beats its row with the database's clock, and a running job whose worker's
row is stale, stopped or gone is requeued.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    Select,
    and_,
    case,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased, selectinload, sessionmaker

from db.models import (
    DEFAULT_BOOTH,
    Capture,
    Job,
    JobStatus,
    Lane,
    Result,
    ResultKind,
    Worker,
    utcnow,
)
from kiosk.queue import notify
from kiosk.queue.jobs import (
    ACTIVE,
    MAX_ATTEMPTS,
    CaptureData,
    ClaimedJob,
    JobOptions,
    JobState,
    StoredResult,
)
from render.errors import StyleBoothError

T = TypeVar("T")

CLAIM_TRIES = 5  # another worker may win the race for a candidate: try the next one
GUEST_IMAGES = (ResultKind.FAST, ResultKind.PREVIEW, ResultKind.FINAL)  # served by the API
SHOWN_ID = 8  # characters of a job id the fleet view shows (a full id is a bearer key)


def in_session(
    sessions: sessionmaker[Session], fn: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """Run ``fn(session, *args, **kwargs)`` in one transaction."""
    with sessions.begin() as session:
        return fn(session, *args, **kwargs)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; every stored time is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def db_now(session: Session) -> datetime:
    """The database's clock: liveness compares it with heartbeats it wrote itself, so no
    machine's clock is ever compared with another's."""
    now = aware(session.scalar(select(func.now())))
    assert now is not None
    return now


def queue_clock(session: Session) -> datetime:
    """The time a job is queued at (claims take the oldest first). On PostgreSQL the
    database's clock, so a booth host whose clock is behind cannot jump the shared queue;
    SQLite (one host) keeps this host's clock, whose microseconds its ``now()`` lacks."""
    if session.get_bind().dialect.name == "postgresql":
        return db_now(session)
    return utcnow()


# --- creating -------------------------------------------------------------------------------


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
    booth_id: str = DEFAULT_BOOTH,
) -> Job:
    """A capture with its fast and HQ jobs; returns the HQ job (the guest's job).
    ``booth_id``: the booth it was taken at (the server's ``settings.booth_id``)."""
    capture = Capture(
        id=capture_id,
        booth_id=booth_id,
        source=source,
        photo_path=photo_path,
        width=size[0],
        height=size[1],
        style=style,
        scene=scene,
    )
    now = queue_clock(session)
    fast = Job(capture=capture, mode=Lane.FAST, options=options, created_at=now)
    hq = Job(
        capture=capture, mode=Lane.HQ, options=options, created_at=now + timedelta(microseconds=1)
    )
    session.add_all([capture, fast, hq])
    session.flush()
    notify.announce(session, Lane.FAST, capture_id, claimable=True)
    return hq


# --- the worker's side: claim, report, finish -------------------------------------------------


def _announce(
    session: Session, job_id: str, *, claimable: bool = False, ended: bool = False
) -> None:
    """Announce a change of this job at commit (``notify.announce``; nothing on SQLite);
    ``ended``: it is over, which for a fast job frees its capture's HQ job."""
    if not notify.is_postgres(session):
        return
    row = session.execute(select(Job.mode, Job.capture_id).where(Job.id == job_id)).first()
    if row is not None:
        notify.announce(session, row[0], row[1], claimable=claimable)
        if ended and row[0] == Lane.FAST:
            notify.announce(session, Lane.HQ, row[1], claimable=True)


def _changed(session: Session, statement: Executable) -> int:
    """How many rows an UPDATE changed (the claim and the owner's writes check it is 1)."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount


# A lane's job waits while its capture has a job of this lane queued or running: the HQ
# painting reuses the fast job's composite; a print job (an order placed while the guest's
# painting is still being made) continues the HQ painting.
WAITS_FOR = {Lane.HQ: Lane.FAST, Lane.PRINT: Lane.HQ}


def _claimable(lane: Lane, tried: list[str]) -> Select[Any]:
    """The oldest queued job of the lane; an HQ job only once its capture's fast job is over,
    a print job only once its capture's HQ job is (``WAITS_FOR``)."""
    query = select(Job.id).where(Job.status == JobStatus.queued, Job.mode == lane)
    if tried:
        query = query.where(Job.id.not_in(tried))
    if lane in WAITS_FOR:
        before = aliased(Job)
        pending = exists().where(
            and_(
                before.capture_id == Job.capture_id,
                before.mode == WAITS_FOR[lane],
                before.status.in_(ACTIVE),
            )
        )
        query = query.where(~pending)
    return query.order_by(Job.created_at).limit(1)


def _claim_values(worker_id: str) -> dict[str, Any]:
    """What a claim writes: running in ``worker_id``'s hands since now (the database's clock),
    one more attempt."""
    return {
        "status": JobStatus.running,
        "worker_id": worker_id,
        "started_at": func.now(),
        "attempts": Job.attempts + 1,
        "error": None,
    }


def claim(session: Session, lane: Lane, worker_id: str) -> ClaimedJob | None:
    """Atomically take the oldest claimable job of a lane for ``worker_id``; None when there
    is none.

    On PostgreSQL one statement does it: ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP
    LOCKED) RETURNING id``. Concurrent claimers skip the row another one has locked and take
    the next, so none of them comes back empty while a job is claimable and none waits for
    another. SQLite has no row locks (a writer locks the whole file): there a compare-and-set
    UPDATE on the candidate, tried again with the next one when another worker won it."""
    if session.get_bind().dialect.name == "postgresql":
        return _claim_postgres(session, lane, worker_id)
    tried: list[str] = []
    for _ in range(CLAIM_TRIES):
        job_id = session.scalar(_claimable(lane, tried))
        if job_id is None:
            return None
        taken = _changed(
            session,
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.queued)
            .values(**_claim_values(worker_id)),
        )
        if taken == 1:
            claimed = _claimed(session, job_id)
            notify.announce(session, lane, claimed.capture.id, claimable=False)
            return claimed
        tried.append(job_id)
    return None


def _claim_postgres(session: Session, lane: Lane, worker_id: str) -> ClaimedJob | None:
    """The claim in one round trip: the UPDATE as a CTE, joined to the capture for what the
    job body needs, with the "changed" announcement in the same statement (8 claimers on a
    2-core machine: 111 jobs/s with four round trips per claim, 146 with this one)."""
    candidate = _claimable(lane, []).with_for_update(skip_locked=True).scalar_subquery()
    claimed = (
        update(Job)
        .where(Job.id == candidate, Job.status == JobStatus.queued)
        .values(**_claim_values(worker_id))
        .returning(Job.id, Job.attempts, Job.options, Job.capture_id)
        .cte("claimed")
    )
    row = session.execute(
        select(
            claimed.c.id,
            claimed.c.attempts,
            claimed.c.options,
            Capture.id,
            Capture.photo_path,
            Capture.style,
            Capture.scene,
            Capture.person_found,
            notify.notify_sql(notify.CHANGED, lane, claimed.c.capture_id),
        ).join(Capture, Capture.id == claimed.c.capture_id)
    ).first()
    if row is None:
        return None
    job_id, attempts, options, capture_id, photo_path, style, scene, person_found, _ = row
    return ClaimedJob(
        id=job_id,
        lane=lane,
        attempts=attempts,
        options=JobOptions.from_json(options),
        capture=CaptureData(
            id=capture_id,
            photo_path=photo_path,
            style=style,
            scene=scene,
            person_found=person_found,
        ),
    )


def _claimed(session: Session, job_id: str) -> ClaimedJob:
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    capture = job.capture
    return ClaimedJob(
        id=job.id,
        lane=Lane(job.mode),
        attempts=job.attempts,
        options=JobOptions.from_json(job.options),
        capture=CaptureData(
            id=capture.id,
            photo_path=capture.photo_path,
            style=capture.style,
            scene=capture.scene,
            person_found=capture.person_found,
        ),
    )


def _owned(job_id: str, worker_id: str) -> ColumnElement[bool]:
    """The job, while it is running in this worker's hands."""
    return and_(Job.id == job_id, Job.status == JobStatus.running, Job.worker_id == worker_id)


def _owner_write(
    session: Session, job_id: str, worker_id: str, values: dict[str, Any], *, ended: bool = False
) -> bool:
    """Write ``values`` to a job still running in this worker's hands (the fence); False when
    it is not. The change is announced as ``_announce`` does (``ended``: an ended fast job
    frees its capture's HQ job). On PostgreSQL in one round trip: the UPDATE as a CTE, its
    announcements selected from the row it returns (8 claimers on 2 cores: finishing in four
    statements held the queue at 146 jobs/s)."""
    write = update(Job).where(_owned(job_id, worker_id)).values(**values)
    if not notify.is_postgres(session):
        return _changed(session, write) == 1
    changed = write.returning(Job.mode, Job.capture_id).cte("changed")
    said = [notify.notify_sql(notify.CHANGED, changed.c.mode, changed.c.capture_id)]
    if ended:
        frees_hq = notify.notify_sql(notify.QUEUED, Lane.HQ, changed.c.capture_id)
        said.append(case((changed.c.mode == Lane.FAST, frees_hq)))
    return session.execute(select(*said).select_from(changed)).first() is not None


def report(
    session: Session,
    job_id: str,
    worker_id: str,
    *,
    stage: str | None = None,
    progress: float | None = None,
) -> bool:
    """Record a job's stage and progress (0..1); False when the job is no longer this
    worker's (cancelled, or requeued and taken by another)."""
    values: dict[str, Any] = {}
    if stage is not None:
        values["stage"] = stage
    if progress is not None:
        values["progress"] = min(1.0, max(0.0, progress))
    if not values:
        return is_running(session, job_id, worker_id)
    return _owner_write(session, job_id, worker_id, values)


def is_running(session: Session, job_id: str, worker_id: str) -> bool:
    """Whether the job is still running in this worker's hands."""
    return session.scalar(select(exists().where(_owned(job_id, worker_id)))) is True


def finish(
    session: Session,
    job_id: str,
    worker_id: str,
    status: JobStatus,
    *,
    error: str | None = None,
    timings: dict[str, float] | None = None,
) -> bool:
    """Close a running job of this worker (a job cancelled or taken over meanwhile is left
    as it is); False when it was not this worker's any more."""
    values: dict[str, Any] = {"status": status, "error": error, "finished_at": func.now()}
    if status == JobStatus.done:
        values.update(progress=1.0, stage="done")
    if timings is not None:
        values["timings"] = {k: round(v, 4) for k, v in timings.items()}
    return _owner_write(session, job_id, worker_id, values, ended=True)


def release(session: Session, job_id: str, worker_id: str) -> bool:
    """Put a job back in the queue because its worker is stopping (not the job's fault: the
    attempt is not counted)."""
    changed = _changed(
        session,
        update(Job)
        .where(_owned(job_id, worker_id))
        .values(
            status=JobStatus.queued,
            worker_id=None,
            stage="interrupted",
            # Portable max(attempts - 1, 0): two-argument max() is SQLite's alone.
            attempts=case((Job.attempts > 0, Job.attempts - 1), else_=0),
        ),
    )
    if changed == 1:
        _announce(session, job_id, claimable=True)
    return changed == 1


def save_result(
    session: Session,
    *,
    job_id: str,
    worker_id: str,
    capture_id: str,
    kind: ResultKind,
    path: str,
    size: tuple[int, int],
    sha256: str,
) -> bool:
    """Record an image of the capture, replacing the previous one of that kind, while the
    job is this worker's; False (nothing recorded) when it is not any more."""
    if not is_running(session, job_id, worker_id):
        return False
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
    _announce(session, job_id)
    return True


def set_person_found(session: Session, capture_id: str, found: bool) -> None:
    session.execute(update(Capture).where(Capture.id == capture_id).values(person_found=found))


def result_paths(
    session: Session, capture_id: str, kinds: tuple[ResultKind, ...]
) -> dict[ResultKind, str]:
    """The stored paths of a capture's images of these kinds (those that exist)."""
    rows = session.execute(
        select(Result.kind, Result.path).where(
            Result.capture_id == capture_id, Result.kind.in_(kinds)
        )
    )
    return {ResultKind(kind): path for kind, path in rows}


# --- workers: the one liveness record ---------------------------------------------------------


def register_worker(
    session: Session,
    worker_id: str,
    *,
    host: str,
    pid: int,
    parent: str | None,
    device: str | None,
    info: dict[str, Any],
) -> None:
    """Say a worker is alive (now, by the database's clock), or say so again."""
    worker = session.get(Worker, worker_id)
    if worker is None:
        worker = Worker(id=worker_id)
        session.add(worker)
    worker.host, worker.pid, worker.parent = host, pid, parent
    worker.device, worker.info = device, info
    worker.heartbeat_at = func.now()
    worker.stopped_at = None
    session.flush()


def beat(session: Session, worker_id: str, busy: int) -> bool:
    """Keep a worker's row fresh; False when the row is gone (given up on and pruned: the
    worker registers again)."""
    changed = _changed(
        session,
        update(Worker)
        .where(Worker.id == worker_id, Worker.stopped_at.is_(None))
        .values(heartbeat_at=func.now(), busy=busy),
    )
    return changed == 1


def stop_worker(session: Session, worker_id: str) -> None:
    """A worker that stopped cleanly removes its row (its jobs are released already)."""
    session.execute(delete(Worker).where(Worker.id == worker_id))


def record_fatal(
    session: Session, worker_id: str, *, host: str, pid: int, parent: str | None, error: str
) -> None:
    """Leave the reason a worker could not start or run, for its supervisor."""
    worker = session.get(Worker, worker_id)
    if worker is None:
        worker = Worker(id=worker_id, host=host, pid=pid, parent=parent, info={})
        session.add(worker)
    worker.error = error
    worker.stopped_at = func.now()
    session.flush()


def take_fatal(session: Session, worker_id: str) -> str | None:
    """After a worker process exited: its fatal error, if it left one, and its row removed
    (so its running jobs, if it was killed, are requeued at once)."""
    error = session.scalar(select(Worker.error).where(Worker.id == worker_id))
    session.execute(delete(Worker).where(Worker.id == worker_id))
    return error


def lease_of(info: dict[str, Any] | None, default_s: float) -> float:
    """The lease a worker registered with (``info["lease_s"]``), else the reader's own: a
    fleet whose workers hold different leases gives each up on its own lease."""
    value = (info or {}).get("lease_s")
    return float(value) if isinstance(value, int | float) and value > 0 else default_s


def _alive(
    heartbeat_at: datetime | None, stopped_at: datetime | None, lease_s: float, now: datetime
) -> bool:
    """Whether a worker's lease (its last beat plus its lease, both by the database's clock)
    still runs at the database's ``now``: no host's clock, pid or name is ever looked at."""
    beat_at = aware(heartbeat_at)
    return (
        stopped_at is None and beat_at is not None and beat_at + timedelta(seconds=lease_s) >= now
    )


def _jobs_in_hand(session: Session, worker_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The running jobs of these workers, as the fleet view shows them: lane, booth, stage,
    progress and the job id cut to ``SHOWN_ID`` characters (a full id is a bearer key to a
    guest's photo, and ``/healthz`` answers anyone)."""
    in_hand: dict[str, list[dict[str, Any]]] = {worker_id: [] for worker_id in worker_ids}
    if not worker_ids:
        return in_hand
    rows = session.execute(
        select(Job.worker_id, Job.id, Job.mode, Job.stage, Job.progress, Capture.booth_id)
        .join(Capture, Capture.id == Job.capture_id)
        .where(Job.status == JobStatus.running, Job.worker_id.in_(worker_ids))
        .order_by(Job.started_at, Job.id)
    )
    for worker_id, job_id, lane, stage, progress, booth in rows:
        if worker_id is None:  # the query asks for running jobs of these workers only
            continue
        in_hand[worker_id].append(
            {
                "job": job_id[:SHOWN_ID],
                "lane": str(lane),
                "booth": booth,
                "stage": stage,
                "progress": round(progress, 3),
            }
        )
    return in_hand


def live_workers(session: Session, lease_s: float, *, jobs: bool = True) -> list[dict[str, Any]]:
    """Every ready worker of the fleet whose lease runs (``lease_s`` for a row that names
    none), whatever host it runs on, as ``/healthz`` shows them: its row's info (device
    name, ``lanes``, ``device_slots``, lease…), ``seen_s`` (seconds since its last beat, by
    the database's clock) and, unless ``jobs`` is False, the ``jobs`` it has in hand."""
    now = db_now(session)
    rows = session.scalars(
        select(Worker).where(Worker.device.is_not(None)).order_by(Worker.started_at, Worker.id)
    )
    alive = [
        worker
        for worker in rows
        if _alive(worker.heartbeat_at, worker.stopped_at, lease_of(worker.info, lease_s), now)
    ]
    in_hand = _jobs_in_hand(session, [worker.id for worker in alive]) if jobs else {}
    return [
        {
            **worker.info,
            "worker": worker.id,
            "host": worker.host,
            "pid": worker.pid,
            "parent": worker.parent,
            "device": worker.device,
            "busy": worker.busy,
            "seen_s": round((now - aware(worker.heartbeat_at)).total_seconds(), 1),  # type: ignore[operator]
            **({"jobs": in_hand.get(worker.id, [])} if jobs else {}),
        }
        for worker in alive
    ]


def any_worker_alive(session: Session, lease_s: float) -> bool:
    return bool(live_workers(session, lease_s, jobs=False))


def requeue_stale(session: Session, lease_s: float) -> list[str]:
    """Requeue running jobs whose worker's lease ran out, that stopped, or has no row
    (``lease_s``: the lease of a row that names none).

    A job interrupted ``MAX_ATTEMPTS`` times is failed with a message instead. Returns the
    ids of the jobs it touched.
    """
    now = db_now(session)
    running = session.execute(
        select(
            Job.id, Job.worker_id, Job.attempts, Worker.heartbeat_at, Worker.stopped_at, Worker.info
        )
        .outerjoin(Worker, Worker.id == Job.worker_id)
        .where(Job.status == JobStatus.running)
    ).all()
    touched = []
    for job_id, worker_id, attempts, heartbeat_at, stopped_at, info in running:
        if worker_id is not None and _alive(heartbeat_at, stopped_at, lease_of(info, lease_s), now):
            continue
        if attempts >= MAX_ATTEMPTS:
            values: dict[str, Any] = {
                "status": JobStatus.failed,
                "finished_at": func.now(),
                "error": f"the render was interrupted {attempts} times (its worker stopped); "
                "an operator can retry it",
            }
        else:
            values = {"status": JobStatus.queued, "stage": "interrupted"}
        # Compare-and-set: untouched if the job moved on since we looked.
        owner = Job.worker_id == worker_id if worker_id is not None else Job.worker_id.is_(None)
        changed = _changed(
            session,
            update(Job)
            .where(
                Job.id == job_id, Job.status == JobStatus.running, owner, Job.attempts == attempts
            )
            .values(worker_id=None, **values),
        )
        if changed == 1:
            touched.append(job_id)
            requeued = values["status"] == JobStatus.queued
            _announce(session, job_id, claimable=requeued, ended=not requeued)
    return touched


def prune_workers(session: Session, keep_s: float) -> None:
    """Forget the rows of workers silent for ``keep_s`` (killed long ago, or a fatal error
    nobody read)."""
    cutoff = db_now(session) - timedelta(seconds=keep_s)
    for worker in session.scalars(select(Worker)):
        if (aware(worker.heartbeat_at) or cutoff) <= cutoff:
            session.delete(worker)


# --- the server's side: views and operator actions ---------------------------------------------


def _queue_position(session: Session, job: Job) -> int:
    """How many HQ paintings will be claimed before this one: the queued HQ jobs created
    before it, in any booth (the claim takes the oldest first). 0: running, or next.

    Running jobs are not counted: with several workers, another guest's painting in hand
    is no job ahead, and the next free worker takes this one."""
    if job.status != JobStatus.queued or job.mode != Lane.HQ:
        return 0
    ahead = (
        select(func.count())
        .select_from(Job)
        .where(
            Job.mode == Lane.HQ,
            Job.status == JobStatus.queued,
            Job.created_at < job.created_at,
            Job.id != job.id,
        )
    )
    return session.execute(ahead).scalar_one()


def job_state(session: Session, job_id: str) -> JobState | None:
    """What the guest's view of a job shows; None for an unknown id."""
    job = session.get(Job, job_id)
    if job is None:
        return None
    capture = job.capture
    fast = next((j for j in capture.jobs if j.mode == Lane.FAST), None)
    moments = [
        aware(moment)
        for candidate in (job, fast)
        if candidate is not None
        for moment in (candidate.created_at, candidate.started_at, candidate.finished_at)
        if moment is not None
    ]
    return JobState(
        id=job.id,
        capture_id=capture.id,
        lane=Lane(job.mode),
        style=capture.style,
        scene=capture.scene,
        person_found=capture.person_found,
        status=job.status,
        stage=job.stage,
        progress=job.progress,
        error=job.error,
        token=capture.token,
        fast_status=fast.status if fast else None,
        fast_stage=fast.stage if fast else None,
        queue_position=_queue_position(session, job),
        versions={r.kind: r.sha256 for r in capture.results},
        last_activity=max(moments) if moments else None,  # type: ignore[type-var]
        now=db_now(session),
    )


def image_for(session: Session, job_id: str, kind: str) -> str | None:
    """The stored path of a job's capture image of a kind the guest API serves."""
    if kind not in GUEST_IMAGES:
        return None
    capture_id = session.scalar(select(Job.capture_id).where(Job.id == job_id))
    if capture_id is None:
        return None
    return result_paths(session, capture_id, (ResultKind(kind),)).get(ResultKind(kind))


def preview_sources(session: Session, capture_id: str) -> dict[str, Any] | None:
    """What a product preview is drawn from: the lossless painting (or the final JPEG; while
    the HQ painting is still being made, the fast picture), its sha256 (a re-render replaces
    the row's file, not its id) and the people mask; None for an unknown capture, ``source``
    None before the fast picture."""
    capture = session.get(Capture, capture_id)
    if capture is None:
        return None
    results = {r.kind: r for r in capture.results}
    source = (
        results.get(ResultKind.MASTER)
        or results.get(ResultKind.FINAL)
        or results.get(ResultKind.FAST)
    )
    alpha = results.get(ResultKind.ALPHA)
    return {
        "source": source.path if source else None,
        "sha256": source.sha256 if source else None,
        "alpha": alpha.path if alpha else None,
    }


def download_state(session: Session, token: str) -> dict[str, Any] | None:
    """What the phone page of a download token shows: the painting's path (the final one,
    or the instant picture when the HQ render is over without one), and whether a painting
    is still being made; None for an unknown token."""
    capture = session.scalar(select(Capture).where(Capture.token == token))
    if capture is None:
        return None
    results = {r.kind: r for r in capture.results}
    hq = next((j for j in capture.jobs if j.mode == Lane.HQ), None)
    painting = results.get(ResultKind.FINAL)
    if painting is None and (hq is None or hq.status not in ACTIVE):
        painting = results.get(ResultKind.FAST)  # the HQ render failed: the instant picture
    return {
        "painting": painting.path if painting else None,
        "final": ResultKind.FINAL in results,
        "painting_now": hq is not None and hq.status in ACTIVE,
        "failed": hq is not None and hq.status == JobStatus.failed,
    }


def capture_token(session: Session, job_id: str) -> str | None:
    """The download token of a job's capture; None for an unknown job."""
    return session.scalar(
        select(Capture.token).join(Job, Job.capture_id == Capture.id).where(Job.id == job_id)
    )


LaneCounts = dict[str, dict[str, int]]  # lane -> {"queued": n, "running": m}


def _idle_lanes() -> LaneCounts:
    return {lane.value: {"queued": 0, "running": 0} for lane in Lane}


def queue_counts(session: Session) -> dict[str, Any]:
    """Jobs waiting and in hand, per lane for the whole fleet and per booth:
    ``{"fast": {"queued": n, "running": m}, "hq": …, "print": …, "booths": {booth_id:
    {"fast": …, "hq": …, "print": …}}}``; a booth with no active job is not listed.

    One grouped query over the active jobs (``ix_jobs_status``) joined to their captures."""
    counts: dict[str, Any] = _idle_lanes()
    booths: dict[str, LaneCounts] = {}
    rows = session.execute(
        select(Capture.booth_id, Job.mode, Job.status, func.count())
        .join(Capture, Capture.id == Job.capture_id)
        .where(Job.status.in_(ACTIVE))
        .group_by(Capture.booth_id, Job.mode, Job.status)
    )
    for booth, lane, status, count in rows:
        counts.setdefault(lane, {"queued": 0, "running": 0})[status.value] += count
        booth_counts = booths.setdefault(booth, _idle_lanes())
        booth_counts.setdefault(lane, {"queued": 0, "running": 0})[status.value] = count
    counts["booths"] = dict(sorted(booths.items()))
    return counts


def list_jobs(session: Session, status: JobStatus | None, limit: int) -> list[Job]:
    """The newest jobs first (the admin page), with their captures loaded."""
    query = select(Job).options(selectinload(Job.capture)).order_by(Job.created_at.desc())
    if status is not None:
        query = query.where(Job.status == status)
    return list(session.scalars(query.limit(limit)))


def _may_claim(session: Session, job: Job) -> bool:
    """Whether a queued job is claimable now (an HQ job waits for its capture's fast job, a
    print job for its HQ job)."""
    return job.status == JobStatus.queued and (
        job.mode not in WAITS_FOR
        or session.scalar(_claimable(Lane(job.mode), []).where(Job.id == job.id)) is not None
    )


class JobConflict(StyleBoothError, code="conflict"):
    """The job's state does not allow what was asked (retrying a job still queued or
    running); the API answers it 409."""


def retry(session: Session, job_id: str) -> Job | None:
    """Queue a finished job again (an operator's retry). None: unknown id; ``JobConflict``:
    the job is still queued or running."""
    job = session.get(Job, job_id)
    if job is None:
        return None
    if job.status in ACTIVE:
        raise JobConflict(f"job {job_id} is already {job.status.value}")
    job.status = JobStatus.queued
    job.progress = 0.0
    job.stage = "queued"
    job.error = None
    job.attempts = 0
    job.worker_id = None
    job.started_at = job.finished_at = None
    job.created_at = queue_clock(session)  # to the back of the queue
    session.flush()
    notify.announce(session, job.mode, job.capture_id, claimable=_may_claim(session, job))
    return job


def cancel(session: Session, job_id: str) -> Job | None:
    """Cancel a queued or running job (its worker sees it and stops). None: unknown id."""
    job = session.get(Job, job_id)
    if job is None:
        return None
    if job.status in ACTIVE:
        job.status = JobStatus.cancelled
        job.finished_at = utcnow()
        job.error = "cancelled by the operator"
        session.flush()
        _announce(session, job.id, ended=True)
    return job


# --- print jobs ---------------------------------------------------------------------------------


def capture_options(session: Session, capture_id: str) -> JobOptions | None:
    """The options the capture's HQ job was made with (its print settings size its orders);
    None when the capture has no HQ job."""
    stored = session.scalar(
        select(Job.options)
        .where(Job.capture_id == capture_id, Job.mode == Lane.HQ)
        .order_by(Job.created_at)
        .limit(1)
    )
    return None if stored is None else JobOptions.from_json(stored)


def hq_status(session: Session, capture_id: str) -> JobStatus | None:
    """The status of the capture's HQ painting; None when it has no HQ job."""
    return session.scalar(
        select(Job.status).where(Job.capture_id == capture_id, Job.mode == Lane.HQ).limit(1)
    )


def result_size(session: Session, capture_id: str, kind: ResultKind) -> tuple[int, int] | None:
    """The pixel size of the capture's image of ``kind``, or None when it has none."""
    row = session.execute(
        select(Result.width, Result.height).where(
            Result.capture_id == capture_id, Result.kind == kind
        )
    ).first()
    return None if row is None else (row[0], row[1])


def print_job(session: Session, capture_id: str, options: JobOptions) -> Job:
    """The capture's print job that will paint at least ``options.print_size``: its queued
    one (the size raised when this needs more), else a new one.

    A running print job is never joined: it has already taken its orders, and one more
    would wait for a job that ends without it. The join is a compare-and-set, so a worker
    claiming the job at the same moment makes this queue a new one instead."""
    assert options.print_size is not None
    queued = session.scalars(
        select(Job)
        .where(Job.capture_id == capture_id, Job.mode == Lane.PRINT, Job.status == JobStatus.queued)
        .order_by(Job.created_at)
    )
    for job in queued:
        have = JobOptions.from_json(job.options).print_size or (0, 0)
        wanted = options.for_print(max(have, options.print_size, key=_area))
        joined = _changed(
            session,
            update(Job)
            .where(Job.id == job.id, Job.status == JobStatus.queued)
            .values(options=wanted.to_json()),
        )
        if joined == 1:
            session.refresh(job)
            return job
    job = Job(capture_id=capture_id, mode=Lane.PRINT, options=options.to_json())
    session.add(job)
    session.flush()
    # Ordered while the HQ painting is still being made: claimable once it ends (its end
    # wakes the print lane, ``notify.wakes``).
    notify.announce(session, Lane.PRINT, capture_id, claimable=_may_claim(session, job))
    return job


def _area(size: tuple[int, int]) -> int:
    return size[0] * size[1]


def has_claimable(session: Session, lane: Lane) -> bool:
    """Whether a job of the lane can be claimed now (the worker's fallback look for work a
    notification did not announce)."""
    return session.scalar(_claimable(lane, [])) is not None


def hq_waiting(session: Session) -> bool:
    """Whether an HQ painting is queued or running: a print render gives the device up."""
    return (
        session.scalar(select(exists().where(Job.mode == Lane.HQ, Job.status.in_(ACTIVE)))) is True
    )


def job_progress(session: Session, job_id: str) -> float | None:
    """A job's progress (0..1), or None for an unknown id."""
    return session.scalar(select(Job.progress).where(Job.id == job_id))


def stored_results(
    session: Session, capture_id: str, kinds: tuple[ResultKind, ...]
) -> dict[ResultKind, StoredResult]:
    """The capture's images of these kinds (those that exist): id, path and pixel size."""
    rows = session.execute(
        select(
            Result.kind, Result.id, Result.path, Result.width, Result.height, Result.created_at
        ).where(Result.capture_id == capture_id, Result.kind.in_(kinds))
    )
    return {
        ResultKind(kind): StoredResult(id_, path, (width, height), aware(at) or at)
        for kind, id_, path, width, height, at in rows
    }


# --- the gallery screen ---------------------------------------------------------------------


@dataclass(frozen=True)
class GalleryRow:
    """A finished painting as the gallery screen (``kiosk.gallery``) and its operator panel
    (``kiosk.admin_gallery``) see it. ``id`` is the final painting's result id: it names no
    booth action, where the capture id authorises orders and the job id shows the photo."""

    id: str
    style: str
    path: str  # the final JPEG's store key
    sha256: str
    token: str  # the download token: only ever the QR code's link, never shown as an id
    finished_at: datetime | None  # the HQ job's end, by the database's clock
    opted_out: bool  # the guest said "don't show me" (the operator cannot undo it)
    hidden: bool  # the operator hid it


def _gallery_query() -> Select[str, str, str, str, str, datetime | None, bool, bool]:
    """Every finished painting: a final JPEG whose capture's HQ job is done. A capture has
    one HQ job (a retry runs the same row again), so the join makes one row per painting."""
    return (
        select(
            Result.id,
            Capture.style,
            Result.path,
            Result.sha256,
            Capture.token,
            Job.finished_at,
            Capture.gallery_opt_out,
            Capture.gallery_hidden,
        )
        .join(Capture, Capture.id == Result.capture_id)
        .join(
            Job,
            and_(Job.capture_id == Capture.id, Job.mode == Lane.HQ, Job.status == JobStatus.done),
        )
        .where(Result.kind == ResultKind.FINAL)
    )


def _gallery_row(row: Any) -> GalleryRow:
    result_id, style, path, sha256, token, finished_at, opted_out, hidden = row
    return GalleryRow(result_id, style, path, sha256, token, aware(finished_at), opted_out, hidden)


def _on_gallery() -> ColumnElement[bool]:
    """Shown: the guest did not opt out and the operator did not hide it."""
    return and_(Capture.gallery_opt_out.is_(False), Capture.gallery_hidden.is_(False))


def gallery_items(session: Session, limit: int, *, everyone: bool = False) -> list[GalleryRow]:
    """The latest ``limit`` finished paintings, newest first; only those on the gallery
    unless ``everyone`` (the operator's panel: the opted-out and hidden ones too). A purged
    capture has no rows left, so it is gone from the next answer."""
    query = _gallery_query() if everyone else _gallery_query().where(_on_gallery())
    ordered = query.order_by(
        Job.finished_at.desc().nulls_last(), Result.created_at.desc(), Result.id
    )
    return [_gallery_row(row) for row in session.execute(ordered.limit(limit))]


def gallery_item(session: Session, item_id: str, *, everyone: bool = False) -> GalleryRow | None:
    """One painting of ``gallery_items`` by its id; None when it is not (or not any more)
    on the gallery (with ``everyone``: not a finished painting)."""
    query = _gallery_query().where(Result.id == item_id)
    row = session.execute(query if everyone else query.where(_on_gallery())).first()
    return None if row is None else _gallery_row(row)


def gallery_opt_out(session: Session, capture_id: str) -> bool | None:
    """Whether the guest asked to stay off the gallery; None for an unknown capture."""
    return session.scalar(select(Capture.gallery_opt_out).where(Capture.id == capture_id))


def set_gallery_opt_out(session: Session, capture_id: str, opt_out: bool) -> bool:
    """Remember the guest's choice with the capture; False for an unknown capture."""
    change = update(Capture).where(Capture.id == capture_id).values(gallery_opt_out=opt_out)
    return _changed(session, change) == 1


def set_gallery_hidden(session: Session, item_id: str, hidden: bool) -> GalleryRow | None:
    """The operator hides (or shows again) a finished painting; the guest's own opt-out
    stays as it is. None when ``item_id`` is no finished painting."""
    if gallery_item(session, item_id, everyone=True) is None:
        return None
    capture_id = select(Result.capture_id).where(Result.id == item_id).scalar_subquery()
    session.execute(update(Capture).where(Capture.id == capture_id).values(gallery_hidden=hidden))
    return gallery_item(session, item_id, everyone=True)
