"""The operator's print queue: the photo printer's state and each submission to it, with
cancel and reprint (on the admin sub-app, behind its password and CSRF token).

``GET /admin/api/prints`` → ``{"printer": PrinterStatus.as_json(), "prints": [...]}`` (the
printer as the spooler last saw it, never a CUPS call in the request; each print newest
first: order number, copies, CUPS's state and reasons, age). ``POST …/prints/{id}/cancel``
cancels it (Cancel-Job in CUPS when CUPS holds it), ``POST …/prints/{id}/reprint`` queues a
new submission of the same order (``kiosk/printing/book.py``).
"""

from __future__ import annotations

from aiohttp import web

from kiosk.dbio import run_db
from kiosk.errors import ApiError, not_found
from kiosk.order_book import OrderConflict
from kiosk.printing import book, cups, ipp, spooler
from kiosk.security import query_limit

routes = web.RouteTableDef()


def printer_json(request: web.Request) -> dict[str, object]:
    watch = request.config_dict.get(spooler.PRINTER)
    if watch is None:  # an app without the spooler (admin tests of other parts)
        return cups.PrinterStatus("off", [], "the print spooler is not running").as_json()
    return watch.status.as_json()


@routes.get("/api/prints")
async def get_prints(request: web.Request) -> web.Response:
    prints = await run_db(request, book.listing, query_limit(request, default=50, most=500))
    return web.json_response(
        {"printer": printer_json(request), "prints": prints},
        headers={"Cache-Control": "no-store"},
    )


@routes.post("/api/prints/{print_id}/cancel")
async def cancel_print(request: web.Request) -> web.Response:
    print_id = request.match_info["print_id"]
    try:
        outcome = await spooler.cancel(request, print_id)
    except (ipp.Unreachable, cups.PrintRefused) as exc:
        raise ApiError(
            503, "printer_unavailable", f"CUPS could not cancel the print: {exc}; try again"
        ) from None
    if outcome is None:
        raise not_found(f"print {print_id!r}")
    if outcome == "done":
        raise ApiError(409, "conflict", "this print has finished already: nothing to cancel")
    return web.json_response({"cancelled": print_id})


@routes.post("/api/prints/{print_id}/reprint")
async def reprint(request: web.Request) -> web.Response:
    print_id = request.match_info["print_id"]
    try:
        new_id = await run_db(request, book.reprint_id, print_id)
    except OrderConflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    if new_id is None:
        raise not_found(f"print {print_id!r}")
    return web.json_response({"queued": new_id}, status=201)
