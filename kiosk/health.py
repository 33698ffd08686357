"""``GET /healthz``: what an operator or a monitor needs to know at a glance.

Always HTTP 200 while the server answers; ``status`` is ``ok`` or ``degraded`` and
``problems`` says why in words (a model missing or damaged, no render worker alive).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from kiosk import __version__, beacon, jobs
from kiosk.dbio import run_db
from kiosk.keys import MODELS, SETTINGS


def device_report(preference: str) -> dict[str, object]:
    import torch

    from render.device import bf16_supported, pick_device

    device = pick_device(preference)
    return {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "bf16": bf16_supported(device),
        "torch": torch.__version__,
    }


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    settings = app[SETTINGS]
    models = await asyncio.to_thread(app[MODELS].status)  # hashes files on first call
    workers = await asyncio.to_thread(
        beacon.live_workers, settings.data_dir, settings.stale_after_s
    )
    queue = await run_db(request, jobs.queue_counts)
    problems = [f"model missing or damaged: {name}" for name, ok in models.items() if not ok]
    if not workers:
        problems.append("no render worker is running: renders wait in the queue")
    return web.json_response(
        {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "version": __version__,
            **device_report(settings.device),
            "models": models,
            "workers": workers,
            "queue": queue,
        }
    )
