"""Where the tests find things: the checkout, the shared data kit, the model cache.

Only the integration and e2e tiers read the shared data kit and the models; the unit tier runs
on a fresh clone without either (`make test-unit`)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("STYLEBOOTH_SHARED_DATA", REPO.parent / "shared" / "data"))
PEOPLE = SHARED / "people"
STYLES = SHARED / "styles"
SCENES = SHARED / "scenes"
MODEL_DIR = Path(os.environ.get("STYLEBOOTH_MODEL_DIR", REPO / "data" / "models"))
ARTIFACTS = REPO / "tests" / "artifacts"  # images the tests save for people to look at

SHARED_MISSING = (
    f"the shared data kit is missing: {SHARED} (expected next to the checkout as "
    "../shared/data, or set STYLEBOOTH_SHARED_DATA); the unit tier runs without it: "
    "make test-unit"
)


def shared_data_present() -> bool:
    return PEOPLE.is_dir()
