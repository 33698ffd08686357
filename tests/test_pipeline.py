"""The render pipeline's steps: load → cut-out → compose (→ stylize, with the real engine)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from render.images import ImageError
from render.models import ModelStore
from render.pipeline import (
    RenderCancelled,
    RenderContext,
    RenderRequest,
    cut_out_people,
    frame_size,
    load_photo,
    prepare,
    run_steps,
    style_path,
)
from render.scenes import UnknownScene
from render.styles import STYLES
from tests.conftest import PEOPLE, SCENES


def test_prepare_puts_the_group_on_the_scene(model_store: ModelStore, artifacts: Path) -> None:
    request = RenderRequest(PEOPLE / "booth_group.jpg", "starry_night", "night_sky", size=480)
    ctx = prepare(request, model_dir=model_store.root)
    assert ctx.person_found
    assert ctx.composite is not None and ctx.alpha is not None
    assert ctx.composite.size == ctx.alpha.size == (480, 320)  # the photo's 3:2, long side 480
    ctx.composite.save(artifacts / "pipeline_group_night_sky.png")
    alpha = np.asarray(ctx.alpha)
    composite = np.asarray(ctx.composite).astype(int)
    photo = np.asarray(ctx.photo.resize((480, 320))).astype(int)
    background = alpha == 0
    assert background.mean() > 0.2
    # the wallpaper is gone: where nobody stands the picture is the (dark) night sky
    assert np.abs(composite[background] - photo[background]).mean() > 60
    assert set(ctx.timings) == {"load", "cutout", "compose"}
    assert all(seconds >= 0 for seconds in ctx.timings.values())


def test_own_background_keeps_the_photo_and_still_masks_the_people(
    model_store: ModelStore,
) -> None:
    request = RenderRequest(PEOPLE / "hiker.jpg", "udnie", "own", size=300)
    ctx = prepare(request, model_dir=model_store.root)
    photo = Image.open(PEOPLE / "hiker.jpg").convert("RGB").resize(ctx.composite.size)
    assert np.abs(np.asarray(ctx.composite, int) - np.asarray(photo, int)).mean() < 3
    alpha = np.asarray(ctx.alpha)
    assert 0.05 < (alpha >= 128).mean() < 0.4  # the hiker, not the whole frame


def test_nobody_in_the_picture_keeps_its_background_and_says_so(
    model_store: ModelStore,
) -> None:
    request = RenderRequest(SCENES / "pink_clouds.jpg", "udnie", "studio_blue", size=400)
    ctx = prepare(request, model_dir=model_store.root)
    assert not ctx.person_found
    photo = Image.open(SCENES / "pink_clouds.jpg").convert("RGB").resize(ctx.composite.size)
    composite = np.asarray(ctx.composite, int)
    assert np.abs(composite - np.asarray(photo, int)).mean() < 3  # pink clouds, not blue
    assert composite.mean() > 100  # never blank or black
    assert np.asarray(ctx.alpha).min() == 255


def test_options_reach_the_step_that_takes_them(model_store: ModelStore) -> None:
    photo = PEOPLE / "seaside.jpg"
    base = prepare(RenderRequest(photo, None, "white", size=320), model_dir=model_store.root)
    small = prepare(
        RenderRequest(photo, None, "white", size=320, options={"scale": 0.5, "strength": 0.3}),
        model_dir=model_store.root,
    )
    people = (np.asarray(base.alpha) >= 128).sum()
    assert (np.asarray(small.alpha) >= 128).sum() < 0.4 * people  # half as tall: ~¼ the area
    shaded = prepare(
        RenderRequest(photo, None, "white", size=320, options={"shadow": 0.0}),
        model_dir=model_store.root,
    )
    # studio backdrops cast a shadow by default; shadow=0 turns it off
    assert np.asarray(shaded.composite).sum() > np.asarray(base.composite).sum()


def test_unknown_scene_or_style_fails_before_any_work(model_store: ModelStore) -> None:
    with pytest.raises(UnknownScene, match="atlantis"):
        prepare(RenderRequest(b"", "udnie", "atlantis"), model_dir=model_store.root)
    with pytest.raises(ValueError, match="unknown style"):
        prepare(RenderRequest(b"", "nope", "own"), model_dir=model_store.root)


def test_bad_photo_is_a_clear_error(model_store: ModelStore) -> None:
    with pytest.raises(ImageError, match="not an image"):
        prepare(RenderRequest(b"not a photo", "udnie", "own"), model_dir=model_store.root)


def test_cancel_stops_between_steps(model_store: ModelStore) -> None:
    cancel = threading.Event()
    ran: list[str] = []

    def spy(ctx: RenderContext) -> None:
        ran.append("spy")
        cancel.set()

    ctx = RenderContext(
        RenderRequest(PEOPLE / "hiker.jpg", "udnie"), model_dir=model_store.root, cancel=cancel
    )
    with pytest.raises(RenderCancelled):
        run_steps(ctx, (load_photo, spy, cut_out_people))
    assert ran == ["spy"] and ctx.photo is not None and ctx.cutout is None


def test_style_by_preset_or_path() -> None:
    assert style_path("great_wave") == STYLES["great_wave"].path
    assert style_path(STYLES["udnie"].path) == STYLES["udnie"].path
    with pytest.raises(ValueError, match="choose a painting"):
        style_path(None)


def test_frame_size_keeps_the_aspect() -> None:
    assert frame_size((1620, 1080), 512) == (512, 341)
    assert frame_size((399, 600), 300) == (200, 300)
