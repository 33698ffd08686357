"""The job as the guest API shows it: ``GET /api/jobs/{id}`` (``kiosk.guest``) and its
WebSocket (``kiosk.watch``) send the same JSON, made here from the manager's ``JobState``.

The guest's job is the HQ job; its JSON also reports the capture's fast picture. A job that
has waited ``PAINTER_GRACE_S`` with no live render worker says so, so a guest hears "no
painter is running" from the staff's hint instead of watching a queue that never moves.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from db.models import JobStatus, ResultKind
from kiosk.dbio import Where, run_db
from kiosk.keys import SETTINGS
from kiosk.links import Links
from kiosk.queue import manager
from kiosk.queue.jobs import ACTIVE, JobState
from render.scenes import OWN

# Long enough for the supervisor to restart a worker that just died.
PAINTER_GRACE_S = 15.0
NO_PAINTER = (
    "no painter is running: the booth's render worker is not working right now. The photo is "
    "kept and will be painted as soon as it is back; the staff can check the admin page."
)
LIVE_CACHE_S = 1.0  # every poll asks whether a painter is alive: the database answers once a second


def waiting_for_painter(state: JobState, painter_alive: bool | None) -> bool:
    """True when the job is still to be painted, no render worker is alive, and nothing has
    happened to it for ``PAINTER_GRACE_S``. ``painter_alive`` None: unknown, never True."""
    if painter_alive is None or painter_alive or state.status not in ACTIVE:
        return False
    since = state.last_activity
    return since is None or (state.now - since).total_seconds() > PAINTER_GRACE_S


def job_json(state: JobState, links: Links, painter_alive: bool | None = None) -> dict[str, Any]:
    """The job's JSON; ``painter_alive`` (is a live render worker there?) lets it say when
    the job waits for no one."""
    stage = state.stage
    if state.status == JobStatus.queued and state.fast_status in ACTIVE:
        stage = state.fast_stage or "queued"
    elif state.status == JobStatus.queued and stage is None:
        stage = "queued"

    def image_url(kind: ResultKind) -> str | None:
        sha = state.versions.get(kind)
        if sha is None:
            return None
        return links.path("job_image", {"v": sha[:12]}, job_id=state.id, kind=kind.value)

    done = state.status == JobStatus.done
    # The phone link from the fast picture on: a guest may leave with it while the HQ
    # painting is still being made (the phone page follows it).
    shareable = done or ResultKind.FAST in state.versions
    no_painter = waiting_for_painter(state, painter_alive)
    return {
        "id": state.id,
        "capture_id": state.capture_id,
        "mode": state.lane.value,
        "style": state.style,
        "scene": state.scene or OWN,
        "person_found": state.person_found,
        "status": state.status.value,
        "stage": stage,
        "progress": round(state.progress, 4),
        "queue_position": state.queue_position,
        "fast_url": image_url(ResultKind.FAST),
        "preview_url": image_url(ResultKind.PREVIEW),
        "final_url": image_url(ResultKind.FINAL),
        "error": state.error,
        "download_url": links.download(state.token) if shareable else None,
        "qr_url": links.path("job_qr", job_id=state.id) if shareable else None,
        # Where the capture's orders are placed and followed (kiosk/order_api.py).
        "orders_url": links.path("capture_orders", capture_id=state.capture_id),
        "waiting_for_painter": no_painter,
        "notice": NO_PAINTER if no_painter else None,
    }


def describe(
    session: Session, job_id: str, links: Links, painter_alive: bool | None = None
) -> dict[str, Any] | None:
    """The job's JSON read in ``session``, or None for an unknown id."""
    state = manager.job_state(session, job_id)
    return None if state is None else job_json(state, links, painter_alive)


_live_cache: dict[tuple[str, float], tuple[float, bool]] = {}


async def painter_alive(where: Where) -> bool:
    """Whether a live render worker exists, read from the database at most once a second
    for every request and job socket of the server."""
    settings = (where.config_dict if isinstance(where, web.Request) else where)[SETTINGS]
    key = (settings.db_url, float(settings.worker_lease_s))
    cached = _live_cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < LIVE_CACHE_S:
        return cached[1]
    alive = await run_db(where, manager.any_worker_alive, settings.worker_lease_s)
    _live_cache[key] = (time.monotonic(), alive)
    return alive
