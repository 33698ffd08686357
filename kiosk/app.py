"""The aiohttp application factory."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from aiohttp import WSCloseCode, web

from db.migrate import upgrade
from db.session import make_engine, make_sessionmaker
from kiosk import download, guest, watch
from kiosk.admin import create_admin_app
from kiosk.config import Settings
from kiosk.dbio import SERVER_BUSY_TIMEOUT_S, io_pool
from kiosk.errors import json_errors
from kiosk.health import healthz
from kiosk.keys import ENGINE, EXPORT_POOL, MODELS, SESSIONS, SETTINGS, SOCKETS
from kiosk.orders import ExportPool
from kiosk.uploads import upload_gate
from render.models import ModelStore

BOOTH_UI = Path(__file__).resolve().parent.parent / "booth_ui"


async def freeze_heap(_app: web.Application) -> None:
    """What is loaded at startup lives as long as the server: move it out of the garbage
    collector's sight, so its full passes (~100 ms over this heap) never stall the loop."""
    gc.collect()
    gc.freeze()


async def index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(BOOTH_UI / "index.html", headers={"Cache-Control": "no-cache"})


async def to_admin_page(_request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect("/admin/")


def create_app(settings: Settings, *, start_worker: bool = False) -> web.Application:
    """Build the booth app: migrate the database, wire the guest API, the admin API, the phone
    download pages and the booth UI; with ``start_worker``, run the render worker process."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    # A short busy timeout: a guest hears "busy, try again" rather than waiting out a lock.
    engine = make_engine(settings.db_url, busy_timeout_s=SERVER_BUSY_TIMEOUT_S)

    app = web.Application(middlewares=[json_errors])
    app[SETTINGS] = settings
    app[MODELS] = ModelStore(settings.models)
    app[ENGINE] = engine
    app[SESSIONS] = make_sessionmaker(engine)
    app[SOCKETS] = weakref.WeakSet()
    app[EXPORT_POOL] = ExportPool()
    app.cleanup_ctx.append(io_pool)  # database and file calls: their own bounded pool
    app.cleanup_ctx.append(watch.watchers)  # one poller per watched job (uses the pool)
    app.cleanup_ctx.append(upload_gate)  # photo uploads: bounded size, time, count, decodes
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", index)
    app.router.add_static("/ui/", BOOTH_UI, name="ui")
    app.add_routes(guest.routes)
    app.add_routes(watch.routes)
    app.add_routes(download.routes)
    app.router.add_get("/admin", to_admin_page)
    app.add_subapp("/admin/", create_admin_app())

    if start_worker:
        from kiosk.supervisor import worker_process

        app.cleanup_ctx.append(worker_process)

    async def close_sockets(app: web.Application) -> None:
        for ws in list(app[SOCKETS]):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    async def dispose(app: web.Application) -> None:
        app[EXPORT_POOL].shutdown()
        engine.dispose()

    app.on_startup.append(freeze_heap)
    app.on_shutdown.append(close_sockets)
    app.on_cleanup.append(dispose)
    return app
