"""Composing the cut-out guests onto scenes, and the scenes catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from render.compose import compose_layers, cover, people_box, place
from render.cutout import Cutout, cut_out
from render.models import ModelStore
from render.options import ComposeOptions, OptionError
from render.scenes import OWN, UnknownScene, get_scene, list_scenes, load_scene
from render.styles import STYLES
from tests.support.paths import PEOPLE, REPO, SCENES

ASSETS = REPO / "render" / "assets"


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


@pytest.mark.parametrize("scale", [0.6, 1.0])
def test_bust_shot_stays_on_the_bottom_edge_at_any_scale(scale: float) -> None:
    alpha = np.zeros((400, 600), np.uint8)
    alpha[150:400, 100:260] = 255  # one person, cut off by the bottom of the photo, left of centre
    where = place((600, 400), people_box(alpha), (1200, 800), scale)
    assert where.scale == pytest.approx(2 * scale)
    assert where.y + 400 * where.scale == pytest.approx(800)  # bottom on the frame's bottom
    centre = where.x + 180 * where.scale
    assert centre == pytest.approx(600)  # centred


def test_full_figure_keeps_its_ground_and_fits_its_head() -> None:
    alpha = np.zeros((400, 600), np.uint8)
    alpha[20:360, 250:350] = 255  # head to toe, feet 40 px above the bottom
    where = place((600, 400), people_box(alpha), (600, 400), 1.5)
    feet = where.y + 360 * where.scale
    assert feet == pytest.approx(360)  # the feet stay where they stood
    head = where.y + 20 * where.scale
    assert head >= 0.03 * 400 - 1e-6  # bigger, but the head stays in the frame


def test_person_cut_by_the_left_edge_stays_on_it() -> None:
    alpha = np.zeros((400, 600), np.uint8)
    alpha[100:400, 0:200] = 255
    where = place((600, 400), people_box(alpha), (900, 400), 0.8)
    assert where.x == pytest.approx(0)


def test_specks_do_not_move_the_people() -> None:
    alpha = np.zeros((400, 600), np.uint8)
    alpha[100:400, 250:350] = 255
    alpha[5:8, 5:8] = 255  # a stray speck in a corner
    assert people_box(alpha) == (250, 100, 350, 400)


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


def test_cover_fills_the_frame_at_the_scene_aspect() -> None:
    scene = load_scene("tubingen")  # 4:3
    for size in [(1280, 720), (720, 1280), (300, 300)]:
        framed = cover(scene, size)
        assert framed.size == size
    wide = np.asarray(cover(scene, (1280, 720))).astype(int)
    # a cover crop keeps the centre: the middle row of the crop is the scene's middle row
    middle = np.asarray(scene.resize((1280, 960)))[480].astype(int)
    assert np.abs(wide[360] - middle).mean() < 6


# -- the scenes catalogue ---------------------------------------------------------------


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


def test_compose_options_are_checked_where_they_are_written() -> None:
    for bad, message in [
        ({"scale": 0}, "scale"),
        ({"harmonize": 1.5}, "harmonize"),
        ({"shadow": -0.1}, "shadow"),
    ]:
        with pytest.raises(OptionError, match=message):
            ComposeOptions(**bad)
    with pytest.raises(OptionError, match="unknown compose option"):
        ComposeOptions.from_mapping({"shade": 0.3})
