"""What the queue moves around: a claimed job's data and options, and the status sets.

Each capture gets two jobs: a ``FAST`` one (cut-out, compose, the instant painting) and an
``HQ`` one (the high-quality painting of the same composite). The guest API's job id is the
HQ job's id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from db.models import JobStatus, Lane
from kiosk.config import Settings

ACTIVE = (JobStatus.queued, JobStatus.running)
FINISHED = (JobStatus.done, JobStatus.failed, JobStatus.cancelled)
MAX_ATTEMPTS = 3  # a job that kills its worker this often is failed, not retried forever


@dataclass(frozen=True)
class JobOptions:
    """What a new job stores, so a restarted worker renders it exactly the same way."""

    fast_size: int = 640
    hq_size: int = 512
    budget_s: float | None = None
    hq: dict[str, Any] = field(default_factory=dict)  # GatysOptions overrides

    @classmethod
    def from_settings(cls, settings: Settings) -> JobOptions:
        return cls(
            fast_size=settings.fast_size,
            hq_size=settings.hq_size,
            budget_s=settings.hq_budget_s,
            hq=dict(settings.hq_options),
        )

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> JobOptions:
        """The stored column; keys it lacks (an older row) take the defaults."""
        known = {key: stored[key] for key in ("fast_size", "hq_size", "budget_s") if key in stored}
        return cls(**known, hq=dict(stored.get("hq") or {}))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def job_options(settings: Settings) -> dict[str, Any]:
    """The options column of a job created now."""
    return JobOptions.from_settings(settings).to_json()


@dataclass(frozen=True)
class CaptureData:
    """The photo and the guest's choices, as the job bodies need them."""

    id: str
    photo_path: str  # relative to the data directory
    style: str
    scene: str | None  # None: keep the own background
    person_found: bool | None


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds: plain data, detached from any database session."""

    id: str
    lane: Lane
    attempts: int
    options: JobOptions
    capture: CaptureData


@dataclass(frozen=True)
class JobState:
    """What the guest's view of a job is made from (``kiosk.job_view.job_json``)."""

    id: str
    capture_id: str
    lane: Lane
    style: str
    scene: str | None
    person_found: bool | None
    status: JobStatus
    stage: str | None
    progress: float
    error: str | None
    token: str  # the capture's download token
    fast_status: JobStatus | None  # the capture's fast job
    fast_stage: str | None
    queue_position: int  # HQ renders ahead of this one (0: running or next)
    versions: dict[str, str]  # result kind -> its sha256 (an image URL's cache buster)
    last_activity: datetime | None  # when anything last happened to the job pair
    now: datetime  # the database's clock, read with the rest
