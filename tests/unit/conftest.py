"""The unit tier: no models, no shared data kit, well under a minute (`make test-unit`).
Photos are generated (`tests.support.photos`); databases are real SQLite files."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db.migrate import upgrade
from db.session import make_engine, make_sessionmaker
from kiosk.config import Settings


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the test's own SQLite database, migrated to the newest schema."""
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def model_store() -> None:
    """The unit tier runs without the models: a test that asks for them belongs in
    tests/integration/ or tests/e2e/."""
    pytest.fail("a unit test asked for the models: move it to tests/integration/", pytrace=False)
