"""Shared fixtures: the real model cache, the shared data kit, per-test data directories."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from kiosk.config import Settings, load_settings
from render.models import ModelStore

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STYLEBOOTH_SHARED_DATA", REPO.parent / "shared" / "data"))
PEOPLE = SHARED / "people"
STYLES = SHARED / "styles"
SCENES = SHARED / "scenes"
MODEL_DIR = Path(os.environ.get("STYLEBOOTH_MODEL_DIR", REPO / "data" / "models"))
ARTIFACTS = REPO / "tests" / "artifacts"  # images the tests save for people to look at


def pytest_configure(config: pytest.Config) -> None:
    if not PEOPLE.is_dir():
        pytest.exit(
            f"the shared data kit is missing: {SHARED} (expected next to the checkout as "
            "../shared/data, or set STYLEBOOTH_SHARED_DATA)",
            returncode=4,
        )


@pytest.fixture(scope="session")
def model_store() -> ModelStore:
    """The real, provisioned models (fetched on first use if `make` has not done it)."""
    store = ModelStore(MODEL_DIR)
    store.fetch_all()
    return store


@pytest.fixture
def settings(tmp_path: Path, model_store: ModelStore) -> Settings:
    """Settings for a fresh data directory with a real SQLite file, sharing the model cache."""
    return load_settings(env={}, data_dir=tmp_path / "data", model_dir=model_store.root)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


async def wait_for_job(client, job_id: str, predicate, worker=None, timeout: float = 120.0) -> dict:
    """Poll the guest API until the job's state satisfies ``predicate``; fail fast when the job
    fails or the ``worker`` process (a Popen) dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await (await client.get(f"/api/jobs/{job_id}")).json()
        if predicate(state):
            return state
        assert state["status"] != "failed", state["error"]
        assert worker is None or worker.poll() is None, "the worker died"
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never got there: {state}")
