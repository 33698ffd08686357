"""The guest API (no login): config, thumbnails, captures, job status and images, print files
(orders are ``kiosk/order_api.py``).

Files are only ever reached through ids: a route looks the row up and serves the key the
database holds, never a path taken from the URL. Every file is read and written through the
app's ``FileStore`` (``kiosk.storage``: a local directory, or an S3 bucket several booth
servers and render workers share) and served by ``kiosk.storage.serve.respond``; a stored
file that is gone is a JSON 404, never a 500.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import PurePosixPath
from typing import IO, Any

from aiohttp import web
from sqlalchemy.orm import Session

from db.models import Job, new_id
from kiosk import event_settings
from kiosk.dbio import run_db, run_io
from kiosk.diskspace import low_disk
from kiosk.errors import ApiError, not_found
from kiosk.exports import stored_file
from kiosk.job_view import describe, painter_alive
from kiosk.keys import LINKS, SETTINGS, STORE, UPLOADS
from kiosk.links import Links
from kiosk.media import qr_png, thumbnail, thumbnail_key
from kiosk.orders import offered
from kiosk.queue import manager
from kiosk.queue.jobs import job_options
from kiosk.storage import (
    MAX_GUEST_PIXELS,
    MAX_PHOTO_SIDE,
    PHOTO,
    BadKey,
    FileStore,
    capture_dir,
    check_key,
    encode,
    pending_path,
)
from kiosk.storage.serve import respond
from render.files import sha256_bytes
from render.images import fit_long_side, load_image
from render.scenes import OWN, selectable_scenes
from render.styles import STYLES

routes = web.RouteTableDef()

SOURCES = ("camera", "upload")


# --- config and thumbnails ----------------------------------------------------------------


@routes.get("/api/config", name="config")
async def config(request: web.Request) -> web.Response:
    settings = request.config_dict[SETTINGS]
    values = await run_db(request, event_settings.load, settings)
    links = request.config_dict[LINKS]
    scenes = selectable_scenes()
    style_names = values["styles"] or list(STYLES)
    scene_filter = values["scenes"]
    return web.json_response(
        {
            "event_name": values["event_name"],
            "idle_timeout_s": values["idle_timeout_s"],
            "countdown_s": values["countdown_s"],
            "styles": [
                {
                    "name": name,
                    "title": STYLES[name].title,
                    "artist": STYLES[name].artist,
                    "thumb_url": links.path("style_thumb", name=name),
                }
                for name in style_names
                if name in STYLES
            ],
            "scenes": [{"name": OWN, "title": "Keep my background", "thumb_url": None}]
            + [
                {
                    "name": scene.name,
                    "title": scene.title,
                    "thumb_url": links.path("scene_thumb", name=scene.name),
                }
                for scene in scenes
                if scene_filter is None or scene.name in scene_filter
            ],
            "products": offered(settings),
            "max_upload_mb": settings.max_upload_mb,
        }
    )


async def _thumb(request: web.Request, kind: str, known: list[str]) -> web.StreamResponse:
    """A style's or scene's thumbnail: made once (drawing on a thread), kept in the store."""
    name = request.match_info["name"]
    if name not in known:
        raise not_found(f"{kind[:-1]} {name!r}")
    store = request.config_dict[STORE]
    key = thumbnail_key(kind, name)
    if await run_io(request, store.stat, key) is None:
        await asyncio.to_thread(thumbnail, store, kind, name)
    headers = {"Cache-Control": "public, max-age=86400"}
    return await respond(request, store, key, content_type="image/jpeg", headers=headers)


@routes.get("/api/styles/{name}/thumb.jpg", name="style_thumb")
async def style_thumb(request: web.Request) -> web.StreamResponse:
    return await _thumb(request, "styles", list(STYLES))


@routes.get("/api/scenes/{name}/thumb.jpg", name="scene_thumb")
async def scene_thumb(request: web.Request) -> web.StreamResponse:
    return await _thumb(request, "scenes", [scene.name for scene in selectable_scenes()])


# --- captures -------------------------------------------------------------------------------


def photo_key(capture_id: str) -> str:
    """The store key of a capture's photo (``captures/<id>/photo.jpg``)."""
    return (capture_dir(capture_id) / PHOTO).as_posix()


def pending_key(capture_id: str) -> str:
    """Where the photo waits in the store until its row is inserted
    (``captures/<id>/.pending-photo.jpg``): no worker looks for that name."""
    return pending_path(capture_dir(capture_id) / PHOTO).as_posix()


def _store_photo(
    photo: IO[bytes], store: FileStore, capture_id: str
) -> tuple[str, tuple[int, int]]:
    """Decode the upload and write it, under its pending key, into the capture's folder in
    the store; returns the photo's real key and its size.

    The pixel limit is a camera's (``MAX_GUEST_PIXELS``), checked on the header before any
    pixel is decoded; a JPEG is decoded straight at the smallest 1/2^n scale that still
    covers the stored size (``MAX_PHOTO_SIDE``), so a large photo never sits in memory at
    full size."""
    image = load_image(photo, max_pixels=MAX_GUEST_PIXELS, reduce_to=MAX_PHOTO_SIDE)
    image = fit_long_side(image, MAX_PHOTO_SIDE, enlarge=False)
    data = encode(image, quality=95)
    store.put(pending_key(capture_id), data, sha256=sha256_bytes(data))
    return photo_key(capture_id), image.size


def _record_capture(session: Session, store: FileStore, **capture: Any) -> Job:
    """Insert the capture and its jobs, then give the photo its real key, inside the one
    transaction: if the commit fails, no row points at the file and the caller removes it;
    once the row is visible to a worker (on any host), the photo is already in place."""
    job = manager.create_capture(session, **capture)
    session.flush()  # the INSERT has run (constraints, locks) before the photo is named
    capture_id = capture["capture_id"]
    store.move(pending_key(capture_id), photo_key(capture_id))
    return job


async def _forget_photo(store: FileStore, capture_id: str) -> None:
    """Remove whatever of a capture that has no row is in the store (its pending or placed
    photo). On the default thread pool, not the I/O pool (which may refuse a call when
    full), and shielded: a request cancelled meanwhile (the guest left, the server
    stopping) still leaves no photo behind. Whatever this misses, the purge's orphan sweep
    removes (``kiosk.purge``)."""
    prefix = capture_dir(capture_id).as_posix()
    await asyncio.shield(asyncio.to_thread(store.delete_prefix, prefix))


@routes.post("/api/captures", name="captures")
async def create_capture(request: web.Request) -> web.Response:
    settings = request.config_dict[SETTINGS]
    # A full disk fails in the worst places (half-written paintings, a database that cannot
    # commit): refuse the guest before reading a byte, with the reason (507, RFC 4918 §11.5).
    problem = await run_io(request, low_disk, settings)
    if problem:
        raise ApiError(507, "disk_full", problem)
    gate = request.config_dict[UPLOADS]
    async with gate.capture_form(request) as form:
        fields = form.fields
        values = await run_db(request, event_settings.load, settings)
        style = fields.get("style") or ""
        allowed_styles = values["styles"] or list(STYLES)
        if style not in allowed_styles:
            raise ApiError(
                400, "unknown_style", f"unknown style {style!r}; choose one of: {', '.join(STYLES)}"
            )
        scene = fields.get("scene") or OWN
        if scene != OWN:
            allowed_scenes = values["scenes"] or [s.name for s in selectable_scenes()]
            if scene not in allowed_scenes:
                raise ApiError(
                    400,
                    "unknown_scene",
                    f"unknown scene {scene!r}; choose 'own' or one of: {', '.join(allowed_scenes)}",
                )
        source = fields.get("source") or "upload"
        if source not in SOURCES:
            raise ApiError(400, "bad_request", "source must be 'camera' or 'upload'")
        capture_id = new_id()
        store = request.config_dict[STORE]
        try:
            photo_path, size = await gate.decode(  # an unusable photo: ImageError, a 400
                _store_photo, form.photo, store, capture_id
            )
            job = await run_db(
                request,
                functools.partial(
                    _record_capture,
                    store=store,
                    capture_id=capture_id,
                    source=source,
                    photo_path=photo_path,
                    size=size,
                    style=style,
                    scene=None if scene == OWN else scene,
                    options=job_options(settings),
                    booth_id=settings.booth_id,
                ),
            )
        except BaseException:
            # Whatever went wrong (a bad photo, a locked or read-only database, the server
            # stopping), no guest's photo stays behind without its row: privacy first.
            await _forget_photo(store, capture_id)
            raise
    links = request.config_dict[LINKS]
    url = links.path("job", job_id=job.id)
    ws_url = links.path("job_ws", job_id=job.id)
    return web.json_response(
        {"capture_id": capture_id, "job_id": job.id, "status_url": url, "ws_url": ws_url},
        status=201,
        headers={"Location": url},
    )


# --- jobs -------------------------------------------------------------------------------------


async def job_state(request: web.Request, job_id: str) -> dict[str, Any]:
    # Whether a render worker is alive: a job waiting for none says so (kiosk/job_view.py).
    alive = await painter_alive(request)
    state = await run_db(request, describe, job_id, request.config_dict[LINKS], alive)
    if state is None:
        raise not_found(f"job {job_id!r}")
    return state


@routes.get("/api/jobs/{job_id}", name="job")
async def get_job(request: web.Request) -> web.Response:
    state = await job_state(request, request.match_info["job_id"])
    return web.json_response(state, headers={"Cache-Control": "no-store"})


@routes.get("/api/jobs/{job_id}/images/{kind}.jpg", name="job_image")
async def job_image(request: web.Request) -> web.StreamResponse:
    job_id, kind = request.match_info["job_id"], request.match_info["kind"]
    path = await run_db(request, manager.image_for, job_id, kind)
    if path is None:
        raise not_found(f"{kind} image of job {job_id!r}")
    return await respond(
        request,
        request.config_dict[STORE],
        path,
        content_type="image/jpeg",
        headers={"Cache-Control": "no-cache"},
    )


def _download_url(session: Session, job_id: str, link: Links) -> str | None:
    token = manager.capture_token(session, job_id)
    return None if token is None else link.download(token)


@routes.get("/api/jobs/{job_id}/qr.png", name="job_qr")
async def job_qr(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    url = await run_db(request, _download_url, job_id, request.config_dict[LINKS])
    if url is None:
        raise not_found(f"job {job_id!r}")
    png = await asyncio.to_thread(qr_png, url)
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})


# --- print files ---------------------------------------------------------------------------------


@routes.get("/api/exports/{export_id}/files/{role}", name="export_file")
async def export_file(request: web.Request) -> web.StreamResponse:
    """A print file, as an attachment named like the stored file. A recorded path that is
    not a plain key (``..``, absolute) is not the booth's to serve: a 404 like any other."""
    export_id, role = request.match_info["export_id"], request.match_info["role"]
    path = await run_db(request, stored_file, export_id, role)
    try:
        key = check_key(path) if path is not None else None
    except BadKey:
        key = None
    if key is None:
        raise not_found(f"file {role!r} of export {export_id!r}")
    name = PurePosixPath(key).name
    return await respond(request, request.config_dict[STORE], key, filename=name)
