"""Job WebSocket fan-out benchmark: how much do open job sockets slow the server down?

Starts the real server (``python -m kiosk serve --no-worker``) as a subprocess on loopback,
creates jobs (no render worker, so they stay queued: their pollers run at the fastest pace,
50 ms, the worst case), and measures the median ``GET /healthz`` time with

* no job socket open,
* 100 sockets on one job (``max_job_sockets`` raised to 100 for the run; one poller serves
  them all),
* 100 sockets over 25 jobs, 4 each (25 pollers, slowed to the shared read budget).

Before the fan-out each socket polled the database on its own: 100 sockets on one job took
``/healthz`` from 9 ms to 930 ms. Everything is bounded (request counts, deadlines).

Run alone: ``python -m benchmarks.bench_sockets``. The CPU may be shared: numbers are noisy.
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
import time
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from benchmarks.run import figures, run_alone

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = Path(os.environ.get("STYLEBOOTH_SHARED_DATA", ROOT.parent / "shared" / "data")) / "people"
MODEL_DIR = Path(os.environ.get("STYLEBOOTH_MODEL_DIR", ROOT / "data" / "models"))
SOCKETS = 100
SPREAD_JOBS = 25  # the second layout: SOCKETS over this many jobs
SAMPLES = 40  # /healthz requests per measurement, one after another
SETTLE_S = 1.0  # after the sockets are open, before measuring
START_TIMEOUT_S = 90.0
STEP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def small_photo() -> bytes:
    image = Image.open(PEOPLE / "hiker.jpg").convert("RGB")
    image.thumbnail((320, 320))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


async def wait_ready(http: aiohttp.ClientSession, base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            async with http.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the server did not answer /healthz within {START_TIMEOUT_S} s")


async def new_job(http: aiohttp.ClientSession, base: str, photo: bytes) -> str:
    data = aiohttp.FormData()
    data.add_field("style", "starry_night")
    data.add_field("scene", "own")
    data.add_field("source", "camera")
    data.add_field("photo", photo, filename="photo.jpg", content_type="image/jpeg")
    async with http.post(f"{base}/api/captures", data=data) as response:
        assert response.status == 201, await response.text()
        return (await response.json())["job_id"]


async def healthz_median(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    times = []
    for _ in range(SAMPLES):
        began = time.perf_counter()
        async with http.get(f"{base}/healthz") as response:
            await response.read()
            assert response.status == 200
        times.append(time.perf_counter() - began)
    times.sort()
    return {
        "median_ms": 1000 * statistics.median(times),
        "p90_ms": 1000 * times[int(len(times) * 0.9)],
    }


async def with_sockets(
    http: aiohttp.ClientSession, base: str, job_ids: list[str]
) -> dict[str, float]:
    """Open one socket per entry of ``job_ids``, each reading what it is sent, then measure."""
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    received = 0

    async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
        nonlocal received
        async for _message in ws:
            received += 1

    readers = []
    try:
        for job_id in job_ids:
            ws = await asyncio.wait_for(
                http.ws_connect(f"{base}/api/jobs/{job_id}/ws", heartbeat=None), STEP_TIMEOUT_S
            )
            sockets.append(ws)
            readers.append(asyncio.create_task(read(ws)))
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while received < len(job_ids) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # every socket has its first state
        await asyncio.sleep(SETTLE_S)
        result = await healthz_median(http, base)
        result["sockets_open"] = sum(not ws.closed for ws in sockets)
        return result
    finally:
        for ws in sockets:
            await ws.close()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


async def measure(data_dir: Path) -> dict[str, Any]:
    port = free_port()
    env = {
        **os.environ,
        "STYLEBOOTH_DATA_DIR": str(data_dir),
        "STYLEBOOTH_MODEL_DIR": str(MODEL_DIR),
        "STYLEBOOTH_MAX_JOB_SOCKETS": str(SOCKETS),  # to put all 100 on one job
        "STYLEBOOTH_LOG_LEVEL": "WARNING",
    }
    env.pop("STYLEBOOTH_CONFIG", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "serve", "--no-worker", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    raw: dict[str, Any] = {"sockets": SOCKETS, "spread_jobs": SPREAD_JOBS, "samples": SAMPLES}
    try:
        connector = aiohttp.TCPConnector(limit=SOCKETS + 10)
        async with aiohttp.ClientSession(connector=connector) as http:
            await wait_ready(http, base, server)
            await healthz_median(http, base)  # warm-up: first-call costs are not the subject
            photo = small_photo()
            jobs = [await new_job(http, base, photo) for _ in range(SPREAD_JOBS)]
            raw["no_sockets"] = await healthz_median(http, base)
            raw["one_job"] = await with_sockets(http, base, [jobs[0]] * SOCKETS)
            await asyncio.sleep(SETTLE_S)
            per_job = SOCKETS // SPREAD_JOBS
            raw["spread"] = await with_sockets(
                http, base, [j for j in jobs for _ in range(per_job)]
            )
            await asyncio.sleep(SETTLE_S)
            raw["after"] = await healthz_median(http, base)
    finally:
        server.terminate()
        try:
            _, stderr = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()
        raw["server_stderr_tail"] = stderr.decode("utf-8", "replace")[-2000:]
    raw["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    return raw


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="stylebooth-bench-sockets-") as tmp:
        raw = asyncio.run(measure(Path(tmp) / "data"))
    one_job, spread = raw["one_job"]["median_ms"], raw["spread"]["median_ms"]
    rows = figures(
        ("GET /healthz median, no job WebSocket open", raw["no_sockets"]["median_ms"], "ms", ""),
        (f"GET /healthz median, {SOCKETS} WebSockets on one job", one_job, "ms", "≈ none (930)"),
        (f"GET /healthz median, {SOCKETS} WebSockets over {SPREAD_JOBS} jobs", spread, "ms", ""),
    )
    return {"rows": rows, "raw": raw}


if __name__ == "__main__":
    run_alone(run)
