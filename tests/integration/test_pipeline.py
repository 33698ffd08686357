"""The render pipeline: load → cut-out → compose (``prepare``), then one ``stylize`` call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from render.images import ImageError, load_image
from render.models import ModelStore
from render.options import ComposeOptions, GatysOptions
from render.pipeline import RenderCancelled, prepare
from render.scenes import UnknownScene
from tests.support.paths import PEOPLE, SCENES


def test_prepare_puts_the_group_on_the_scene(model_store: ModelStore, artifacts: Path) -> None:
    prepared = prepare(PEOPLE / "booth_group.jpg", "night_sky", 480, model_dir=model_store.root)
    assert prepared.person_found
    assert prepared.composite.size == prepared.alpha.size == (480, 320)  # the photo's 3:2
    prepared.composite.save(artifacts / "pipeline_group_night_sky.png")
    alpha = np.asarray(prepared.alpha)
    composite = np.asarray(prepared.composite).astype(int)
    photo = np.asarray(load_image(PEOPLE / "booth_group.jpg").resize((480, 320))).astype(int)
    background = alpha == 0
    assert background.mean() > 0.2
    # the wallpaper is gone: where nobody stands the picture is the (dark) night sky
    assert np.abs(composite[background] - photo[background]).mean() > 60
    assert set(prepared.timings) == {"load", "cutout", "compose"}
    assert all(seconds >= 0 for seconds in prepared.timings.values())


def test_own_background_keeps_the_photo_and_still_masks_the_people(
    model_store: ModelStore,
) -> None:
    prepared = prepare(PEOPLE / "hiker.jpg", "own", 300, model_dir=model_store.root)
    photo = Image.open(PEOPLE / "hiker.jpg").convert("RGB").resize(prepared.composite.size)
    assert np.abs(np.asarray(prepared.composite, int) - np.asarray(photo, int)).mean() < 3
    alpha = np.asarray(prepared.alpha)
    assert 0.05 < (alpha >= 128).mean() < 0.4  # the hiker, not the whole frame


def test_nobody_in_the_picture_keeps_its_background_and_says_so(
    model_store: ModelStore,
) -> None:
    prepared = prepare(SCENES / "pink_clouds.jpg", "studio_blue", 400, model_dir=model_store.root)
    assert not prepared.person_found
    photo = Image.open(SCENES / "pink_clouds.jpg").convert("RGB").resize(prepared.composite.size)
    composite = np.asarray(prepared.composite, int)
    assert np.abs(composite - np.asarray(photo, int)).mean() < 3  # pink clouds, not blue
    assert composite.mean() > 100  # never blank or black
    assert np.asarray(prepared.alpha).min() == 255


def test_compose_options_reach_the_composition(model_store: ModelStore) -> None:
    photo = PEOPLE / "seaside.jpg"
    base = prepare(photo, "white", 320, model_dir=model_store.root)
    small = prepare(
        photo, "white", 320, model_dir=model_store.root, compose=ComposeOptions(scale=0.5)
    )
    people = (np.asarray(base.alpha) >= 128).sum()
    assert (np.asarray(small.alpha) >= 128).sum() < 0.4 * people  # half as tall: ~¼ the area
    shaded = prepare(
        photo, "white", 320, model_dir=model_store.root, compose=ComposeOptions(shadow=0.0)
    )
    # studio backdrops cast a shadow by default; shadow=0 turns it off
    assert np.asarray(shaded.composite).sum() > np.asarray(base.composite).sum()


def test_unknown_scene_fails_before_any_work(model_store: ModelStore) -> None:
    with pytest.raises(UnknownScene, match="atlantis"):
        prepare(b"", "atlantis", model_dir=model_store.root)  # b"": the photo is not read


def test_bad_photo_is_a_clear_error(model_store: ModelStore) -> None:
    with pytest.raises(ImageError, match="not an image"):
        prepare(b"not a photo", "own", model_dir=model_store.root)


def test_cancel_stops_between_steps(model_store: ModelStore) -> None:
    asked: list[int] = []

    def cancel() -> bool:  # no to the first step (load), yes to the next
        asked.append(1)
        return len(asked) > 1

    with pytest.raises(RenderCancelled, match="before cutout"):
        prepare(PEOPLE / "hiker.jpg", "own", model_dir=model_store.root, cancel=cancel)
    assert len(asked) == 2
    with pytest.raises(RenderCancelled, match="before load"):
        prepare(PEOPLE / "hiker.jpg", "own", model_dir=model_store.root, cancel=lambda: True)


# -- the whole pipeline, with the real style engine, at a tiny size ------------------------


def _luma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float32).ravel()


def test_one_composite_is_painted_fast_then_hq(
    model_store: ModelStore, engine, artifacts: Path
) -> None:
    prepared = prepare(PEOPLE / "booth_group.jpg", "tubingen", 128, model_dir=model_store.root)
    updates: list[object] = []
    fast = engine.stylize(
        prepared.composite, "great_wave", size=128, mode="fast", progress=updates.append
    )
    assert prepared.person_found and updates
    assert fast.mode == "RGB" and max(fast.size) == 128
    assert prepared.alpha.size == fast.size and prepared.alpha.mode == "L"
    fast.save(artifacts / "pipeline_group_tubingen_great_wave_fast.png")
    composite = prepared.composite.resize(fast.size)
    # painted, not copied: the pixels change, the picture's layout stays
    assert np.abs(np.asarray(composite, int) - np.asarray(fast, int)).mean() > 10
    assert np.corrcoef(_luma(composite), _luma(fast))[0, 1] > 0.4

    tiny = GatysOptions(steps=4, scales=(1.0,), step_shares=(1.0,), preview_every=2)
    hq = engine.stylize(prepared.composite, "great_wave", size=96, hq=tiny)
    assert max(hq.size) == 96 and hq.info["stopped"] == "done"
    assert np.corrcoef(_luma(prepared.composite.resize(hq.size)), _luma(hq))[0, 1] > 0.4


def test_style_options_reach_the_engine(model_store: ModelStore, engine) -> None:
    prepared = prepare(PEOPLE / "seaside.jpg", "own", 96, model_dir=model_store.root)
    photo = np.asarray(prepared.composite, int)

    def distance(strength: float) -> float:
        painting = engine.stylize(
            prepared.composite, "udnie", size=96, mode="fast", strength=strength
        )
        return float(np.abs(np.asarray(painting, int) - photo).mean())

    assert distance(0.2) < distance(1.0) - 5  # a weaker style stays nearer the photo
    with pytest.raises(ValueError, match="unknown HQ option"):
        GatysOptions.from_mapping({"bogus": 1})


def test_an_unknown_style_fails_before_the_photo_is_read(engine) -> None:
    with pytest.raises(ImageError, match="no such file or style preset"):
        engine.stylize(b"", "nope", mode="fast")
