"""Waiting on a job through the guest API, as the booth page does."""

from __future__ import annotations

import asyncio
import time


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
