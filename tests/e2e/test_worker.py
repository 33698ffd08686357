"""Restart recovery with a real SQLite file and real `stylebooth worker` processes: a worker
killed mid-render loses nothing; once its row in the workers table goes stale it is not
counted, and the next worker requeues and finishes the job; finished results stay. A print
render stopped midway is finished by the next worker, its order never failed."""

from __future__ import annotations

import asyncio
import hashlib
import io
import signal
import time
from dataclasses import replace

import pytest
from PIL import Image

from db.models import Job, JobStatus, Result
from db.session import make_engine, make_sessionmaker
from kiosk.app import create_app
from tests.support.jobs import upload, wait_for_job, wait_for_order
from tests.support.processes import start_worker

pytestmark = pytest.mark.slow


def snapshot(settings, capture_id: str) -> dict[str, tuple[str, str]]:
    """Each stored result of a capture: kind -> (sha256 in the DB, sha256 of the file)."""
    engine = make_engine(settings.db_url)
    with make_sessionmaker(engine).begin() as session:
        rows = session.query(Result).filter_by(capture_id=capture_id).all()
        found = {
            r.kind: (
                r.sha256,
                hashlib.sha256((settings.data_dir / r.path).read_bytes()).hexdigest(),
            )
            for r in rows
        }
    engine.dispose()
    return found


def hq_job(settings, job_id: str) -> Job:
    engine = make_engine(settings.db_url)
    with make_sessionmaker(engine).begin() as session:
        job = session.get(Job, job_id)
        session.expunge(job)
    engine.dispose()
    return job


async def test_killed_worker_loses_nothing_and_the_next_one_finishes(
    aiohttp_client, settings, tmp_path
) -> None:
    # A worker silent for 8 s is dead (heartbeats come every 2 s): the test need not wait
    # the default 30 s for the killed one to be given up on.
    settings = replace(settings, fast_size=192, hq_size=160, hq_budget_s=8, worker_lease_s=8)
    log = tmp_path / "worker.log"
    client = await aiohttp_client(create_app(settings))  # the server, without its own worker
    first_worker = start_worker(settings, log)
    try:
        done = await upload(client, "seaside.jpg")
        await wait_for_job(client, done["job_id"], lambda s: s["status"] == "done", first_worker)
        finished = snapshot(settings, done["capture_id"])
        assert {"fast", "final", "master", "composite"} <= set(finished)
        health = await (await client.get("/healthz")).json()
        assert [w["pid"] for w in health["workers"]] == [first_worker.pid]
        assert health["status"] == "ok" and health["problems"] == []
        # The device as the worker measured it (the server itself never imports torch).
        import torch

        assert health["device"] == health["workers"][0]["device"] in {"cpu", "cuda"}
        assert health["torch"] == torch.__version__ and isinstance(health["bf16"], bool)

        # The second guest's HQ render is under way when the worker is killed.
        victim = await upload(client, "hiker.jpg")
        await wait_for_job(
            client,
            victim["job_id"],
            lambda s: (
                s["status"] == "running" and s["stage"] == "painting" and s["progress"] > 0.05
            ),
            first_worker,
        )
        first_worker.kill()
        first_worker.wait()
    finally:
        if first_worker.poll() is None:
            first_worker.kill()
            first_worker.wait()

    # The server restarts too: everything it knew is still there.
    await client.close()
    client = await aiohttp_client(create_app(settings))
    killed_at = time.monotonic()
    interrupted = hq_job(settings, victim["job_id"])
    assert interrupted.status == JobStatus.running and interrupted.attempts == 1
    # The killed worker is not counted once its row is stale (no pid is ever probed: the
    # same holds for a worker on another host).
    while (health := await (await client.get("/healthz")).json())["workers"]:
        assert time.monotonic() - killed_at < settings.worker_lease_s + 5, health["workers"]
        await asyncio.sleep(0.5)
    assert health["status"] == "degraded"
    assert health["queue"]["hq"] == {"queued": 0, "running": 1}
    state = await (await client.get(victim["status_url"])).json()
    assert state["fast_url"] is not None and state["final_url"] is None
    victim_fast = snapshot(settings, victim["capture_id"])["fast"]

    second_worker = start_worker(settings, log)
    try:
        state = await wait_for_job(
            client, victim["job_id"], lambda s: s["status"] == "done", second_worker
        )
        assert state["final_url"] is not None and state["download_url"] is not None
        assert hq_job(settings, victim["job_id"]).attempts == 2
        # Nothing finished was lost or redone: the first guest's files and the second guest's
        # fast picture are byte for byte what they were before the kill.
        assert snapshot(settings, done["capture_id"]) == finished
        assert snapshot(settings, victim["capture_id"])["fast"] == victim_fast
        for kind, (recorded, on_disk) in snapshot(settings, victim["capture_id"]).items():
            assert recorded == on_disk, kind
        painting = await client.get(state["final_url"])
        assert Image.open(io.BytesIO(await painting.read())).size[0] > 0

        # A worker asked to stop (SIGTERM) mid-render puts the job back in the queue.
        third = await upload(client, "astronaut.png")
        await wait_for_job(
            client,
            third["job_id"],
            lambda s: s["status"] == "running" and s["stage"] == "painting",
            second_worker,
        )
        second_worker.send_signal(signal.SIGTERM)
        assert second_worker.wait(timeout=30) == 0
        released = hq_job(settings, third["job_id"])
        assert released.status == JobStatus.queued and released.attempts == 0
        assert released.stage == "interrupted"
        assert (await (await client.get("/healthz")).json())["workers"] == []
    finally:
        if second_worker.poll() is None:
            second_worker.kill()
            second_worker.wait()
    assert "requeued interrupted jobs" in log.read_text()


async def test_a_print_render_stopped_midway_is_finished_by_the_next_worker(
    aiohttp_client, settings, tmp_path
) -> None:
    """SIGTERM while a tee is painted at print size: the print job goes back to the queue
    (the attempt not counted), its order keeps painting (not failed), and the next worker
    paints it and makes the files."""
    settings = replace(settings, fast_size=192, hq_size=160, hq_budget_s=4, print_scale_percent=15)
    log = tmp_path / "worker.log"
    client = await aiohttp_client(create_app(settings))
    created: dict = {}
    first_worker = start_worker(settings, log)
    try:
        created = await upload(client, "hiker.jpg")
        await wait_for_job(client, created["job_id"], lambda s: s["status"] == "done", first_worker)
        orders_url = f"/api/captures/{created['capture_id']}/orders"
        response = await client.post(orders_url, json={"product": "tee"})
        assert response.status == 201, await response.text()
        number = (await response.json())["order"]["number"]
        under_way = lambda o: o["status"] == "painting" and o["progress"] > 0.05  # noqa: E731
        await wait_for_order(client, created["capture_id"], number, under_way, first_worker)
        first_worker.send_signal(signal.SIGTERM)
        assert first_worker.wait(timeout=30) == 0
    finally:
        if first_worker.poll() is None:
            first_worker.kill()
            first_worker.wait()
    interrupted = await wait_for_order(client, created["capture_id"], number, lambda o: True)
    assert interrupted["status"] == "painting" and interrupted["error"] is None
    released = hq_job(settings, interrupted["job_id"])
    assert released.status == JobStatus.queued and released.attempts == 0
    assert released.stage == "interrupted"

    second_worker = start_worker(settings, log)
    try:
        ready = await wait_for_order(client, created["capture_id"], number, worker=second_worker)
    finally:
        second_worker.send_signal(signal.SIGTERM)
        second_worker.wait(timeout=30)
    assert ready["job_id"] == interrupted["job_id"]  # the same job, finished
    finished = hq_job(settings, ready["job_id"])
    assert finished.status == JobStatus.done and finished.attempts == 1
    assert [e["status"] for e in ready["events"]] == ["received", "painting", "files_ready"]
