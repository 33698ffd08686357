"""The aiohttp application factory."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from db.migrate import upgrade
from db.session import make_engine, make_sessionmaker
from kiosk.config import Settings
from kiosk.health import healthz
from kiosk.keys import MODELS, SESSIONS, SETTINGS
from render.models import ModelStore

BOOTH_UI = Path(__file__).resolve().parent.parent / "booth_ui"


async def index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(BOOTH_UI / "index.html")


def create_app(settings: Settings) -> web.Application:
    """Build the booth app: migrate the database, wire routes, serve the booth UI."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)

    app = web.Application(client_max_size=32 * 1024 * 1024)
    app[SETTINGS] = settings
    app[MODELS] = ModelStore(settings.models)
    app[SESSIONS] = make_sessionmaker(engine)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", index)
    app.router.add_static("/ui/", BOOTH_UI, name="ui")

    async def dispose_engine(_app: web.Application) -> None:
        engine.dispose()

    app.on_cleanup.append(dispose_engine)
    return app
