"""Fleet benchmark (issue 13), end to end: 2 booths × 2 workers × 20 guests on PostgreSQL and
S3. "2 booths × 2 workers × 20 guests" is read as 20 guests at *each* booth: 40 in all.

Starts a throwaway PostgreSQL (``tests.support.postgres``: loopback, ``fsync=off``) and a
SeaweedFS S3 server (``tests.support.seaweed``), migrates a fresh database, and starts the
fleet of ``tests.support.fleet`` (the multi-host test's): two booth servers (``serve
--no-worker``, booth ids ``booth-a`` and ``booth-b``) and two render workers, each a real
``stylebooth`` process with a data directory of its own, sharing only the database and one
S3 prefix. The workers are ready (listed on both booths' ``/healthz``) before the first guest;
their first jobs still load the styles' engines, as at a booth that just opened.

Then ``GUESTS_PER_BOOTH`` guests arrive at each booth, one every ``ARRIVAL_GAP_S`` at both
booths at once, and each posts a photo of the shared data kit (``tests.support.jobs.upload``,
as the booth page does: long side 512, photos and styles taken in turn). Each guest polls its
job's state as a booth page without a WebSocket would: every ``FAST_POLL_S`` until the first
picture is there, then every ``DONE_POLL_S`` until the job ends (each guest bounded by
``GUEST_TIMEOUT_S``). Measured, from the upload's 201:

* **first picture**: until the job state's ``fast_url`` is set (median, p95, max);
* **HQ done**: until its status is ``done`` (median, p95, max; to within ``DONE_POLL_S``);
* **all done / lost**: guests whose capture has a done HQ job, and the rest (an upload
  refused, a job failed, or not done in time), read from the database: failed jobs, jobs
  still queued or running at the end, and **double runs** (a job with ``attempts`` > 1: a
  lease that ran out under load, a job claimed twice);
* **throughput**: guests done per minute, first upload to last HQ painting. The guests
  arrive at ``ARRIVAL_PER_MIN`` (30/min), faster than two CPU workers paint at these sizes
  (an HQ job runs about 9 s, two at once on two cores): an event's rush. The throughput is
  then the fleet's capacity, the HQ time includes the wait in the queue, and the first
  pictures show whether the fast lane still goes first with a backlog;
* the jobs each worker ran, per lane (``jobs.worker_id``), and how long the jobs ran (claim
  to finish, by the database's clock: the painting without the wait).

The product's render settings at a size this 2-core CPU gets through in a few minutes
(``RENDER``, ``HQ_OPTIONS``: the sizes are in the results and the rows). Everything is
bounded; every process is stopped (killed after a grace period) and the temporary directory
removed. ``BENCH_FLEET_GUESTS=3`` (guests per booth) makes a smoke run, marked as one.

Run alone: ``python -m benchmarks.bench_fleet``. The CPU may be shared: numbers are noisy.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.run import cpu, figures, loadavg, run_alone
from tests.support.fleet import Fleet

GUESTS_PER_BOOTH = 20
SMOKE_GUESTS = os.environ.get("BENCH_FLEET_GUESTS")  # a smoke run: fewer guests per booth
WORKERS = 2
ARRIVAL_GAP_S = 4.0  # between two guests at one booth; both booths at once
PHOTOS = ("hiker.jpg", "seaside.jpg", "booth_group.jpg", "astronaut.png")
STYLES = ("starry_night", "the_scream", "great_wave")
RENDER = {"fast_size": 384, "hq_size": 256, "hq_budget_s": 8}
HQ_OPTIONS = {"steps": 20}
FAST_POLL_S = 0.1
DONE_POLL_S = 0.5
REQUEST_TIMEOUT_S = 30.0
GUEST_TIMEOUT_S = 600.0  # upload to the job's end, one guest
END = frozenset({"done", "failed", "cancelled"})
ARRIVAL_PER_MIN = 60.0 / ARRIVAL_GAP_S * 2  # both booths


def guests_per_booth() -> int:
    return int(SMOKE_GUESTS) if SMOKE_GUESTS else GUESTS_PER_BOOTH


async def guest(client: aiohttp.ClientSession, photo: str, style: str) -> dict[str, Any]:
    """One guest: the photo posted, then the job's state polled until it ends (bounded)."""
    from tests.support.jobs import upload

    record: dict[str, Any] = {"photo": photo, "style": style, "error": None, "polls": 0,
                              "capture_id": None, "first_picture_s": None, "hq_done_s": None,
                              "status": None}  # fmt: skip
    sent = time.perf_counter()
    record["sent"] = sent
    try:
        created = await upload(client, photo, style=style)
    except (AssertionError, aiohttp.ClientError, TimeoutError) as exc:
        record["error"] = f"the upload was not accepted: {exc!r}"
        return record
    accepted = time.perf_counter()
    record.update(capture_id=created["capture_id"], upload_s=round(accepted - sent, 3))
    deadline = accepted + GUEST_TIMEOUT_S
    while time.perf_counter() < deadline:
        try:
            async with client.get(f"/api/jobs/{created['job_id']}") as response:
                state = await response.json() if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            record["error"] = f"a poll failed: {exc!r}"  # kept if the job never ends
            state = None
        record["polls"] += 1
        now = time.perf_counter() - accepted
        if state is not None:
            if state["fast_url"] and record["first_picture_s"] is None:
                record["first_picture_s"] = round(now, 3)
            if state["status"] in END:
                record.update(status=state["status"], error=state["error"])
                if state["status"] == "done":
                    record["hq_done_s"] = round(now, 3)
                    record["done_at"] = time.perf_counter()
                return record
        await asyncio.sleep(FAST_POLL_S if record["first_picture_s"] is None else DONE_POLL_S)
    record["error"] = f"the job did not end within {GUEST_TIMEOUT_S:.0f} s of the upload"
    return record


async def booth_queue(client: aiohttp.ClientSession, index: int, start: float) -> list[Any]:
    """A booth's guests, arriving one every ``ARRIVAL_GAP_S`` from ``start``."""
    tasks = []
    for n in range(guests_per_booth()):
        await asyncio.sleep(max(0.0, start + n * ARRIVAL_GAP_S - time.perf_counter()))
        photo, style = PHOTOS[(n + index) % len(PHOTOS)], STYLES[n % len(STYLES)]
        tasks.append(asyncio.create_task(guest(client, photo, style)))
    return list(await asyncio.gather(*tasks))


async def watch(fleet: Fleet) -> None:
    """Raise (with the hosts' logs) as soon as a host's process exits."""
    while True:
        fleet.check_alive("the guests were served")
        await asyncio.sleep(1.0)


async def serve_guests(fleet: Fleet) -> dict[str, Any]:
    from tests.support.fleet import wait_for_workers

    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    clients = {booth: aiohttp.ClientSession(fleet.base_url(booth), timeout=timeout)
               for booth in fleet.servers}  # fmt: skip
    try:
        began = time.perf_counter()
        await wait_for_workers(fleet, clients)
        ready_s = time.perf_counter() - began
        start = time.perf_counter() + 0.5
        queues: asyncio.Future[list[list[Any]]] = asyncio.gather(
            *(booth_queue(client, i, start) for i, client in enumerate(clients.values()))
        )
        watchdog: asyncio.Future[None] = asyncio.create_task(watch(fleet))
        limit = guests_per_booth() * ARRIVAL_GAP_S + GUEST_TIMEOUT_S + 60
        either: set[asyncio.Future[Any]] = {queues, watchdog}
        done, _ = await asyncio.wait(either, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        watchdog.cancel()
        if queues not in done:
            queues.cancel()
            await asyncio.gather(queues, return_exceptions=True)  # its cancellation seen out
            if watchdog in done:
                watchdog.result()  # a host died: its error, with the logs
            raise RuntimeError(f"the guests were not served within {limit:.0f} s")
        by_booth = dict(zip(clients, queues.result(), strict=True))
    finally:
        for client in clients.values():
            await client.close()
    return {"ready_s": round(ready_s, 1), "start": start, "by_booth": by_booth}


JOBS = """SELECT c.id, c.booth_id, j.mode, j.status, j.attempts, w.pid,
EXTRACT(EPOCH FROM j.finished_at - j.started_at)
FROM jobs j JOIN captures c ON c.id = j.capture_id LEFT JOIN workers w ON w.id = j.worker_id"""


def database_counts(url: str, fleet: Fleet, capture_ids: set[str]) -> dict[str, Any]:
    """What the shared database says (read while the workers are alive: a stopped worker's
    row goes, and its jobs' ``worker_id`` with it)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(JOBS)).all()
    finally:
        engine.dispose()
    per_worker: dict[str, dict[str, int]] = {}
    for _capture, _booth, mode, _status, _attempts, pid, _seconds in rows:
        name = fleet.host_of(pid) if pid is not None else None
        lanes = per_worker.setdefault(name or "none", {})
        lanes[mode] = lanes.get(mode, 0) + 1
    hq_done = {row[0] for row in rows if row[2] == "hq" and row[3] == "done"}
    return {
        "captures": len({row[0] for row in rows}),
        "captures_of_the_guests": len(capture_ids & {row[0] for row in rows}),
        "hq_done": len(hq_done & capture_ids),
        "failed": sum(row[3] == "failed" for row in rows),
        "cancelled": sum(row[3] == "cancelled" for row in rows),
        "still_queued_or_running": sum(row[3] in {"queued", "running"} for row in rows),
        "double_runs": sum(row[4] > 1 for row in rows),
        "jobs_per_worker": per_worker,
        # claim to finish (the last run's), by the database's clock: the painting, not the wait
        "ran_s": {
            lane: spread([float(r[6]) for r in rows if r[2] == lane and r[6] is not None])
            for lane in ("fast", "hq")
        },
    }


def spread(values: list[float]) -> dict[str, float | None]:
    """Median, p95 and max (None when there are none)."""
    if not values:
        return {"median": None, "p95": None, "max": None}
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 2),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
            "max": round(ordered[-1], 2)}  # fmt: skip


def measure(root: Path) -> dict[str, Any]:
    from render.models import ModelStore
    from tests.support.fleet import running_fleet
    from tests.support.paths import MODEL_DIR
    from tests.support.postgres import postgres_server
    from tests.support.seaweed import seaweed_server

    models = ModelStore(MODEL_DIR)
    models.fetch_all()  # present already after `make models`; fetched otherwise
    with postgres_server(root / "pg") as pg, seaweed_server(root / "s3") as s3:
        bucket = s3.new_bucket("fleet")
        shared = {"database_url": pg.new_database("fleet", migrated=False),
                  "storage_url": f"s3://{bucket}/bench"}  # fmt: skip
        hosts = root / "hosts"
        with running_fleet(
            hosts,
            shared,
            models.root,
            settings=RENDER,
            hq_options=HQ_OPTIONS,
            env=s3.env(),
            workers=WORKERS,
        ) as fleet:
            served = asyncio.run(serve_guests(fleet))
            guests = [g for booth in served["by_booth"].values() for g in booth]
            ids = {g["capture_id"] for g in guests if g["capture_id"]}
            counts = database_counts(shared["database_url"], fleet, ids)
    return {**served, "guests": guests, "database": counts}


def run() -> dict[str, Any]:
    before = loadavg()
    with tempfile.TemporaryDirectory(prefix="stylebooth-bench-fleet-") as tmp:
        measured = measure(Path(tmp))
    guests, counts = measured["guests"], measured["database"]
    total = len(guests)
    done = [g for g in guests if g["status"] == "done"]
    first = spread([g["first_picture_s"] for g in guests if g["first_picture_s"] is not None])
    hq = spread([g["hq_done_s"] for g in done])
    upload_s = spread([g["upload_s"] for g in guests if g.get("upload_s") is not None])
    span = max((g["done_at"] for g in done), default=0.0) - min(g["sent"] for g in guests)
    per_min = round(len(done) / span * 60, 1) if done and span > 0 else None
    lost = total - counts["hq_done"]
    per_booth = {
        booth: spread([g["first_picture_s"] for g in group if g["first_picture_s"] is not None])
        for booth, group in measured["by_booth"].items()
    }
    size = f"fast {RENDER['fast_size']} px, HQ {RENDER['hq_size']} px ≤ {RENDER['hq_budget_s']} s"
    label = f"{len(measured['by_booth'])} booths × {WORKERS} workers × {guests_per_booth()} guests"
    raw = {
        "smoke": bool(SMOKE_GUESTS),
        "guests_per_booth": guests_per_booth(),
        "arrival_gap_s": ARRIVAL_GAP_S,
        "arrival_per_min": ARRIVAL_PER_MIN,
        "render": RENDER,
        "hq_options": HQ_OPTIONS,
        "fleet_ready_s": measured["ready_s"],
        "guests": total,
        "done": len(done),
        "lost": lost,
        "first_picture_s": first,
        "first_picture_s_per_booth": per_booth,
        "hq_done_s": hq,
        "upload_s": upload_s,
        "guests_per_min": per_min,
        "span_s": round(span, 1),
        "database": counts,
        "errors": [g["error"] for g in guests if g["error"] and g["status"] != "done"],
        "polls": sum(g["polls"] for g in guests),
        "machine": {**cpu(), "loadavg_before": before, "loadavg_after": loadavg()},
    }
    smoke = " (SMOKE RUN)" if SMOKE_GUESTS else ""
    rows = figures(
        (f"{label} ({size}){smoke}: all done (of {total})", counts["hq_done"], "", str(total)),
        ("… lost (no done HQ painting)", lost, "", "0"),
        ("… double runs (a job run more than once)", counts["double_runs"], "", "0"),
        ("… upload → first picture, median", first["median"], "s", ""),
        ("… upload → first picture, p95", first["p95"], "s", ""),
        ("… upload → HQ painting done, median", hq["median"], "s", ""),
        (f"… guests/minute (arriving at {ARRIVAL_PER_MIN:.0f}/min)", per_min, "/min", ""),
    )  # fmt: skip
    return {"rows": rows, "raw": raw}


if __name__ == "__main__":
    run_alone(run)
