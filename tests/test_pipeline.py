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
    assert style_path(3) == 3  # a style of the fast 26-style network
    with pytest.raises(ValueError, match="choose a painting"):
        style_path(None)


def test_frame_size_keeps_the_aspect() -> None:
    assert frame_size((1620, 1080), 512) == (512, 341)
    assert frame_size((399, 600), 300) == (200, 300)


# -- the whole pipeline, with the real style engine, at a tiny size ------------------------


@pytest.fixture(scope="module")
def engine(model_store: ModelStore):
    from render.stylize import StyleEngine

    return StyleEngine(model_store.root, device="cpu")


def _luma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float32).ravel()


def test_render_paints_the_composite_fast_then_hq(
    model_store: ModelStore, engine, artifacts: Path
) -> None:
    from render.pipeline import paint, render

    tiny_hq = {"steps": 4, "scales": (1.0,), "step_shares": (1.0,), "preview_every": 2}
    request = RenderRequest(
        PEOPLE / "booth_group.jpg", "great_wave", "tubingen", "fast", 128, options=tiny_hq
    )
    updates: list[object] = []
    out = render(request, engine=engine, model_dir=model_store.root, progress=updates.append)
    assert out.person_found and updates
    assert out.painting.mode == "RGB" and max(out.painting.size) == 128
    assert out.alpha.size == out.painting.size and out.alpha.mode == "L"
    assert set(out.timings) == {"load", "cutout", "compose", "stylize"}
    out.painting.save(artifacts / "pipeline_group_tubingen_great_wave_fast.png")
    composite = out.composite.resize(out.painting.size)
    # painted, not copied: the pixels change, the picture's layout stays
    assert np.abs(np.asarray(composite, int) - np.asarray(out.painting, int)).mean() > 10
    assert np.corrcoef(_luma(composite), _luma(out.painting))[0, 1] > 0.4

    prepared = prepare(request, model_dir=model_store.root)
    hq = paint(
        prepared,
        engine=engine,
        mode="hq",
        size=96,
        progress=None,
    )
    assert hq.composite is prepared.composite  # the same composite, painted again
    assert max(hq.painting.size) == 96 and hq.alpha.size == hq.painting.size
    assert np.corrcoef(_luma(hq.composite.resize(hq.painting.size)), _luma(hq.painting))[0, 1] > 0.4


def test_paint_honours_a_cancel_before_it_starts(model_store: ModelStore, engine) -> None:
    from render.pipeline import paint

    prepared = prepare(
        RenderRequest(PEOPLE / "hiker.jpg", "udnie", "white", size=96), model_dir=model_store.root
    )
    with pytest.raises(RenderCancelled):
        paint(prepared, engine=engine, cancel=lambda: True)


def test_style_options_reach_the_engine(model_store: ModelStore, engine) -> None:
    from render.pipeline import paint

    prepared = prepare(
        RenderRequest(PEOPLE / "seaside.jpg", "udnie", "own", "fast", 96),
        model_dir=model_store.root,
    )
    photo = np.asarray(prepared.composite, int)

    def distance(strength: float) -> float:
        prepared.request.options = {"strength": strength}
        painting = paint(prepared, engine=engine).painting
        return float(np.abs(np.asarray(painting, int) - photo).mean())

    assert distance(0.2) < distance(1.0) - 5  # a weaker style stays nearer the photo
    prepared.request.options = {"bogus": 1}
    with pytest.raises(ValueError, match="unknown HQ option"):
        paint(prepared, engine=engine, mode="hq")
