"""Moved to ``kiosk.queue`` (issue 11): this module only keeps the two names other code still
imports from here (``kiosk.dbio``: ``in_session``; ``tests/test_orders_pool.py``:
``create_capture``) until those import them from ``kiosk.queue.manager``. Add nothing."""

from kiosk.queue.manager import create_capture, in_session

__all__ = ["create_capture", "in_session"]
