"""The photo print's layout (export/photo_print.py): pixel sizes at 300 DPI for 4×6 in both
ways and the 2×6 in strip, the painting in its frame, the label's words in the PNG and the
PDF, PDF boxes that are the paper itself, the preflight, and art too small for the print."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from export.api import export_product
from export.photo_print import PhotoLabel
from export.preflight import preflight
from export.specs import (
    ExportError,
    normalize_options,
    photo_frame_in,
    photo_page_in,
    print_pixels,
)
from tests.support.photos import guest_photo

LABEL = PhotoLabel("The Starry Night", "Vincent van Gogh", "Summer Gala", "2 Dec 2026")


def painting(size: tuple[int, int]) -> Image.Image:
    """A painting with structure everywhere (the frame's pixels are compared with it)."""
    return guest_photo(size).convert("RGB")


@pytest.mark.parametrize(
    ("art", "options", "pixels", "page_pt"),
    [
        ((1760, 990), {}, (1800, 1200), (432, 288)),
        ((990, 1760), {}, (1200, 1800), (288, 432)),
        ((1760, 990), {"orientation": "portrait"}, (1200, 1800), (288, 432)),
        ((1760, 990), {"size": "2x6"}, (600, 1800), (144, 432)),
    ],
)
def test_each_layout_is_its_paper_at_300_dpi_and_passes_the_preflight(
    tmp_path: Path, art, options, pixels, page_pt
) -> None:
    made = export_product(painting(art), "photo", options=options, out_dir=tmp_path, label=LABEL)
    assert made.problems == ()
    with Image.open(made.files["png"]) as png:
        assert png.size == pixels and png.mode == "RGB"
        assert round(png.info["dpi"][0]) == 300
    page = PdfReader(made.files["pdf"]).pages[0]
    for box in (page.mediabox, page.trimbox, page.bleedbox):
        assert (round(float(box.width)), round(float(box.height))) == page_pt
    for path in made.files.values():
        report = preflight(path)
        assert report.ok, report.problems


def test_the_painting_fills_its_frame_and_the_label_says_what_it_is(tmp_path: Path) -> None:
    art = painting((1760, 990))
    made = export_product(art, "photo", out_dir=tmp_path, label=LABEL)
    pixels = np.asarray(Image.open(made.files["png"]).convert("L"), np.float64)
    left, top, width, height = (
        round(v * 300) for v in photo_frame_in({"size": "4x6", "orientation": "auto"}, 16 / 9)
    )
    frame = pixels[top + 4 : top + height - 4, left + 4 : left + width - 4]
    expected = np.asarray(art.convert("L").resize((width, height)), np.float64)[4:-4, 4:-4]
    assert np.corrcoef(frame.ravel(), expected.ravel())[0, 1] > 0.95
    assert (pixels[: top - 2] > 250).all() and (pixels[:, : left - 2] > 250).all()  # white border
    label = pixels[top + height + 4 :]
    assert (label < 100).sum() > 2000  # words, dark on white
    text = PdfReader(made.files["pdf"]).pages[0].extract_text()
    for words in ("The Starry Night", "after Vincent van Gogh", "Summer Gala", "2 Dec 2026"):
        assert words in text
    fonts = preflight(made.files["pdf"]).problems
    assert fonts == []  # Vera embedded


def test_a_different_label_is_a_different_export() -> None:
    from export.api import plan_export

    art = painting((352, 198))
    one = plan_export(art, "photo", label=LABEL)
    other = plan_export(art, "photo", label=PhotoLabel("Udnie", "Francis Picabia", "Summer Gala"))
    assert one.key != other.key
    assert plan_export(art, "sticker").key == plan_export(art, "sticker").key


def test_the_print_size_asked_for_covers_the_frame_and_scales_with_the_test_setting() -> None:
    aspect = 16 / 9
    width, height = print_pixels("photo", {}, aspect)
    frame = photo_frame_in(normalize_options("photo", {}), aspect)
    assert width >= frame[2] * 300 - 1 and height >= frame[3] * 300 - 1
    small = print_pixels("photo", {}, aspect, scale=0.1)
    assert abs(small[0] - width / 10) <= 1
    assert photo_page_in(normalize_options("photo", {}), 0.75) == (4.0, 6.0)


def test_art_too_small_for_the_print_fails_the_preflight_in_words(tmp_path: Path) -> None:
    made = export_product(painting((320, 180)), "photo", out_dir=tmp_path, label=LABEL)
    assert made.problems and all(
        "effective DPI, below the 150 DPI minimum" in p for p in made.problems
    )
    scaled = export_product(painting((320, 180)), "photo", out_dir=tmp_path, scale=0.1)
    assert scaled.problems == ()  # the test's print scale lowers the floor with the sizes


def test_bad_options_are_refused_in_words() -> None:
    with pytest.raises(ExportError, match="photo size must be one of 4x6, 2x6"):
        normalize_options("photo", {"size": "5x7"})
    with pytest.raises(ExportError, match="photo has no option colour"):
        normalize_options("photo", {"colour": "black"})
