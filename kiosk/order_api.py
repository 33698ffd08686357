"""The guest's orders (docs/print-orders.md): place one, follow them, preview a product.

An order is taken at once (a number, status received) and made in the background: its print
job paints the capture at print size and makes the files (``kiosk.queue.print_job.run_print``).
The booth and the phone page follow it with ``GET …/orders``. A product preview (the design
on a tee, a mug, a sticker) is drawn in the export process from local copies of the
painting and its mask (``FileStore.local_copy``: the files themselves, or downloads from S3)
and kept in the store under the capture's folder, so every booth server finds it and it goes
with the guest's purge.
"""

from __future__ import annotations

import functools
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from export.specs import normalize_options
from kiosk import event_settings, order_book
from kiosk.config import Settings
from kiosk.dbio import run_db, run_io
from kiosk.errors import ApiError, not_found
from kiosk.keys import EXPORT_POOL, LINKS, SETTINGS, STORE
from kiosk.links import Links
from kiosk.orders import ON_SITE, PRODUCT_TITLES, preview_png
from kiosk.printing.label import photo_label
from kiosk.printing.spooler import PRINTER
from kiosk.queue import manager
from kiosk.security import read_json
from kiosk.storage import FileStore, MissingFile, capture_dir
from kiosk.storage.serve import respond
from render.files import sha256_bytes

routes = web.RouteTableDef()

PREVIEW_WIDTH = 480  # the booth's preview panel; the phone shows the same picture


def _product(name: Any) -> str:
    if name not in PRODUCT_TITLES:
        raise ApiError(
            400, "unknown_product", f"product must be one of: {', '.join(PRODUCT_TITLES)}"
        )
    return str(name)


def guest_order(order: dict[str, Any], links: Links) -> dict[str, Any]:
    """``order_book.detail`` as the guest API sends it: the product's title, and the print
    files' URLs once they are ready."""
    roles = order.pop("file_roles")
    files = [{"role": role, "url": links.export_file(order["export_id"], role)} for role in roles]
    return {
        **order,
        "title": PRODUCT_TITLES.get(order["product"], order["product"]),
        "files": files,
    }


def _on_site(request: web.Request, product: str, quantity: Any) -> None:
    """A photo print is taken only where a printer is set, and at most ``print_copies_max``
    copies at once (400s in words); other products pass."""
    settings: Settings = request.config_dict[SETTINGS]
    if product != ON_SITE:
        return
    if not settings.printer:
        raise ApiError(400, "unknown_product", "this booth has no printer: photo prints are "
                       "not offered here")  # fmt: skip
    most = settings.print_copies_max
    if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > most:
        raise ApiError(400, "bad_order", f"at most {most} copies of a photo print, not {quantity}")


def print_note(request: web.Request, product: str) -> str | None:
    """What the guest is told of a photo print: "queued" when the printer takes prints now,
    "ask_host" when it is stopped, missing or off (the spooler's last look: no CUPS call)."""
    if product != ON_SITE:
        return None
    watch = request.config_dict.get(PRINTER)
    return "queued" if watch is not None and watch.status.usable else "ask_host"


def _place(session: Session, settings: Settings, **order: Any) -> dict[str, Any] | None:
    prefix = event_settings.load(session, settings)["order_prefix"]
    placed = order_book.place(session, prefix=prefix, **order)
    return None if placed is None else order_book.detail(session, placed)


@routes.post("/api/captures/{capture_id}/orders", name="orders")
async def create_order(request: web.Request) -> web.Response:
    capture_id = request.match_info["capture_id"]
    body = await read_json(
        request, 'send the order as JSON: {"product": ..., "options": {}, "quantity": 1}'
    )
    product = _product(body.get("product"))
    _on_site(request, product, body.get("quantity", 1))
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "bad_request", "options must be a JSON object")
    # A bad option is an ExportError naming it, a bad quantity an OrderRefused: 400s.
    try:
        placed = await run_db(
            request,
            functools.partial(
                _place,
                settings=request.config_dict[SETTINGS],
                capture_id=capture_id,
                product=product,
                options=normalize_options(product, options),
                quantity=body.get("quantity", 1),
            ),
        )
    except order_book.NotPainted as exc:
        raise ApiError(409, "not_ready", str(exc)) from None
    if placed is None:
        raise not_found(f"capture {capture_id!r}")
    order = guest_order(placed, request.config_dict[LINKS])
    order["print_note"] = print_note(request, product)
    return web.json_response({"order": order, "title": order["title"]}, status=201)


@routes.get("/api/captures/{capture_id}/orders", name="capture_orders")
async def list_orders(request: web.Request) -> web.Response:
    capture_id = request.match_info["capture_id"]
    orders = await run_db(request, order_book.capture_orders, capture_id)
    if orders is None:
        raise not_found(f"capture {capture_id!r}")
    links = request.config_dict[LINKS]
    return web.json_response(
        {"orders": [guest_order(order, links) for order in orders]},
        headers={"Cache-Control": "no-store"},
    )


def preview_key(capture_id: str, design: str) -> str:
    """The store key of a product preview: the capture's ``previews/`` folder, named by a
    hash of what is drawn (the painting's sha256, the product and options, the width)."""
    name = sha256_bytes(design.encode())[:24]
    return (capture_dir(capture_id) / "previews" / f"{name}.png").as_posix()


async def _draw_preview(
    request: web.Request,
    store: FileStore,
    sources: dict[str, Any],
    product: str,
    options: dict[str, Any],
    label: tuple[str, ...] = (),
) -> bytes:
    """The preview drawn in the export process, which reads the painting (and mask) from
    paths: local copies held, on the I/O pool, for as long as the drawing takes. A source
    gone from the store is a 404 naming it."""
    with ExitStack() as held:

        async def local(key: str) -> Path:
            try:
                return await run_io(request, held.enter_context, store.local_copy(key))
            except MissingFile:
                raise ApiError(
                    404,
                    "missing_file",
                    f"{key}, which this preview is drawn from, is no longer stored (purged, "
                    "or lost): take a new photo, or ask the staff",
                ) from None

        source = await local(sources["source"])
        alpha = await local(sources["alpha"]) if sources["alpha"] else None
        return await request.config_dict[EXPORT_POOL].call(
            preview_png, source, alpha, product, options, PREVIEW_WIDTH, label
        )


@routes.get("/api/captures/{capture_id}/preview/{product}.png", name="product_preview")
async def product_preview(request: web.Request) -> web.StreamResponse:
    """The design on the product, drawn once per painting and choice and kept in the store
    (a painting whose file is gone from the store: a 404 that says so)."""
    store = request.config_dict[STORE]
    capture_id = request.match_info["capture_id"]
    product = _product(request.match_info["product"])
    options = normalize_options(product, dict(request.query))  # a bad option: a 400
    sources = await run_db(request, manager.preview_sources, capture_id)
    if sources is None:
        raise not_found(f"capture {capture_id!r}")
    if sources["source"] is None:
        raise ApiError(409, "not_ready", order_book.NOT_YET)
    label: tuple[str, ...] = ()
    if product == ON_SITE:  # the photo print's label, as its print will have it
        settings = request.config_dict[SETTINGS]
        label = await run_db(request, photo_label, capture_id, settings)
    design = f"{sources['sha256']} {product} {sorted(options.items())} {PREVIEW_WIDTH}"
    design += f" {list(label)}" if label else ""
    key = preview_key(capture_id, design)
    if await run_io(request, store.stat, key) is None:
        png = await _draw_preview(request, store, sources, product, options, label)
        await run_io(request, functools.partial(store.put, key, png, sha256=sha256_bytes(png)))
    headers = {"Cache-Control": "private, max-age=3600"}
    return await respond(request, store, key, content_type="image/png", headers=headers)
