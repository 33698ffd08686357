"""Composing the real cut-out guests onto scenes. (Placement, options and the scenes
catalogue without models: tests/unit/test_compose.py, tests/unit/test_scenes.py.)"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from render.compose import compose_layers, cover, people_box, place
from render.cutout import Cutout, cut_out
from render.models import ModelStore
from render.options import ComposeOptions
from render.scenes import load_scene
from tests.support.paths import PEOPLE, SCENES


@pytest.fixture(scope="module")
def group(model_store: ModelStore) -> Cutout:
    return cut_out(PEOPLE / "booth_group.jpg", model_dir=model_store.root)


def lab(pixels: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(pixels.astype(np.float32)[None] / 255, cv2.COLOR_RGB2Lab)[0]


def test_group_on_a_scene_shows_the_scene_around_and_the_people_inside(
    group: Cutout, artifacts: Path
) -> None:
    """Sample the old background and the people (by the reference mask), follow them to the
    output frame: the scene's pixels replace the background, the people's are preserved."""
    scene = load_scene("tubingen")
    size = (960, 640)
    plain = ComposeOptions(harmonize=0, shadow=0)
    out = np.asarray(compose_layers(group, scene, size=size, options=plain).image).astype(int)
    Image.fromarray(out.astype(np.uint8)).save(artifacts / "compose_group_tubingen.png")
    backdrop = np.asarray(cover(scene, size)).astype(int)
    photo = np.asarray(Image.open(PEOPLE / "booth_group.jpg").convert("RGB")).astype(int)
    ref = np.asarray(Image.open(PEOPLE / "booth_group_mask.png").convert("L"))
    where = place(group.image.size, people_box(np.asarray(group.alpha)), size)
    kernel = np.ones((41, 41), np.uint8)
    rng = np.random.default_rng(0)

    def to_frame(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        ys, xs = np.nonzero(mask)
        pick = rng.choice(len(xs), 400, replace=False)
        ys, xs = ys[pick], xs[pick]
        u = np.round(xs * where.scale + where.x).astype(int)
        v = np.round(ys * where.scale + where.y).astype(int)
        inside = (u >= 0) & (u < size[0]) & (v >= 0) & (v < size[1])
        return xs[inside], ys[inside], u[inside], v[inside]

    xs, ys, u, v = to_frame(cv2.erode((ref < 20).astype(np.uint8), kernel) > 0)
    assert len(u) > 200
    assert np.abs(out[v, u] - backdrop[v, u]).max() <= 2  # the scene, exactly
    assert np.abs(out[v, u] - photo[ys, xs]).mean() > 30  # not the old wallpaper

    xs, ys, u, v = to_frame(cv2.erode((ref > 235).astype(np.uint8), kernel) > 0)
    assert len(u) > 200
    smooth = cv2.blur(photo.astype(np.float32), (7, 7))  # the people are resized: compare
    assert np.median(np.abs(out[v, u] - smooth[ys, xs])) < 8  # ...against a local average
    assert np.abs(out[v, u] - backdrop[v, u]).mean() > 30


def test_compose_returns_the_people_mask_in_the_output_frame(group: Cutout) -> None:
    layers = compose_layers(group, load_scene("studio_blue"), size=(640, 480))
    assert layers.image.size == layers.alpha.size == (640, 480)
    assert layers.image.mode == "RGB" and layers.alpha.mode == "L"
    alpha = np.asarray(layers.alpha)
    assert 0.3 < (alpha >= 128).mean() < 0.8
    # Cut off at the bottom of the photo, the group stands on the bottom of the frame.
    assert (alpha[-1] >= 128).mean() > 0.5
    columns = np.nonzero((alpha >= 128).any(0))[0]
    centre = (columns[0] + columns[-1]) / 2
    assert abs(centre - 320) < 10  # centred on the group


def test_harmonisation_moves_the_people_towards_the_scene_light(group: Cutout) -> None:
    scene = load_scene("sunset")
    plain = compose_layers(group, scene, options=ComposeOptions(harmonize=0))
    warm = compose_layers(group, scene, options=ComposeOptions(harmonize=1))
    inside = np.asarray(plain.alpha) == 255
    before = lab(np.asarray(plain.image)[inside]).mean(0)
    after = lab(np.asarray(warm.image)[inside]).mean(0)
    target = lab(np.asarray(cover(scene, plain.image.size)).reshape(-1, 3)).mean(0)
    assert np.linalg.norm(after - target) < np.linalg.norm(before - target) - 2
    assert np.abs(after - before).max() <= 13  # within the limits that keep skin skin


def test_soft_shadow_darkens_the_backdrop_next_to_the_people(group: Cutout) -> None:
    scene = load_scene("white")
    size = (800, 600)

    def picture(shadow: float) -> np.ndarray:
        options = ComposeOptions(shadow=shadow)
        return np.asarray(compose_layers(group, scene, size=size, options=options).image)

    plain, shaded = picture(0).astype(int), picture(0.5).astype(int)
    alpha = np.asarray(compose_layers(group, scene, size=size).alpha)
    near = cv2.dilate((alpha > 0).astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
    ring = near & (alpha == 0)
    assert (shaded[ring].sum(-1) < plain[ring].sum(-1) - 6).mean() > 0.3
    far = cv2.dilate((alpha > 0).astype(np.uint8), np.ones((301, 301), np.uint8)) == 0
    assert far.sum() > 100 and np.array_equal(shaded[far], plain[far])


def test_nobody_found_keeps_the_photo_never_a_blank(model_store: ModelStore) -> None:
    empty = cut_out(SCENES / "tubingen.jpg", model_dir=model_store.root)
    assert not empty.person_found
    layers = compose_layers(empty, load_scene("studio_grey"), size=(512, 384))
    photo = np.asarray(Image.open(SCENES / "tubingen.jpg").convert("RGB").resize((512, 384)))
    out = np.asarray(layers.image).astype(int)
    assert np.abs(out - photo).mean() < 3  # the photo itself, not the scene
    assert out.std() > 20
    assert np.asarray(layers.alpha).min() == 255
