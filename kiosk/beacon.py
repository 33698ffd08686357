"""Worker liveness: each render worker keeps a small JSON file fresh in the data directory.

A worker that is idle writes no job rows, so the database alone cannot tell a quiet booth
from one with no worker. ``/healthz`` reads the beacons; a worker removes its own when it
stops, and a beacon whose worker died is ignored, then pruned by the next worker.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from kiosk.jobs import process_gone
from kiosk.storage import write_atomic

FOLDER = "workers"


def beacon_path(data_dir: Path, worker_id: str) -> Path:
    return data_dir / FOLDER / (re.sub(r"[^A-Za-z0-9_.-]", "_", worker_id) + ".json")


def beat(data_dir: Path, worker_id: str, *, device: str, busy: int) -> None:
    """Say this worker is alive now, on ``device``, with ``busy`` jobs in hand."""
    record = {"worker": worker_id, "device": device, "busy": busy, "beat_at": time.time()}
    write_atomic(beacon_path(data_dir, worker_id), json.dumps(record).encode())


def clear(data_dir: Path, worker_id: str) -> None:
    beacon_path(data_dir, worker_id).unlink(missing_ok=True)


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
    return age <= stale_after and not process_gone(record.get("worker"))


def live_workers(data_dir: Path, stale_after: float) -> list[dict[str, Any]]:
    """The workers that beat within ``stale_after`` seconds, each with ``seen_s`` ago."""
    now = time.time()
    return [
        {**record, "seen_s": round(now - float(record["beat_at"]), 1)}
        for _, record in _records(data_dir)
        if _alive(record, stale_after, now)
    ]


def prune(data_dir: Path, stale_after: float) -> None:
    """Remove the beacons of workers that are gone."""
    now = time.time()
    for path, record in _records(data_dir):
        if not _alive(record, stale_after, now):
            path.unlink(missing_ok=True)
