"""/healthz with the real model cache: every model intact, only the render worker missing.
(The rest of /healthz, without models: tests/unit/test_health.py.)"""

from __future__ import annotations

from kiosk import __version__
from kiosk.app import create_app


async def test_healthz_without_a_worker(aiohttp_client, settings) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body["version"] == __version__
    # The device is the render worker's to say (its row in the workers table); with none
    # running it is unknown.
    assert body["device"] is None and body["bf16"] is None and body["torch"] is None
    assert {"vgg19", "u2netp", "selfie", "magenta-predict"} <= set(body["models"])
    assert all(body["models"].values())
    # Every model is intact; only the render worker is missing (this app runs without one).
    assert body["status"] == "degraded"
    assert body["problems"] == [
        "no render worker is running anywhere in the fleet: renders wait in the queue"
    ]
    assert (settings.data_dir / "stylebooth.sqlite3").is_file()
