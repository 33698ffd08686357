"""Typed SQLAlchemy models: every capture, render job, result and export is tracked here."""

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
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


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
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


class Capture(Base):
    """One photo a guest took or uploaded, with the choices they made."""

    __tablename__ = "captures"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(16))  # camera | upload | cli
    photo_path: Mapped[str] = mapped_column(Text)  # relative to the data directory
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    style: Mapped[str] = mapped_column(String(128))
    scene: Mapped[str | None] = mapped_column(String(128))  # None: keep own background
    token: Mapped[str] = mapped_column(String(64), unique=True, index=True, default=new_token)
    person_found: Mapped[bool | None]  # None until the cut-out ran; False: own background kept

    jobs: Mapped[list[Job]] = relationship(back_populates="capture", cascade="all, delete-orphan")
    results: Mapped[list[Result]] = relationship(
        back_populates="capture", cascade="all, delete-orphan"
    )


class Job(Base):
    """A render of a capture. Survives restarts: interrupted running jobs are requeued."""

    __tablename__ = "jobs"
    # The worker's claim query: the oldest queued job of a lane (mode).
    __table_args__ = (Index("ix_jobs_claim", "status", "mode", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(16), default="hq")  # hq | fast
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16), default=JobStatus.queued, index=True
    )
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    stage: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # step -> seconds

    capture: Mapped[Capture] = relationship(back_populates="jobs")


class Result(Base):
    """An image made from a capture: the fast picture, a preview, or the final HQ painting."""

    __tablename__ = "results"
    # One current image of each kind per capture: a re-render replaces it.
    __table_args__ = (UniqueConstraint("capture_id", "kind", name="uq_results_capture_kind"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # fast | preview | final
    path: Mapped[str] = mapped_column(Text)  # relative to the data directory
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    capture: Mapped[Capture] = relationship(back_populates="results")


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


class EventSetting(Base):
    """Operator settings of the running event (name, enabled styles/scenes, idle timeout...)."""

    __tablename__ = "event_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
