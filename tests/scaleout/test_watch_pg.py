"""The job WebSocket tests again on PostgreSQL: the pollers there wait for NOTIFY (the
server's AsyncListener) instead of polling, and must still deliver every state."""

from tests.unit.test_watch import *  # noqa: F403
