"""The guest API (no login): config, thumbnails, captures, job status and images, orders.

Files are only ever reached through ids: a route looks the row up and serves the path the
database holds, never a path taken from the URL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from sqlalchemy.orm import Session

from db.models import Capture, Export, Job, new_id
from kiosk import event, jobs
from kiosk.dbio import run_db
from kiosk.errors import ApiError, not_found
from kiosk.keys import EXPORT_POOL, SETTINGS
from kiosk.media import qr_png, scene_names, thumbnail
from kiosk.network import public_base
from kiosk.orders import PRODUCT_NAMES, PRODUCTS, OrderError
from kiosk.storage import MAX_PHOTO_SIDE, PHOTO, capture_dir, fit, resolve, save_image
from render.images import ImageError, load_image
from render.styles import STYLES

routes = web.RouteTableDef()

SOURCES = ("camera", "upload")
FIELD_LIMIT = 1024  # bytes of a text field of the capture form


def links(request: web.Request) -> jobs.Links:
    """URLs as the guest API writes them; the phones' base never comes from the request."""
    return jobs.Links(public_base(request.config_dict[SETTINGS]))


# --- config and thumbnails ----------------------------------------------------------------


@routes.get("/api/config")
async def config(request: web.Request) -> web.Response:
    settings = request.config_dict[SETTINGS]
    values = await run_db(request, event.load, settings)
    from render.scenes import list_scenes

    scenes = [s for s in await asyncio.to_thread(list_scenes) if s.name != "own"]
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
                    "thumb_url": f"/api/styles/{name}/thumb.jpg",
                }
                for name in style_names
                if name in STYLES
            ],
            "scenes": [{"name": "own", "title": "Keep my background", "thumb_url": None}]
            + [
                {
                    "name": scene.name,
                    "title": scene.title,
                    "thumb_url": f"/api/scenes/{scene.name}/thumb.jpg",
                }
                for scene in scenes
                if scene_filter is None or scene.name in scene_filter
            ],
            "products": PRODUCTS,
            "max_upload_mb": settings.max_upload_mb,
        }
    )


async def _thumb(request: web.Request, kind: str, known: list[str]) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in known:
        raise not_found(f"{kind[:-1]} {name!r}")
    cache_dir = request.config_dict[SETTINGS].data_dir / "cache" / "thumbs"
    path = await asyncio.to_thread(thumbnail, cache_dir, kind, name)
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


@routes.get("/api/styles/{name}/thumb.jpg")
async def style_thumb(request: web.Request) -> web.FileResponse:
    return await _thumb(request, "styles", list(STYLES))


@routes.get("/api/scenes/{name}/thumb.jpg")
async def scene_thumb(request: web.Request) -> web.FileResponse:
    return await _thumb(request, "scenes", await asyncio.to_thread(scene_names))


# --- captures -------------------------------------------------------------------------------


async def read_capture_form(request: web.Request) -> tuple[bytes, dict[str, str]]:
    """The photo's bytes and the text fields, refusing oversized uploads as they stream in."""
    limit = request.config_dict[SETTINGS].max_upload_mb * 1024 * 1024
    too_large = ApiError(
        413,
        "too_large",
        f"the photo is larger than {request.config_dict[SETTINGS].max_upload_mb} MB",
    )
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise too_large
    if not request.content_type.startswith("multipart/"):
        raise ApiError(
            400, "bad_request", "send the photo as multipart/form-data in a field named 'photo'"
        )
    reader = await request.multipart()
    photo: bytearray | None = None
    fields: dict[str, str] = {}
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "bad_request", "nested multipart forms are not accepted")
        if part.name == "photo":
            photo = bytearray()
            while chunk := await part.read_chunk(256 * 1024):
                photo += chunk
                if len(photo) > limit:
                    raise too_large
        elif part.name in {"style", "scene", "source"}:
            data = await part.read_chunk(FIELD_LIMIT + 1)
            if len(data) > FIELD_LIMIT or await part.read_chunk(1):
                raise ApiError(400, "bad_request", f"the field {part.name!r} is too long")
            fields[part.name] = data.decode("utf-8", "replace").strip()
        else:  # unknown fields are read and ignored (bounded by the same limit)
            size = 0
            while chunk := await part.read_chunk(256 * 1024):
                size += len(chunk)
                if size > limit:
                    raise too_large
    if photo is None:
        raise ApiError(400, "bad_image", "no photo: send the image in a field named 'photo'")
    return bytes(photo), fields


def _store_photo(data: bytes, data_dir: Path, capture_id: str) -> tuple[str, tuple[int, int]]:
    image = fit(load_image(data), MAX_PHOTO_SIDE)
    relative = capture_dir(capture_id) / PHOTO
    save_image(resolve(data_dir, relative), image, quality=95)
    return str(relative), image.size


@routes.post("/api/captures")
async def create_capture(request: web.Request) -> web.Response:
    settings = request.config_dict[SETTINGS]
    data, fields = await read_capture_form(request)
    values = await run_db(request, event.load, settings)
    style = fields.get("style") or ""
    allowed_styles = values["styles"] or list(STYLES)
    if style not in allowed_styles:
        raise ApiError(
            400, "unknown_style", f"unknown style {style!r}; choose one of: {', '.join(STYLES)}"
        )
    scene = fields.get("scene") or "own"
    if scene != "own":
        allowed_scenes = values["scenes"] or await asyncio.to_thread(scene_names)
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
    try:
        photo_path, size = await asyncio.to_thread(
            _store_photo, data, settings.data_dir, capture_id
        )
    except ImageError as exc:
        raise ApiError(400, "bad_image", str(exc)) from None
    job = await run_db(
        request,
        lambda session: jobs.create_capture(
            session,
            capture_id=capture_id,
            source=source,
            photo_path=photo_path,
            size=size,
            style=style,
            scene=None if scene == "own" else scene,
            options=jobs.job_options(settings),
        ),
    )
    url = f"/api/jobs/{job.id}"
    return web.json_response(
        {"capture_id": capture_id, "job_id": job.id, "status_url": url, "ws_url": f"{url}/ws"},
        status=201,
        headers={"Location": url},
    )


# --- jobs -------------------------------------------------------------------------------------


async def describe(request: web.Request, job_id: str) -> dict[str, Any]:
    state = await run_db(request, jobs.describe, job_id, links(request))
    if state is None:
        raise not_found(f"job {job_id!r}")
    return state


@routes.get("/api/jobs/{job_id}")
async def get_job(request: web.Request) -> web.Response:
    state = await describe(request, request.match_info["job_id"])
    return web.json_response(state, headers={"Cache-Control": "no-store"})


@routes.get("/api/jobs/{job_id}/images/{kind}.jpg")
async def job_image(request: web.Request) -> web.FileResponse:
    job_id, kind = request.match_info["job_id"], request.match_info["kind"]
    path = await run_db(request, jobs.image_for, job_id, kind)
    if path is None:
        raise not_found(f"{kind} image of job {job_id!r}")
    return web.FileResponse(
        resolve(request.config_dict[SETTINGS].data_dir, path),
        headers={"Cache-Control": "no-cache"},
    )


def _download_url(session: Session, job_id: str, link: jobs.Links) -> str | None:
    job = session.get(Job, job_id)
    return None if job is None else link.download(job.capture.token)


@routes.get("/api/jobs/{job_id}/qr.png")
async def job_qr(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    url = await run_db(request, _download_url, job_id, links(request))
    if url is None:
        raise not_found(f"job {job_id!r}")
    png = await asyncio.to_thread(qr_png, url)
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})


# --- orders ---------------------------------------------------------------------------------


def _order_sources(session: Session, capture_id: str) -> dict[str, Any] | None:
    capture = session.get(Capture, capture_id)
    if capture is None:
        return None
    results = {r.kind: r for r in capture.results}
    source = results.get("master") or results.get("final")
    alpha = results.get("alpha")
    return {
        "source": source.path if source else None,
        "result_id": source.id if source else None,
        "alpha": alpha.path if alpha else None,
    }


@routes.post("/api/captures/{capture_id}/orders")
async def create_order(request: web.Request) -> web.Response:
    settings = request.config_dict[SETTINGS]
    capture_id = request.match_info["capture_id"]
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "bad_request", "send the order as JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", 'send a JSON object: {"product": ..., "options": {}}')
    product, options = body.get("product"), body.get("options") or {}
    if product not in PRODUCT_NAMES:
        raise ApiError(
            400, "unknown_product", f"product must be one of: {', '.join(PRODUCT_NAMES)}"
        )
    if not isinstance(options, dict):
        raise ApiError(400, "bad_request", "options must be a JSON object")
    sources = await run_db(request, _order_sources, capture_id)
    if sources is None:
        raise not_found(f"capture {capture_id!r}")
    if sources["source"] is None:
        raise ApiError(409, "not_ready", "the painting is not finished yet; order when it is")
    data_dir = settings.data_dir
    try:
        export_id, files, notes = await request.config_dict[EXPORT_POOL].run(
            settings.db_url,
            resolve(data_dir, sources["source"]),
            product,
            options,
            resolve(data_dir, Path("exports") / capture_id),
            resolve(data_dir, sources["alpha"]) if sources["alpha"] else None,
            sources["result_id"],
            data_dir,
        )
    except OrderError as exc:
        raise ApiError(400, "bad_options", str(exc)) from None
    return web.json_response(
        {
            "export_id": export_id,
            "product": product,
            "files": [
                {"role": role, "url": f"/api/exports/{export_id}/files/{role}"} for role in files
            ],
            "notes": notes,
        },
        status=201,
    )


def _export_file(session: Session, export_id: str, role: str) -> str | None:
    export = session.get(Export, export_id)
    if export is None:
        return None
    entry = export.files.get(role)
    if isinstance(entry, dict):
        entry = entry.get("path")
    return entry if isinstance(entry, str) else None


@routes.get("/api/exports/{export_id}/files/{role}")
async def export_file(request: web.Request) -> web.FileResponse:
    export_id, role = request.match_info["export_id"], request.match_info["role"]
    path = await run_db(request, _export_file, export_id, role)
    if path is None:
        raise not_found(f"file {role!r} of export {export_id!r}")
    try:
        full = resolve(request.config_dict[SETTINGS].data_dir, path)
    except ValueError:
        raise not_found(f"file {role!r} of export {export_id!r}") from None
    return web.FileResponse(
        full, headers={"Content-Disposition": f'attachment; filename="{full.name}"'}
    )
