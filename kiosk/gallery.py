"""The venue's gallery screen: ``/gallery`` on a TV or a tablet cycles through the latest
paintings, each with its painting's title and a QR code to that guest's phone page.

What it shows is ``manager.gallery_items``: finished paintings (the HQ job done) whose guest
did not say "don't show me" (``PUT /api/captures/{id}/gallery``, from the result screen) and
the operator did not hide (``kiosk.admin_gallery``). Nothing on the screen names a capture
or a job: those ids are bearer keys (a capture id places orders, a job id shows the photo).
An item is named by its final painting's result id, its picture and QR code are served only
while it is on the gallery, and the QR code carries the guest's download link (the token),
never an id.

Live updates: the page polls ``GET /api/gallery`` every ``REFRESH_S`` seconds with
``If-None-Match``, and an unchanged answer is a 304 with no body. Chosen over a WebSocket or
Server-Sent Events because it is the one mechanism that is the same on SQLite and
PostgreSQL, passes every proxy, needs no socket cap or per-screen state on the server, and
survives the server restarting with nothing to reconnect: a failed poll is simply tried
again. A screen costs one indexed query every few seconds, and a painting that appears a
few seconds after it is finished is still there before its guest has walked over.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from kiosk import event_settings
from kiosk.config import Settings
from kiosk.dbio import run_db
from kiosk.errors import ApiError, not_found
from kiosk.keys import LINKS, SETTINGS, STORE
from kiosk.links import Links
from kiosk.media import qr_png
from kiosk.queue import manager
from kiosk.queue.manager import GalleryRow
from kiosk.security import query_limit, read_json
from kiosk.storage.serve import respond
from render.styles import STYLES

routes = web.RouteTableDef()

PAGE = Path(__file__).resolve().parent.parent / "booth_ui" / "gallery.html"
REFRESH_S = 3  # how often the screen asks for news (gallery.js)
DEFAULT_ITEMS, MOST_ITEMS = 12, 50
REVALIDATE = {"Cache-Control": "no-cache"}  # kept, but asked again each time (ETag, 304)


def style_words(style: str) -> dict[str, str]:
    """The painting's title and artist (a style no longer offered keeps its name)."""
    preset = STYLES.get(style)
    return {"title": preset.title if preset else style, "artist": preset.artist if preset else ""}


def item_json(row: GalleryRow, links: Links) -> dict[str, Any]:
    """An item as the screen shows it; the picture's URL changes when the painting does."""
    return {
        "id": row.id,
        **style_words(row.style),
        "image_url": links.path("gallery_image", {"v": row.sha256[:12]}, item_id=row.id),
        "qr_url": links.path("gallery_qr", item_id=row.id),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }


def gallery_view(session: Session, settings: Settings, links: Links, limit: int) -> dict[str, Any]:
    items = manager.gallery_items(session, limit)
    return {
        "event_name": event_settings.load(session, settings)["event_name"],
        "refresh_s": REFRESH_S,
        "items": [item_json(row, links) for row in items],
    }


def conditional(request: web.Request, body: bytes, content_type: str) -> web.Response:
    """``body`` with a strong ETag of its bytes, or a bodiless 304 when the client has it."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {**REVALIDATE, "ETag": etag}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type=content_type, headers=headers)


@routes.get("/gallery", name="gallery_page")
async def gallery_page(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGE, headers=REVALIDATE)


@routes.get("/api/gallery", name="gallery")
async def gallery(request: web.Request) -> web.Response:
    """The event's name and the latest paintings on the gallery, newest first."""
    limit = query_limit(request, DEFAULT_ITEMS, MOST_ITEMS)
    settings, links = request.config_dict[SETTINGS], request.config_dict[LINKS]
    view = await run_db(request, gallery_view, settings, links, limit)
    body = json.dumps(view, ensure_ascii=False, separators=(",", ":")).encode()
    return conditional(request, body, "application/json")


async def _shown_item(request: web.Request) -> GalleryRow:
    item_id = request.match_info["item_id"]
    row = await run_db(request, manager.gallery_item, item_id)
    if row is None:
        raise not_found(f"painting {item_id!r} on the gallery")
    return row


@routes.get("/api/gallery/{item_id}/painting.jpg", name="gallery_image")
async def gallery_image(request: web.Request) -> web.StreamResponse:
    """The painting, only while it is on the gallery (hidden, opted out, purged: a 404)."""
    row = await _shown_item(request)
    store = request.config_dict[STORE]
    return await respond(request, store, row.path, content_type="image/jpeg", headers=REVALIDATE)


@routes.get("/api/gallery/{item_id}/qr.png", name="gallery_qr")
async def gallery_qr(request: web.Request) -> web.Response:
    """The QR code of the guest's phone page (``kiosk.links``: on the public base)."""
    row = await _shown_item(request)
    url = request.config_dict[LINKS].download(row.token)
    return conditional(request, await asyncio.to_thread(qr_png, url), "image/png")


# --- the guest's choice -----------------------------------------------------------------


@routes.get("/api/captures/{capture_id}/gallery", name="capture_gallery")
async def get_choice(request: web.Request) -> web.Response:
    """``{"show": bool}``: whether the guest's painting may appear on the gallery."""
    capture_id = request.match_info["capture_id"]
    opted_out = await run_db(request, manager.gallery_opt_out, capture_id)
    if opted_out is None:
        raise not_found(f"capture {capture_id!r}")
    return web.json_response({"show": not opted_out}, headers={"Cache-Control": "no-store"})


@routes.put("/api/captures/{capture_id}/gallery")
async def put_choice(request: web.Request) -> web.Response:
    """The result screen's "Don't show me on the gallery": ``{"show": false}`` (and back).
    The capture id in the path is the authorisation, as for the booth's orders; the change
    shows on every gallery screen at its next look."""
    capture_id = request.match_info["capture_id"]
    show = (await read_json(request, 'send {"show": true} or {"show": false}')).get("show")
    if not isinstance(show, bool):
        raise ApiError(400, "bad_request", 'show must be true or false: {"show": false}')
    if not await run_db(request, manager.set_gallery_opt_out, capture_id, not show):
        raise not_found(f"capture {capture_id!r}")
    return web.json_response({"show": show})
