"""Multi-host by simulation (issue 13): two booth servers and two render workers, each with a
data directory of its own, sharing nothing but one PostgreSQL database and one S3 prefix.
Every capture from either booth finishes; both booths serve every job and its images (the
same bytes); no image lands in a server's data directory; each capture records its booth;
``/healthz`` on either server lists both workers; an order placed at booth A for a capture
made at booth B is painted and its file is served by booth B. The hosts are started by
``tests.support.fleet``, as the fleet benchmark starts its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from db.models import Capture
from db.session import make_engine, make_sessionmaker
from kiosk.storage import capture_dir
from render.models import ModelStore
from tests.scaleout.conftest import HAVE_SEAWEED, Backends
from tests.support.fleet import (
    BOOTHS,
    START_TIMEOUT_S,
    Fleet,
    running_fleet,
    wait_async,
    wait_for_workers,
)
from tests.support.jobs import upload, wait_for_order

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_SEAWEED, reason="no S3 test server (tests.support.seaweed)"),
]

PHOTOS = {"booth-a": ("hiker.jpg", "seaside.jpg"), "booth-b": ("seaside.jpg", "hiker.jpg")}
SMALL = {
    "fast_size": 192,
    "hq_size": 128,
    "hq_budget_s": 4,
    "print_scale_percent": 10,
    "worker_lease_s": 8,
}
SMALL_HQ = {"steps": 4}
RENDER_TIMEOUT_S = 180.0
NO_WORKER_WORDS = "no render worker is running"
IMAGE_FILES = (".jpg", ".jpeg", ".png", ".pdf", ".webp")


@pytest.fixture
def fleet(
    tmp_path: Path, backends: Backends, model_store: ModelStore, shared_kit_checked: None
) -> Iterator[Fleet]:
    """Two booth servers (no worker of their own) and two render workers on one fresh
    database and one fresh S3 prefix (the S3 fixture's AWS variables are this process's,
    and so the hosts'); every process stopped afterwards."""
    shared = backends.changes()
    assert "storage_url" in shared, "no S3 server for the scale-out tier"
    with running_fleet(
        tmp_path, shared, model_store.root, settings=SMALL, hq_options=SMALL_HQ
    ) as running:
        yield running


def assert_nothing_local(fleet: Fleet) -> None:
    """No host wrote a capture's file, or any image or print file, to its data directory."""
    for host in fleet.hosts:
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


async def test_two_booths_and_two_workers_share_only_postgresql_and_s3(fleet, s3) -> None:
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=30)
    clients = {
        booth: aiohttp.ClientSession(fleet.base_url(booth), timeout=timeout) for booth in BOOTHS
    }
    try:
        # Both servers answer, and each sees both workers of the fleet.
        for health in (await wait_for_workers(fleet, clients, START_TIMEOUT_S)).values():
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
                assert state["status"] != "failed", f"job failed: {state}\n{fleet.logs()}"
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
        bucket, _, prefix = fleet.shared["storage_url"].removeprefix("s3://").partition("/")
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
        engine = make_engine(fleet.shared["database_url"])
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
