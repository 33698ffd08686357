"""The HQ style engine (Gatys on VGG19): real weights, real photos and paintings, small sizes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from render.color import match_palette
from render.grams import GramCache
from render.images import fit_area, fit_long_side, image_digest, load_image
from render.losses import distances
from render.options import GatysOptions
from render.progress import StyleProgress
from render.stylize import StyleEngine
from tests.support.paths import PEOPLE, STYLES

HIKER = PEOPLE / "hiker.jpg"
ASTRONAUT = PEOPLE / "astronaut.png"
STARRY = STYLES / "starry_night.jpg"
SCREAM = STYLES / "the_scream.jpg"


def photo(path: Path, size: int) -> Image.Image:
    return fit_long_side(load_image(path), size)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def test_losses_fall_with_lbfgs_and_adam(engine: StyleEngine) -> None:
    for optimizer, steps in (("lbfgs", 40), ("adam", 30)):
        seen: list[StyleProgress] = []
        engine.stylize(
            HIKER, STARRY, size=96, progress=seen.append,
            hq=GatysOptions(steps=steps, optimizer=optimizer, match_palette=False),
        )  # fmt: skip
        assert len(seen) == steps and seen[-1].iteration == seen[-1].iterations == steps
        first, last = seen[0], seen[-1]
        assert first.content_loss == 0.0  # it starts from the photo itself
        assert last.total_loss < 0.5 * first.total_loss, optimizer
        assert last.style_loss < 0.5 * first.style_loss, optimizer
        assert all(np.isfinite([p.total_loss for p in seen]))


def test_hq_output_takes_the_style_and_keeps_the_person(engine: StyleEngine, artifacts) -> None:
    content, style = photo(ASTRONAUT, 128), load_image(STARRY)
    out = engine.stylize(content, style, size=128)  # the booth defaults
    out.save(artifacts / "style_hq_astronaut_starry.png")
    assert out.size == content.size
    vgg = engine.vgg("max")
    painted = distances(vgg, out, content, style)
    untouched = distances(vgg, content, content, style)  # the photo itself
    the_painting = distances(vgg, style.resize(content.size), content, style)
    # Far closer to the painting's statistics than the photo is...
    assert painted.style < 0.2 * untouched.style
    # ...while the photo's content stays far closer than the painting's.
    assert painted.content < 0.4 * the_painting.content


def test_coarse_to_fine_runs_every_scale(engine: StyleEngine) -> None:
    seen: list[StyleProgress] = []
    out = engine.stylize(
        HIKER, STARRY, size=200, progress=seen.append,
        hq=GatysOptions(steps=24, scales=(0.5, 1.0), step_shares=(0.75, 0.25)),
    )  # fmt: skip
    assert out.size == photo(HIKER, 200).size
    assert [p.scale for p in seen] == [1] * 18 + [2] * 6
    assert {p.scales for p in seen} == {2}
    previews = [p.preview for p in seen if p.preview is not None]
    assert previews and previews[-1].size == out.size  # every 20 steps by default


def test_gram_cache_returns_identical_targets_from_memory_and_disk(
    engine: StyleEngine, tmp_path: Path
) -> None:
    vgg = engine.vgg("max")
    style = fit_area(load_image(SCREAM), 96 * 64)
    digest = image_digest(style)
    cache = GramCache(tmp_path)
    computed = cache.get(vgg, style, digest)
    from_memory = cache.get(vgg, style, digest)
    from_disk = GramCache(tmp_path).get(vgg, style, digest)
    assert cache.hits == {"memory": 1, "disk": 0, "computed": 1}
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    for name, gram in computed.items():
        assert gram.dtype == torch.float32 and gram.shape[-1] == gram.shape[-2]
        assert torch.equal(gram, from_memory[name]) and torch.equal(gram, from_disk[name])
    # Other settings are other entries: a different size or pooling is computed afresh.
    smaller = style.resize((style.width // 2, style.height // 2))
    assert GramCache.key(digest, smaller.size, "max", ("conv1_1",)) != GramCache.key(
        digest, style.size, "max", ("conv1_1",)
    )
    assert GramCache.key(digest, style.size, "avg", ("conv1_1",)) != GramCache.key(
        digest, style.size, "max", ("conv1_1",)
    )


def test_a_corrupt_cache_file_is_computed_again(engine: StyleEngine, tmp_path: Path) -> None:
    vgg = engine.vgg("max")
    style = fit_area(load_image(SCREAM), 64 * 64)
    digest = image_digest(style)
    first = GramCache(tmp_path).get(vgg, style, digest)
    (entry,) = tmp_path.glob("*.safetensors")
    entry.write_bytes(b"garbage")
    cache = GramCache(tmp_path)
    again = cache.get(vgg, style, digest)
    assert cache.hits["computed"] == 1
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_palette_matching_gives_the_photo_the_paintings_colours() -> None:
    content, painting = photo(HIKER, 200), load_image(SCREAM)
    recoloured = match_palette(content, painting)
    assert recoloured.size == content.size

    def stats(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        rgb = pixels(image).reshape(-1, 3)
        return rgb.mean(0), np.cov(rgb, rowvar=False)

    (mean, cov), (target_mean, target_cov) = stats(recoloured), stats(painting)
    assert np.abs(mean - target_mean).max() < 4  # of 255 (clipping moves it a little)
    before_mean, before_cov = stats(content)
    spread = np.linalg.norm(cov - target_cov) / np.linalg.norm(target_cov)
    assert spread < 0.25  # clipping to 0..255 trims the strongest channel a little
    assert np.linalg.norm(before_cov - target_cov) / np.linalg.norm(target_cov) > 2 * spread
    assert np.abs(before_mean - target_mean).max() > 20  # it was far before


def chroma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("YCbCr"), dtype=np.float32)[..., 1:]


def test_preserve_color_keeps_the_photos_chroma(engine: StyleEngine, artifacts) -> None:
    content = photo(HIKER, 96)
    kept = engine.stylize(content, STARRY, size=96, hq=GatysOptions(steps=30), preserve_color=True)
    plain = engine.stylize(content, STARRY, size=96, hq=GatysOptions(steps=30))
    kept.save(artifacts / "style_preserve_color.png")
    assert np.abs(chroma(kept) - chroma(content)).mean() < 2.0
    assert np.abs(chroma(plain) - chroma(content)).mean() > 4.0
    # It is still a painting: the brightness changed.
    luma = np.asarray(kept.convert("L"), dtype=np.float32)
    assert np.abs(luma - np.asarray(content.convert("L"), dtype=np.float32)).mean() > 5.0


def test_cancel_stops_early_with_a_valid_image(engine: StyleEngine) -> None:
    event = threading.Event()
    seen: list[StyleProgress] = []

    def progress(p: StyleProgress) -> None:
        seen.append(p)
        if p.iteration == 5:
            event.set()

    out = engine.stylize(
        HIKER, STARRY, size=96, hq=GatysOptions(steps=200), progress=progress, cancel=event
    )
    assert out.info["stopped"] == "cancelled"
    assert len(seen) == 5
    assert out.size == photo(HIKER, 96).size and out.mode == "RGB"
    assert pixels(out).std() > 10  # a picture, not a blank
    # A callable works too; cancelled before the first step, the photo comes back.
    first = engine.stylize(
        HIKER, STARRY, size=96, hq=GatysOptions(steps=200, match_palette=False), cancel=lambda: True
    )
    assert first.info["stopped"] == "cancelled"
    assert np.abs(pixels(first) - pixels(photo(HIKER, 96))).mean() < 3.0


def test_budget_returns_the_best_image_so_far(engine: StyleEngine) -> None:
    seen: list[StyleProgress] = []
    out = engine.stylize(
        HIKER, STARRY, size=96, hq=GatysOptions(steps=100_000), budget=1.5, progress=seen.append
    )
    assert out.info["stopped"] == "budget"
    assert 0 < len(seen) < 100_000
    assert out.size == photo(HIKER, 96).size
    assert np.abs(pixels(out) - pixels(photo(HIKER, 96))).mean() > 3.0  # it did paint


def test_strength_scales_the_style(engine: StyleEngine) -> None:
    content = photo(HIKER, 96)
    weak = engine.stylize(content, STARRY, size=96, hq=GatysOptions(steps=30), strength=0.05)
    full = engine.stylize(content, STARRY, size=96, hq=GatysOptions(steps=30), strength=1.0)
    vgg = engine.vgg("max")
    style = load_image(STARRY)
    assert distances(vgg, full, content, style).style < distances(vgg, weak, content, style).style
    assert (
        np.abs(pixels(weak) - pixels(content)).mean()
        < np.abs(pixels(full) - pixels(content)).mean()
    )


def test_seed_gives_reproducible_output(engine: StyleEngine) -> None:
    def run(seed: int) -> np.ndarray:
        return pixels(
            engine.stylize(
                HIKER, STARRY, size=64, hq=GatysOptions(steps=8, init="noise"), seed=seed
            )
        )

    first, again, other = run(1), run(1), run(2)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_preset_names_and_every_input_kind_work(engine: StyleEngine) -> None:
    by_name = engine.stylize(HIKER.read_bytes(), "starry_night", size=64, hq=GatysOptions(steps=5))
    by_image = engine.stylize(
        load_image(HIKER), load_image(STARRY), size=64, hq=GatysOptions(steps=5)
    )
    by_path = engine.stylize(str(HIKER), STARRY, size=64, hq=GatysOptions(steps=5))
    assert np.array_equal(pixels(by_name), pixels(by_image))
    assert np.array_equal(pixels(by_name), pixels(by_path))
