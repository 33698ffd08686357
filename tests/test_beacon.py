"""Worker beacons: a live worker is seen, a dead or silent one is not, and is pruned."""

from __future__ import annotations

import asyncio
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


def test_an_orphaned_workers_beacon_is_not_counted(tmp_path) -> None:
    """A worker whose supervising server died is not counted (nor kept), even while its own
    process lingers for the moment before it notices."""
    host = socket.gethostname()
    alive = f"{host}:{os.getpid()}"
    beacon.beat(tmp_path, alive, device="cpu", busy=0, parent=f"{host}:{dead_pid()}")
    assert beacon.live_workers(tmp_path, stale_after=30) == []
    beacon.prune(tmp_path, stale_after=30)
    assert not beacon.beacon_path(tmp_path, alive).exists()

    beacon.beat(tmp_path, alive, device="cpu", busy=0, parent=f"{host}:{os.getppid()}")
    [seen] = beacon.live_workers(tmp_path, stale_after=30)
    assert seen["parent"] == f"{host}:{os.getppid()}"


def test_the_beacon_carries_the_device_the_worker_measured(tmp_path) -> None:
    info = {"device_name": "NVIDIA H200", "bf16": True, "torch": "2.5.1"}
    beacon.beat(tmp_path, f"{socket.gethostname()}:{os.getpid()}", device="cuda", busy=0, info=info)
    [seen] = beacon.live_workers(tmp_path, stale_after=30)
    assert {key: seen[key] for key in info} == info and seen["device"] == "cuda"


def test_a_fatal_note_is_read_once_and_is_not_a_worker(tmp_path) -> None:
    worker = f"{socket.gethostname()}:{os.getpid()}"
    beacon.write_fatal(tmp_path, worker, "model missing: vgg19")
    assert beacon.live_workers(tmp_path, stale_after=30) == []
    assert beacon.take_fatal(tmp_path, worker) == "model missing: vgg19"
    assert beacon.take_fatal(tmp_path, worker) is None


async def test_any_alive_reads_the_folder_at_most_once_a_second(tmp_path) -> None:
    worker = f"{socket.gethostname()}:{os.getpid()}"
    assert await beacon.any_alive(tmp_path, 30) is False
    beacon.beat(tmp_path, worker, device="cpu", busy=0)
    assert await beacon.any_alive(tmp_path, 30) is False  # cached
    await asyncio.sleep(beacon.LIVE_CACHE_S + 0.1)
    assert await beacon.any_alive(tmp_path, 30) is True
