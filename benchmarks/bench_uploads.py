"""Upload bounds benchmark: the real server (``stylebooth serve --no-worker``) in a subprocess
on loopback, attacked the ways issue 10 found, its memory read from ``/proc/<pid>/status``.

* 30 aborted uploads: each declares a 19 MB body, sends 8 MB of its photo and closes (three at
  a time, under the upload cap). Before the fix they held 642 MB until a full GC.
* 12 concurrent large photos (6000×4000, 24 MP, what a camera makes) while a client polls
  ``/healthz`` every 100 ms. Before the fix (49 MP): every request stalled 9.6 s, 2.6 GB.

Bounded loops, loopback only. ``BENCH_ROOT=/path/to/checkout`` runs another checkout's server
with the same load (for a before/after).
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from benchmarks.run import figures, run_alone

ROOT = Path(__file__).resolve().parent.parent
SERVER_ROOT = Path(os.environ.get("BENCH_ROOT", ROOT))
SHARED = Path(os.environ.get("STYLEBOOTH_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODEL_DIR = Path(os.environ.get("STYLEBOOTH_MODEL_DIR", ROOT / "data" / "models"))
BOUNDARY = "benchboundary"
ABORTED = 30
ABORTED_AT_ONCE = 3
DECLARED_MB, SENT_MB = 19, 8
LARGE = 12
LARGE_SIZE = (6000, 4000)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def photo(size: tuple[int, int] | None, quality: int = 90) -> bytes:
    image = Image.open(SHARED / "people" / "booth_group.jpg").convert("RGB")
    if size is None:
        image.thumbnail((1280, 1280))
    else:
        image = image.resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def form(data: bytes) -> aiohttp.FormData:
    fields = aiohttp.FormData()
    fields.add_field("style", "starry_night")
    fields.add_field("scene", "own")
    fields.add_field("source", "camera")
    fields.add_field("photo", data, filename="photo.jpg", content_type="image/jpeg")
    return fields


def aborted_upload(port: int) -> str:
    """Declare a large body, send part of it, close: what a guest walking away looks like."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photo"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    length = DECLARED_MB * 1024 * 1024
    request = (
        "POST /api/captures HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    chunk = bytes(range(256)) * 1024  # 256 KB
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(request + head)
            for _ in range(SENT_MB * 4):
                sock.sendall(chunk)
        return "aborted"
    except OSError:  # the server answered (503, 413) and closed first
        return "refused"


async def measure(base: str, pid: int, port: int) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    small, large = photo(None), photo(LARGE_SIZE)
    raw["large_photo_mb"] = len(large) / 1024 / 1024
    async with aiohttp.ClientSession() as http:
        for _ in range(2):  # warm-up: codecs, database, the spool folder
            async with http.post(f"{base}/api/captures", data=form(small)) as response:
                assert response.status == 201, await response.text()
        await asyncio.sleep(1.0)
        raw["rss_rest_mb"] = rss_mb(pid)

        outcomes: list[str] = []
        for _ in range(ABORTED // ABORTED_AT_ONCE):
            outcomes += await asyncio.gather(
                *(asyncio.to_thread(aborted_upload, port) for _ in range(ABORTED_AT_ONCE))
            )
        await asyncio.sleep(2.0)
        raw["aborted"] = {kind: outcomes.count(kind) for kind in sorted(set(outcomes))}
        raw["rss_after_aborted_mb"] = rss_mb(pid)

        health: list[float] = []
        samples: list[float] = []
        stop = asyncio.Event()

        async def poll_health() -> None:
            while not stop.is_set():
                began = time.perf_counter()
                async with http.get(f"{base}/healthz") as response:
                    await response.read()
                health.append(time.perf_counter() - began)
                await asyncio.sleep(0.1)

        async def sample_rss() -> None:
            while not stop.is_set():
                samples.append(rss_mb(pid))
                await asyncio.sleep(0.05)

        async def post_large() -> int:
            async with (
                aiohttp.ClientSession() as own,  # its own connection, like a client
                own.post(f"{base}/api/captures", data=form(large)) as response,
            ):
                await response.read()
                return response.status

        watchers = [asyncio.create_task(poll_health()), asyncio.create_task(sample_rss())]
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        statuses = await asyncio.gather(*(post_large() for _ in range(LARGE)))
        raw["large_all_answered_s"] = time.perf_counter() - started
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*watchers)
        raw["large_statuses"] = {str(s): statuses.count(s) for s in sorted(set(statuses))}
        raw["rss_peak_large_mb"] = max(samples)
        await asyncio.sleep(1.0)
        raw["rss_after_large_mb"] = rss_mb(pid)
        raw["rss_high_water_mb"] = rss_mb(pid, "VmHWM")
        raw["healthz_ms"] = {
            "median": 1000 * statistics.median(health),
            "worst": 1000 * max(health),
            "count": len(health),
        }
    return raw


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="stylebooth-bench-uploads-") as tmp:
        port = free_port()
        env = dict(
            os.environ,
            STYLEBOOTH_DATA_DIR=str(Path(tmp) / "data"),
            STYLEBOOTH_MODEL_DIR=str(MODEL_DIR),
            STYLEBOOTH_MIN_FREE_MB="1",
            STYLEBOOTH_LOG_LEVEL="WARNING",
            PYTHONPATH=str(SERVER_ROOT),
        )
        command = [sys.executable, "-m", "kiosk", "serve", "--no-worker", "--port", str(port)]
        server = subprocess.Popen(command, cwd=SERVER_ROOT, env=env, stderr=subprocess.PIPE)
        assert server.stderr is not None  # stderr=PIPE
        errors: list[bytes] = []
        stderr = server.stderr
        threading.Thread(target=lambda: errors.extend(stderr), daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                assert server.poll() is None, b"".join(errors).decode()[-2000:]
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    assert time.monotonic() < deadline, "the server never started"
                    time.sleep(0.2)
            raw = asyncio.run(measure(base, server.pid, port))
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    raw["server_root"] = str(SERVER_ROOT)
    raw["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    statuses = raw["large_statuses"]
    stored_busy = f"{statuses.get('201', 0)} / {statuses.get('503', 0)}"
    aborted = f"{ABORTED} aborted uploads ({SENT_MB} of {DECLARED_MB} MB sent)"
    rows = figures(
        ("server RSS at rest (after 2 uploads)", raw["rss_rest_mb"], "MB", ""),
        (
            f"server RSS after {aborted}",
            raw["rss_after_aborted_mb"],
            "MB",
            "≤ rest + 100 (was 642 MB)",
        ),
        (
            f"server RSS peak during {LARGE} concurrent 24 MP photos",
            raw["rss_peak_large_mb"],
            "MB",
            "≤ 1000 (was 2.6 GB)",
        ),
        (f"server RSS after the {LARGE} photos", raw["rss_after_large_mb"], "MB", ""),
        (
            f"{LARGE} concurrent 24 MP photos: stored / busy (503)",
            stored_busy,
            "",
            "the rest 503 at once",
        ),
        (f"all {LARGE} answered in", raw["large_all_answered_s"], "s", ""),
        ("/healthz meanwhile, median", raw["healthz_ms"]["median"], "ms", ""),
        ("/healthz meanwhile, worst", raw["healthz_ms"]["worst"], "ms", "≪ 9.6 s (before)"),
    )
    return {"rows": rows, "raw": raw}


if __name__ == "__main__":
    run_alone(run)
