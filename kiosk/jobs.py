"""Moved to ``kiosk.queue`` (issue 11): this module only keeps ``in_session`` for
``kiosk.dbio``, until it imports it from ``kiosk.queue.manager``. Add nothing."""

from kiosk.queue.manager import in_session

__all__ = ["in_session"]
