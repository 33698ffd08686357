"""``GET /healthz``: what an operator or a monitor needs to know at a glance."""

from __future__ import annotations

from aiohttp import web

from kiosk import __version__
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
    models = app[MODELS].status()
    return web.json_response(
        {
            "status": "ok" if all(models.values()) else "degraded",
            "version": __version__,
            **device_report(app[SETTINGS].device),
            "models": models,
        }
    )
