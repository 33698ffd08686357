"""Every query on orders: numbers, creation, status changes and the views people read.

An order's number is what a guest shows at the print desk and what the desk writes on the
bag: the event's prefix and a sequence (``A-042``). The sequence lives in its own row per
prefix (``order_sequences``) and is advanced by an UPDATE in the order's own transaction, so
two guests ordering at the same moment (two booths, two server threads) never get the same
number: SQLite serialises the writes, PostgreSQL locks the row; the unique index on
``orders.number`` is the last guard. A purge deletes orders, never their numbers.

Each status change is an ``OrderEvent`` row with the database's time, written by
``transition`` and nowhere else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Order, OrderEvent, OrderSequence, OrderStatus
from render.errors import StyleBoothError

DEFAULT_PREFIX = "A"
PREFIX = re.compile(r"^[A-Z]{1,3}$")  # what the operator may choose: one to three letters
NUMBER_DIGITS = 3  # A-001 … A-999, then A-1000: never truncated

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
