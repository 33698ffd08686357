"""Fixtures every tier shares: settings for a fresh data directory, the model cache (loaded only
by the tiers that ask for it), the artifacts folder.

Nothing here needs the models or the shared data kit: `tests/unit/` runs without both. The
integration and e2e tiers' conftests check the kit and give `settings` the real models."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import Settings, load_settings
from render.models import ModelStore
from tests.support.paths import ARTIFACTS, MODEL_DIR

TIERS = ("unit", "integration", "e2e", "scaleout")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier (the folder it is in), so `-m "not e2e"` works too."""
    for item in items:
        tier = item.path.parent.name
        if tier in TIERS:
            item.add_marker(tier)


@pytest.fixture(scope="session")
def model_store() -> ModelStore:
    """The real, provisioned models (fetched on first use if `make` has not done it)."""
    store = ModelStore(MODEL_DIR)
    store.fetch_all()
    return store


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a fresh data directory with a real SQLite file and an empty model cache
    (the integration and e2e tiers override this with the real models). A locked database is
    answered 503 after 1 s, not the booth's 5 s, so the lock tests stay quick."""
    return load_settings(
        env={}, data_dir=tmp_path / "data", model_dir=tmp_path / "no-models", busy_timeout_s=1
    )


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
