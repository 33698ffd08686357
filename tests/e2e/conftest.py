"""The e2e tier: the booth as guests and operators meet it, with the real models and the shared
data kit: a real browser, the server and the render worker as processes, renders through the
API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from kiosk.config import Settings, load_settings
from render.models import ModelStore
from tests.support.browser import launch
from tests.support.cups import CupsServer, CupsUnavailable, cups_server
from tests.support.tiers import settings, shared_data_kit  # noqa: F401  (the tier's fixtures)


@pytest.fixture(scope="module")
def module_settings(
    tmp_path_factory: pytest.TempPathFactory, model_store: ModelStore
) -> Callable[..., Settings]:
    """Make settings for a fresh data directory that a module's tests share (one booth server
    for all of them), with the real models and the given ``changes``."""

    def make(name: str, **changes: Any) -> Settings:
        data_dir = tmp_path_factory.mktemp(name) / "data"
        fresh = load_settings(env={}, data_dir=data_dir, model_dir=model_store.root)
        return replace(fresh, **changes)

    return make


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium without a camera (the guest uploads a photo file); media prompts answered."""
    with sync_playwright() as playwright:
        chromium = launch(playwright, "--use-fake-ui-for-media-stream")
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def cups_pdf() -> Iterator[CupsServer]:
    """A private CUPS server with the cups-pdf queue ``booth-pdf`` (tests/support/cups.py),
    installed with apt when missing; the tests skip, saying why, only when apt cannot."""
    try:
        server = cups_server()
        started = server.__enter__()
    except CupsUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield started
    finally:
        server.__exit__(None, None, None)
