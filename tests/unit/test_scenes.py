"""The scenes catalogue (render/scenes.py): every scene loads, is credited, and an unknown one
is named."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from render.scenes import OWN, UnknownScene, get_scene, list_scenes, load_scene
from render.styles import STYLES
from tests.support.paths import REPO

ASSETS = REPO / "render" / "assets"


def test_catalogue_starts_with_own_and_has_every_kind() -> None:
    scenes = list_scenes()
    assert scenes[0].name == OWN and scenes[0].kind == "own"
    kinds = {scene.kind for scene in scenes}
    assert kinds == {"own", "photo", "studio", "painting"}
    names = {scene.name for scene in scenes}
    assert set(STYLES) <= names
    assert {p.stem for p in (ASSETS / "scenes").glob("*.jpg")} <= names
    assert len(names) == len(scenes)


@pytest.mark.parametrize(
    "scene", [s for s in list_scenes() if s.kind != "own"], ids=lambda scene: scene.name
)
def test_every_scene_loads_as_a_real_picture(scene) -> None:
    image = load_scene(scene.name)
    assert image.mode == "RGB" and min(image.size) >= 300
    spread = np.asarray(image).reshape(-1, 3).std(0).max()
    if scene.name in {"white", "charcoal"}:  # plain colours, on purpose
        assert spread < 1
    else:
        assert spread > 10
    assert scene.title


def test_photo_and_painting_scenes_are_credited() -> None:
    credits = (ASSETS / "CREDITS.md").read_text()
    for scene in list_scenes():
        if scene.kind in {"photo", "painting"}:
            assert scene.path is not None and scene.path.is_file()
            assert re.search(re.escape(scene.path.name), credits), scene.name
            assert scene.credit
    assert "studio" in credits.lower()


def test_generated_backdrops_render_at_any_size_without_banding() -> None:
    image = load_scene("studio_grey", size=(640, 400))
    assert image.size == (640, 400)
    row = np.asarray(image)[200, :, 0].astype(int)
    assert row[320] > row[10] + 30  # light in the middle, falling off to the sides
    steps = np.abs(np.diff(cv2.blur(np.asarray(image)[:, :, 0].astype(float), (1, 9))[200]))
    assert steps.max() < 6  # smooth, no bands


def test_unknown_scene_lists_the_names() -> None:
    with pytest.raises(UnknownScene, match="tubingen"):
        get_scene("atlantis")
    with pytest.raises(UnknownScene, match="own"):
        load_scene(OWN)
