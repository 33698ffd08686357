"""Event settings: what the operator can change while the booth runs (stored in the DB).

Each key defaults to the server's settings; a row in ``event_settings`` overrides it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import EventSetting
from kiosk.config import Settings
from kiosk.order_book import DEFAULT_PREFIX, PREFIX
from render.errors import StyleBoothError
from render.styles import STYLES

DEFAULT_KEYS = (
    "event_name",
    "idle_timeout_s",
    "countdown_s",
    "styles",
    "scenes",
    "print_masters_for_all",
    "order_prefix",
    "auto_print",
)


class SettingError(StyleBoothError, code="bad_setting"):
    """An event setting the operator sent has a bad value; the message names the key."""


def defaults(settings: Settings) -> dict[str, Any]:
    return {
        "event_name": settings.event_name,
        "idle_timeout_s": settings.idle_timeout_s,
        "countdown_s": settings.countdown_s,
        "styles": None,  # None: every preset; else the enabled names, in this order
        "scenes": None,
        # Paint every capture at print size once its HQ painting is done, order or not (for
        # events that sell afterwards); off: only an order starts a print render.
        "print_masters_for_all": False,
        "order_prefix": DEFAULT_PREFIX,  # order numbers, ...
        # A photo print (one copy) of every finished painting, sent to the booth's printer
        # (kiosk/printing); off: only a guest's order prints one.
        "auto_print": False,
    }


def load(session: Session, settings: Settings) -> dict[str, Any]:
    values = defaults(settings)
    for row in session.scalars(select(EventSetting)):
        if row.key in values:
            values[row.key] = row.value
    return values


def validate(changes: dict[str, Any], scene_names: list[str]) -> dict[str, Any]:
    """Checked values, or ``SettingError`` naming the bad key."""
    checked: dict[str, Any] = {}
    for key, value in changes.items():
        if key in DEFAULT_KEYS and value is None:  # back to the default
            checked[key] = None
        elif key == "event_name":
            if not isinstance(value, str) or not 0 < len(value.strip()) <= 80:
                raise SettingError("event_name: a text of 1 to 80 characters")
            checked[key] = value.strip()
        elif key in {"idle_timeout_s", "countdown_s"}:
            low, high = (10, 3600) if key == "idle_timeout_s" else (0, 10)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise SettingError(f"{key}: a whole number from {low} to {high}")
            checked[key] = value
        elif key in {"print_masters_for_all", "auto_print"}:
            if not isinstance(value, bool):
                raise SettingError(f"{key}: true or false")
            checked[key] = value
        elif key == "order_prefix":
            if not isinstance(value, str) or not PREFIX.match(value):
                raise SettingError(f"{key}: one to three capital letters, such as A or BTH")
            checked[key] = value
        elif key in {"styles", "scenes"}:
            known = list(STYLES) if key == "styles" else scene_names
            if not isinstance(value, list) or not value or not set(value) <= set(known):
                raise SettingError(f"{key}: null (all) or a non-empty list of: {', '.join(known)}")
            checked[key] = value
        else:
            raise SettingError(f"unknown setting {key!r}")
    return checked


def save(session: Session, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        row = session.get(EventSetting, key)
        if value is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(EventSetting(key=key, value=value))
        else:
            row.value = value
