"""tests/unit/test_api.py on PostgreSQL: the guest and admin API with the server's queries."""

from tests.unit.test_api import *  # noqa: F403
