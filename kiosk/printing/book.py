"""Every query on the ``prints`` table: what the spooler sends, what CUPS said, what the
operator sees and does.

A photo order whose print files are ready gets its first submission row (``seq`` 1,
state ``waiting``) from ``queue_ready``; the unique (order_id, seq) index makes two booth
servers that race for it insert one row between them. A reprint is a new row (the next
``seq``), a cancel changes the row's state once CUPS has cancelled the job. When CUPS says a
job is completed, its order is marked printed (``order_book.transition``, the one writer of
an order's status).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Export, Order, OrderStatus, Print
from kiosk import order_book
from kiosk.printing.cups import FINAL_JOB_STATES, JobStatus

WAITING, FAILED = "waiting", "failed"  # ours: not sent yet, refused by CUPS
ENDED = FINAL_JOB_STATES | {FAILED}
PHOTO = "photo"
PRINTABLE = (OrderStatus.files_ready, OrderStatus.printed, OrderStatus.collected)


@dataclass(frozen=True)
class ToSend:
    """A submission the spooler sends: its row, the order's number, copies, the PDF's store
    key and the print's size option (the media CUPS is asked for)."""

    print_id: str
    number: str
    copies: int
    pdf_key: str | None
    size: str


def queue_ready(session: Session, printer: str) -> list[str]:
    """A first submission (waiting) for every photo order whose files are ready and that has
    none yet; the numbers queued."""
    has_print = select(Print.id).where(Print.order_id == Order.id).exists()
    ready = session.scalars(
        select(Order).where(
            Order.product == PHOTO, Order.status == OrderStatus.files_ready, ~has_print
        )
    ).all()
    queued = []
    for order in ready:
        try:
            with session.begin_nested():
                session.add(
                    Print(
                        order_id=order.id,
                        seq=1,
                        printer=printer,
                        copies=order.quantity,
                        state=WAITING,
                        reasons=[],
                    )
                )
            queued.append(order.number)
        except IntegrityError:  # another booth server queued it first
            continue
    return queued


def to_send(session: Session) -> list[ToSend]:
    """The waiting submissions, oldest first, with what sending them needs."""
    rows = session.execute(
        select(Print, Order, Export)
        .join(Order, Order.id == Print.order_id)
        .outerjoin(Export, Export.id == Order.export_id)
        .where(Print.state == WAITING)
        .order_by(Print.created_at, Print.seq)
    ).all()
    found = []
    for row, order, export in rows:
        entry = (export.files if export is not None else {}).get("pdf")
        key = entry.get("path") if isinstance(entry, dict) else entry
        found.append(
            ToSend(row.id, order.number, row.copies, key, order.options.get("size", "4x6"))
        )
    return found


def sent(session: Session, print_id: str, job: JobStatus) -> None:
    """CUPS took the print: its job id and first state."""
    row = session.get(Print, print_id)
    if row is None:
        return
    row.cups_job_id, row.state, row.reasons, row.error = job.job_id, job.state, job.reasons, None
    row.submitted_at = row.updated_at = func.now()
    session.flush()


def not_sent(session: Session, print_id: str, reason: str, final: bool) -> None:
    """The print could not be sent: ``final`` (CUPS refused it) fails the row; otherwise it
    stays waiting (the printer is missing or CUPS is down) with the reason shown."""
    row = session.get(Print, print_id)
    if row is None:
        return
    row.error = reason
    row.updated_at = func.now()
    if final:
        row.state = FAILED
        row.finished_at = func.now()
    session.flush()


def unfinished(session: Session) -> list[tuple[str, int]]:
    """(row id, CUPS job id) of every sent print CUPS has not finished."""
    rows = session.execute(
        select(Print.id, Print.cups_job_id).where(
            Print.cups_job_id.is_not(None), Print.state.not_in([*ENDED, WAITING])
        )
    ).all()
    return [(row_id, int(job_id)) for row_id, job_id in rows if job_id is not None]


def update(session: Session, print_id: str, job: JobStatus | None) -> None:
    """What CUPS says of a sent print now (None: CUPS forgot the job, e.g. restarted
    without its history: aborted). A completed print marks its order printed."""
    row = session.get(Print, print_id)
    if row is None or row.state in ENDED:
        return
    state = "aborted" if job is None else job.state
    reasons = ["job-unknown-to-cups"] if job is None else job.reasons
    if (state, reasons) == (row.state, list(row.reasons or [])):
        return
    row.state, row.reasons = state, reasons
    row.updated_at = func.now()
    if state in FINAL_JOB_STATES:
        row.finished_at = func.now()
    if state == "completed":
        order = session.get(Order, row.order_id)
        if order is not None and OrderStatus(order.status) in PRINTABLE:
            note = f"printed on {row.printer}" + (" (reprint)" if row.seq > 1 else "")
            order_book.transition(session, order, OrderStatus.printed, note=note)
    session.flush()


def reprint(session: Session, print_id: str) -> Print | None:
    """A new submission of the same order (the next ``seq``, waiting); None for an unknown
    row, ``order_book.OrderConflict`` when the order has no print files now."""
    row = session.get(Print, print_id)
    if row is None:
        return None
    order = session.get(Order, row.order_id)
    if order is None or OrderStatus(order.status) not in PRINTABLE or order.export_id is None:
        raise order_book.OrderConflict(
            "this order has no print files now (it is being made again, or failed): "
            "reprint it once its files are ready"
        )
    last = session.scalar(select(func.max(Print.seq)).where(Print.order_id == row.order_id)) or 0
    again = Print(
        order_id=row.order_id,
        seq=last + 1,
        printer=row.printer,
        copies=row.copies,
        state=WAITING,
        reasons=[],
    )
    session.add(again)
    session.flush()
    return again


def reprint_order(session: Session, order_id: str) -> Print | None:
    """The print desk's Reprint of a photo order: its last submission again (``reprint``), so
    the desk's button and the print queue's send the same print to CUPS. None when the order
    was never sent to CUPS (printed elsewhere): the desk's note is all there is to do."""
    last = session.scalar(
        select(Print).where(Print.order_id == order_id).order_by(Print.seq.desc()).limit(1)
    )
    return None if last is None else reprint(session, last.id)


def reprint_id(session: Session, print_id: str) -> str | None:
    """``reprint``, answering the new row's id."""
    again = reprint(session, print_id)
    return None if again is None else again.id


def cancel_target(session: Session, print_id: str) -> tuple[str, int | None] | None:
    """What cancelling a row means: ("done", None) for one already finished,
    ("waiting", None) for one not sent (cancelled here and now), ("cups", job id) for one
    CUPS holds (the caller asks CUPS, then ``update``s). None for an unknown row."""
    row = session.get(Print, print_id)
    if row is None:
        return None
    if row.state in ENDED:
        return "done", None
    if row.state == WAITING or row.cups_job_id is None:
        row.state, row.finished_at, row.updated_at = "canceled", func.now(), func.now()
        row.reasons = ["canceled-by-operator"]
        session.flush()
        return "waiting", None
    return "cups", int(row.cups_job_id)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def listing(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The newest submissions first, as the operator's print queue shows them (age in
    seconds by the database's clock)."""
    now = _aware(session.scalar(select(func.now()))) or datetime.now(UTC)
    rows = session.execute(
        select(Print, Order.number, Order.status)
        .join(Order, Order.id == Print.order_id)
        .order_by(Print.created_at.desc(), Print.seq.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": row.id,
            "number": number,
            "order_status": OrderStatus(status).value,
            "seq": row.seq,
            "reprint": row.seq > 1,
            "printer": row.printer,
            "copies": row.copies,
            "cups_job_id": row.cups_job_id,
            "state": row.state,
            "reasons": list(row.reasons or []),
            "error": row.error,
            "created_at": _iso(row.created_at),
            "age_s": max(0, round((now - (_aware(row.created_at) or now)).total_seconds())),
            "can_cancel": row.state not in ENDED,
            "can_reprint": row.state in ENDED,
        }
        for row, number, status in rows
    ]


def order_prints(session: Session, order_id: str) -> list[Print]:
    return list(
        session.scalars(select(Print).where(Print.order_id == order_id).order_by(Print.seq))
    )
