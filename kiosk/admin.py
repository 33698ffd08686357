"""The admin API: a sub-app under ``/admin`` behind HTTP Basic auth (the admin password).

With no admin password configured the whole sub-app answers 403: the operator side is off.
``GET /admin/`` is the operator's page (booth_ui/admin.html); the rest is its JSON API.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from db.models import Export, Job, JobStatus, Result, utcnow
from kiosk import event, jobs, purge
from kiosk.dbio import run_db
from kiosk.errors import ApiError, error_response, not_found
from kiosk.keys import SETTINGS
from kiosk.media import scene_names

REALM = 'Basic realm="StyleBooth admin", charset="UTF-8"'
routes = web.RouteTableDef()


def _password_ok(header: str, password: str) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    _user, _, given = decoded.partition(":")  # any user name; the password is what counts
    return secrets.compare_digest(given.encode(), password.encode())


@web.middleware
async def basic_auth(request: web.Request, handler):  # type: ignore[no-untyped-def]
    password = request.config_dict[SETTINGS].admin_password
    if not password:
        return error_response(
            403, "admin_disabled", "the admin page is off: set STYLEBOOTH_ADMIN_PASSWORD"
        )
    if not _password_ok(request.headers.get("Authorization", ""), password):
        return error_response(
            401, "unauthorized", "the admin password is needed", {"WWW-Authenticate": REALM}
        )
    return await handler(request)


def _iso(moment: datetime | None) -> str | None:
    moment = jobs.aware(moment)
    return moment.isoformat() if moment else None


def job_row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "capture_id": job.capture_id,
        "mode": job.mode,
        "style": job.capture.style,
        "scene": job.capture.scene or "own",
        "status": job.status.value,
        "stage": job.stage,
        "progress": round(job.progress, 4),
        "attempts": job.attempts,
        "worker": job.worker,
        "error": job.error,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "heartbeat_at": _iso(job.heartbeat_at),
        "finished_at": _iso(job.finished_at),
        "timings": job.timings,
    }


def list_jobs(session: Session, status: str | None, limit: int) -> list[dict[str, Any]]:
    query = select(Job).options(selectinload(Job.capture)).order_by(Job.created_at.desc())
    if status:
        query = query.where(Job.status == JobStatus(status))
    return [job_row(job) for job in session.scalars(query.limit(limit))]


@routes.get("/api/jobs")
async def get_jobs(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status and status not in JobStatus.__members__:
        raise ApiError(400, "bad_request", f"status must be one of: {', '.join(JobStatus)}")
    return web.json_response({"jobs": await run_db(request, list_jobs, status, _limit(request))})


def _change(action: str):  # type: ignore[no-untyped-def]
    def change(session: Session, job_id: str) -> dict[str, Any] | None:
        job = (jobs.retry if action == "retry" else jobs.cancel)(session, job_id)
        if job is None:
            return None
        session.flush()
        return job_row(job)

    return change


async def _job_action(request: web.Request, action: str) -> web.Response:
    job_id = request.match_info["job_id"]
    try:
        row = await run_db(request, _change(action), job_id)
    except ValueError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
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
    return web.json_response(await run_db(request, event.load, request.config_dict[SETTINGS]))


def _choices() -> dict[str, list[dict[str, str]]]:
    from render.scenes import list_scenes
    from render.styles import STYLES

    return {
        "styles": [{"name": name, "title": style.title} for name, style in STYLES.items()],
        "scenes": [{"name": s.name, "title": s.title} for s in list_scenes() if s.name != "own"],
    }


@routes.get("/api/choices")
async def get_choices(_request: web.Request) -> web.Response:
    """Every painting and scene the event settings can offer."""
    return web.json_response(await asyncio.to_thread(_choices))


@routes.put("/api/settings")
async def put_settings(request: web.Request) -> web.Response:
    try:
        changes = await request.json()
    except ValueError:
        raise ApiError(400, "bad_request", "send the settings as a JSON object") from None
    if not isinstance(changes, dict):
        raise ApiError(400, "bad_request", "send the settings as a JSON object")
    try:
        checked = event.validate(changes, await asyncio.to_thread(scene_names))
    except ValueError as exc:
        raise ApiError(400, "bad_setting", str(exc)) from None
    await run_db(request, event.save, checked)
    return await get_settings(request)


def list_exports(session: Session, limit: int) -> list[dict[str, Any]]:
    query = (
        select(Export, Result.capture_id)
        .outerjoin(Result, Export.result_id == Result.id)
        .order_by(Export.created_at.desc())
        .limit(limit)
    )
    return [
        {
            "id": export.id,
            "capture_id": capture_id,
            "product": export.product,
            "options": export.options,
            "created_at": _iso(export.created_at),
            "files": [
                {"role": role, "url": f"/api/exports/{export.id}/files/{role}"}
                for role in export.files
            ],
        }
        for export, capture_id in session.execute(query)
    ]


def _limit(request: web.Request) -> int:
    try:
        return min(1000, max(1, int(request.query.get("limit", "100"))))
    except ValueError:
        raise ApiError(400, "bad_request", "limit must be a whole number") from None


@routes.get("/api/exports")
async def get_exports(request: web.Request) -> web.Response:
    """The latest orders' print files, newest first (for reprints)."""
    return web.json_response({"exports": await run_db(request, list_exports, _limit(request))})


@routes.post("/api/purge")
async def purge_data(request: web.Request) -> web.Response:
    """Delete the guests' captures older than ``older_than_hours`` (0: every one)."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    hours = body.get("older_than_hours") if isinstance(body, dict) else None
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 <= hours <= 10_000:
        raise ApiError(
            400, "bad_request", 'send {"older_than_hours": N}, N from 0 (everything) to 10000'
        )
    before = utcnow() - timedelta(hours=hours)
    report = await run_db(request, purge.delete_records, before)
    await asyncio.to_thread(purge.delete_folders, request.config_dict[SETTINGS].data_dir, report)
    return web.json_response(
        {
            "deleted": len(report.captures),
            "skipped_active": report.skipped_active,
            "failed_folders": report.failed_folders,
        }
    )


ADMIN_PAGE = Path(__file__).resolve().parent.parent / "booth_ui" / "admin.html"


@routes.get("/")
async def admin_page(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(ADMIN_PAGE, headers={"Cache-Control": "no-cache"})


def create_admin_app() -> web.Application:
    admin = web.Application(middlewares=[basic_auth])
    admin.add_routes(routes)
    return admin
