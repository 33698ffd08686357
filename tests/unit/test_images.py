"""Bad and unusual inputs get a clear ImageError or the right picture, never a crash."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from render.images import ImageError, fit_long_side, fit_size, load_image
from tests.support.photos import encode, guest_photo


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.4 definitely not a picture", "not an image"),
        (encode(Image.new("RGB", (1, 1))), "only 1×1"),
    ],
)
def test_bad_input_is_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        load_image(data)


def test_truncated_file_is_a_clear_error() -> None:
    data = encode(guest_photo(), "JPEG", quality=90)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(data[: len(data) // 3])


def test_100_megapixel_image_is_refused_before_decoding() -> None:
    # A tiny PNG that claims 10000×10000: the classic decompression bomb shape.
    bomb = encode(Image.new("L", (10_000, 10_000)), optimize=True)
    assert len(bomb) < 200_000
    with pytest.raises(ImageError, match="100 megapixels"):
        load_image(bomb)


def test_exif_rotated_phone_photo_comes_out_upright() -> None:
    photo = guest_photo()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    loaded = load_image(encode(photo, "JPEG", exif=exif.tobytes(), quality=95))
    assert loaded.size == (photo.height, photo.width)


@pytest.mark.parametrize("mode", ["CMYK", "L", "P", "LA", "RGBA", "1"])
def test_modes_become_rgb(mode: str) -> None:
    photo = guest_photo()
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    loaded = load_image(encode(photo.convert(mode), fmt))
    assert loaded.mode == "RGB" and loaded.size == photo.size
    if mode in {"CMYK", "P", "RGBA"}:  # colour survives: close to the original
        diff = np.abs(np.asarray(loaded, float) - np.asarray(photo, float)).mean()
        assert diff < 20


def test_16_bit_grayscale_is_scaled_not_clipped() -> None:
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    loaded = load_image(encode(Image.fromarray(ramp)))
    values = np.asarray(loaded)[..., 0]
    assert values.min() == 0 and values.max() == 255 and 100 < values.mean() < 155


def test_alpha_png_is_flattened_on_white_or_kept() -> None:
    clear = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    assert load_image(encode(clear)).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(encode(clear), keep_alpha=True).getpixel((0, 0))[3] == 0


def test_fit_long_side_keeps_the_aspect_and_can_cap_without_enlarging() -> None:
    image = Image.new("RGB", (1620, 1080))
    assert fit_long_side(image, 512).size == fit_size(image.size, 512) == (512, 341)
    assert fit_long_side(image, 3240).size == (3240, 2160)
    assert fit_long_side(image, 3240, enlarge=False) is image
    assert fit_long_side(image, 810, enlarge=False).size == (810, 540)


def test_fit_size_keeps_the_aspect() -> None:
    assert fit_size((1620, 1080), 512) == (512, 341)
    assert fit_size((399, 600), 300) == (200, 300)
