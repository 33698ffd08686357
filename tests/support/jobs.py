"""The guest API as the booth page uses it: a photo posted, a job or an order waited on."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable

import aiohttp
from PIL import Image

from tests.support.paths import PEOPLE


async def wait_for_job(client, job_id: str, predicate, worker=None, timeout: float = 120.0) -> dict:
    """Poll the guest API until the job's state satisfies ``predicate``; fail fast when the job
    fails or the ``worker`` process (a Popen) dies."""
    deadline = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < deadline:
        state = await (await client.get(f"/api/jobs/{job_id}")).json()
        if predicate(state):
            return state
        assert state["status"] != "failed", state["error"]
        assert worker is None or worker.poll() is None, "the worker died"
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never got there: {state}")


async def upload(client, name: str, style: str = "starry_night", scene: str = "own") -> dict:
    """Post the kit's photo ``name`` (long side 512) as the booth would; the created capture."""
    image = Image.open(PEOPLE / name).convert("RGB")
    image.thumbnail((512, 512))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    data = aiohttp.FormData()
    data.add_field("style", style)
    data.add_field("scene", scene)
    data.add_field("photo", buffer.getvalue(), filename="p.jpg", content_type="image/jpeg")
    response = await client.post("/api/captures", data=data)
    assert response.status == 201, await response.text()
    return await response.json()


def files_ready(order: dict) -> bool:
    return order["status"] == "files_ready"


async def wait_for_order(
    client,
    capture_id: str,
    number: str,
    predicate: Callable[[dict], bool] = files_ready,
    worker=None,
    timeout: float = 300.0,
) -> dict:
    """Poll the capture's orders until order ``number`` satisfies ``predicate``; fail fast
    when it fails or the ``worker`` process dies."""
    deadline = time.monotonic() + timeout
    found: dict = {}
    while time.monotonic() < deadline:
        listed = await (await client.get(f"/api/captures/{capture_id}/orders")).json()
        [found] = [o for o in listed["orders"] if o["number"] == number]
        if predicate(found):
            return found
        assert found["status"] != "failed", found["error"]
        assert worker is None or worker.poll() is None, "the worker died"
        await asyncio.sleep(0.1)
    raise AssertionError(f"order {number} never got there: {found}")
