"""tests/unit/test_queue_manager.py on PostgreSQL: claims, leases, fencing, requeues."""

from tests.unit.test_queue_manager import *  # noqa: F403
