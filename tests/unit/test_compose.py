"""Where the guests go on a scene (render/compose.py) from generated masks, the scene's cover
crop, and the compose options. (With the real cut-out: tests/integration/test_compose.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from render.compose import cover, people_box, place
from render.scenes import load_scene


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


def test_cover_fills_the_frame_at_the_scene_aspect() -> None:
    scene = load_scene("tubingen")  # 4:3
    for size in [(1280, 720), (720, 1280), (300, 300)]:
        framed = cover(scene, size)
        assert framed.size == size
    wide = np.asarray(cover(scene, (1280, 720))).astype(int)
    # a cover crop keeps the centre: the middle row of the crop is the scene's middle row
    middle = np.asarray(scene.resize((1280, 960)))[480].astype(int)
    assert np.abs(wide[360] - middle).mean() < 6
