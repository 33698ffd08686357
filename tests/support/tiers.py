"""The fixtures the integration and e2e tiers add: the shared data kit checked, and settings
with the real models. Each tier's conftest imports them."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import Settings, load_settings
from render.models import ModelStore
from tests.support.paths import SHARED_MISSING, shared_data_present


@pytest.fixture(scope="session", autouse=True)
def shared_data_kit() -> None:
    """Fail every test of a tier that reads the shared photos, paintings and scenes, with one
    sentence saying where the kit is expected, when it is not there."""
    if not shared_data_present():
        pytest.fail(SHARED_MISSING, pytrace=False)


@pytest.fixture
def settings(tmp_path: Path, model_store: ModelStore) -> Settings:
    """Settings for a fresh data directory with a real SQLite file, sharing the real models."""
    return load_settings(env={}, data_dir=tmp_path / "data", model_dir=model_store.root)
