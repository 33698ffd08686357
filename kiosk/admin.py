"""The admin API: a sub-app under ``/admin`` behind the admin password.

With no admin password configured the whole sub-app answers 403: the operator side is off.
``GET /admin/`` is the operator's page (booth_ui/admin.html); the rest is its JSON API.

Signing in: HTTP Basic (the password is checked against a scrypt hash, with a growing delay and
a lockout per client address: kiosk/security.py), which starts a session; the page's later calls
ride on the session cookie and send its CSRF token in ``X-CSRF-Token`` with every change.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.orm import Session

from db.models import Job, JobStatus, utcnow
from kiosk import admin_gallery, admin_prints, event_settings, print_desk, purge
from kiosk.dbio import run_db, run_io
from kiosk.errors import ApiError, error_response, not_found
from kiosk.keys import LINKS, SETTINGS, STORE
from kiosk.network import reachability
from kiosk.queue import manager
from kiosk.security import (
    SAFE_METHODS,
    AdminSession,
    AdminSessions,
    LoginThrottle,
    PasswordCheck,
    from_a_browser,
    query_limit,
    read_json,
    token_matches,
)
from render.scenes import OWN, selectable_scenes
from render.styles import STYLES

REALM = 'Basic realm="StyleBooth admin", charset="UTF-8"'
routes = web.RouteTableDef()


class AdminLogin:
    """The admin password (hashed at start), the guessing throttle and the page's sessions."""

    def __init__(
        self,
        password: str | None,
        throttle: LoginThrottle | None = None,
        sessions: AdminSessions | None = None,
    ) -> None:
        self.password = PasswordCheck(password) if password else None
        self.throttle = LoginThrottle() if throttle is None else throttle
        self.sessions = AdminSessions() if sessions is None else sessions


LOGIN = web.AppKey("admin_login", AdminLogin)


def _basic_password(header: str) -> str | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, _, given = decoded.partition(":")  # any user name; the password is what counts
    return given


def _unauthorized() -> web.Response:
    return error_response(
        401, "unauthorized", "the admin password is needed", {"WWW-Authenticate": REALM}
    )


async def _basic_login(request: web.Request, login: AdminLogin) -> web.Response | None:
    """Check the Basic password, throttled per client address; None when it is right."""
    assert login.password is not None
    client = request.remote or "unknown"
    wait = login.throttle.retry_after(client)
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        return error_response(
            429,
            "too_many_requests",
            f"too many wrong admin passwords from this address: try again in {seconds} s",
            {"Retry-After": str(seconds)},
        )
    given = _basic_password(request.headers.get("Authorization", ""))
    if given is None:
        return _unauthorized()
    login.throttle.begin(client)
    try:
        right = await login.password.check(given)
    except BaseException:
        login.throttle.abandoned(client)
        raise
    if right:
        login.throttle.succeeded(client)
        return None
    await asyncio.sleep(login.throttle.failed(client))
    return _unauthorized()


@web.middleware
async def admin_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The operator's side: the session cookie, or else the Basic password (which then starts
    a session); and for every change a browser sends, the session's CSRF token."""
    login = request.app[LOGIN]
    if login.password is None:
        return error_response(
            403, "admin_disabled", "the admin page is off: set STYLEBOOTH_ADMIN_PASSWORD"
        )
    sessions = login.sessions
    session = sessions.get(request.cookies.get(sessions.COOKIE))
    new_session_id = None
    if session is None:
        refused = await _basic_login(request, login)
        if refused is not None:
            return refused
        new_session_id, session = sessions.create()
    request[ADMIN_SESSION] = session
    given = request.headers.getall(CSRF_HEADER, [])
    if (
        request.method not in SAFE_METHODS
        and _needs_token(request, basic=new_session_id)
        and not token_matches(session.csrf_token, given)
    ):
        refused = error_response(
            403,
            "csrf",
            "this change did not carry the admin page's security token: "
            "reload the admin page and try again",
        )
        if new_session_id:
            sessions.set_cookie(request, refused, new_session_id)
        return refused
    response = await handler(request)
    if new_session_id and not response.prepared:
        sessions.set_cookie(request, response, new_session_id)
    return response


def _needs_token(request: web.Request, *, basic: str | None) -> bool:
    """Django asks every unsafe request for the token. Here a script that signs in with the
    password on each request and is no browser (no Origin, no Sec-Fetch-Site) is spared, like
    Django REST framework's Basic authentication: no web page can make it send anything. A
    browser's request, or one riding on the session cookie alone, must carry it."""
    if from_a_browser(request):
        return True
    return basic is None and "Authorization" not in request.headers


ADMIN_SESSION = web.RequestKey("admin_session", AdminSession)
CSRF_HEADER = "X-CSRF-Token"


@routes.get("/api/session")
async def get_session(request: web.Request) -> web.Response:
    """The page's CSRF token (readable only by the booth's own pages: no CORS here)."""
    return web.json_response(
        {"csrf_token": request[ADMIN_SESSION].csrf_token, "header": CSRF_HEADER},
        headers={"Cache-Control": "no-store"},
    )


def _iso(moment: datetime | None) -> str | None:
    moment = manager.aware(moment)
    return moment.isoformat() if moment else None


def job_row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "capture_id": job.capture_id,
        "booth": job.capture.booth_id,
        "mode": job.mode,
        "style": job.capture.style,
        "scene": job.capture.scene or OWN,
        "status": job.status.value,
        "stage": job.stage,
        "progress": round(job.progress, 4),
        "attempts": job.attempts,
        "worker": job.worker_id,
        "error": job.error,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "timings": job.timings,
    }


def list_jobs(session: Session, status: str | None, limit: int) -> list[dict[str, Any]]:
    found = manager.list_jobs(session, JobStatus(status) if status else None, limit)
    return [job_row(job) for job in found]


@routes.get("/api/jobs")
async def get_jobs(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status and status not in JobStatus.__members__:
        raise ApiError(400, "bad_request", f"status must be one of: {', '.join(JobStatus)}")
    jobs = await run_db(request, list_jobs, status, query_limit(request))
    return web.json_response({"jobs": jobs})


def _change(action: str) -> Callable[[Session, str], dict[str, Any] | None]:
    def change(session: Session, job_id: str) -> dict[str, Any] | None:
        job = (manager.retry if action == "retry" else manager.cancel)(session, job_id)
        if job is None:
            return None
        session.flush()
        return job_row(job)

    return change


async def _job_action(request: web.Request, action: str) -> web.Response:
    job_id = request.match_info["job_id"]
    row = await run_db(request, _change(action), job_id)  # JobConflict: a 409
    if row is None:
        raise not_found(f"job {job_id!r}")
    return web.json_response(row)


@routes.post("/api/jobs/{job_id}/retry")
async def retry_job(request: web.Request) -> web.Response:
    return await _job_action(request, "retry")


@routes.post("/api/jobs/{job_id}/cancel")
async def cancel_job(request: web.Request) -> web.Response:
    return await _job_action(request, "cancel")


@routes.get("/api/settings")
async def get_settings(request: web.Request) -> web.Response:
    values = await run_db(request, event_settings.load, request.config_dict[SETTINGS])
    return web.json_response(values)


def _choices() -> dict[str, list[dict[str, str]]]:
    return {
        "styles": [{"name": name, "title": style.title} for name, style in STYLES.items()],
        "scenes": [{"name": s.name, "title": s.title} for s in selectable_scenes()],
    }


@routes.get("/api/network")
async def get_network(request: web.Request) -> web.Response:
    """Where phones reach the booth (the QR codes' base), the booth's and this page's
    addresses, and what stands in the phones' way with its fix (kiosk/network.py)."""
    serving = request.config_dict[LINKS].public_base
    reach = reachability(request.config_dict[SETTINGS], serving=serving)
    return web.json_response(reach.as_json(), headers={"Cache-Control": "no-store"})


@routes.get("/api/choices")
async def get_choices(_request: web.Request) -> web.Response:
    """Every painting and scene the event settings can offer."""
    return web.json_response(_choices())


@routes.put("/api/settings")
async def put_settings(request: web.Request) -> web.StreamResponse:
    changes = await read_json(request, "send the settings as a JSON object")
    scene_names = [scene.name for scene in selectable_scenes()]
    checked = event_settings.validate(changes, scene_names)  # or 400
    await run_db(request, event_settings.save, checked)
    return await get_settings(request)


@routes.post("/api/purge")
async def purge_data(request: web.Request) -> web.Response:
    """Delete the guests' captures older than ``older_than_hours`` (0: every one)."""
    expected = 'send {"older_than_hours": N}, N from 0 (everything) to 10000'
    hours = (await read_json(request, expected)).get("older_than_hours")
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 <= hours <= 10_000:
        raise ApiError(400, "bad_request", expected)
    before = utcnow() - timedelta(hours=hours)
    report = await run_db(request, purge.delete_records, before)
    await run_io(request, purge.delete_folders, request.config_dict[STORE], report)
    return web.json_response(
        {
            "deleted": len(report.captures),
            "skipped_active": report.skipped_active,
            "failed_folders": report.failed_folders,
            "orphans_removed": len(report.orphans),
        }
    )


ADMIN_PAGE = Path(__file__).resolve().parent.parent / "booth_ui" / "admin.html"


@routes.get("/")
async def admin_page(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(ADMIN_PAGE, headers={"Cache-Control": "no-cache"})


def create_admin_app(login: AdminLogin) -> web.Application:
    admin = web.Application(middlewares=[admin_auth])
    admin[LOGIN] = login
    admin.add_routes(routes)
    admin.add_routes(print_desk.routes)  # the orders: kiosk/print_desk.py
    admin.add_routes(admin_gallery.routes)  # the gallery screen's items: hide, show
    admin.add_routes(admin_prints.routes)  # the photo printer's queue: cancel, reprint
    return admin
