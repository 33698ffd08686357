"""The print render (render/print_master.py) on the real VGG19, from a real booth painting of a
shared-data photo, at small sizes: a 96×128 painting continued to 240×320 in 64 px tiles."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from render.detail import detail_ratio, enlarged
from render.errors import StyleBoothError
from render.images import load_image
from render.options import GatysOptions, OptionError
from render.print_master import PrintOptions, PrintSizeError, paint_print, plan_stages
from render.progress import StyleProgress
from render.stylize import StyleEngine
from render.tiles import tile_grid
from tests.support.paths import PEOPLE, STYLES

STARRY = STYLES / "starry_night.jpg"
BOOTH = (96, 128)
PRINT = (240, 320)
SMALL = PrintOptions(tile=64, steps=8)  # 4 × 5 tiles of 64 px at 240×320


@pytest.fixture(scope="module")
def composite() -> Image.Image:
    """A guest photo in the booth's portrait frame (the composite's role in the booth)."""
    return ImageOps.fit(load_image(PEOPLE / "astronaut.png"), BOOTH, Image.Resampling.LANCZOS)


@pytest.fixture(scope="module")
def painting(engine: StyleEngine, composite: Image.Image) -> Image.Image:
    """The booth's HQ painting of it, made by the real engine."""
    return engine.stylize(composite, STARRY, size=max(BOOTH), hq=GatysOptions(steps=40))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def luma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float64)


@pytest.fixture(scope="module")
def master(engine: StyleEngine, painting: Image.Image, composite: Image.Image) -> Image.Image:
    return paint_print(engine, painting, composite, STARRY, PRINT, options=SMALL)


def test_the_master_is_the_approved_painting_only_sharper(
    master: Image.Image, painting: Image.Image, artifacts: Path
) -> None:
    side_by_side = Image.new("RGB", (PRINT[0] * 2, PRINT[1]))
    side_by_side.paste(enlarged(painting, PRINT), (0, 0))
    side_by_side.paste(master, (PRINT[0], 0))
    side_by_side.save(artifacts / "print_master_vs_lanczos.png")
    assert master.size == PRINT and master.mode == "RGB"
    # Seen at the booth's size it is the painting the guest approved, far closer to it than
    # the style image is (same colours, same structure: the guest is still recognisable)...
    seen = master.resize(BOOTH, Image.Resampling.BOX)
    style = load_image(STARRY).resize(BOOTH, Image.Resampling.LANCZOS)
    ours = np.abs(pixels(seen) - pixels(painting)).mean()
    assert ours < 0.25 * np.abs(pixels(style) - pixels(painting)).mean()
    assert np.corrcoef(luma(seen).ravel(), luma(painting).ravel())[0, 1] > 0.9
    # ...and at print size it holds far more fine detail than a Lanczos enlargement.
    assert detail_ratio(master, painting) > 3.0


def test_tiles_leave_no_seams(master: Image.Image) -> None:
    """Brightness steps across the tiles' core edges are like those anywhere else."""
    image = luma(master)
    across_x = np.abs(np.diff(image, axis=1))  # column j: between pixels j and j + 1
    across_y = np.abs(np.diff(image, axis=0))
    edges_x = [t.core[0] - 1 for t in tile_grid(PRINT, SMALL.tile, "conv3_1") if t.core[0]]
    edges_y = [t.core[1] - 1 for t in tile_grid(PRINT, SMALL.tile, "conv3_1") if t.core[1]]
    assert edges_x and edges_y
    at_edges = np.concatenate(
        [across_x[:, sorted(set(edges_x))].ravel(), across_y[sorted(set(edges_y)), :].ravel()]
    )
    elsewhere = np.concatenate([across_x.ravel(), across_y.ravel()])
    assert at_edges.mean() < 1.25 * elsewhere.mean()


def test_tiling_changes_nothing(
    engine: StyleEngine, painting: Image.Image, composite: Image.Image
) -> None:
    """In fp32, many small tiles and one tile for the whole image paint the same picture: each
    tile's gradient is exact, so the whole image takes one optimiser step."""
    options = PrintOptions(steps=4, precision="fp32")
    many = paint_print(
        engine, painting, composite, STARRY, PRINT, options=replace(options, tile=64)
    )
    one = paint_print(
        engine, painting, composite, STARRY, PRINT, options=replace(options, tile=512)
    )
    assert many is not None and one is not None
    # Float summation order differs between the tilings, and L-BFGS can carry that into a
    # pixel or two (one channel of one pixel moved 4/255 with numpy 2.4 and torch 2.13): so
    # nearly every pixel is equal, none is far off, and a seam or a shifted tile would fail both.
    differ = np.abs(pixels(many) - pixels(one))
    assert np.percentile(differ, 99.9) <= 1.0 and differ.mean() < 0.01
    assert differ.max() <= 16.0
    assert np.abs(pixels(many) - pixels(enlarged(painting, PRINT))).mean() > 3.0  # it painted


def test_pause_is_called_between_every_unit_of_work(
    engine: StyleEngine, painting: Image.Image, composite: Image.Image
) -> None:
    calls: list[int] = []
    seen: list[StyleProgress] = []
    options = PrintOptions(tile=64, steps=3)
    out = paint_print(
        engine, painting, composite, STARRY, PRINT, options=options,
        pause=lambda: calls.append(len(seen)), progress=seen.append,
    )  # fmt: skip
    assert out is not None and out.size == PRINT
    tiles = len(tile_grid(PRINT, options.tile, "conv3_1"))
    # Every tile of the first sweep and of each step is one unit, with a pause before it.
    assert len(calls) >= tiles * (options.steps + 1)
    steps = [p for p in seen if p.preview is None]
    assert [p.iteration for p in steps] == [1, 2, 3] and steps[-1].iterations == 3
    # Between two progress reports (one step) there are at least as many pauses as tiles.
    per_step = np.bincount(calls)
    assert per_step[1 : options.steps].min() >= tiles


def test_cancel_stops_between_units_and_returns_none(
    engine: StyleEngine, painting: Image.Image, composite: Image.Image
) -> None:
    calls: list[float] = []
    event = threading.Event()

    def pause() -> None:
        calls.append(1.0)
        if len(calls) == 10:
            event.set()

    out = paint_print(
        engine, painting, composite, STARRY, PRINT,
        options=PrintOptions(tile=64, steps=50), pause=pause, cancel=event,
    )  # fmt: skip
    assert out is None
    assert len(calls) == 10  # no unit of work ran after the cancel
    assert paint_print(engine, painting, composite, STARRY, PRINT, cancel=lambda: True) is None


def test_coarse_to_fine_stages_and_progress(
    engine: StyleEngine, painting: Image.Image, composite: Image.Image
) -> None:
    small = painting.resize((48, 64), Image.Resampling.LANCZOS)  # 5× to print: two stages
    assert plan_stages(small.size, PRINT, 2.5) == [(107, 143), PRINT]
    seen: list[StyleProgress] = []
    out = paint_print(
        engine, small, composite, STARRY, PRINT,
        options=PrintOptions(tile=64, steps=2), progress=seen.append,
    )  # fmt: skip
    assert out is not None and out.size == PRINT
    assert [p.scale for p in seen if p.preview is None] == [1, 1, 2, 2]
    previews = [p.preview for p in seen if p.preview is not None]
    assert [p.size for p in previews] == [(107, 143), PRINT]
    assert all(np.isfinite(p.style_loss) and p.style_loss >= 0 for p in seen if p.preview is None)


def test_no_larger_than_the_painting_is_a_plain_resize(
    engine: StyleEngine, painting: Image.Image, composite: Image.Image
) -> None:
    same = paint_print(engine, painting, composite, STARRY, BOOTH)
    assert same is not None and np.array_equal(pixels(same), pixels(painting))


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((240, 240), "not the painting's shape"),
        ((320, 240), "not the painting's shape"),
        ((0, 0), "too small"),
        ((-240, -320), "too small"),
        ((30_000, 40_000), "too large"),
        ((240.0, 320.0), "whole pixels"),
        ((True, 320), "whole pixels"),
        ((240, 320, 3), "whole pixels"),
        ("240x320", "whole pixels"),
    ],
)
def test_a_bad_size_is_refused_in_words(
    engine: StyleEngine, painting: Image.Image, composite: Image.Image, size: object, message: str
) -> None:
    with pytest.raises(PrintSizeError, match=message) as caught:
        paint_print(engine, painting, composite, STARRY, size)  # type: ignore[arg-type]
    assert isinstance(caught.value, OptionError) and isinstance(caught.value, StyleBoothError)
    assert caught.value.code == "bad_print_size"


def test_bad_inputs_are_refused_in_words(
    engine: StyleEngine, painting: Image.Image, composite: Image.Image
) -> None:
    with pytest.raises(PrintSizeError, match="composite"):
        paint_print(engine, painting, composite.resize((128, 96)), STARRY, PRINT)
    with pytest.raises(OptionError, match="numbered"):
        paint_print(engine, painting, composite, 3, PRINT)
    with pytest.raises(StyleBoothError, match="no such file or style preset"):
        paint_print(engine, painting, composite, "no_such_painting", PRINT)
    with pytest.raises(OptionError, match="unknown print option"):
        PrintOptions.from_mapping({"stpes": 3})
    with pytest.raises(OptionError, match="layer_weights"):
        PrintOptions(layer_weights=(1.0,) * 5)
    assert PrintOptions.from_mapping({"layer_weights": [1, 1]}).layers == ("conv1_1", "conv2_1")
