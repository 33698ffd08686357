"""Multi-host by simulation (issue 13): two booth servers and two render workers, each with a
data directory of its own, sharing nothing but one PostgreSQL database and one S3 prefix.
Every capture from either booth finishes; both booths serve every job and its images (the
same bytes); no image lands in a server's data directory; each capture records its booth;
``/healthz`` on either server lists both workers; an order placed at booth A for a capture
made at booth B is painted and its file is served by booth B."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from db.migrate import upgrade
from db.models import Capture
from db.session import make_engine, make_sessionmaker
from kiosk.storage import capture_dir
from render.models import ModelStore
from tests.scaleout.conftest import HAVE_SEAWEED, Backends
from tests.support.jobs import upload, wait_for_order
from tests.support.paths import REPO
from tests.support.processes import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_SEAWEED, reason="no S3 test server (tests.support.seaweed)"),
]

BOOTHS = ("booth-a", "booth-b")
PHOTOS = {"booth-a": ("hiker.jpg", "seaside.jpg"), "booth-b": ("seaside.jpg", "hiker.jpg")}
SMALL = """\
fast_size = 192
hq_size = 128
hq_budget_s = 4
print_scale_percent = 10
worker_lease_s = 8

[hq_options]
steps = 4
"""
START_TIMEOUT_S = 120.0
RENDER_TIMEOUT_S = 180.0
NO_WORKER_WORDS = "no render worker is running"
IMAGE_FILES = (".jpg", ".jpeg", ".png", ".pdf", ".webp")


class Host:
    """One simulated machine: its own data and runtime directories, its own settings file and
    log, one ``stylebooth`` process."""

    def __init__(self, root: Path, name: str, shared: dict[str, Any], models: Path, **own: Any):
        self.name, self.root = name, root / name
        self.data_dir = self.root / "data"
        self.data_dir.mkdir(parents=True)
        self.runtime_dir = self.root / "run"
        self.log = self.root / "stylebooth.log"
        self.config = self.root / "stylebooth.toml"
        lines = [f"{key} = {_toml(value)}" for key, value in {**shared, **own}.items()]
        lines.append(f'runtime_dir = "{self.runtime_dir}"')
        self.config.write_text("\n".join(lines) + "\n" + SMALL)
        self.models = models
        self.port: int | None = own.get("port")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        # None of this shell's STYLEBOOTH_ variables: the settings file says everything. The
        # AWS variables (the S3 fixture's) are kept: they point S3Store at the test server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("STYLEBOOTH_")}
        command = [
            *(sys.executable, "-m", "kiosk", "--config", str(self.config)),
            *("--data-dir", str(self.data_dir), "--model-dir", str(self.models), *args),
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        return self.process

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} log ---\n" + "\n".join(text.splitlines()[-lines:])


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def fleet(
    tmp_path: Path, backends: Backends, model_store: ModelStore, shared_kit_checked: None
) -> Iterator[dict[str, Any]]:
    """Two booth servers (no worker of their own) and two render workers on one fresh
    database and one fresh S3 prefix; every process stopped afterwards."""
    shared = backends.changes()
    assert "storage_url" in shared, "no S3 server for the scale-out tier"
    upgrade(shared["database_url"])
    models = model_store.root
    servers = {
        booth: Host(tmp_path, booth, shared, models, booth_id=booth, port=free_port())
        for booth in BOOTHS
    }
    workers = [Host(tmp_path, f"worker-{n}", shared, models) for n in (1, 2)]
    hosts = [*servers.values(), *workers]
    try:
        for server in servers.values():
            server.start("serve", "--no-worker", "--host", "127.0.0.1", "--port", str(server.port))
        for worker in workers:
            worker.start("worker")
        yield {"servers": servers, "workers": workers, "shared": shared, "hosts": hosts}
    finally:
        for host in hosts:
            host.stop()


def logs(fleet: dict[str, Any]) -> str:
    return "\n".join(host.tail() for host in fleet["hosts"])


def assert_nothing_local(fleet: dict[str, Any]) -> None:
    """No host wrote a capture's file, or any image or print file, to its data directory."""
    for host in fleet["hosts"]:
        captures = [p for p in (host.data_dir / "captures").rglob("*") if p.is_file()]
        assert not captures, f"{host.name} wrote captures locally: {captures}"
        images = [p for p in host.data_dir.rglob("*") if p.suffix.lower() in IMAGE_FILES]
        assert not images, f"{host.name} wrote image or print files locally: {images}"


async def get_json(session: aiohttp.ClientSession, path: str) -> dict[str, Any]:
    async with session.get(path) as response:
        assert response.status == 200, f"GET {path}: {response.status} {await response.text()}"
        return await response.json()


async def get_bytes(session: aiohttp.ClientSession, path: str) -> bytes:
    async with session.get(path) as response:
        assert response.status == 200, f"GET {path}: {response.status} {await response.text()}"
        return await response.read()


async def wait_async(check, timeout: float, what: str, fleet: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Await ``check()`` until it returns something true; fail with the hosts' logs when a
    process dies or time runs out."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        dead = [h.name for h in fleet["hosts"] if not h.alive()]
        assert not dead, f"{dead} exited while waiting for {what}\n{logs(fleet)}"
        try:
            last = await check()
        except (aiohttp.ClientError, OSError) as exc:  # a server not listening yet
            last = exc
        if last and not isinstance(last, Exception):
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(
        f"timed out after {timeout:.0f} s waiting for {what}: {last}\n{logs(fleet)}"
    )


async def test_two_booths_and_two_workers_share_only_postgresql_and_s3(fleet, s3) -> None:
    started = time.monotonic()
    servers: dict[str, Host] = fleet["servers"]
    timeout = aiohttp.ClientTimeout(total=30)
    clients = {
        booth: aiohttp.ClientSession(f"http://127.0.0.1:{server.port}", timeout=timeout)
        for booth, server in servers.items()
    }
    try:
        # Both servers answer, and each sees both workers of the fleet.
        for booth, client in clients.items():

            async def two_workers(client=client) -> Any:
                async with client.get("/healthz") as response:
                    if response.status != 200:
                        return None
                    health = await response.json()
                return health if len(health.get("workers", [])) == 2 else None

            health = await wait_async(
                two_workers, START_TIMEOUT_S, f"{booth}'s /healthz to list both workers", fleet
            )
            assert NO_WORKER_WORDS not in " ".join(health.get("problems", [])), health

        # Two captures at each booth.
        made: dict[str, list[dict[str, Any]]] = {booth: [] for booth in BOOTHS}
        for booth in BOOTHS:
            for name in PHOTOS[booth]:
                made[booth].append(await upload(clients[booth], name))
        everything = [(booth, c) for booth in BOOTHS for c in made[booth]]

        # Every HQ job finishes (asked of the booth that took the photo).
        for booth, created in everything:

            async def finished(client=clients[booth], job_id=created["job_id"]) -> Any:
                state = await get_json(client, f"/api/jobs/{job_id}")
                assert state["status"] != "failed", f"job failed: {state}\n{logs(fleet)}"
                return state if state["status"] == "done" else None

            await wait_async(finished, RENDER_TIMEOUT_S, f"{booth}'s job to be done", fleet)

        # Both booths serve every job and its images, the same bytes from either.
        for booth, created in everything:
            images: dict[str, dict[str, bytes]] = {}
            for serving, client in clients.items():
                state = await get_json(client, f"/api/jobs/{created['job_id']}")
                assert state["status"] == "done", (serving, state)
                assert state["capture_id"] == created["capture_id"]
                assert state["fast_url"] and state["final_url"], (serving, state)
                images[serving] = {
                    kind: await get_bytes(client, state[f"{kind}_url"])
                    for kind in ("fast", "final")
                }
            for kind in ("fast", "final"):
                a, b = images["booth-a"][kind], images["booth-b"][kind]
                assert a[:3] == b"\xff\xd8\xff", f"{kind} of a {booth} job is no JPEG"
                assert a == b, f"the two booths serve different {kind} images of a {booth} job"

        # Nothing under any host's data directory: every file is in S3.
        assert_nothing_local(fleet)
        bucket, _, prefix = fleet["shared"]["storage_url"].removeprefix("s3://").partition("/")
        keys: set[str] = set()
        for page in (
            s3.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=bucket, Prefix=prefix + "/")
        ):
            keys.update(item["Key"] for item in page.get("Contents", []))
        for _booth, created in everything:
            folder = f"{prefix}/{capture_dir(created['capture_id']).as_posix()}/"
            mine = {k.removeprefix(folder) for k in keys if k.startswith(folder)}
            assert "photo.jpg" in mine, f"no photo in S3 under {folder}: {sorted(mine)}"
            assert len(mine) >= 3, f"too few files in S3 under {folder}: {sorted(mine)}"

        # Each capture records the booth that took it.
        engine = make_engine(fleet["shared"]["database_url"])
        try:
            with make_sessionmaker(engine).begin() as session:
                recorded = dict(session.execute(select(Capture.id, Capture.booth_id)).all())
        finally:
            engine.dispose()
        assert recorded == {c["capture_id"]: booth for booth, c in everything}

        # /healthz on either server still lists both workers, with their hosts' lanes.
        for booth, client in clients.items():
            health = await get_json(client, "/healthz")
            assert len(health["workers"]) == 2, (booth, health["workers"])
            assert health["queue"]["booths"] is not None, health["queue"]

        # An order placed at booth A for a capture made at booth B; its file from booth B.
        capture_b = made["booth-b"][0]["capture_id"]
        async with clients["booth-a"].post(
            f"/api/captures/{capture_b}/orders",
            json={"product": "tee", "options": {"colour": "black"}},
        ) as response:
            assert response.status == 201, await response.text()
            placed = (await response.json())["order"]
        ready = await asyncio.wait_for(
            wait_for_order(
                clients["booth-a"], capture_b, placed["number"], timeout=RENDER_TIMEOUT_S
            ),
            RENDER_TIMEOUT_S + 10,
        )
        assert ready["files"], ready
        seen_at_b = await get_json(clients["booth-b"], f"/api/captures/{capture_b}/orders")
        assert placed["number"] in [o["number"] for o in seen_at_b["orders"]]
        for file in ready["files"]:
            body_b = await get_bytes(clients["booth-b"], file["url"])
            body_a = await get_bytes(clients["booth-a"], file["url"])
            assert body_b and body_a == body_b, f"booth B serves a different {file['role']}"
        assert_nothing_local(fleet)  # the print files neither
    finally:
        for client in clients.values():
            await client.close()
    print(f"multi-host run: {time.monotonic() - started:.1f} s")
