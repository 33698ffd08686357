"""Fast mode (ONNX), and bad or unusual inputs to the style engine."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from render.images import ImageError, load_image
from render.options import GatysOptions
from render.progress import StyleProgress
from render.stylize import StyleEngine
from tests.support.paths import PEOPLE, STYLES
from tests.support.photos import encode

HIKER = PEOPLE / "hiker.jpg"
SEASIDE = PEOPLE / "seaside.jpg"
STARRY = STYLES / "starry_night.jpg"


def diff(a: Image.Image, b: Image.Image) -> float:
    b = b.resize(a.size, Image.Resampling.LANCZOS)
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


@pytest.mark.parametrize("size", [640, 333])
def test_fast_mode_returns_the_requested_size(engine: StyleEngine, size: int, artifacts) -> None:
    seen: list[StyleProgress] = []
    out = engine.stylize(SEASIDE, STARRY, size=size, mode="fast", progress=seen.append)
    w, h = load_image(SEASIDE).size
    assert out.size == (size, round(h * size / w))
    assert out.mode == "RGB" and out.info["stopped"] == "done"
    assert len(seen) == 1 and seen[0].preview is out
    if size == 640:
        out.save(artifacts / "style_fast_seaside_starry.jpg")
    # A painting, not the photo: far from it, and bluer like the Starry Night.
    photo = load_image(SEASIDE)
    assert diff(out, photo) > 20
    blue = np.asarray(out, np.float32)[..., 2].mean() - np.asarray(out, np.float32)[..., 0].mean()
    assert blue > 0


def test_fast_strength_moves_from_the_photo_to_the_painting(engine: StyleEngine) -> None:
    photo = load_image(HIKER)
    distances = [
        diff(engine.stylize(photo, STARRY, size=320, mode="fast", strength=s), photo)
        for s in (0.0, 0.5, 1.0)
    ]
    assert distances[0] < distances[1] < distances[2]
    assert distances[0] < 0.6 * distances[2]


def test_fast_preset_network_by_index(engine: StyleEngine) -> None:
    photo = load_image(HIKER)
    one = engine.stylize(photo, 3, size=200, mode="fast")
    other = engine.stylize(photo, 20, size=200, mode="fast")
    half = engine.stylize(photo, 3, size=200, mode="fast", strength=0.5)
    assert one.size == other.size == (200, 133)
    assert diff(one, other) > 10  # different styles
    assert diff(half, photo) < diff(one, photo)
    with pytest.raises(ValueError, match="0 to 25"):
        engine.stylize(photo, 26, size=200, mode="fast")
    with pytest.raises(ValueError, match="fast mode"):
        engine.stylize(photo, 3, size=200, mode="hq")


def test_fast_preserve_color(engine: StyleEngine) -> None:
    photo = load_image(HIKER)
    out = engine.stylize(photo, STARRY, size=300, mode="fast", preserve_color=True)
    chroma = lambda im: np.asarray(im.convert("YCbCr"), np.float32)[..., 1:]  # noqa: E731
    reference = photo.resize(out.size, Image.Resampling.LANCZOS)
    assert np.abs(chroma(out) - chroma(reference)).mean() < 2.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"GIF89a but not really", "not an image"),
        (b"\xff\xd8\xff\xe0 a JPEG cut short", "truncated or corrupt"),
        (encode(Image.new("RGB", (1, 1))), "only 1×1"),
        (encode(Image.new("L", (10_000, 10_000)), optimize=True), "megapixels"),
    ],
)
def test_bad_images_are_clear_errors(engine: StyleEngine, data: bytes, message: str) -> None:
    for mode in ("fast", "hq"):
        with pytest.raises(ImageError, match=message):
            engine.stylize(data, STARRY, size=64, mode=mode, hq=GatysOptions(steps=1))
        with pytest.raises(ImageError, match=message):
            engine.stylize(HIKER, data, size=64, mode=mode, hq=GatysOptions(steps=1))


def test_missing_file_and_bad_options_are_clear_errors(engine: StyleEngine, tmp_path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        engine.stylize(tmp_path / "nope.jpg", STARRY, mode="fast")
    with pytest.raises(ImageError, match="no such file"):
        engine.stylize(HIKER, "not_a_preset", mode="fast")
    for kwargs, message in [
        ({"size": 8}, "size"),
        ({"size": 512.5}, "size"),
        ({"mode": "turbo"}, "mode"),
        ({"strength": 1.5}, "strength"),
        ({"budget": 0}, "budget"),
    ]:
        with pytest.raises(ValueError, match=message):
            engine.stylize(HIKER, STARRY, **kwargs)
    # HQ options are checked where they are written, before any painting.
    for options, message in [
        ({"stepz": 3}, "unknown HQ option"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"layer_weights": [1.0]}, "layer_weights"),
    ]:
        with pytest.raises(ValueError, match=message):
            GatysOptions.from_mapping(options)
    assert GatysOptions.from_mapping({"scales": [1.0], "step_shares": [1.0]}).scales == (1.0,)


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "P", "RGBA", "LA", "L"])
def test_unusual_image_modes_are_painted(engine: StyleEngine, mode: str) -> None:
    photo = load_image(HIKER).resize((120, 80))
    if mode == "I;16":
        source = Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257)
    else:
        source = photo.convert(mode)
    data = encode(source, "JPEG" if mode == "CMYK" else "PNG")
    out = engine.stylize(data, STARRY, size=120, mode="fast")
    assert out.size == (120, 80) and out.mode == "RGB"


def test_exif_rotated_phone_photo_is_painted_upright(engine: StyleEngine) -> None:
    photo = load_image(HIKER)
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was held sideways: rotate 90° to display
    sideways = photo.transpose(Image.Transpose.ROTATE_90)
    data = encode(sideways, "JPEG", exif=exif.tobytes(), quality=95)
    out = engine.stylize(data, STARRY, size=150, mode="fast")
    assert out.size == (150, 100)  # landscape again, as the guest saw it
    hq = engine.stylize(data, STARRY, size=96, hq=GatysOptions(steps=2))
    assert hq.size == (96, 64)
