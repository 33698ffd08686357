"""The integration tier: the real models and the shared data kit (photos, paintings, scenes),
each library on its own, no server process. One style engine for the whole tier."""

from __future__ import annotations

import pytest

from render.models import ModelStore
from render.stylize import StyleEngine
from tests.support.tiers import settings, shared_data_kit  # noqa: F401  (the tier's fixtures)


@pytest.fixture(scope="session")
def engine(model_store: ModelStore, tmp_path_factory: pytest.TempPathFactory) -> StyleEngine:
    """The real style engine on the CPU, with a Gram cache of its own (not the booth's)."""
    return StyleEngine(model_store.root, device="cpu", cache_dir=tmp_path_factory.mktemp("grams"))
