"""Queue benchmark on PostgreSQL: claims under contention, NOTIFY wake-ups, an idle worker's
cost to the shared database.

Starts a throwaway PostgreSQL cluster (``tests.support.postgres``: loopback, a temporary
directory; note that it runs with ``fsync=off``, as the tests do, so commits cost less than
on a production disk) and measures, each on a fresh database:

* **claims**: ``CLAIMERS`` processes claim ``JOBS`` queued fast-lane jobs through
  ``manager.claim`` and finish each at once. Jobs a second (first claim to last finish),
  *empty answers* (a claim that found nothing while, right after it, a queued job nobody
  held a lock on was there to take), and double claims (a job claimed twice, by the
  claimers' own lists and by the jobs' ``attempts``). Measured before this work: 45–105
  jobs/s with 151–174 empty answers.
* **wake-up**: an idle worker (``Worker.serve``, its fast lane waiting on a notification)
  and ``WAKE_SAMPLES`` captures committed one at a time: from the commit's return to the
  lane's job body starting, median and p95.
* **idle**: one worker serving every lane, nothing queued: transactions of its database
  (``pg_stat_database`` commits + rollbacks) over ``IDLE_WINDOW_S``, after ``STATS_LAG_S``
  (PostgreSQL publishes an idle connection's counts up to 10 s late).

Everything is bounded (deadlines, counts). Run alone: ``python -m benchmarks.bench_queue``.
"""

from __future__ import annotations

import functools
import multiprocessing
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, cast

from benchmarks.run import figures, run_alone

CLAIMERS = 8
JOBS = 400
WAKE_SAMPLES = 50
WAKE_GAP_S = 0.1  # between two wake-up samples: the lane is asleep on its event again
IDLE_WINDOW_S = 20.0
STATS_LAG_S = 11.0
DEADLINE_S = 120.0  # any one phase
EMPTY_RETRY_S = 0.005  # a claimer that found only locked jobs looks again after this


def _settings(data_dir: Path, url: str) -> Any:
    from kiosk.config import load_settings

    return load_settings(env={}, data_dir=data_dir, model_dir=data_dir / "no-models",
                         database_url=url)  # fmt: skip


def _enqueue(url: str, data_dir: Path, count: int) -> list[str]:
    """``count`` captures (a queued fast job each, and an HQ job nobody claims here)."""
    from db.models import new_id
    from db.session import make_engine, make_sessionmaker
    from kiosk.queue import manager
    from kiosk.queue.jobs import job_options

    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    options = job_options(_settings(data_dir, url))
    ids = []
    with sessions.begin() as session:
        for _ in range(count):
            capture_id = new_id()
            manager.create_capture(session, capture_id=capture_id, source="camera",
                                   photo_path=f"captures/{capture_id}/photo.jpg", size=(64, 64),
                                   style="candy", scene=None, options=options)  # fmt: skip
            ids.append(capture_id)
    engine.dispose()
    return ids


CLAIMABLE = """SELECT count(*) FROM (SELECT id FROM jobs WHERE mode = 'fast' AND status = 'queued'
FOR UPDATE SKIP LOCKED) AS free"""
QUEUED = "SELECT count(*) FROM jobs WHERE mode = 'fast' AND status = 'queued'"


def _claimer(url: str, start: Any, out: Any) -> None:
    """One claiming process: claim and finish until no fast job is queued."""
    from sqlalchemy import text

    from db.models import JobStatus, Lane, new_id
    from db.session import make_engine, make_sessionmaker
    from kiosk.queue import manager

    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    me = new_id()
    manager.in_session(sessions, manager.register_worker, me, host="bench", pid=0, parent=None,
                       device="cpu", info={})  # fmt: skip
    claimed: list[str] = []
    empty = locked_only = 0
    started = finished = 0.0
    start.wait(DEADLINE_S)
    deadline = time.monotonic() + DEADLINE_S
    started = time.perf_counter()
    while time.monotonic() < deadline:
        job = manager.in_session(sessions, manager.claim, Lane.FAST, me)
        if job is not None:
            claimed.append(job.id)
            manager.in_session(sessions, manager.finish, job.id, me, JobStatus.done)
            finished = time.perf_counter()
            continue
        with sessions.begin() as session:  # was there one to take? (rolled back: no locks kept)
            free = session.execute(text(CLAIMABLE)).scalar_one()
            queued = session.execute(text(QUEUED)).scalar_one()
            session.rollback()
        if free:
            empty += 1
        elif queued:  # held by another claimer's transaction this instant: not ours
            locked_only += 1
            time.sleep(EMPTY_RETRY_S)
        else:
            break
    engine.dispose()
    out.put({"claimed": claimed, "empty": empty, "locked_only": locked_only,
             "started": started, "finished": finished})  # fmt: skip


def measure_claims(url: str, data_dir: Path) -> dict[str, Any]:
    from sqlalchemy import create_engine, text

    _enqueue(url, data_dir, JOBS)
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    processes = [
        context.Process(target=_claimer, args=(url, start, out), daemon=True)
        for _ in range(CLAIMERS)
    ]
    for process in processes:
        process.start()
    time.sleep(3.0)  # every claimer imported and connected before the start
    start.set()
    reports = [out.get(timeout=DEADLINE_S) for _ in processes]
    for process in processes:
        process.join(30)
    ids = [job_id for report in reports for job_id in report["claimed"]]
    engine = create_engine(url)
    with engine.connect() as conn:
        twice = conn.execute(
            text("SELECT count(*) FROM jobs WHERE mode = 'fast' AND attempts > 1")
        ).scalar_one()
        done = conn.execute(
            text("SELECT count(*) FROM jobs WHERE mode = 'fast' AND status = 'done'")
        ).scalar_one()
    engine.dispose()
    seconds = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    return {
        "jobs": JOBS,
        "claimers": CLAIMERS,
        "done": done,
        "seconds": round(seconds, 3),
        "jobs_per_s": round(len(ids) / seconds, 1) if seconds > 0 else None,
        "empty_answers": sum(r["empty"] for r in reports),
        "found_only_locked_jobs": sum(r["locked_only"] for r in reports),
        "double_claims": (len(ids) - len(set(ids))) + twice,
        "per_claimer": [len(r["claimed"]) for r in reports],
    }


def _serving_worker(settings: Any, lanes: list[Any], body: Any) -> tuple[Any, threading.Thread]:
    from db.models import Lane
    from kiosk.queue import worker

    serving = worker.Worker(settings)
    serving.painter = cast(Any, object())  # the bodies below paint nothing
    serving.bodies = {lane: body for lane in Lane}
    thread = threading.Thread(target=serving.serve, args=(lanes,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while serving.listener is None or not serving.listener.connected.is_set():
        if time.monotonic() > deadline:
            raise RuntimeError("the benchmark's worker did not start listening within 30 s")
        time.sleep(0.05)
    return serving, thread


def measure_wakeups(url: str, data_dir: Path) -> dict[str, Any]:
    from db.models import Lane
    from kiosk.queue.worker import FALLBACK_POLL_S

    settings = _settings(data_dir, url)
    began: dict[str, float] = {}
    ran = threading.Condition()

    def body(ctx: Any) -> dict[str, float]:
        with ran:
            began[ctx.job.capture.id] = time.perf_counter()
            ran.notify_all()
        return {"total": 0.0}

    serving, thread = _serving_worker(settings, [Lane.FAST], body)
    latencies = []
    try:
        time.sleep(1.0)  # the lane has looked once and sleeps on its wake-up
        for _ in range(WAKE_SAMPLES):
            time.sleep(WAKE_GAP_S)
            [capture_id] = _enqueue(url, data_dir, 1)
            committed = time.perf_counter()
            with ran:
                if not ran.wait_for(functools.partial(began.__contains__, capture_id), 30):
                    raise RuntimeError("a queued job was not claimed within 30 s")
            latencies.append(began[capture_id] - committed)
    finally:
        serving.stop()
        thread.join(30)
    ms = sorted(1000 * value for value in latencies)
    return {
        "samples": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
        "max_ms": round(ms[-1], 1),
        "fallback_poll_s": FALLBACK_POLL_S,
    }


def measure_idle(url: str, admin_url: str, data_dir: Path) -> dict[str, Any]:
    from sqlalchemy import event

    from db.models import Lane
    from tests.support.postgres import autovacuum, xacts

    settings = _settings(data_dir, url)
    autovacuum(admin_url, on=False)
    serving, thread = _serving_worker(settings, list(Lane), lambda ctx: {"total": 0.0})
    ended = [0]  # transactions the worker's engine ended: the cross-check

    def count(*_args: Any) -> None:
        ended[0] += 1

    event.listen(serving.engine, "commit", count)
    event.listen(serving.engine, "rollback", count)
    dbname = url.rsplit("/", 1)[1]
    try:
        time.sleep(STATS_LAG_S)
        before, own_before = xacts(admin_url, dbname), ended[0]
        time.sleep(IDLE_WINDOW_S)
        after, own_after = xacts(admin_url, dbname), ended[0]
    finally:
        serving.stop()
        thread.join(30)
        autovacuum(admin_url, on=True)
    return {
        "window_s": IDLE_WINDOW_S,
        "transactions": after - before,
        "per_s": round((after - before) / IDLE_WINDOW_S, 2),
        "worker_counted": own_after - own_before,
        "lease_s": settings.worker_lease_s,
        "beat_s": round(serving.beat_s, 2),
        "lanes": [str(lane) for lane in Lane],
    }


def run() -> dict[str, Any]:
    from tests.support.postgres import postgres_server

    with tempfile.TemporaryDirectory(prefix="stylebooth-bench-queue-") as tmp:
        root = Path(tmp)
        with postgres_server(root / "pg") as pg:
            claims = measure_claims(pg.new_database("claims"), root / "claims")
            wake = measure_wakeups(pg.new_database("wake"), root / "wake")
            idle = measure_idle(pg.new_database("idle"), pg.url("postgres"), root / "idle")
    raw = {"claims": claims, "wake": wake, "idle": idle,
           "loadavg": Path("/proc/loadavg").read_text().split()[:3]}  # fmt: skip
    rows = figures(
        (f"PostgreSQL: jobs/s, {CLAIMERS} claiming processes, {JOBS} fast jobs",
         claims["jobs_per_s"], "jobs/s", "≥ 200 (45–105)"),
        ("PostgreSQL: empty answers while a job was claimable", claims["empty_answers"], "",
         "0 (151–174)"),
        ("PostgreSQL: double claims", claims["double_claims"], "", "0"),
        (f"PostgreSQL: NOTIFY wake-up, commit to claim, median of {wake['samples']}",
         wake["median_ms"], "ms", "≤ 50"),
        ("PostgreSQL: NOTIFY wake-up, commit to claim, p95", wake["p95_ms"], "ms", ""),
        (f"PostgreSQL: transactions/s of one idle worker (every lane, {IDLE_WINDOW_S:.0f} s)",
         idle["per_s"], "/s", "≤ 1"),
    )  # fmt: skip
    return {"rows": rows, "raw": raw}


if __name__ == "__main__":
    run_alone(run)
