"""Worker beacons: a live worker is seen, a dead or silent one is not, and is pruned."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from kiosk import beacon


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_live_dead_and_silent_workers(tmp_path) -> None:
    host = socket.gethostname()
    alive, dead, silent = f"{host}:{os.getpid()}", f"{host}:{dead_pid()}", "other-host:7"
    for worker in (alive, dead, silent):
        beacon.beat(tmp_path, worker, device="cpu", busy=1)
    old = beacon.beacon_path(tmp_path, silent)
    record = json.loads(old.read_text())
    old.write_text(json.dumps({**record, "beat_at": record["beat_at"] - 60}))

    seen = beacon.live_workers(tmp_path, stale_after=30)
    assert [w["worker"] for w in seen] == [alive]
    assert seen[0]["device"] == "cpu" and seen[0]["busy"] == 1 and 0 <= seen[0]["seen_s"] < 5
    # Another host's worker counts while it beats: its pid cannot be checked from here.
    assert len(beacon.live_workers(tmp_path, stale_after=120)) == 2

    beacon.prune(tmp_path, stale_after=30)
    assert sorted(p.name for p in (tmp_path / beacon.FOLDER).iterdir()) == [
        beacon.beacon_path(tmp_path, alive).name
    ]
    beacon.clear(tmp_path, alive)
    assert beacon.live_workers(tmp_path, stale_after=30) == []


def test_a_torn_beacon_is_not_a_worker(tmp_path) -> None:
    path = beacon.beacon_path(tmp_path, "host:1")
    path.parent.mkdir(parents=True)
    path.write_text('{"worker": "host:1", "beat')
    assert beacon.live_workers(tmp_path, stale_after=30) == []
