"""The aiohttp application factory."""

from __future__ import annotations

import asyncio
import errno
import gc
import re
import signal
import weakref
from collections.abc import Callable
from pathlib import Path

from aiohttp import WSCloseCode, web
from aiohttp.typedefs import Handler

from db.migrate import upgrade
from db.session import make_engine, make_sessionmaker
from kiosk import download, gallery, guest, order_api, watch
from kiosk.admin import AdminLogin, create_admin_app
from kiosk.config import Settings
from kiosk.dbio import io_pool
from kiosk.errors import error_response, json_errors
from kiosk.health import PROBES, Probes, healthz
from kiosk.keys import ENGINE, EXPORT_POOL, LINKS, MODELS, SESSIONS, SETTINGS, SOCKETS, STORE
from kiosk.links import ADMIN, Links, is_admin_path
from kiosk.network import public_base
from kiosk.orders import ExportPool
from kiosk.printing.spooler import spooler
from kiosk.security import BODY_TYPES, MULTIPART, cross_site_guard, security_headers
from kiosk.storage import open_store
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
    raise web.HTTPPermanentRedirect(ADMIN + "/")


# A file name the file system cannot even hold (longer than NAME_MAX/PATH_MAX, or with a NUL)
# names no file: aiohttp's static handler lets the OSError/ValueError escape as a 500.
_NO_SUCH_NAME = {errno.ENAMETOOLONG, errno.ENOTDIR, errno.EINVAL}


@web.middleware
async def static_names(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A static file whose name cannot exist is a 404, like any other missing file."""
    try:
        return await handler(request)
    except (OSError, ValueError) as exc:
        resource = request.match_info.route.resource
        impossible = isinstance(exc, ValueError) or exc.errno in _NO_SUCH_NAME
        if isinstance(resource, web.StaticResource) and impossible:
            raise web.HTTPNotFound() from None
        raise


# What the admin page needs from its own site when it has one (admin_port): itself, its
# scripts and styles, /healthz, and the paintings and print files it links to.
_OPERATOR_FILES = re.compile(r"^/api/(jobs/[^/]+/images/[^/]+|exports/[^/]+/files/[^/]+)$")


def on_admin_site(request: web.Request) -> bool:
    """Whether the request came in on the admin site's port (its socket's local port)."""
    admin_port = request.config_dict[SETTINGS].admin_port
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    return admin_port is not None and isinstance(sockname, tuple) and sockname[1] == admin_port


@web.middleware
async def admin_site(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With ``admin_port`` set, the operator's side lives only on its own site (a port, and the
    address ``admin_host`` that a firewall or a TLS proxy can guard apart from the guests'):
    the guests' site answers 404 for /admin, and the admin site serves nothing of the guests'
    beyond what the operator's page shows."""
    if request.config_dict[SETTINGS].admin_port is None:
        return await handler(request)
    path = request.path
    if on_admin_site(request):
        allowed = (
            is_admin_path(path)
            or path.startswith("/ui/")
            or path == "/healthz"
            or (request.method in {"GET", "HEAD"} and _OPERATOR_FILES.match(path) is not None)
        )
    else:
        allowed = not is_admin_path(path)
    if not allowed:
        return error_response(404, "not_found", f"not found: {request.method} {path}")
    return await handler(request)


def create_app(
    settings: Settings, *, start_worker: bool = False, admin_login: AdminLogin | None = None
) -> web.Application:
    """Build the booth app: migrate the database, wire the guest API, the admin API, the phone
    download pages and the booth UI; with ``start_worker``, run the render worker process.
    ``admin_login`` replaces the admin password's check and throttle (tests use short ones)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    # A short busy timeout: a guest hears "busy, try again" rather than waiting out a lock.
    engine = make_engine(settings.db_url, busy_timeout_s=settings.busy_timeout_s)

    # Outermost first: which site the request is on, then refusing other sites' requests.
    app = web.Application(middlewares=[admin_site, cross_site_guard, json_errors, static_names])
    app[BODY_TYPES] = {"/api/captures": frozenset({MULTIPART})}  # every other body is JSON
    app.on_response_prepare.append(security_headers)
    app[SETTINGS] = settings
    app[MODELS] = ModelStore(settings.models)
    app[ENGINE] = engine
    app[SESSIONS] = make_sessionmaker(engine)
    app[SOCKETS] = weakref.WeakSet()
    app[STORE] = open_store(settings.storage_url, settings.data_dir)
    app[EXPORT_POOL] = ExportPool()
    app[PROBES] = Probes(settings)  # /healthz's disk and database checks
    app.cleanup_ctx.append(io_pool)  # database and file calls: their own bounded pool
    app.cleanup_ctx.append(watch.watchers)  # one poller per watched job (uses the pool)
    app.cleanup_ctx.append(upload_gate)  # photo uploads: bounded size, time, count, decodes
    app.cleanup_ctx.append(spooler)  # photo prints to CUPS (kiosk/printing/spooler.py)
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/", index, name="index")
    app.router.add_static("/ui/", BOOTH_UI, name="ui")
    app.add_routes(guest.routes)
    app.add_routes(order_api.routes)
    app.add_routes(watch.routes)
    app.add_routes(download.routes)
    app.add_routes(gallery.routes)  # the venue's gallery screen and the guest's opt-out
    app.router.add_get(ADMIN, to_admin_page)
    admin_app = create_admin_app(admin_login or AdminLogin(settings.admin_password))
    app.add_subapp(ADMIN + "/", admin_app)
    app[LINKS] = Links(public_base(settings), app.router)

    if start_worker:
        from kiosk.supervisor import SUPERVISOR, Supervisor, worker_process

        app[SUPERVISOR] = Supervisor(settings, app[SESSIONS])
        app.cleanup_ctx.append(worker_process)

    async def close_sockets(app: web.Application) -> None:
        sockets = app[SOCKETS]  # a WeakSet: copied before closing changes it
        for ws in list(sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    async def dispose(app: web.Application) -> None:
        app[EXPORT_POOL].shutdown()
        app[PROBES].close()
        engine.dispose()

    app.on_startup.append(freeze_heap)
    app.on_shutdown.append(close_sockets)
    app.on_cleanup.append(dispose)
    return app


def sites(runner: web.AppRunner, settings: Settings) -> list[web.TCPSite]:
    """The booth's site, and the admin page's own one when ``admin_port`` is set."""
    found = [web.TCPSite(runner, settings.host, settings.port)]
    if settings.admin_port is not None:
        found.append(web.TCPSite(runner, settings.admin_host or settings.host, settings.admin_port))
    return found


async def serve(
    app: web.Application,
    settings: Settings,
    ready: Callable[[], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve ``app`` on its site(s) until SIGINT or SIGTERM (systemd's stop) or ``stop`` is
    set, then shut down as aiohttp's run_app does: stop listening, close, run the cleanups."""
    stop = stop or asyncio.Event()
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    try:
        for site in sites(runner, settings):
            await site.start()
        for signum in signals:
            loop.add_signal_handler(signum, stop.set)
        if ready is not None:
            ready()
        await stop.wait()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await runner.cleanup()
