"""``GET /healthz``: what an operator or a monitor needs to know at a glance.

Always HTTP 200 while the server answers; ``status`` is ``ok`` or ``degraded`` and
``problems`` says why in words: a model missing or damaged, no render worker alive, the render
worker crash-looping (with its exit code and error), the data disk nearly full, the database
locked or read-only, the export process dead.

``workers`` lists every live render worker of the fleet, from the ``workers`` table that
every host shares (host, device, the ``lanes`` it takes, its ``device_slots``, the ``jobs``
in its hands with their ids cut short, ``seen_s`` since its last beat): a worker on another
GPU host counts as much as the one this server supervises. "No render worker is running"
means none is alive anywhere; a fleet in which no live worker takes one of the lanes says
which lane's jobs wait.

``queue`` counts the jobs queued and running in each lane: ``fast``, ``hq`` and ``print`` (the
orders' print renders, which wait behind the other two), for the whole fleet and, under
``booths``, per booth (``{booth_id: {lane: {queued, running}}}``; ``booth`` names this
server's own).

``network`` says where phones reach the booth (``phones``, the QR codes' base) and its own
``problems`` with their fixes (bound to loopback only, no network address…: kiosk/network.py).

The checks that touch the disk or the database are cheap and cached for ``PROBE_TTL_S``, so a
monitor polling every second costs the booth one probe every two seconds. The device (type,
name, bfloat16, torch version) comes from the render workers' rows in the ``workers`` table:
the server process never imports torch (importing it on the event loop stalled the server
7.5 s).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from db.models import Lane
from kiosk import __version__
from kiosk.config import Settings
from kiosk.dbio import run_db
from kiosk.diskspace import low_disk
from kiosk.keys import EXPORT_POOL, LINKS, MODELS, SETTINGS
from kiosk.network import reachability
from kiosk.queue import manager
from kiosk.supervisor import SUPERVISOR

log = logging.getLogger("stylebooth.server")

PROBE_TTL_S = 2.0
DB_PROBE_TIMEOUT_S = 1.0  # a database locked longer than this is reported as locked
DEVICE_KEYS = ("device", "device_name", "bf16", "torch")
NO_WORKER = "no render worker is running anywhere in the fleet: renders wait in the queue"
LANE_WORDS = {Lane.FAST.value: "first pictures (fast)", Lane.HQ.value: "paintings (hq)",
              Lane.PRINT.value: "print renders (print)"}  # fmt: skip


def database_problem(engine: Engine) -> str | None:
    """Try to take the database's write lock, changing nothing; a sentence when it cannot.

    ``UPDATE … WHERE 0`` needs the same lock as a guest's capture, so a database another
    program holds locked, a read-only file or a full disk fail here the way they would fail a
    guest, without writing a row.
    """
    try:
        with engine.connect() as connection:
            try:
                connection.execute(text("UPDATE jobs SET id = id WHERE 0 = 1"))
            finally:
                connection.rollback()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        lowered = reason.lower()
        if "locked" in lowered or "busy" in lowered:
            return (
                f"the database is locked by another program ({reason}): new photos and "
                "renders wait until it is released"
            )
        if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
            return (
                f"the database is read-only ({reason}): the booth cannot save new photos; "
                "check the data directory's disk and permissions"
            )
        return f"the database cannot be written ({reason}): the booth cannot save new photos"
    return None


def probe_engine(db_url: str) -> Engine:
    """An engine for the probe alone: a short busy timeout, no pooled connection kept."""
    sqlite = db_url.startswith("sqlite")
    return create_engine(
        db_url,
        poolclass=NullPool,
        connect_args={"timeout": DB_PROBE_TIMEOUT_S} if sqlite else {},
    )


class Probes:
    """The disk and database checks, run at most once per ``PROBE_TTL_S``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self._checked_at = float("-inf")
        self._problems: list[str] = []
        self._lock = asyncio.Lock()

    def _run(self) -> list[str]:
        problems = []
        try:
            disk = low_disk(self.settings)
        except OSError as exc:
            disk = f"the data directory cannot be checked ({exc})"
        if disk:
            problems.append(disk)
        if self._engine is None:
            self._engine = probe_engine(self.settings.db_url)
        database = database_problem(self._engine)
        if database:
            problems.append(database)
        return problems

    async def problems(self) -> list[str]:
        async with self._lock:  # concurrent /healthz calls share one probe
            if time.monotonic() - self._checked_at >= PROBE_TTL_S:
                self._problems = await asyncio.to_thread(self._run)
                self._checked_at = time.monotonic()
            return list(self._problems)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


PROBES = web.AppKey("probes", Probes)


def lanes_of(worker: dict[str, Any]) -> set[str]:
    """The lanes a live worker takes (a row written before workers named them: all)."""
    lanes = worker.get("lanes")
    return set(lanes) if isinstance(lanes, list) else {lane.value for lane in Lane}


def fleet_problems(workers: list[dict[str, Any]] | None, crashing: str | None) -> list[str]:
    """What the fleet's live workers leave undone, in words. ``workers`` None: the table
    could not be read (the database problem says why; no guess about the workers)."""
    if workers is None:
        return []
    if not workers:
        # This server's own worker crash-looping says more than "none runs".
        return [] if crashing else [NO_WORKER]
    taken = set().union(*(lanes_of(worker) for worker in workers))
    return [
        f"no live render worker takes {LANE_WORDS[lane]}: they wait in the queue "
        f"(set worker_lanes on a render host to include {lane})"
        for lane in LANE_WORDS
        if lane not in taken
    ]


def device_report(workers: list[dict[str, Any]]) -> dict[str, Any]:
    """The device as the first live worker measured it (None before any worker has run)."""
    first = workers[0] if workers else {}
    return {key: first.get(key) for key in DEVICE_KEYS}


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    settings = app[SETTINGS]
    models = await asyncio.to_thread(app[MODELS].status)  # hashes files on first call
    problems = [f"model missing or damaged: {name}" for name, ok in models.items() if not ok]
    workers: list[dict[str, Any]] | None
    try:
        workers = await run_db(request, manager.live_workers, settings.worker_lease_s)
    except Exception as exc:  # a locked database must not turn the health page into an error
        log.warning("/healthz: the workers could not be read: %s", exc)
        workers = None
    supervisor = app.get(SUPERVISOR)
    crashing = supervisor.problem() if supervisor is not None else None
    if crashing:
        problems.append(crashing)
    problems += fleet_problems(workers, crashing)
    probes = app.get(PROBES)
    if probes is not None:
        problems += await probes.problems()
    exports = app[EXPORT_POOL].problem()
    if exports:
        problems.append(exports)
    try:
        queue: dict[str, Any] | None = await run_db(request, manager.queue_counts)
    except Exception as exc:  # a locked database must not turn the health page into an error
        log.warning("/healthz: the queue could not be read: %s", exc)
        queue = None
        if not any("database" in problem for problem in problems):
            problems.append(f"the job queue cannot be read ({exc})")
    body: dict[str, Any] = {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "version": __version__,
        "booth": settings.booth_id,
        **device_report(workers or []),
        "models": models,
        "workers": workers or [],
        "queue": queue,
    }
    if supervisor is not None:
        body["supervisor"] = supervisor.report()
    body["network"] = network_report(settings, app[LINKS].public_base)
    return web.json_response(body)


def network_report(settings: Settings, serving: str) -> dict[str, Any]:
    """Where phones reach the booth and what stands in their way (kiosk/network.py). Kept
    out of ``problems``: a booth on loopback serves its own screen well (``make run``, a
    kiosk behind a proxy), so it is not degraded; the operator page and the startup banner
    show these, and ``stylebooth doctor`` fails on them."""
    reach = reachability(settings, serving=serving)
    return {
        "phones": reach.phone_base,
        "problems": [f"{problem.what}: {problem.fix}" for problem in reach.problems],
    }
