"""Product options and print sizes (export/specs.py): what a print shop asks for, no files."""

from __future__ import annotations

import pytest

from export.specs import (
    DEFAULTS,
    TEE_SIZES,
    ExportError,
    effective_dpi,
    normalize_options,
    print_pixels,
)


def test_tee_options_are_normalised_with_defaults():
    assert normalize_options("tee", None) == {"size": "M", "colour": "white", "layout": "full"}
    assert normalize_options("tee", {"size": " xl ", "colour": "Black", "layout": "PEOPLE"}) == {
        "size": "XL",
        "colour": "black",
        "layout": "people",
    }
    assert normalize_options("tee", {"size": "XXL"})["size"] == "2XL"
    assert normalize_options("tee", {"size": "xxxl"})["size"] == "3XL"
    assert list(TEE_SIZES) == ["XS", "S", "M", "L", "XL", "2XL", "3XL"]
    assert set(DEFAULTS["tee"]) == {"size", "colour", "layout"}


@pytest.mark.parametrize(
    ("product", "options", "message"),
    [
        ("tee", {"size": "4XL"}, "tee size must be one of XS, S, M, L, XL, 2XL, 3XL; got '4XL'"),
        ("tee", {"colour": "red"}, "tee colour must be one of white, black; got 'red'"),
        ("tee", {"color": "black"}, "tee has no option color (it takes size, colour, layout)"),
        ("tee", {"layout": "back"}, "tee layout must be one of full, people"),
        ("sticker", {"size": 5}, "sticker size must be 2 in, 3 in, 4 in; got 5"),
        ("mug", {"size": "20oz"}, "mug size must be 11oz or 15oz"),
        ("mug", {"layout": "spiral"}, "mug layout must be one of centred, sides, wrap"),
        ("mug", {"colour": "black"}, "mug has no option colour"),
        ("poster", {}, "unknown product 'poster'"),
    ],
)
def test_bad_options_say_what_is_allowed(product, options, message):
    with pytest.raises(ExportError) as raised:
        normalize_options(product, options)
    assert message in str(raised.value)
    assert raised.value.code == "bad_options"


def test_print_pixels_follow_each_products_layout():
    # a 3:4 portrait fills the 12×16 in tee area: 150 DPI by default, 300 on a GPU host
    assert print_pixels("tee", {}, 3 / 4) == (1800, 2400)
    assert print_pixels("tee", {}, 3 / 4, dpi=300) == (3600, 4800)
    assert print_pixels("tee", {"size": "XS"}, 3 / 4) == (1350, 1800)  # 9×12 in
    assert print_pixels("tee", {"size": "3XL"}, 3 / 4) == print_pixels("tee", {}, 3 / 4)
    # a landscape picture is as wide as the area: 12 in × 8 in
    assert print_pixels("tee", {}, 3 / 2) == (1800, 1200)
    # sticker: its longest side at 300 DPI
    assert print_pixels("sticker", {"size": 3}, 3 / 4) == (675, 900)
    assert print_pixels("sticker", {"size": 4}, 2.0) == (1200, 600)
    # mug centred: the 3.5 in height; wrap: 8 in between the handle zones, cropped
    assert print_pixels("mug", {"size": "11oz"}, 3 / 4) == (788, 1050)
    assert print_pixels("mug", {"size": "15oz", "layout": "wrap"}, 3 / 4) == (2400, 3200)
    assert print_pixels("mug", {"size": "11oz", "layout": "sides"}, 3 / 2) == (1163, 775)


def test_print_pixels_scale_and_people_crop():
    assert print_pixels("tee", {}, 3 / 4, 0.1) == (180, 240)
    full = print_pixels("tee", {"layout": "people"}, 3 / 4)
    assert full == (1800, 2400)  # without the people's box: the whole frame
    crop = print_pixels("tee", {"layout": "people"}, 3 / 4, people_box=(0.25, 0.2, 0.75, 1.0))
    assert crop[0] > full[0] and crop[1] > full[1]  # the crop is enlarged on the shirt
    assert abs(crop[0] / crop[1] - 3 / 4) < 0.01
    # the crop itself then gets the tee's 150 DPI over its 16 in height (with the margin)
    pad = 0.04 * max(0.5, 0.8 / 0.75)
    assert abs(crop[1] * (0.8 + 2 * pad * 0.75) / 16 - 150) < 1
    sticker = print_pixels("sticker", {"size": 2}, 1.0, people_box=(0.0, 0.0, 0.5, 0.5))
    assert sticker == (1200, 1200)
    with pytest.raises(ExportError, match="aspect"):
        print_pixels("tee", {}, 0.0)
    for scale in (0, -1, 1.5, float("nan")):
        with pytest.raises(ExportError, match=r"print scale is a fraction in \(0, 1\]"):
            print_pixels("tee", {}, 0.75, scale)


def test_effective_dpi_is_the_coarser_axis():
    assert effective_dpi((384, 512), (12.0, 16.0)) == 32.0
    assert effective_dpi((1800, 2000), (12.0, 16.0)) == 125.0
