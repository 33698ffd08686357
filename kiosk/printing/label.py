"""What a photo print's label says: the painting it was made after, the event, the day.

Read by the print job in the worker (``kiosk.queue.print_job``) when it makes a photo
order's files, and by the guest API for the photo print's preview: the style's title and
artist (``render.styles``), the event's name as the operator set it
(``kiosk.event_settings``, else the ``event_name`` setting) and the day the guest posed, in
the booth's local time. Plain strings, in ``export.photo_print.PhotoLabel``'s order: the
server never imports ``export.photo_print`` (it draws with OpenCV).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from db.models import Capture
from kiosk import event_settings
from kiosk.config import Settings
from render.styles import STYLES


def day_words(moment: datetime) -> str:
    """``2 Dec 2026``: the day in the booth's local time, in words any guest reads."""
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone()
    return f"{local.day} {local:%b %Y}"


Label = tuple[str, str, str, str]  # title, artist, event, date


def photo_label(session: Session, capture_id: str, settings: Settings | None) -> Label:
    """The label of a capture's photo print (fields it has no value for stay empty)."""
    capture = session.get(Capture, capture_id)
    if capture is None:
        return "", "", "", ""
    preset = STYLES.get(capture.style)
    event = event_settings.load(session, settings)["event_name"] if settings else ""
    return (
        preset.title if preset else capture.style.replace("_", " ").title(),
        preset.artist if preset and preset.artist != "unknown artist" else "",
        event,
        day_words(capture.created_at),
    )
