"""tests/unit/test_fleet.py on PostgreSQL: booths, the per-booth counts, the queue position,
migration 0006 (on an empty database: the test's name says migration) and the fleet on
/healthz, with every host's records in one PostgreSQL database."""

from __future__ import annotations

from tests.unit.test_fleet import *  # noqa: F403
