"""Print files from a print master (issue 12): the tee keeps the art's own pixels, too small
art is refused in words, every PDF embeds its fonts, and a black shirt gets no white fringe.
Real photos and masks from the shared kit, painted-looking, at print and at booth sizes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from export import export_product
from export import tee as tee_module
from export.artwork import Artwork
from export.preflight import preflight
from export.specs import TAG_PREFIX, parse_tag, print_pixels
from tests.support.paths import PEOPLE

LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def _painted(photo: np.ndarray) -> np.ndarray:
    return cv2.stylization(photo, sigma_s=30, sigma_r=0.35)


@pytest.fixture(scope="module")
def portrait() -> tuple[Image.Image, Image.Image]:
    """A 3:4 painting of the booth group and its mask at the tee's print size (150 DPI over
    12×16 in: 1800×2400), as the print job paints it (enlarged here, painted there)."""
    photo = Image.open(PEOPLE / "booth_group.jpg").convert("RGB")
    mask = Image.open(PEOPLE / "booth_group_mask.png").convert("L")
    box = (405, 0, 1215, 1080)  # the middle 3:4 of the 3:2 photo
    size = print_pixels("tee", {}, 3 / 4)
    painted = Image.fromarray(_painted(np.asarray(photo.crop(box))))
    return painted.resize(size, Image.Resampling.LANCZOS), mask.crop(box).resize(size)


def _tag(path: Path) -> dict[str, str]:
    if path.suffix == ".png":
        text = Image.open(path).info[TAG_PREFIX]
    else:
        from pypdf import PdfReader

        text = str(PdfReader(path).metadata["/Keywords"])
    tag = parse_tag(text)
    assert tag is not None
    return tag


def test_a_tee_from_a_print_master_keeps_its_pixels_and_passes(portrait, tmp_path):
    art, mask = portrait
    assert art.size == (1800, 2400)
    result = export_product(art, "tee", options={"size": "L"}, out_dir=tmp_path, alpha=mask)
    assert result.problems == ()
    png = Image.open(result.files["png"])
    assert png.size == (1800, 2400) and round(png.info["dpi"][0]) == 150
    assert np.array_equal(np.asarray(png)[..., :3], np.asarray(art))  # the art, not resampled
    for path in result.files.values():
        report = preflight(path)
        assert report.ok, report.problems
        assert report.facts["art_px"] == (1800, 2400) and report.facts["art_dpi"] == 150.0
        assert _tag(path)["art_in"] == "12x16"


def test_art_finer_than_300_dpi_is_reduced_and_says_its_own_size(portrait, tmp_path):
    fine = portrait[0].resize((4000, 5333), Image.Resampling.LANCZOS)
    made = export_product(fine, "tee", out_dir=tmp_path)
    assert made.problems == ()
    png = Image.open(made.files["png"])
    assert png.size == (3600, 4800) and round(png.info["dpi"][0]) == 300
    report = preflight(made.files["png"])
    assert report.facts["art_px"] == (4000, 5333) and report.facts["art_dpi"] == 333.3


def test_a_booth_painting_as_a_tee_is_refused_in_words(portrait, tmp_path):
    """The booth's 384×512 painting on a 12×16 in print is 32 DPI: no upscale hides it."""
    small = portrait[0].resize((384, 512), Image.Resampling.LANCZOS)
    result = export_product(small, "tee", out_dir=tmp_path)
    sentence = "art is 384×512 px over 12×16 in: 32 effective DPI, below the 150 DPI minimum"
    png = preflight(result.files["png"])
    assert not png.ok and sentence in png.problems
    assert png.facts["width"] == 384  # written as it is, not enlarged
    assert sentence in preflight(result.files["pdf"]).problems
    assert any(sentence in problem for problem in result.problems)


def test_stickers_and_mugs_need_150_dpi_of_art_and_are_written_at_300(portrait, tmp_path):
    art, mask = portrait
    aspect = art.width / art.height
    for product, options in [("sticker", {"size": 4}), ("mug", {"layout": "wrap"})]:
        need = print_pixels(product, options, aspect)  # at 300 DPI; half of it is the floor
        enough = art.resize((need[0] // 2 + 8, need[1] // 2 + 8))
        made = export_product(
            enough, product, options=options, out_dir=tmp_path / product, alpha=mask
        )
        assert made.problems == (), made.problems
        assert round(Image.open(made.files["png"]).info["dpi"][0]) == 300
        too_little = art.resize((need[0] // 3, need[1] // 3))
        refused = export_product(
            too_little, product, options=options, out_dir=tmp_path / "low", alpha=mask
        )
        words = [p for p in refused.problems if "effective DPI, below the 150 DPI minimum" in p]
        assert len(words) == 2, refused.problems  # the PNG and the PDF


def test_a_test_scale_lowers_the_floor_with_the_sizes(portrait, tmp_path):
    art = portrait[0]
    scaled = art.resize(print_pixels("tee", {}, 3 / 4, 0.1))  # 180×240
    made = export_product(scaled, "tee", out_dir=tmp_path, scale=0.1)
    assert made.problems == ()
    assert preflight(made.files["png"], scale=0.1).ok
    full_scale = preflight(made.files["png"]).problems
    assert "art is 180×240 px over 12×16 in: 15 effective DPI, below the 150 DPI minimum" in (
        full_scale
    )
    tiny = art.resize((96, 128))
    refused = preflight(export_product(tiny, "tee", out_dir=tmp_path).files["png"], scale=0.1)
    words = "8 effective DPI, below the 15 DPI minimum (150 DPI × the print scale 0.1)"
    assert any(words in problem for problem in refused.problems), refused.problems


def test_every_pdf_embeds_every_font_it_uses(portrait, tmp_path):
    """pdffonts (poppler) lists each font of each PDF we make: all embedded, none standard."""
    if shutil.which("pdffonts") is None:
        pytest.fail("pdffonts is missing: apt-get install poppler-utils (make test does)")
    art, mask = portrait
    pdfs = [
        export_product(art, product, options=options, out_dir=tmp_path, alpha=mask).files["pdf"]
        for product, options in [
            ("tee", {"colour": "black", "layout": "people"}),
            ("sticker", {"size": 2}),
            ("mug", {"layout": "sides"}),
        ]
    ]
    proof_fonts = 0
    for pdf in pdfs:
        listing = subprocess.run(
            ["pdffonts", str(pdf)], check=True, capture_output=True, text=True
        ).stdout
        rows = listing.splitlines()[2:]
        for row in rows:
            name, emb = row.split()[0], row.split()[-5]
            assert emb == "yes" and "Helvetica" not in name, (pdf.name, row)
        proof_fonts += len(rows)
        assert not any("font" in p for p in preflight(pdf).problems)
    assert proof_fonts >= 2  # the tee proof's caption: the regular and the bold face


def test_a_black_shirt_has_no_white_fringe_around_the_people(tmp_path, artifacts):
    """A soft cut-out on a light scene, painted: the mask's rim carries the scene's white.
    On a black shirt that rim would print as a white outline; the design's rim must be no
    lighter than the people just inside it."""
    photo = np.asarray(Image.open(PEOPLE / "booth_group.jpg").convert("RGB")).astype(np.float32)
    reference = np.asarray(Image.open(PEOPLE / "booth_group_mask.png").convert("L"))
    soft = cv2.GaussianBlur(reference, (0, 0), 3)  # a cut-out's soft edge
    alpha = soft.astype(np.float32)[..., None] / 255
    light_scene = np.round(photo * alpha + 250 * (1 - alpha)).astype(np.uint8)
    mask = Image.fromarray(soft)
    box = mask.point(lambda v: 255 if v >= 128 else 0).getbbox()
    assert box is not None
    w, h = mask.size
    size = print_pixels(
        "tee",
        {"layout": "people"},
        w / h,
        people_box=(box[0] / w, box[1] / h, box[2] / w, box[3] / h),
    )
    art = Image.fromarray(_painted(light_scene)).resize(size, Image.Resampling.LANCZOS)
    mask = mask.resize(size)

    def design(colour: str) -> np.ndarray:
        options = {"layout": "people", "colour": colour}
        made = export_product(art, "tee", options=options, out_dir=tmp_path, alpha=mask)
        assert made.problems == (), made.problems
        return np.asarray(Image.open(made.files["png"]))

    def rim_and_inside(opaque: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        depth = cv2.distanceTransform(opaque.view(np.uint8), cv2.DIST_L2, 5)
        return opaque & (depth <= 3), opaque & (depth >= 8) & (depth <= 20)

    black, white = design("black"), design("white")
    # the design is the art's own pixels, cropped to the people and centred at the top: the
    # un-adapted design is the art under the white shirt's (unchoked) alpha
    x0, y0, x1, _ = tee_module._people_frame(Artwork.load(art, mask))
    dx, dy = x0 - (white.shape[1] - (x1 - x0)) // 2, y0
    rows, cols = np.nonzero(white[..., 3])
    raw = np.zeros_like(white)
    raw[rows, cols, :3] = np.asarray(art)[rows + dy, cols + dx]
    raw[rows, cols, 3] = 255
    deep = cv2.distanceTransform((white[..., 3] > 0).view(np.uint8), cv2.DIST_L2, 5) > 10
    assert np.array_equal(raw[deep], white[deep])  # inside the rim, the art as it is

    def luma(pixels: np.ndarray) -> np.ndarray:
        return pixels[..., :3].astype(np.float32) @ LUMA

    raw_rim, raw_inside = rim_and_inside(raw[..., 3] == 255)
    rim, inside = rim_and_inside(black[..., 3] == 255)
    raw_bright = (luma(raw[raw_rim]) > 200).mean()
    bright = (luma(black[rim]) > 200).mean()
    inside_bright = (luma(black[inside]) > 200).mean()
    # the fixture has the problem: the raw rim is lighter than the people inside it
    assert luma(raw[raw_rim]).mean() > luma(raw[raw_inside]).mean() + 5
    assert raw_bright > 2 * inside_bright
    # the black shirt's design does not: its rim is no lighter than inside, no more often bright
    assert luma(black[rim]).mean() <= luma(black[inside]).mean()
    assert bright <= inside_bright + 0.01 and bright < raw_bright / 2
    # and it is choked: a little inside the white shirt's outline, never outside it
    assert not (black[..., 3] > white[..., 3]).any()
    assert (black[..., 3] == 255).sum() < (white[..., 3] == 255).sum()

    shirt = np.zeros_like(black)
    shirt[..., :3], shirt[..., 3] = 24, 255
    for name, design_ in (("black_tee_rim", black), ("black_tee_rim_unadapted", raw)):
        shown = Image.fromarray(shirt)
        shown.alpha_composite(Image.fromarray(design_))
        shown.crop((600, 0, 1500, 700)).save(artifacts / f"export_{name}.png")


@pytest.mark.parametrize("scale", [0.1, 1.0])
def test_print_pixels_is_enough_for_every_option_and_less_is_refused(tmp_path, scale):
    """The print job paints the size ``print_pixels`` names (with the people's box): every
    product and option made from that size passes the preflight at the same scale, and less
    than the 150 DPI floor is refused (a tee asks for the floor, a sticker or mug for 300)."""
    photo = Image.open(PEOPLE / "hiker.jpg").convert("RGB")
    mask = Image.open(PEOPLE / "hiker_mask.png").convert("L")
    box = mask.point(lambda v: 255 if v >= 128 else 0).getbbox()
    assert box is not None
    people = (box[0] / mask.width, box[1] / mask.height, box[2] / mask.width, box[3] / mask.height)
    aspect = photo.width / photo.height
    options = [
        ("tee", {"size": s, "layout": lay}) for s in ("XS", "M") for lay in ("full", "people")
    ]
    options += [("sticker", {"size": s}) for s in (2, 4)]
    options += [("mug", {"size": "15oz", "layout": lay}) for lay in ("centred", "sides", "wrap")]
    for product, opts in options:
        size = print_pixels(product, opts, aspect, scale, people_box=people)
        art, art_mask = photo.resize(size, Image.Resampling.LANCZOS), mask.resize(size)
        made = export_product(
            art, product, options=opts, out_dir=tmp_path, alpha=art_mask, scale=scale
        )
        assert made.problems == (), (product, opts, size, made.problems)
        part = 2 / 3 if product == "tee" else 1 / 3  # of 150 DPI; of 300 DPI
        less = (round(size[0] * part), round(size[1] * part))
        short = export_product(
            art.resize(less), product, options=opts, out_dir=tmp_path / "less",
            alpha=art_mask.resize(less), scale=scale,
        )  # fmt: skip
        assert any("effective DPI, below" in p for p in short.problems), (product, opts, less)
