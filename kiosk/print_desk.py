"""The print desk: the operator's orders API, on the admin sub-app (behind its password and
CSRF token, ``kiosk/admin.py``).

``GET /admin/api/orders`` lists orders newest first, each as ``order_book.detail`` plus what
the desk shows: the painting's thumbnail, the print files' URLs, the slip's URL, the words
for its options and the actions its status allows. ``POST …/{number}/printed``,
``…/collected``, ``…/reprint`` and ``…/retry`` change it (409 with a sentence for a change
its status does not allow, 404 for an unknown number); ``GET …/{number}/slip.pdf`` is the
order slip (``export/slip.py``); ``POST …/batch`` the ZIP hand-off (``kiosk/handoff.py``).

Every database and file call runs on the I/O pool and the slip's drawing on a thread: a
batch of large print files never holds up a guest's request. Pictures and print files are
read through the app's ``FileStore``; only the hand-off's ZIP spool is a local temporary
file (in the data directory, whose free space is checked first).
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from datetime import UTC, datetime
from typing import IO, Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Job, Lane, Order, OrderStatus, Result, ResultKind
from export.slip import Slip, order_slip
from kiosk import event_settings, handoff, order_book
from kiosk.config import Settings
from kiosk.dbio import run_db, run_io
from kiosk.diskspace import free_mb
from kiosk.errors import ApiError, not_found
from kiosk.keys import LINKS, SETTINGS, STORE
from kiosk.links import Links
from kiosk.orders import PRODUCT_TITLES
from kiosk.printing import book as prints
from kiosk.security import query_limit, read_json
from kiosk.storage import FileStore, MissingFile

routes = web.RouteTableDef()

# What the desk may do from each status: the page shows these buttons, the routes refuse
# anything else (409) with the action's sentence.
ACTIONS = {
    OrderStatus.received: (),
    OrderStatus.painting: (),
    OrderStatus.files_ready: ("printed",),
    OrderStatus.printed: ("collected", "reprint"),
    OrderStatus.collected: ("reprint",),
    OrderStatus.failed: ("retry",),
}
REFUSED = {
    "printed": "only an order whose print files are ready can be marked printed",
    "collected": "only a printed order can be marked collected",
    "reprint": "only a printed order can be reprinted",
    "retry": "only a failed order can be retried",
}
# The status as the desk says it (the guest's words, order_book.STATUS_TEXT, address guests).
LABELS = {
    OrderStatus.received: "Received",
    OrderStatus.painting: "Painting at print size",
    OrderStatus.files_ready: "Files ready",
    OrderStatus.printed: "Printed",
    OrderStatus.collected: "Collected",
    OrderStatus.failed: "Failed",
}
REPRINT_NOTE = "reprinted at the print desk"
SEND_CHUNK = 1024 * 1024


# --- what the desk reads ----------------------------------------------------------------------


def option_words(product: str, options: dict[str, Any]) -> list[str]:
    """An order's options as a person says them ("Size M", "Shirt white", …)."""
    if product == "tee":
        layout = "the people only" if options.get("layout") == "people" else "the full picture"
        return [f"Size {options['size']}", f"Shirt {options['colour']}", f"Print {layout}"]
    if product == "sticker":
        return [f"{options['size']} in die-cut"]
    if product == "photo":
        size = options["size"].replace("x", " × ")
        return [f"{size} in", f"Orientation {options['orientation']}"]
    return [f"{options['size'].replace('oz', ' oz')}", f"Layout {options['layout']}"]


def _pictures(session: Session, capture_ids: set[str]) -> dict[str, str]:
    """capture id → an HQ job id whose final painting exists (the image route's key)."""
    painted = select(Result.capture_id).where(
        Result.capture_id.in_(capture_ids), Result.kind == ResultKind.FINAL
    )
    rows = session.execute(
        select(Job.capture_id, Job.id).where(Job.capture_id.in_(painted), Job.mode == Lane.HQ)
    )
    return {capture_id: job_id for capture_id, job_id in rows}


def desk_rows(
    session: Session, orders: list[Order], links: Links, desk: web.UrlDispatcher
) -> list[dict[str, Any]]:
    """The orders as the desk shows them (see the module's docstring)."""
    pictures = _pictures(session, {order.capture_id for order in orders})
    rows = []
    for order in orders:
        row = order_book.detail(session, order)
        job, export_id = pictures.get(order.capture_id), order.export_id
        files = (
            [
                {"role": role, "url": links.export_file(export_id, role)}
                for role in row["file_roles"]
            ]
            if export_id
            else []
        )
        row.update(
            product_title=PRODUCT_TITLES.get(order.product, order.product),
            option_words=option_words(order.product, dict(order.options)),
            thumbnail_url=links.path("job_image", job_id=job, kind="final") if job else None,
            files=files,
            slip_url=str(desk["desk_slip"].url_for(number=order.number)),
            status_label=LABELS[OrderStatus(order.status)],
            actions=list(ACTIONS[OrderStatus(order.status)]),
        )
        rows.append(row)
    return rows


def list_orders(
    session: Session,
    status: OrderStatus | None,
    limit: int,
    links: Links,
    desk: web.UrlDispatcher,
) -> list[dict[str, Any]]:
    """The newest orders first (``order_book.newest``), as the desk shows them."""
    return desk_rows(session, order_book.newest(session, status, limit), links, desk)


def _status(request: web.Request) -> OrderStatus | None:
    status = request.query.get("status") or None
    if status is not None and status not in OrderStatus.__members__:
        raise ApiError(400, "bad_request", f"status must be one of: {', '.join(OrderStatus)}")
    return OrderStatus(status) if status else None


@routes.get("/api/orders", name="desk_orders")
async def get_orders(request: web.Request) -> web.Response:
    rows = await run_db(
        request,
        list_orders,
        _status(request),
        query_limit(request),
        request.config_dict[LINKS],
        request.app.router,
    )
    return web.json_response({"orders": rows}, headers={"Cache-Control": "no-store"})


# --- what the desk changes --------------------------------------------------------------------


def change(session: Session, number: str, action: str) -> Order | None:
    """Apply one of the desk's actions; None for an unknown number, ``OrderConflict`` (a
    409 with a sentence) when the order's status does not allow it (``ACTIONS``)."""
    order = order_book.by_number(session, number)
    if order is None:
        return None
    status = OrderStatus(order.status)
    if action not in ACTIONS[status]:
        hint = " (use Reprint to print it again)" if "reprint" in ACTIONS[status] else ""
        raise order_book.OrderConflict(
            f"order {order.number} ({LABELS[status].lower()}): {REFUSED[action]}{hint}"
        )
    if action == "retry":
        return order_book.retry_order(session, order.number)
    target = OrderStatus.collected if action == "collected" else OrderStatus.printed
    marked = order_book.mark(
        session, order.number, target, REPRINT_NOTE if action == "reprint" else None
    )
    if action == "reprint" and order.product == prints.PHOTO:  # on the booth's printer again
        prints.reprint_order(session, order.id)
    return marked


def _changed_row(
    session: Session, number: str, action: str, links: Links, desk: web.UrlDispatcher
) -> dict[str, Any] | None:
    order = change(session, number, action)
    if order is None:
        return None
    session.flush()
    session.refresh(order)  # its events, with the database's times
    return desk_rows(session, [order], links, desk)[0]


async def _order_action(request: web.Request, action: str) -> web.Response:
    number = request.match_info["number"]
    links = request.config_dict[LINKS]
    row = await run_db(request, _changed_row, number, action, links, request.app.router)
    if row is None:
        raise not_found(f"order {number!r}")
    return web.json_response(row)


@routes.post("/api/orders/{number}/printed", name="desk_printed")
async def mark_printed(request: web.Request) -> web.Response:
    return await _order_action(request, "printed")


@routes.post("/api/orders/{number}/collected", name="desk_collected")
async def mark_collected(request: web.Request) -> web.Response:
    return await _order_action(request, "collected")


@routes.post("/api/orders/{number}/reprint", name="desk_reprint")
async def mark_reprinted(request: web.Request) -> web.Response:
    """Printed again (a smudge, a second copy): noted in its history; it stays printed, or
    is printed again after it was collected."""
    return await _order_action(request, "reprint")


@routes.post("/api/orders/{number}/retry", name="desk_retry")
async def retry(request: web.Request) -> web.Response:
    """A failed order back to received, with a new print job."""
    return await _order_action(request, "retry")


# --- the slip ---------------------------------------------------------------------------------


def _local(moment: datetime | None) -> str:
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone().strftime("%d %b %Y, %H:%M")


def slip_for(
    session: Session, number: str, settings: Settings, links: Links
) -> tuple[Slip, str | None] | None:
    """What the order's slip shows, and the store key of its picture (the final painting;
    None without one); None for an unknown number. The slip's ``picture`` is filled in by
    ``draw_slip``, from a local copy of that key."""
    order = order_book.by_number(session, number)
    if order is None:
        return None
    final = session.scalar(
        select(Result.path).where(
            Result.capture_id == order.capture_id, Result.kind == ResultKind.FINAL
        )
    )
    status = OrderStatus(order.status)
    notes = []
    if any(event.note == REPRINT_NOTE for event in order.events):
        notes.append("Reprint")
    if status == OrderStatus.failed:
        notes.append(f"Not made: {order.error or 'see the print desk'}")
    slip = Slip(
        number=order.number,
        product=PRODUCT_TITLES.get(order.product, order.product),
        details=tuple(option_words(order.product, dict(order.options))),
        quantity=order.quantity,
        download_url=links.download(order.capture.token),
        event_name=event_settings.load(session, settings)["event_name"],
        ordered_at=_local(order.created_at),
        notes=tuple(notes),
    )
    return slip, final


def draw_slip(store: FileStore, slip: Slip, picture: str | None) -> bytes:
    """The slip's PDF, its picture read from a local copy of ``picture`` in the store. A
    picture gone from the store still prints the slip, with the frame that says so: the
    order number matters more than the thumbnail. Blocking (store and drawing): on a thread."""
    if picture is None:
        return order_slip(slip)
    try:
        with store.local_copy(picture) as path:
            return order_slip(dataclasses.replace(slip, picture=path))
    except MissingFile:
        return order_slip(slip)


@routes.get("/api/orders/{number}/slip.pdf", name="desk_slip")
async def get_slip(request: web.Request) -> web.Response:
    number = request.match_info["number"]
    settings, links = request.config_dict[SETTINGS], request.config_dict[LINKS]
    found = await run_db(request, slip_for, number, settings, links)
    if found is None:
        raise not_found(f"order {number!r}")
    slip, picture = found
    pdf = await asyncio.to_thread(draw_slip, request.config_dict[STORE], slip, picture)
    return web.Response(
        body=pdf,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{slip.number}-slip.pdf"',
            "Cache-Control": "no-store",
        },
    )


# --- the batch hand-off -----------------------------------------------------------------------


def _check_room(orders: list[handoff.BatchOrder], store: FileStore, settings: Settings) -> None:
    """Refuse (507) a hand-off whose ZIP, spooled in the data directory, would leave less
    than ``min_free_mb`` on that disk (the files' sizes from the store; a missing one is
    the hand-off's to name)."""
    stats = (store.stat(f.key) for o in orders for f in o.files)
    needed = sum(stat.size for stat in stats if stat is not None)
    needed_mb, free = needed / (1024 * 1024), free_mb(settings.data_dir)
    if free - needed_mb < settings.min_free_mb:
        raise ApiError(
            507,
            "insufficient_storage",
            f"the hand-off needs {needed_mb:.0f} MB and the data disk has {free:.0f} MB free "
            f"({settings.min_free_mb} MB must stay free): hand off fewer orders at once, or "
            "purge old guests' data",
        )


def _fill(orders: list[handoff.BatchOrder], store: FileStore, spool: IO[bytes]) -> int:
    """Write the ZIP into ``spool`` and rewind it; its size."""
    handoff.write_zip(orders, spool, store)
    size = spool.tell()
    spool.seek(0)
    return size


def _zip_name(orders: list[handoff.BatchOrder]) -> str:
    """``stylebooth-20261202-1405-A-042.zip``, or ``…-1405-12-orders.zip`` for several."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    what = orders[0].number if len(orders) == 1 else f"{len(orders)}-orders"
    return f"stylebooth-{stamp}-{what}.zip"


@routes.post("/api/orders/batch", name="desk_batch")
async def post_batch(request: web.Request) -> web.StreamResponse:
    """The ZIP of the selected orders' print files and their manifest, streamed from a
    temporary file in chunks."""
    numbers = handoff.order_numbers(await read_json(request, 'send {"numbers": [...]}'))
    settings, store = request.config_dict[SETTINGS], request.config_dict[STORE]
    orders, unknown = await run_db(request, handoff.collect, numbers)
    if unknown:
        raise not_found(f"order{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    await run_io(request, _check_room, orders, store, settings)
    # Unnamed (O_TMPFILE) on the data disk: nothing is left behind, whatever happens.
    with tempfile.TemporaryFile(dir=settings.data_dir) as spool:
        size = await run_io(request, _fill, orders, store, spool)
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": f'attachment; filename="{_zip_name(orders)}"',
                "Cache-Control": "no-store",
            }
        )
        response.content_length = size
        await response.prepare(request)
        while chunk := await run_io(request, spool.read, SEND_CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response
