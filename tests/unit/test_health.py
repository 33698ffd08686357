"""``/healthz`` tells the truth without stalling the server: a nearly full disk, a locked or
read-only database and the device (from the worker's row, never by importing torch)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from db.migrate import upgrade
from kiosk import health
from kiosk.app import create_app
from tests.support.paths import REPO


async def get_health(client) -> dict:
    response = await client.get("/healthz")
    assert response.status == 200
    return await response.json()


async def test_a_nearly_full_disk_is_degraded_with_its_sentence(aiohttp_client, settings) -> None:
    # Demand more free space than any disk has: the real statvfs of the data directory.
    client = await aiohttp_client(create_app(replace(settings, min_free_mb=10**9)))
    body = await get_health(client)
    assert body["status"] == "degraded"
    assert any("disk is nearly full" in problem for problem in body["problems"]), body
    roomy = await aiohttp_client(create_app(replace(settings, min_free_mb=1)))
    assert not any("disk" in problem for problem in (await get_health(roomy))["problems"])


async def test_a_locked_database_is_degraded_and_healthz_still_answers(
    aiohttp_client, settings, monkeypatch
) -> None:
    monkeypatch.setattr(health, "PROBE_TTL_S", 0.0)  # look again on every call
    client = await aiohttp_client(create_app(settings))
    assert not any("database" in p for p in (await get_health(client))["problems"])
    holder = sqlite3.connect(settings.db_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the database
    try:
        body = await get_health(client)
        assert body["status"] == "degraded"
        assert any("database is locked" in problem for problem in body["problems"]), body
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not any("database" in p for p in (await get_health(client))["problems"])


def test_a_read_only_database_is_reported(settings) -> None:
    """Made read-only the way a disk or an operator does it (file mode 0444), probed by a
    process that is not root (root writes through file modes)."""
    upgrade(settings.db_url)
    folder = Path(tempfile.mkdtemp(prefix="stylebooth-ro-"))
    try:
        database = folder / "booth.sqlite3"
        shutil.copy(settings.db_url.removeprefix("sqlite:///"), database)
        folder.chmod(0o777)
        database.chmod(0o444)
        script = (
            "from kiosk.health import database_problem, probe_engine; "
            f"print(database_problem(probe_engine('sqlite:///{database}')))"
        )
        command = [sys.executable, "-c", script]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "the database is read-only" in done.stdout, done.stdout
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_healthz_never_imports_torch_and_reports_the_workers_device(settings) -> None:
    """The server process after serving /healthz: no torch, OpenCV or onnxruntime loaded; the
    device comes from the worker's row in the workers table."""
    upgrade(settings.db_url)
    script = f"""
import asyncio, json, os, sys
from aiohttp.test_utils import TestClient, TestServer
from db.session import make_engine, make_sessionmaker
from kiosk.app import create_app
from kiosk.config import load_settings
from kiosk.queue import manager

settings = load_settings(env={{}}, data_dir={str(settings.data_dir)!r},
                         model_dir={str(settings.models)!r})
engine = make_engine(settings.db_url)
manager.in_session(make_sessionmaker(engine), manager.register_worker, "a" * 32, host="booth",
                   pid=os.getpid(), parent=None, device="cpu",
                   info={{"device_name": "cpu", "bf16": False, "torch": "9.9.9-from-the-row"}})
engine.dispose()

async def main():
    async with TestClient(TestServer(create_app(settings))) as client:
        body = await (await client.get("/healthz")).json()
    heavy = [name for name in ("torch", "cv2", "onnxruntime") if name in sys.modules]
    print(json.dumps({{"health": body, "heavy": heavy}}))

asyncio.run(main())
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYLEBOOTH_")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["heavy"] == [], f"the server imported {found['heavy']}"
    body = found["health"]
    assert body["device"] == "cpu" and body["torch"] == "9.9.9-from-the-row"
    assert body["bf16"] is False and body["device_name"] == "cpu"
    assert len(body["workers"]) == 1


async def test_without_a_worker_the_device_is_unknown_not_guessed(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    body = await get_health(client)
    assert body["device"] is None and body["torch"] is None and body["workers"] == []
