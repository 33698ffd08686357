"""Worker liveness: each render worker keeps a small JSON file fresh in the data directory.

A worker that is idle writes no job rows, so the database alone cannot tell a quiet booth
from one with no worker. ``/healthz`` reads the beacons; a worker removes its own when it
stops, and a beacon whose worker died is ignored, then pruned by the next worker.

The beacon also carries what the worker found about its device (type, name, bfloat16, torch
version), so the server can report it without ever importing torch itself. A worker started
by ``stylebooth serve`` names its server (``parent``): when that server is gone, the worker is
not counted, even in the moment before it notices and exits. A worker that fails to start
leaves its error in ``<id>.fatal`` for the server's supervisor to read and show.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kiosk.jobs import process_gone
from kiosk.storage import write_atomic

FOLDER = "workers"
FATAL_SUFFIX = ".fatal"
FATAL_KEEP_S = 24 * 3600  # an unread fatal note (a worker run by hand) is pruned after a day
LIVE_CACHE_S = 1.0  # the job status asks on every poll; the folder is read once a second

_live_cache: dict[tuple[str, float], tuple[float, bool]] = {}


def _safe_name(worker_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", worker_id)


def beacon_path(data_dir: Path, worker_id: str) -> Path:
    return data_dir / FOLDER / (_safe_name(worker_id) + ".json")


def fatal_path(data_dir: Path, worker_id: str) -> Path:
    return data_dir / FOLDER / (_safe_name(worker_id) + FATAL_SUFFIX)


def beat(
    data_dir: Path,
    worker_id: str,
    *,
    device: str,
    busy: int,
    parent: str | None = None,
    info: dict[str, Any] | None = None,
) -> None:
    """Say this worker is alive now, on ``device``, with ``busy`` jobs in hand; ``parent`` is
    the supervising server's id (``host:pid``), ``info`` more about the device."""
    record: dict[str, Any] = {
        **(info or {}),
        "worker": worker_id,
        "device": device,
        "busy": busy,
        "beat_at": time.time(),
    }
    if parent is not None:
        record["parent"] = parent
    write_atomic(beacon_path(data_dir, worker_id), json.dumps(record).encode())


def clear(data_dir: Path, worker_id: str) -> None:
    beacon_path(data_dir, worker_id).unlink(missing_ok=True)


def write_fatal(data_dir: Path, worker_id: str, message: str) -> None:
    """Leave the reason this worker could not run, for its supervisor (best effort)."""
    with contextlib.suppress(OSError):  # a full disk: the exit code still says it failed
        write_atomic(fatal_path(data_dir, worker_id), message.encode())


def take_fatal(data_dir: Path, worker_id: str) -> str | None:
    """Read and remove the fatal note a worker left, if any."""
    path = fatal_path(data_dir, worker_id)
    try:
        message = path.read_text(errors="replace").strip()
    except OSError:
        return None
    path.unlink(missing_ok=True)
    return message or None


def _records(data_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted((data_dir / FOLDER).glob("*.json")):
        try:
            found.append((path, json.loads(path.read_text())))
        except (OSError, ValueError):
            continue  # being replaced right now, or unreadable: not evidence of life
    return found


def _alive(record: dict[str, Any], stale_after: float, now: float) -> bool:
    age = now - float(record.get("beat_at", 0))
    if age > stale_after or process_gone(record.get("worker")):
        return False
    # An orphan of a killed server: it exits on its own (PR_SET_PDEATHSIG), never counted.
    return not process_gone(record.get("parent"))


def live_workers(data_dir: Path, stale_after: float) -> list[dict[str, Any]]:
    """The workers that beat within ``stale_after`` seconds, each with ``seen_s`` ago."""
    now = time.time()
    return [
        {**record, "seen_s": round(now - float(record["beat_at"]), 1)}
        for _, record in _records(data_dir)
        if _alive(record, stale_after, now)
    ]


async def any_alive(
    data_dir: Path,
    stale_after: float,
    run: Callable[..., Awaitable[Any]] | None = None,
) -> bool:
    """Whether a live worker exists, read at most once a second, off the event loop (through
    ``run``: the server passes its I/O pool, so a full default pool cannot hang a status)."""
    key = (str(data_dir), stale_after)
    now = time.monotonic()
    cached = _live_cache.get(key)
    if cached is not None and now - cached[0] < LIVE_CACHE_S:
        return cached[1]
    alive = bool(await (run or asyncio.to_thread)(live_workers, data_dir, stale_after))
    _live_cache[key] = (time.monotonic(), alive)
    return alive


def prune(data_dir: Path, stale_after: float) -> None:
    """Remove the beacons of workers that are gone (and fatal notes nobody read)."""
    now = time.time()
    for path, record in _records(data_dir):
        if not _alive(record, stale_after, now):
            path.unlink(missing_ok=True)
    for path in (data_dir / FOLDER).glob("*" + FATAL_SUFFIX):
        try:
            if now - path.stat().st_mtime > FATAL_KEEP_S:
                path.unlink(missing_ok=True)
        except OSError:
            continue
