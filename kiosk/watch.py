"""``GET /api/jobs/{job_id}/ws``: the job's JSON pushed to the booth each time it changes."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from kiosk import jobs
from kiosk.errors import ApiError
from kiosk.guest import describe
from kiosk.keys import SOCKETS

routes = web.RouteTableDef()

WS_POLL_S = 0.1
FINISHED = {status.value for status in jobs.FINISHED}


@routes.get("/api/jobs/{job_id}/ws")
async def job_ws(request: web.Request) -> web.WebSocketResponse:
    """Push the job's JSON each time it changes; close after the job finishes."""
    job_id = request.match_info["job_id"]
    state = await describe(request, job_id)  # unknown job: a JSON 404 before the upgrade
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    sockets = request.config_dict[SOCKETS]
    sockets.add(ws)

    async def drain() -> None:  # read (and ignore) what the client sends, to see it leave
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break

    reader = asyncio.create_task(drain())
    try:
        sent = None
        while not ws.closed:
            if state != sent:
                await ws.send_json(state)
                sent = state
            if state["status"] in FINISHED:
                break
            # Look often until the first picture is there: it is what the guest waits for.
            await asyncio.wait([reader], timeout=WS_POLL_S if state["fast_url"] else 0.05)
            if reader.done():
                break
            state = await describe(request, job_id)
    except ApiError:  # the job was purged meanwhile
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        sockets.discard(ws)
        await ws.close()
    return ws
