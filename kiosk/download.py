"""The guest's phone page: ``/d/<token>`` (the QR code's link), the painting and its print master.

The token is per capture and unguessable (256 random bits); any other token is a 404 that
says nothing about which captures exist.

The page is written here, whole, in the event's name and the booth's look (``booth_ui/phone.css``):
the painting, a Download button for the best resolution rendered (the print master once an
order has painted one, else the booth's painting), a Share button, and the guest's orders with
their status. While anything is still being made it marks itself live, and ``/ui/js/phone.js``
fetches this same page every few seconds and swaps in what changed (no inline script: the CSP
allows none); without JavaScript a ``<noscript>`` meta refresh does the same.

A guest may leave the booth with the QR code while the HQ painting is still being made: the
page then shows the newest picture (the fast one, then each preview) with the painting's
progress, pushed over ``/d/<token>/ws`` by the job's one poller (``kiosk.watch``), until
the final painting replaces it. Everything here is keyed by the token: the job's id, which
the booth's own routes take, is never on the page.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session
from yarl import URL

from db.models import Capture, Job, JobStatus, Lane, OrderStatus, ResultKind
from kiosk import event_settings, order_book, watch
from kiosk.dbio import run_db
from kiosk.keys import LINKS, SETTINGS, STORE, WATCHERS
from kiosk.links import Links
from kiosk.orders import PRODUCT_TITLES
from kiosk.queue import manager
from kiosk.storage.serve import respond

routes = web.RouteTableDef()

TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
REFRESH_S = 4  # how often a live page looks again (phone.js, or the meta refresh without it)
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
# What Download and Share offer: the print master once there is one, else the booth's painting.
OFFERS = {
    "print": ("download_print", "stylebooth.png", "image/png"),
    "painting": ("download_painting", "stylebooth.jpg", "image/jpeg"),
}
UNITS = {("sticker", "size"): " in"}  # a sticker's size is its longest side in inches
# The pictures of a painting in the making, the newest kind first.
LIVE_KINDS = (ResultKind.FINAL, ResultKind.PREVIEW, ResultKind.FAST)

# The page's look, kept as a stylesheet of its own and written into the page: an inline
# <style> the CSP allows by its hash (kiosk.security), so the first paint needs no second request.
UI = Path(__file__).resolve().parent.parent / "booth_ui"
STYLE = "".join((UI / name).read_text() for name in ("palette.css", "fonts.css", "phone.css"))
PAGE = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>"""
    + STYLE
    + """</style>
<script type="module" src="/ui/js/phone.js"></script>
$refresh</head>
<body data-live="$live" data-refresh-s="$refresh_s" data-ws="$ws"><main>
<p class="kicker">StyleBooth</p><h1>$title</h1>
$body
</main></body></html>
"""
)


def page(
    title: str, body: str, *, status: int = 200, live: bool = False, ws: str = ""
) -> web.Response:
    """The page in the event's name; ``live``: it refreshes itself (phone.js, or without
    JavaScript the ``<noscript>`` meta refresh); ``ws``: where phone.js follows the painting
    in the making."""
    refresh = f'<noscript><meta http-equiv="refresh" content="{REFRESH_S}"></noscript>\n'
    text = Template(PAGE).substitute(
        title=html.escape(title),
        body=body,
        refresh=refresh if live else "",
        live="1" if live else "",
        refresh_s=REFRESH_S,
        ws=html.escape(ws),
    )
    return web.Response(text=text, status=status, content_type="text/html", headers=HEADERS)


def not_found() -> web.Response:
    return page(
        "Link not found",
        '<p class="note">This download link is not valid. Scan the QR code at the booth again.</p>',
        status=404,
    )


def hq_job_id(session: Session, token: str) -> str | None:
    """The id of the token's HQ job (the painting a phone follows); None for an unknown
    token. Kept on the server: the page and its socket name only the token."""
    return session.scalar(
        select(Job.id)
        .join(Capture, Capture.id == Job.capture_id)
        .where(Capture.token == token, Job.mode == Lane.HQ)
        .order_by(Job.created_at)
        .limit(1)
    )


def phone_view(session: Session, token: str) -> dict[str, Any] | None:
    """Everything the phone page shows, read in one go: ``manager.download_state`` (the
    booth's painting, whether it is still being painted), the painting in the making (its
    HQ job's status, progress and pictures, ``manager.job_state``), the print master (path
    and pixel size) and the capture's orders (``order_book.capture_orders``); None for an
    unknown token. Read-only."""
    state = manager.download_state(session, token)
    capture_id = session.scalar(select(Capture.id).where(Capture.token == token))
    if state is None or capture_id is None:
        return None
    master = manager.stored_results(session, capture_id, (ResultKind.PRINT,)).get(ResultKind.PRINT)
    job_id = hq_job_id(session, token)
    job = manager.job_state(session, job_id) if job_id else None
    making = None
    if job is not None:
        versions = {ResultKind(kind): sha[:12] for kind, sha in job.versions.items()}
        making = (job.status.value, job.progress, job.queue_position, versions)
    return {
        **state,
        "making": making,
        "print": {"path": master.path, "size": master.size} if master else None,
        "orders": order_book.capture_orders(session, capture_id) or [],
    }


Making = tuple[str, float, int, dict[ResultKind, str]]  # status, progress, ahead, versions


def making_text(status: str, progress: float, ahead: int) -> str:
    """Where the painting in the making is, in words."""
    if status == JobStatus.done:
        return "Your painting is finished."
    if status in (JobStatus.failed, JobStatus.cancelled):
        return "The finer painting could not be made; this is your picture."
    if status == JobStatus.queued and ahead:
        who = "guest" if ahead == 1 else "guests"
        return f"Your painting is being finished: {ahead} {who} ahead of you."
    if status == JobStatus.queued:
        return "Your painting is being finished: it starts in a moment."
    return f"Your painting is being finished: {round(100 * progress)} %."


def live_json(making: Making, links: Links, token: str) -> dict[str, Any]:
    """What the phone's socket sends: the status, the progress in words and as a number,
    and the newest picture's token-keyed URL (``kind``: fast, preview, final)."""
    status, progress, ahead, versions = making
    picture = None
    for kind in LIVE_KINDS:
        if kind in versions:
            url = links.path(
                "download_picture", {"v": versions[kind]}, token=token, kind=kind.value
            )
            picture = {"kind": kind.value, "url": url}
            break
    return {
        "status": status,
        "progress": round(progress, 4) if status != JobStatus.done else 1.0,
        "text": making_text(status, progress, ahead),
        "picture": picture,
    }


def making_of(job: dict[str, Any]) -> Making:
    """The painting in the making from the job's JSON (``kiosk.job_view.job_json``, what the
    watch's poller reads): the pictures' versions are their URLs' ``v``."""
    versions = {}
    for kind in LIVE_KINDS:
        url = job.get(f"{kind.value}_url")
        if url:
            versions[kind] = URL(url).query.get("v", "")
    return job["status"], float(job["progress"]), int(job["queue_position"]), versions


def print_master(session: Session, token: str) -> str | None:
    """The stored path of the capture's print master; None without one (or for an unknown
    token)."""
    capture_id = session.scalar(select(Capture.id).where(Capture.token == token))
    if capture_id is None:
        return None
    found = manager.stored_results(session, capture_id, (ResultKind.PRINT,))
    return found[ResultKind.PRINT].path if ResultKind.PRINT in found else None


def _version(path: str) -> str:
    """A short tag of a stored picture, so a changed picture gets a new URL (and phone.js
    swaps only what changed)."""
    return hashlib.sha256(path.encode()).hexdigest()[:12]


def describe_options(product: str, options: dict[str, Any]) -> str:
    """``T-shirt · size M · colour black · layout full``: what was ordered, in one line."""
    parts = [PRODUCT_TITLES.get(product, product)]
    parts += [f"{name} {value}{UNITS.get((product, name), '')}" for name, value in options.items()]
    return " · ".join(parts)


def order_status(order: dict[str, Any]) -> str:
    """The order's status in words, with its progress while it paints and the reason if it
    failed."""
    status = OrderStatus(order["status"])
    text = order["status_text"]
    if status == OrderStatus.painting:
        return f"{text}: {round(100 * order['progress'])} %"
    if status == OrderStatus.failed:
        reason = f": {order['error']}" if order["error"] else ""
        return f"{text}{reason}. Please ask at the print desk."
    if status == OrderStatus.files_ready:
        return f"{text}: the print desk makes it next."
    return text


def orders_html(orders: list[dict[str, Any]]) -> str:
    """The guest's orders: number, what, status in words, a progress bar while open."""
    if not orders:
        return ""
    items = []
    for order in orders:
        status = OrderStatus(order["status"])
        number = html.escape(order["number"])
        what = html.escape(describe_options(order["product"], order["options"]))
        progress = ""
        if status in order_book.OPEN:
            progress = f'<progress max="1" value="{order["progress"]:.3f}"></progress>'
        items.append(
            f'<li class="order" data-status="{status.value}" data-number="{number}">'
            f'<div class="order-head"><strong class="number">{number}</strong>'
            f'<span class="product">{what}</span></div>'
            f'<p class="order-status">{html.escape(order_status(order))}</p>{progress}</li>'
        )
    return (
        '<h2>Your orders</h2><p class="note">Show the number at the print desk.</p>'
        f'<ol class="orders">{"".join(items)}</ol>'
    )


def making_html(view: dict[str, Any], links: Links, token: str) -> str:
    """The painting while its HQ render is still queued or running: the newest picture, the
    progress bar and the sentence, which phone.js updates from the socket."""
    live = live_json(view["making"], links, token)
    picture = live["picture"]
    figure = '<p class="note">Your painting is still being made.</p>'
    if picture is not None:
        figure = (
            f'<figure class="painting making"><img id="painting" src="{picture["url"]}" '
            f'data-kind="{picture["kind"]}" alt="Your painting, still being painted"></figure>'
        )
    return (
        f"{figure}"
        f'<div class="making-progress"><progress id="making-progress" max="1" '
        f'value="{live["progress"]:.3f}"></progress>'
        f'<p class="note status" id="making-status">{html.escape(live["text"])}</p>'
        '<p class="note">This page updates by itself: keep it open, or come back to it '
        "later.</p></div>"
    )


def painting_html(view: dict[str, Any], links: Links, token: str) -> str:
    """The painting, its Download and Share buttons: the print master when there is one
    (the best resolution rendered), else the booth's painting. The picture on the page is
    the booth's JPEG, a few hundred kB where the print master is megabytes of PNG."""
    shown = links.path("download_painting", token=token, query={"v": _version(view["painting"])})
    master = view["print"]
    route, name, kind = OFFERS["print" if master else "painting"]
    path = master["path"] if master else view["painting"]
    note = "Print quality: {} × {} pixels.".format(*master["size"]) if master else ""
    best = links.path(route, token=token, query={"v": _version(path)})
    download = links.path(route, token=token, query={"v": _version(path), "download": "1"})
    return (
        f'<figure class="painting"><img id="painting" src="{shown}" data-kind="final" '
        'alt="Your painting"></figure>'
        '<div class="buttons">'
        f'<a class="button primary" id="download" href="{download}" download="{name}">Download</a>'
        f'<button class="button" id="share" type="button" hidden data-file="{best}" '
        f'data-name="{name}" data-type="{kind}">Share</button>'
        "</div>"
        f'<p class="note" id="download-note">{html.escape(note)}</p>'
    )


@routes.get("/d/{token}", name="download_page")
async def download_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    view = await run_db(request, phone_view, token) if TOKEN.match(token) else None
    if view is None:
        return not_found()
    values = await run_db(request, event_settings.load, request.config_dict[SETTINGS])
    ordering = any(OrderStatus(order["status"]) in order_book.OPEN for order in view["orders"])
    live = view["painting_now"] or ordering
    links = request.config_dict[LINKS]
    if view["painting_now"] and view["making"] is not None:
        body = making_html(view, links, token)
    elif view["painting"] is None:
        body = '<p class="note">Your painting is still being made. This page updates by itself.</p>'
    else:
        body = painting_html(view, links, token)
    status = ""
    if ordering and view["painting_now"]:
        status = "Your order is made from your painting once it is finished."
    elif ordering:
        status = "Your order is being painted at print size; this page updates by itself."
    body += (
        f'<section id="live"><p class="note status">{status}</p>'
        f"{orders_html(view['orders'])}</section>"
    )
    ws = links.path("download_ws", token=token) if view["painting_now"] else ""
    return page(values["event_name"], body, live=live, ws=ws)


async def _serve(
    request: web.Request, path: str | None, filename: str, content_type: str
) -> web.StreamResponse:
    """The stored picture from the app's store (streamed from S3, or the local file); with
    ``?download`` as an attachment named ``filename``. A picture on record whose file is
    gone from the store is a 404 that says so (``respond``), not a 500."""
    if path is None:
        return not_found()
    return await respond(
        request,
        request.config_dict[STORE],
        path,
        content_type=content_type,
        headers=HEADERS,
        filename=filename if "download" in request.query else None,
    )


@routes.get("/d/{token}/painting.jpg", name="download_painting")
async def download_painting(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    found = await run_db(request, manager.download_state, token) if TOKEN.match(token) else None
    painting = found["painting"] if found else None
    return await _serve(request, painting, "stylebooth.jpg", "image/jpeg")


@routes.get("/d/{token}/print.png", name="download_print")
async def download_print(request: web.Request) -> web.StreamResponse:
    """The print master: the painting at the largest size an order has had painted."""
    token = request.match_info["token"]
    path = await run_db(request, print_master, token) if TOKEN.match(token) else None
    return await _serve(request, path, "stylebooth.png", "image/png")


def picture_path(session: Session, token: str, kind: str) -> str | None:
    """The stored path of the token's picture of ``kind`` (fast, preview, final)."""
    if kind not in {k.value for k in LIVE_KINDS}:
        return None
    capture_id = session.scalar(select(Capture.id).where(Capture.token == token))
    if capture_id is None:
        return None
    found = manager.result_paths(session, capture_id, (ResultKind(kind),))
    return found.get(ResultKind(kind))


@routes.get("/d/{token}/picture/{kind}.jpg", name="download_picture")
async def download_picture(request: web.Request) -> web.StreamResponse:
    """A picture of the painting in the making: the fast one, the newest preview, the final."""
    token, kind = request.match_info["token"], request.match_info["kind"]
    path = await run_db(request, picture_path, token, kind) if TOKEN.match(token) else None
    return await _serve(request, path, f"stylebooth-{kind}.jpg", "image/jpeg")


@routes.get("/d/{token}/ws", name="download_ws")
async def download_ws(request: web.Request) -> web.StreamResponse:
    """The painting in the making, pushed to the phone each time it changes
    (``live_json``), from the same one poller per job as the booth's job socket
    (``kiosk.watch``); closed once the painting is over. An unknown token: the page's 404."""
    token = request.match_info["token"]
    job_id = await run_db(request, hq_job_id, token) if TOKEN.match(token) else None
    if job_id is None:
        return not_found()
    registry = request.config_dict[WATCHERS]
    watched = registry.join(job_id)  # over a cap: a JSON 429/503; phone.js then refreshes
    try:
        # Shielded: a phone leaving before the upgrade must not cancel the shared read.
        if await asyncio.shield(watched.first) is None:
            return not_found()
        links = request.config_dict[LINKS]
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        await watch.follow(
            request, ws, watched, view=lambda job: live_json(making_of(job), links, token)
        )
        return ws
    finally:
        registry.leave(watched)
