"""Every query on orders: numbers, creation, status changes and the views people read.

An order's number is what a guest shows at the print desk and what the desk writes on the
bag: the event's prefix and a sequence (``A-042``). The sequence lives in its own row per
prefix (``order_sequences``) and is advanced by an UPDATE in the order's own transaction, so
two guests ordering at the same moment (two booths, two server threads) never get the same
number: SQLite serialises the writes, PostgreSQL locks the row; the unique index on
``orders.number`` is the last guard. A purge deletes orders, never their numbers.

Each status change is an ``OrderEvent`` row with the database's time, written by
``transition`` and nowhere else.

An open order (received or painting) always names a print job that is queued or running
(``kiosk.queue.manager.print_job``): the guest's ``place``, the desk's ``retry_order`` and
the worker's ``sweep_stranded`` (an order whose job ended without it) keep it so. The job is
sized from the capture's own stored print settings, so neither needs the server's settings.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from db.models import (
    Export,
    Job,
    JobStatus,
    Lane,
    Order,
    OrderEvent,
    OrderSequence,
    OrderStatus,
    ResultKind,
)
from kiosk.config import Settings
from kiosk.queue import manager
from kiosk.queue.jobs import ACTIVE, print_size
from render.errors import StyleBoothError

DEFAULT_PREFIX = "A"
PREFIX = re.compile(r"^[A-Z]{1,3}$")  # what the operator may choose: one to three letters
NUMBER_DIGITS = 3  # A-001 … A-999, then A-1000: never truncated
MAX_QUANTITY = 10  # more than this of one design is a call to the staff, not a tap
OPEN = (OrderStatus.received, OrderStatus.painting)  # waiting for their print files

# What a person reads for each status (the booth, the phone page, the print desk).
STATUS_TEXT = {
    OrderStatus.received: "Order received",
    OrderStatus.painting: "Painting at print size",
    OrderStatus.files_ready: "Print files ready",
    OrderStatus.printed: "Printed: collect it at the print desk",
    OrderStatus.collected: "Collected",
    OrderStatus.failed: "Could not be made",
}
# Which changes make sense; anything else is refused with a sentence (``OrderConflict``).
ALLOWED = {
    OrderStatus.received: {OrderStatus.painting, OrderStatus.files_ready, OrderStatus.failed},
    OrderStatus.painting: {OrderStatus.files_ready, OrderStatus.failed, OrderStatus.received},
    OrderStatus.files_ready: {OrderStatus.printed, OrderStatus.received, OrderStatus.failed},
    OrderStatus.printed: {OrderStatus.collected, OrderStatus.printed, OrderStatus.received},
    OrderStatus.collected: {OrderStatus.printed},
    OrderStatus.failed: {OrderStatus.received},
}


class OrderConflict(StyleBoothError, code="conflict"):
    """A status change the order's current status does not allow (answered 409)."""


class OrderRefused(StyleBoothError, code="bad_order"):
    """An order that cannot be taken as asked (a quantity out of range); the message says
    what to send instead (answered 400)."""


class NotPainted(StyleBoothError, code="conflict"):
    """An order for a capture with nothing to print: no picture yet, or an HQ painting that
    failed (answered 409)."""


NOT_YET = "the picture is not ready yet; order once it is on the screen"
UNPAINTED = (
    "this photo's painting could not be finished, so there is nothing to print; "
    "take a new photo, or ask the staff to paint it again"
)
# What the print size is read from, in order: the HQ painting itself; while it is still
# being made, the composite it paints, or the fast picture (of the same composite).
ASPECT_FROM = (ResultKind.MASTER, ResultKind.COMPOSITE, ResultKind.FAST)


def format_number(prefix: str, sequence: int) -> str:
    return f"{prefix}-{sequence:0{NUMBER_DIGITS}d}"


def next_number(session: Session, prefix: str = DEFAULT_PREFIX) -> str:
    """The next order number for ``prefix``, taken in the caller's transaction."""
    if not PREFIX.match(prefix):
        raise StyleBoothError(f"an order prefix is one to three capital letters, not {prefix!r}")
    for _ in range(2):
        advanced = session.execute(
            update(OrderSequence)
            .where(OrderSequence.prefix == prefix)
            .values(last=OrderSequence.last + 1)
            .returning(OrderSequence.last)
        ).scalar()
        if advanced is not None:
            return format_number(prefix, advanced)
        try:  # the prefix's first order: its row is made (another may make it first)
            with session.begin_nested():
                session.add(OrderSequence(prefix=prefix, last=1))
            return format_number(prefix, 1)
        except IntegrityError:
            continue
    raise AssertionError("the order sequence row could neither be advanced nor made")


def create_order(
    session: Session,
    *,
    capture_id: str,
    product: str,
    options: dict[str, Any],
    quantity: int = 1,
    prefix: str = DEFAULT_PREFIX,
    job_id: str | None = None,
) -> Order:
    """A new order (status ``received``, with its first event); ``options`` are already
    normalised by the caller (``export.specs.normalize_options``)."""
    order = Order(
        number=next_number(session, prefix),
        capture_id=capture_id,
        product=product,
        options=options,
        quantity=quantity,
        status=OrderStatus.received,
        job_id=job_id,
    )
    session.add(order)
    session.flush()
    session.add(OrderEvent(order_id=order.id, status=OrderStatus.received))
    session.flush()
    return order


def transition(
    session: Session,
    order: Order,
    status: OrderStatus,
    *,
    note: str | None = None,
    error: str | None = None,
) -> Order:
    """Move ``order`` to ``status`` and record the event; ``OrderConflict`` when the change
    makes no sense from where the order is (collecting an order that was never printed)."""
    current = OrderStatus(order.status)
    if status not in ALLOWED[current]:
        raise OrderConflict(
            f"order {order.number} is {STATUS_TEXT[current].lower()}: it cannot be marked "
            f"{status.value.replace('_', ' ')}"
        )
    order.status = status
    order.error = error if status == OrderStatus.failed else None
    order.updated_at = func.now()  # the database's clock
    session.add(OrderEvent(order_id=order.id, status=status, note=note or error))
    session.flush()
    return order


def by_number(session: Session, number: str) -> Order | None:
    return session.scalar(select(Order).where(Order.number == number.strip().upper()))


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def order_json(order: Order) -> dict[str, Any]:
    """The order as the booth, the phone page and the print desk read it (no file URLs:
    the routes that serve them add those)."""
    status = OrderStatus(order.status)
    return {
        "id": order.id,
        "number": order.number,
        "capture_id": order.capture_id,
        "product": order.product,
        "options": dict(order.options),
        "quantity": order.quantity,
        "status": status.value,
        "status_text": STATUS_TEXT[status],
        "error": order.error,
        "export_id": order.export_id,
        "job_id": order.job_id,
        "created_at": _iso(order.created_at),
        "updated_at": _iso(order.updated_at),
        "events": [
            {"status": event.status.value, "at": _iso(event.at), "note": event.note}
            for event in order.events
        ],
    }


# --- the guest's side -------------------------------------------------------------------------


def place(
    session: Session,
    *,
    capture_id: str,
    product: str,
    options: dict[str, Any],
    quantity: int,
    prefix: str = DEFAULT_PREFIX,
) -> Order | None:
    """Take a guest's order (``options`` normalised by the caller) and give it a print job;
    None for an unknown capture, ``NotPainted`` when there is nothing to print
    (``painted_aspect``). An order placed while the HQ painting is still being made is taken
    as any other: its print job waits for that painting (``manager.WAITS_FOR``)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise OrderRefused(f"quantity must be a whole number from 1 to {MAX_QUANTITY}")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise OrderRefused(f"quantity must be from 1 to {MAX_QUANTITY}, not {quantity}")
    if manager.capture_options(session, capture_id) is None:
        return None
    painted_aspect(session, capture_id)  # something to print, or NotPainted
    # The number first: its UPDATE takes the write lock, so what is read next stays true.
    order = create_order(session, capture_id=capture_id, product=product, options=options,
                         quantity=quantity, prefix=prefix)  # fmt: skip
    attach_print_job(session, order)
    return order


def painted_aspect(session: Session, capture_id: str) -> float:
    """Width over height of the painting an order prints: the HQ painting's; while that is
    still queued or running, the composite's it paints (or the fast picture's). ``NotPainted``
    before the fast picture, and when the HQ painting ended without a painting."""
    active = manager.hq_status(session, capture_id) in ACTIVE
    for kind in ASPECT_FROM if active else ASPECT_FROM[:1]:
        size = manager.result_size(session, capture_id, kind)
        if size is not None:
            return size[0] / size[1]
    raise NotPainted(NOT_YET if active else UNPAINTED)


def needed_size(session: Session, order: Order) -> tuple[int, int]:
    """The print master's pixel size this order's product needs, in the painting's aspect."""
    options = manager.capture_options(session, order.capture_id)
    if options is None:
        raise NotPainted(f"order {order.number}: its painting is gone; it cannot be made")
    aspect = painted_aspect(session, order.capture_id)
    return print_size(options, order.product, dict(order.options), aspect)


def attach_print_job(session: Session, order: Order) -> Job:
    """Give an open order a queued print job big enough for it (joined or new)."""
    options = manager.capture_options(session, order.capture_id)
    assert options is not None  # needed_size checked it
    size = needed_size(session, order)
    job = manager.print_job(session, order.capture_id, options.for_print(size))
    order.job_id = job.id
    session.flush()
    return job


def detail(session: Session, order: Order) -> dict[str, Any]:
    """``order_json`` and what a guest watches: ``progress`` (0..1: its print job's while it
    paints, 1 once the files are ready) and ``file_roles`` (the export's files, once ready)."""
    status = OrderStatus(order.status)
    progress = 0.0
    if status == OrderStatus.painting and order.job_id is not None:
        progress = manager.job_progress(session, order.job_id) or 0.0
    elif status in (OrderStatus.files_ready, OrderStatus.printed, OrderStatus.collected):
        progress = 1.0
    roles: list[str] = []
    if order.export_id is not None and progress == 1.0:
        export = session.get(Export, order.export_id)
        roles = sorted(export.files) if export is not None else []
    return {**order_json(order), "progress": round(progress, 4), "file_roles": roles}


def _taken() -> Any:
    """Each order's first event id: the order in which orders were taken (the database's
    clock gives seconds; event ids only grow)."""
    return (
        select(OrderEvent.order_id, func.min(OrderEvent.id).label("seq"))
        .group_by(OrderEvent.order_id)
        .subquery()
    )


def capture_orders(session: Session, capture_id: str) -> list[dict[str, Any]] | None:
    """A capture's orders, oldest first, each as ``detail``; None for an unknown capture."""
    if manager.capture_options(session, capture_id) is None:
        return None
    taken = _taken()
    orders = session.scalars(
        select(Order)
        .outerjoin(taken, taken.c.order_id == Order.id)
        .where(Order.capture_id == capture_id)
        .options(selectinload(Order.events))
        .order_by(Order.created_at, taken.c.seq)
    )
    return [detail(session, order) for order in orders]


# --- the print desk's side --------------------------------------------------------------------


def newest(session: Session, status: OrderStatus | None, limit: int) -> list[Order]:
    """The newest orders first (of one status, or all), their events loaded: the desk's list."""
    taken = _taken()
    query = (
        select(Order)
        .outerjoin(taken, taken.c.order_id == Order.id)
        .options(selectinload(Order.events))
        .order_by(Order.created_at.desc(), taken.c.seq.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(Order.status == status)
    return list(session.scalars(query))


def by_numbers(session: Session, numbers: list[str]) -> dict[str, Order]:
    """The orders of these numbers (those that exist), by number: the desk's batch."""
    wanted = [number.strip().upper() for number in numbers]
    return {o.number: o for o in session.scalars(select(Order).where(Order.number.in_(wanted)))}


def mark(
    session: Session, number: str, status: OrderStatus, note: str | None = None
) -> Order | None:
    """The desk's change of an order's status (printed, collected, a reprint), by its
    number; None for an unknown number, ``OrderConflict`` for a change that makes no sense."""
    order = by_number(session, number)
    if order is None:
        return None
    transition(session, order, status, note=note)
    if status == OrderStatus.received:  # made again from the start: it needs a print job
        order.export_id = None
        attach_print_job(session, order)
    return order


def retry_order(session: Session, number: str, note: str | None = None) -> Order | None:
    """A failed order back to received, with a print job to make it; None for an unknown
    number, ``OrderConflict`` when it has not failed."""
    order = by_number(session, number)
    if order is None:
        return None
    if OrderStatus(order.status) != OrderStatus.failed:
        raise OrderConflict(
            f"order {order.number} has not failed ({STATUS_TEXT[order.status].lower()}): "
            "there is nothing to retry"
        )
    return mark(session, number, OrderStatus.received, note or "retried")


# --- the worker's side ------------------------------------------------------------------------


def open_orders(session: Session, job_id: str) -> list[Order]:
    """The open orders a print job makes files for, oldest first."""
    return list(
        session.scalars(
            select(Order)
            .where(Order.job_id == job_id, Order.status.in_(OPEN))
            .order_by(Order.created_at, Order.number)
        )
    )


def unpainted_reason(session: Session, capture_id: str) -> str | None:
    """Why the capture's orders cannot be made: its HQ painting ended without a painting
    (failed or cancelled, the orders having been placed while it was still being made);
    None when the painting is there."""
    if manager.result_size(session, capture_id, ResultKind.MASTER) is not None:
        return None
    error = session.scalar(
        select(Job.error)
        .where(Job.capture_id == capture_id, Job.mode == Lane.HQ)
        .order_by(Job.created_at)
        .limit(1)
    )
    because = f" ({error.rstrip('.')})" if error else ""
    return (
        f"the painting could not be finished{because}, so there is nothing to print; the "
        "staff can paint it again on the admin page and then retry this order"
    )


def start_painting(session: Session, job_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """A print job starts: its received orders are painting now. Its open orders as
    (id, product, options), for the files it makes once the print master is there. When the
    HQ painting they were ordered before failed, they fail now, with that reason in words."""
    found = []
    orders = open_orders(session, job_id)
    reason = unpainted_reason(session, orders[0].capture_id) if orders else None
    for order in orders:
        if reason is not None:
            transition(session, order, OrderStatus.failed, error=reason)
            continue
        if order.status == OrderStatus.received:
            transition(session, order, OrderStatus.painting)
        found.append((order.id, order.product, dict(order.options)))
    return found


def files_made(session: Session, order_id: str, export_id: str) -> bool:
    """An order's print files are made; False when the order moved on meanwhile (the desk
    failed or retried it), and it is left as it is."""
    order = session.get(Order, order_id)
    if order is None or order.status not in OPEN:
        return False
    order.export_id = export_id
    transition(session, order, OrderStatus.files_ready)
    return True


def fail(session: Session, order_id: str, reason: str) -> bool:
    """An open order could not be made: failed, with the reason in words."""
    order = session.get(Order, order_id)
    if order is None or order.status not in OPEN:
        return False
    transition(session, order, OrderStatus.failed, error=reason)
    return True


def sweep_stranded(session: Session) -> list[str]:
    """Open orders whose print job ended without them (failed after repeated worker deaths,
    cancelled by the operator, or gone): failed with the job's reason, or given a new job
    when the job finished. The worker's recovery runs it; the numbers it touched."""
    stranded = session.execute(
        select(Order, Job.status, Job.error)
        .outerjoin(Job, Job.id == Order.job_id)
        .where(Order.status.in_(OPEN))
    ).all()
    touched = []
    for order, job_status, job_error in stranded:
        if job_status in ACTIVE:
            continue
        reason = job_error or "its print job was stopped before the files were made"
        if job_status == JobStatus.done:
            try:
                attach_print_job(session, order)
                touched.append(order.number)
                continue
            except NotPainted as exc:
                reason = str(exc)
        transition(session, order, OrderStatus.failed, error=reason)
        touched.append(order.number)
    return touched


def auto_photo_order(session: Session, capture_id: str, settings: Settings) -> Order | None:
    """With the event setting ``auto_print`` on and a printer set, a photo order (one copy)
    for a capture whose HQ painting is done: the spooler prints it once its files are made.
    Once per capture (a painting made again is not printed twice)."""
    from export.specs import normalize_options
    from kiosk import event_settings

    values = event_settings.load(session, settings)
    if not settings.printer or not values["auto_print"]:
        return None
    printed = select(Order.id).where(Order.capture_id == capture_id, Order.product == "photo")
    if session.scalar(printed.limit(1)) is not None:
        return None
    return place(session, capture_id=capture_id, product="photo",
                 options=normalize_options("photo", {}), quantity=1,
                 prefix=values["order_prefix"])  # fmt: skip


def print_master_for_all(session: Session, capture_id: str, settings: Settings) -> Job | None:
    """With the event setting ``print_masters_for_all`` on, a print job (no order) at the
    largest size the booth's products need, for a capture whose HQ painting is done."""
    from kiosk import event_settings
    from kiosk.orders import PRODUCTS

    if not event_settings.load(session, settings)["print_masters_for_all"]:
        return None
    options = manager.capture_options(session, capture_id)
    painted = manager.result_size(session, capture_id, ResultKind.MASTER)
    if options is None or painted is None:
        return None
    aspect = painted[0] / painted[1]
    sizes = [
        print_size(
            options, product["name"], dict(zip(product["options"], choice, strict=True)), aspect
        )
        for product in PRODUCTS
        for choice in itertools.product(*(o["choices"] for o in product["options"].values()))
    ]
    largest = max(sizes, key=lambda size: size[0] * size[1])
    return manager.print_job(session, capture_id, options.for_print(largest))
