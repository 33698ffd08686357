"""Typed SQLAlchemy models: every capture, render job, result, worker and export is tracked here.

The enums are the values stored in the tables (lanes, statuses, result kinds): every module
that names one uses these, never a bare string.
"""

from __future__ import annotations

import enum
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

DEFAULT_BOOTH = "booth"  # the booth of a capture made before booths had names (migration 0006)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def new_token() -> str:
    """Unguessable per-capture download token (256 bits)."""
    return secrets.token_urlsafe(32)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class JobStatus(enum.StrEnum):
    """A job's life: queued -> running -> done | failed | cancelled (a retry queues it again)."""

    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


class Lane(enum.StrEnum):
    """A job's lane (the ``mode`` column): the instant picture, the high-quality painting, or
    the painting at print resolution (an order's; it gives way to the other two)."""

    FAST = "fast"
    HQ = "hq"
    PRINT = "print"


class ResultKind(enum.StrEnum):
    """The images a capture gets, one current row of each (a re-render replaces it)."""

    FAST = "fast"  # the instant painting (JPEG)
    PREVIEW = "preview"  # the HQ render so far (JPEG)
    FINAL = "final"  # the HQ painting (JPEG)
    MASTER = "master"  # the HQ painting, lossless (PNG): print exports start from it
    COMPOSITE = "composite"  # the guest on their scene (PNG): the HQ render paints it
    ALPHA = "alpha"  # the people mask of the composite (PNG): print cut lines follow it
    PRINT = "print"  # the painting continued to print resolution (PNG): exports start from it


class OrderStatus(enum.StrEnum):
    """An order's life: received -> painting (at print size) -> files_ready -> printed ->
    collected; or failed (with the reason), from which a retry starts it again. The last two
    are set by the operator. Every change is an ``OrderEvent``."""

    received = "received"
    painting = "painting"
    files_ready = "files_ready"
    printed = "printed"
    collected = "collected"
    failed = "failed"


def _stored_values(enum_type: type[enum.Enum]) -> list[str]:
    return [member.value for member in enum_type]


def _enum_column(enum_type: type[enum.Enum]) -> Enum:
    """An enum stored as its values in a VARCHAR(16) (the columns were plain strings)."""
    return Enum(enum_type, native_enum=False, length=16, values_callable=_stored_values)


class Capture(Base):
    """One photo a guest took or uploaded, with the choices they made."""

    __tablename__ = "captures"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(16))  # camera | upload (kiosk.guest.SOURCES)
    photo_path: Mapped[str] = mapped_column(Text)  # relative to the data directory
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    style: Mapped[str] = mapped_column(String(128))
    scene: Mapped[str | None] = mapped_column(String(128))  # None: keep own background
    token: Mapped[str] = mapped_column(String(64), unique=True, index=True, default=new_token)
    person_found: Mapped[bool | None]  # None until the cut-out ran; False: own background kept
    # The booth (touchscreen or server, ``settings.booth_id``) the guest used: with several
    # booths on one database the admin page counts and lists jobs per booth.
    booth_id: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_BOOTH, server_default=DEFAULT_BOOTH
    )
    # The gallery screen (/gallery): the guest's "don't show me" and the operator's "hide",
    # kept apart so un-hiding never overrules a guest (migration 0007).
    gallery_opt_out: Mapped[bool] = mapped_column(default=False, server_default=false())
    gallery_hidden: Mapped[bool] = mapped_column(default=False, server_default=false())

    jobs: Mapped[list[Job]] = relationship(back_populates="capture", cascade="all, delete-orphan")
    results: Mapped[list[Result]] = relationship(
        back_populates="capture", cascade="all, delete-orphan"
    )
    orders: Mapped[list[Order]] = relationship(
        back_populates="capture", cascade="all, delete-orphan"
    )


class Job(Base):
    """A render of a capture, in one lane. Survives restarts: a running job whose worker
    stopped beating is requeued (``kiosk.queue.manager.requeue_stale``)."""

    __tablename__ = "jobs"
    # The worker's claim query: the oldest queued job of a lane (mode).
    __table_args__ = (Index("ix_jobs_claim", "status", "mode", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id", ondelete="CASCADE"))
    mode: Mapped[Lane] = mapped_column(_enum_column(Lane), default=Lane.HQ)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # kiosk.queue.jobs.JobOptions
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16), default=JobStatus.queued, index=True
    )
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    # What the guest's screen says: cutout, compose, painting, saving, done, interrupted.
    stage: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The worker running it: the job is requeued when that worker's row goes stale.
    worker_id: Mapped[str | None] = mapped_column(
        ForeignKey("workers.id", ondelete="SET NULL"), index=True
    )
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]  # the database's clock
    finished_at: Mapped[datetime | None]  # the database's clock
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # step -> seconds

    capture: Mapped[Capture] = relationship(back_populates="jobs")


class Result(Base):
    """An image made from a capture (see ``ResultKind``)."""

    __tablename__ = "results"
    # One current image of each kind per capture: a re-render replaces it.
    __table_args__ = (UniqueConstraint("capture_id", "kind", name="uq_results_capture_kind"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    kind: Mapped[ResultKind] = mapped_column(_enum_column(ResultKind))
    path: Mapped[str] = mapped_column(Text)  # relative to the data directory
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    capture: Mapped[Capture] = relationship(back_populates="results")


class Worker(Base):
    """A render worker process, the one liveness record: the worker beats ``heartbeat_at``
    with the database's clock (a skewed worker clock cannot make it look dead), so any host
    on the same database can tell a live worker from a dead one. The id is random per run
    (two hosts, or two PID namespaces, may share a hostname and a pid)."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    host: Mapped[str] = mapped_column(String(255))  # for people: where it runs
    pid: Mapped[int] = mapped_column(Integer)  # for people: never probed
    parent: Mapped[str | None] = mapped_column(String(300))  # the supervising server (host:pid)
    device: Mapped[str | None] = mapped_column(String(16))  # cpu | cuda0 …; None: not ready
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)  # device_name, bf16, torch
    busy: Mapped[int] = mapped_column(Integer, default=0)  # jobs in hand at the last beat
    error: Mapped[str | None] = mapped_column(Text)  # why it could not start or run
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    heartbeat_at: Mapped[datetime] = mapped_column(server_default=func.now())
    stopped_at: Mapped[datetime | None]


class Export(Base):
    """Print files made from an image. The key makes a repeated request return these files."""

    __tablename__ = "exports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    result_id: Mapped[str | None] = mapped_column(ForeignKey("results.id", ondelete="SET NULL"))
    source_sha256: Mapped[str] = mapped_column(String(64))
    product: Mapped[str] = mapped_column(String(16))  # tee | sticker | mug
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)  # role -> {path, sha256}
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(Base):
    """A guest's order of one product: what the print desk fulfils.

    ``number`` is what people say and write (``A-042``: the event's prefix and a sequence
    that never repeats, ``OrderSequence``). The print job (``job_id``, lane ``PRINT``)
    paints the capture at print size and makes the files (``export_id``)."""

    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    capture_id: Mapped[str] = mapped_column(
        ForeignKey("captures.id", ondelete="CASCADE"), index=True
    )
    product: Mapped[str] = mapped_column(String(16))  # tee | sticker | mug
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # normalised (export.specs)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[OrderStatus] = mapped_column(
        _enum_column(OrderStatus), default=OrderStatus.received, index=True
    )
    error: Mapped[str | None] = mapped_column(Text)  # why it failed, for people
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    export_id: Mapped[str | None] = mapped_column(ForeignKey("exports.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    capture: Mapped[Capture] = relationship(back_populates="orders")
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderEvent.id"
    )


class OrderEvent(Base):
    """One status change of an order, with the database's time (the order's history)."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    status: Mapped[OrderStatus] = mapped_column(_enum_column(OrderStatus))
    note: Mapped[str | None] = mapped_column(Text)  # a failure's reason, who reprinted…
    at: Mapped[datetime] = mapped_column(server_default=func.now())

    order: Mapped[Order] = relationship(back_populates="events")


class Print(Base):
    """One submission of a photo order to the booth's CUPS printer (``kiosk/printing``).

    ``seq`` counts an order's submissions (a reprint is a new row, never a change of the
    old one); ``state`` is CUPS's word for the job (pending, held, processing, stopped,
    canceled, aborted, completed), or ours before and without one: waiting (not sent yet)
    and failed (CUPS refused it, ``error`` says why). ``reasons`` are CUPS's
    job-state-reasons keywords."""

    __tablename__ = "prints"
    __table_args__ = (UniqueConstraint("order_id", "seq", name="uq_prints_order_seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer, default=1)
    printer: Mapped[str] = mapped_column(String(128))
    copies: Mapped[int] = mapped_column(Integer, default=1)
    cups_job_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="waiting", index=True)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    submitted_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OrderSequence(Base):
    """The last order number given for a prefix: numbers are never given twice, not even
    after a purge deleted the orders that had them (a slip on the desk stays unambiguous)."""

    __tablename__ = "order_sequences"

    prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class EventSetting(Base):
    """Operator settings of the running event (name, enabled styles/scenes, idle timeout...)."""

    __tablename__ = "event_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
