"""The operator's gallery panel (``booth_ui/js/admin_gallery.js``): the latest finished
paintings, the hidden and the opted-out ones too, each with a thumbnail; hide and show again.

Hiding is the operator's own flag (``captures.gallery_hidden``): showing a painting again
never overrules a guest who said "don't show me" (``gallery_opt_out``), which the panel
shows and cannot change. Routes of the admin sub-app (``kiosk/admin.py``): behind the admin
session, every change with its CSRF token.
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from kiosk.dbio import run_db
from kiosk.errors import ApiError, not_found
from kiosk.gallery import DEFAULT_ITEMS, style_words
from kiosk.keys import STORE
from kiosk.queue import manager
from kiosk.queue.manager import GalleryRow
from kiosk.security import query_limit, read_json
from kiosk.storage.serve import respond

routes = web.RouteTableDef()

MOST_ITEMS = 200


def panel_row(row: GalleryRow, admin: web.UrlDispatcher) -> dict[str, Any]:
    """An item as the panel shows it: on the gallery or not, and why."""
    thumb = admin["admin_gallery_image"].url_for(item_id=row.id).with_query(v=row.sha256[:12])
    return {
        "id": row.id,
        **style_words(row.style),
        "thumb_url": str(thumb),
        "hidden": row.hidden,
        "opted_out": row.opted_out,
        "shown": not (row.hidden or row.opted_out),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }


def panel(session: Session, limit: int, admin: web.UrlDispatcher) -> list[dict[str, Any]]:
    return [panel_row(row, admin) for row in manager.gallery_items(session, limit, everyone=True)]


@routes.get("/api/gallery", name="admin_gallery")
async def get_gallery(request: web.Request) -> web.Response:
    """``{"items": [...]}``: the latest finished paintings, newest first, shown or not."""
    limit = query_limit(request, DEFAULT_ITEMS * 2, MOST_ITEMS)
    items = await run_db(request, panel, limit, request.app.router)
    return web.json_response({"items": items}, headers={"Cache-Control": "no-store"})


@routes.put("/api/gallery/{item_id}")
async def put_item(request: web.Request) -> web.Response:
    """``{"hidden": true}`` hides the painting from every gallery screen at its next look;
    ``false`` shows it again (unless its guest opted out)."""
    item_id = request.match_info["item_id"]
    hidden = (await read_json(request, 'send {"hidden": true} or {"hidden": false}')).get("hidden")
    if not isinstance(hidden, bool):
        raise ApiError(400, "bad_request", 'hidden must be true or false: {"hidden": true}')
    row = await run_db(request, manager.set_gallery_hidden, item_id, hidden)
    if row is None:
        raise not_found(f"finished painting {item_id!r}")
    return web.json_response(panel_row(row, request.app.router))


@routes.get("/api/gallery/{item_id}/painting.jpg", name="admin_gallery_image")
async def item_image(request: web.Request) -> web.StreamResponse:
    """The painting for the panel's thumbnail, whether it is on the gallery or not."""
    item_id = request.match_info["item_id"]
    row = await run_db(request, functools.partial(manager.gallery_item, everyone=True), item_id)
    if row is None:
        raise not_found(f"finished painting {item_id!r}")
    store = request.config_dict[STORE]
    headers = {"Cache-Control": "private, no-cache"}
    return await respond(request, store, row.path, content_type="image/jpeg", headers=headers)
