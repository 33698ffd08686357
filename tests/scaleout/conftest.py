"""The scale-out tier: chosen tests of the other tiers, run again on PostgreSQL (and, once
the S3 test server is there, an S3 object store) instead of SQLite and a local directory.

The tests are not copied: each ``test_*_pg.py`` here imports a module's tests (pytest collects
imported test functions, and resolves their fixtures from this directory). So the fixtures
below replace the tiers' ``settings`` and ``sessions``: every test gets a fresh PostgreSQL
database of one cluster the session starts (``tests.support.postgres``), cloned from a
migrated template, and a fresh prefix of one S3 server's bucket when ``tests.support.seaweed``
exists.

A test in ``LOCAL_FILE_TESTS`` looks at the data directory's files itself: it runs with
local files. A test named ``*migration*`` and the tests of ``tests/unit/test_migrations.py``
get an empty database, because they run the migrations themselves (some stop at an old
revision).

An e2e test gets what its tier gives it (the real models, the shared data kit checked, and
``module_settings``), on PostgreSQL too."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db.session import make_engine, make_sessionmaker
from kiosk.config import Settings, load_settings
from render.models import ModelStore
from tests.support.paths import SHARED_MISSING, shared_data_present
from tests.support.postgres import PgServer, postgres_server

# S3 once there is a server to start and a backend to talk to it.
HAVE_SEAWEED = all(
    importlib.util.find_spec(name) is not None
    for name in ("tests.support.seaweed", "kiosk.storage.s3")
)
# The tiers whose tests need the real models and the shared data kit.
MODEL_TIERS = ("integration", "e2e")


def _origin_tier(request: pytest.FixtureRequest) -> str:
    """The tier a test comes from (``tests.unit.test_api`` → ``unit``)."""
    module = getattr(request.function, "__module__", "") if request.scope == "function" else ""
    module = module or request.module.__name__
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "scaleout"


# Tests that look at the data directory's files themselves (not through the store): they run
# here on PostgreSQL with local files.
LOCAL_FILE_TESTS = frozenset(
    {
        "test_purge_deletes_finished_guests_and_keeps_renders_in_progress",
        "test_killed_worker_loses_nothing_and_the_next_one_finishes",
    }
)


def _wants_local_files(request: pytest.FixtureRequest) -> bool:
    return request.node.name in LOCAL_FILE_TESTS


def _wants_empty_database(request: pytest.FixtureRequest) -> bool:
    module = getattr(request.function, "__module__", "")
    return module == "tests.unit.test_migrations" or "migration" in request.node.name


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    """One throwaway PostgreSQL cluster for the whole run."""
    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One S3 server (SeaweedFS) for the whole run, its AWS variables set for this process
    and the processes it starts; None while the tests have no S3 server to start."""
    if not HAVE_SEAWEED:
        yield None
        return
    from tests.support.seaweed import seaweed_server

    with seaweed_server(tmp_path_factory.mktemp("seaweed")) as server:
        saved = {key: os.environ.get(key) for key in server.env()}
        os.environ.update(server.env())
        try:
            yield server
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


class Backends:
    """Fresh places on the shared engines: a database per call and, with S3, a prefix of its
    own in one bucket of the run. (One bucket, not one per test: SeaweedFS gives every bucket
    volumes of its own, and a few dozen buckets exhaust a test server's volumes: its writes
    then fail with InternalError.)"""

    def __init__(self, pg: PgServer, s3: Any) -> None:
        self.pg, self.s3, self.count = pg, s3, 0
        self.bucket: str | None = None

    def changes(self, *, migrated: bool = True, s3: bool = True) -> dict[str, Any]:
        """Settings changes pointing at a new database and, with S3 (when there is an S3
        server and ``s3``), a new prefix of the run's bucket."""
        self.count += 1
        changes: dict[str, Any] = {"database_url": self.pg.new_database(migrated=migrated)}
        if self.s3 is not None and s3:
            if self.bucket is None:
                self.bucket = f"scaleout-{os.getpid()}"
                self.s3.new_bucket(self.bucket)
            changes["storage_url"] = f"s3://{self.bucket}/test-{self.count}"
        return changes


@pytest.fixture(scope="session")
def backends(pg: PgServer, s3: Any) -> Backends:
    return Backends(pg, s3)


@pytest.fixture(scope="session")
def shared_kit_checked() -> None:
    if not shared_data_present():
        pytest.fail(SHARED_MISSING, pytrace=False)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, backends: Backends) -> Settings:
    """The test's tier's settings (the real models for an e2e test, none for a unit test),
    on a fresh PostgreSQL database (and S3 bucket)."""
    changes = backends.changes(
        migrated=not _wants_empty_database(request), s3=not _wants_local_files(request)
    )
    if _origin_tier(request) in MODEL_TIERS:
        request.getfixturevalue("shared_kit_checked")
        store: ModelStore = request.getfixturevalue("model_store")
        return load_settings(env={}, data_dir=tmp_path / "data", model_dir=store.root, **changes)
    return load_settings(
        env={},
        data_dir=tmp_path / "data",
        model_dir=tmp_path / "no-models",
        busy_timeout_s=1,
        **changes,
    )


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the test's own PostgreSQL database (migrated already: a template's copy)."""
    if _is_empty(settings):
        from db.migrate import upgrade

        upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def _is_empty(settings: Settings) -> bool:
    from db.migrate import current_revision

    return current_revision(settings.db_url) is None


@pytest.fixture(scope="module")
def module_settings(
    tmp_path_factory: pytest.TempPathFactory, model_store: ModelStore, backends: Backends
) -> Callable[..., Settings]:
    """The e2e tier's ``module_settings``, on a fresh PostgreSQL database (and bucket)."""
    if not shared_data_present():
        pytest.fail(SHARED_MISSING, pytrace=False)

    def make(name: str, **changes: Any) -> Settings:
        data_dir = tmp_path_factory.mktemp(name) / "data"
        fresh = load_settings(
            env={}, data_dir=data_dir, model_dir=model_store.root, **backends.changes()
        )
        return replace(fresh, **changes)

    return make
