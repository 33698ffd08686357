"""What the queue moves around: a claimed job's data and options, and the status sets.

Each capture gets two jobs: a ``FAST`` one (cut-out, compose, the instant painting) and an
``HQ`` one (the high-quality painting of the same composite). The guest API's job id is the
HQ job's id. An order (or the event setting ``print_masters_for_all``) adds a ``PRINT`` job:
the painting continued to print size, then the orders' files.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from db.models import JobStatus, Lane
from kiosk.config import Settings
from render.errors import StyleBoothError

ACTIVE = (JobStatus.queued, JobStatus.running)
FINISHED = (JobStatus.done, JobStatus.failed, JobStatus.cancelled)
MAX_ATTEMPTS = 3  # a job that kills its worker this often is failed, not retried forever


class JobOptionsError(StyleBoothError, code="bad_job_options"):
    """A job's stored options cannot be read (a hand-edited or damaged row)."""


@dataclass(frozen=True)
class JobOptions:
    """What a new job stores, so a restarted worker renders it exactly the same way.

    Every job of a capture stores the print settings in effect when the guest posed
    (``tee_dpi``, ``print_scale``): an order placed later, or retried a day later, is sized
    from them, so the size never depends on which process happens to compute it. A print
    job also stores the pixel size it paints (``print_size``)."""

    fast_size: int = 640
    hq_size: int = 512
    budget_s: float | None = None
    hq: dict[str, Any] = field(default_factory=dict)  # GatysOptions overrides
    tee_dpi: int = 150
    print_scale: float = 1.0  # print_scale_percent / 100: tests shrink every print size
    print_size: tuple[int, int] | None = None  # (w, h) a print job paints; None: no print job

    @classmethod
    def from_settings(cls, settings: Settings) -> JobOptions:
        return cls(
            fast_size=settings.fast_size,
            hq_size=settings.hq_size,
            budget_s=settings.hq_budget_s,
            hq=dict(settings.hq_options),
            tee_dpi=settings.tee_dpi,
            print_scale=settings.print_scale_percent / 100,
        )

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> JobOptions:
        """The stored column, checked again; keys it lacks (an older row) take the defaults."""
        known = {
            key: stored[key]
            for key in ("fast_size", "hq_size", "budget_s", "tee_dpi", "print_scale")
            if stored.get(key) is not None
        }
        for key, value in known.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise JobOptionsError(
                    f"the job's option {key} must be a positive number: {value!r}"
                )
        return cls(**known, hq=dict(stored.get("hq") or {}), print_size=_size(stored))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def for_print(self, size: tuple[int, int]) -> JobOptions:
        """These options for a print job that paints ``size``."""
        return replace(self, print_size=size)


def _size(stored: dict[str, Any]) -> tuple[int, int] | None:
    raw = stored.get("print_size")
    if raw is None:
        return None
    if (
        isinstance(raw, list | tuple)
        and len(raw) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in raw)
    ):
        return int(raw[0]), int(raw[1])
    raise JobOptionsError(f"the job's print_size must be two positive whole numbers: {raw!r}")


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
class StoredResult:
    """One image of a capture as the database records it."""

    id: str
    path: str  # relative to the data directory
    size: tuple[int, int]
    created_at: datetime  # UTC


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


def print_size(
    options: JobOptions,
    product: str,
    product_options: dict[str, Any],
    aspect: float,
    people_box: tuple[float, float, float, float] | None = None,
) -> tuple[int, int]:
    """The print master's pixel size (w, h) at the painting's ``aspect`` (w / h) that covers
    what ``product`` needs at its print DPI (``export.specs.print_pixels``) under the capture's
    stored print settings. ``people_box`` (fractions of the frame) sizes the products that
    print a crop around the people; without it, the least they can need."""
    from export.specs import print_pixels

    width, height = print_pixels(product, product_options, aspect, options.print_scale,
                                 dpi=options.tee_dpi, people_box=people_box)  # fmt: skip
    covered = math.ceil(max(width, height * aspect) - 1e-6)
    return covered, math.ceil(covered / aspect - 1e-6)
