"""Product previews (export/preview.py) of a real booth painting and its people mask: each
product and option drawn where and as large as its print file puts the picture, in the
shirt's colour, with the sticker's border and the mug's layouts. Saved for people to look at
in tests/artifacts/preview_*.png."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from export import export_product
from export.preview import BACKDROP, product_preview, tee_print_area
from export.specs import ExportError
from export.tee import SHIRT_RGB
from render.images import ImageError
from tests.support.paths import PEOPLE

WIDTH = 480


@pytest.fixture(scope="module")
def booth_painting() -> tuple[Image.Image, Image.Image]:
    """The booth's painting size (512 px long side), painted-looking, and its mask."""
    photo = Image.open(PEOPLE / "booth_group.jpg").convert("RGB").resize((512, 341))
    mask = Image.open(PEOPLE / "booth_group_mask.png").convert("L").resize(photo.size)
    painted = cv2.stylization(np.asarray(photo), sigma_s=30, sigma_r=0.35)
    return Image.fromarray(painted), mask


def _preview(booth_painting, artifacts, product: str, options: dict) -> np.ndarray:
    image, mask = booth_painting
    preview = product_preview(image, mask, product, options, width=WIDTH)
    assert preview.mode == "RGBA" and preview.width == WIDTH
    label = "_".join([product, *map(str, options.values())])
    preview.save(artifacts / f"preview_{label}.png")
    return np.asarray(preview).astype(int)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize(
    "options",
    [
        {"size": "M", "colour": "white", "layout": "full"},
        {"size": "XS", "colour": "black", "layout": "people"},
        {"size": "3XL", "colour": "black", "layout": "full"},
        {"size": "L", "colour": "white", "layout": "people"},
    ],
    ids=lambda o: "-".join(o.values()),
)
def test_tee_preview_shows_the_design_in_the_print_area_on_the_shirt(
    booth_painting, artifacts, tmp_path, options
):
    pixels = _preview(booth_painting, artifacts, "tee", options)
    shirt = np.array(SHIRT_RGB[options["colour"]])
    x0, y0, x1, y1 = tee_print_area(WIDTH, options["size"])
    # the shirt, in its colour, fills the body below the print area and beside it
    body = pixels[y1 + 10 : y1 + 60, x0:x1, :3]
    assert (np.abs(body - shirt).max(axis=-1) <= 2).mean() > 0.98
    # the design: what differs from the shirt inside the body is inside the print area
    differs = np.abs(pixels[..., :3] - shirt).max(axis=-1) > 12
    left, right = round(0.24 * WIDTH), round(0.76 * WIDTH)
    top, bottom = round(0.16 * WIDTH), round(1.14 * WIDTH)
    body_mask = np.zeros(differs.shape, bool)
    body_mask[top:bottom, left:right] = True
    dx0, dy0, dx1, dy1 = _bbox(differs & body_mask)
    assert x0 - 1 <= dx0 and dx1 <= x1 + 1 and y0 - 1 <= dy0 and dy1 <= y1 + 1
    # where and how large: the same place in the print area as in the print file
    image, mask = booth_painting
    made = export_product(image, "tee", options=options, out_dir=tmp_path, alpha=mask)
    alpha = np.asarray(Image.open(made.files["png"]))[..., 3] > 0
    fx0, fy0, fx1, fy1 = _bbox(alpha)
    h, w = alpha.shape
    area_w, area_h = x1 - x0, y1 - y0
    expected = (fx0 / w * area_w, fy0 / h * area_h, fx1 / w * area_w, fy1 / h * area_h)
    shown = (dx0 - x0, dy0 - y0, dx1 - x0, dy1 - y0)
    assert np.abs(np.subtract(shown, expected)).max() <= 0.04 * area_w + 2, (shown, expected)


def test_a_bigger_shirt_shows_the_same_print_smaller(booth_painting, artifacts):
    small = tee_print_area(WIDTH, "S")
    medium = tee_print_area(WIDTH, "M")
    large = tee_print_area(WIDTH, "3XL")
    assert small[2] - small[0] < medium[2] - medium[0]  # S prints 10.5 in on an 18 in shirt
    assert large[2] - large[0] < medium[2] - medium[0]  # 12 in on a 28 in shirt


@pytest.mark.parametrize(
    "options",
    [
        {"size": "11oz", "layout": "centred"},
        {"size": "15oz", "layout": "sides"},
        {"size": "11oz", "layout": "wrap"},
    ],
    ids=lambda o: "-".join(o.values()),
)
def test_mug_preview_shows_the_wrap_on_the_mug_and_laid_flat(booth_painting, artifacts, options):
    pixels = _preview(booth_painting, artifacts, "mug", options)
    # the flat wrap is the band at the bottom (9 in across 90 % of the width, a margin below):
    # its pictures are the columns with ink, the hatched handle zones at its ends excluded
    height, ppi = pixels.shape[0], 0.9 * WIDTH / 9
    strip_h = round({"11oz": 3.5, "15oz": 3.8}[options["size"]] * ppi)
    bottom = height - round(0.06 * WIDTH)
    left = (WIDTH - round(0.9 * WIDTH)) // 2
    safe = round(0.5 * ppi)
    strip = pixels[
        bottom - strip_h + 2 : bottom - 2, left + safe + 2 : left + 9 * round(ppi) - safe
    ]
    inked = (np.abs(strip[..., :3] - 255).max(axis=-1) > 40).mean(axis=0) > 0.1
    runs = np.flatnonzero(np.diff(np.r_[0, inked.astype(int), 0])).reshape(-1, 2)
    pictures = [run for run in runs if run[1] - run[0] > 20]
    assert len(pictures) == (2 if options["layout"] == "sides" else 1), runs
    # the mug's body shows the picture, bent round it (detail, not a blank mug)
    body = pixels[round(0.1 * WIDTH) : round(0.5 * WIDTH), round(0.3 * WIDTH) : round(0.7 * WIDTH)]
    assert body[..., :3].std() > 25
    assert not (np.abs(pixels[..., :3] - [255, 0, 0]).max(axis=-1) < 30).any()  # no red edges


@pytest.mark.parametrize("size", [2, 3, 4])
def test_sticker_preview_is_as_big_as_the_sticker_with_a_white_border(
    booth_painting, artifacts, size
):
    pixels = _preview(booth_painting, artifacts, "sticker", {"size": size})
    assert pixels.shape[:2] == (WIDTH, WIDTH)
    # the sticker: its white border (lighter than the backing sheet) and the art inside it
    white = pixels[..., :3].min(axis=-1) >= 250
    sticker = white | (np.abs(pixels[..., :3] - BACKDROP[:3]).max(axis=-1) > 40)
    x0, y0, x1, y1 = _bbox(white)
    ppi = 0.8 * WIDTH / 4  # a 4 in sticker fills 80 % of the preview
    assert abs(max(x1 - x0, y1 - y0) - size * ppi) <= 6
    # its outer rim (inside the cut line) is the white border
    contours, _ = cv2.findContours(
        sticker.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    solid = np.zeros(sticker.shape, np.uint8)  # its outline, filled
    cv2.drawContours(solid, [max(contours, key=cv2.contourArea)], -1, 1, cv2.FILLED)
    depth = cv2.distanceTransform(solid, cv2.DIST_L2, 5)
    rim = (depth > 2) & (depth < 0.125 * ppi - 2)
    assert (pixels[rim][:, :3].min(axis=1) > 235).mean() > 0.9


def test_bad_preview_requests_are_clear_errors(booth_painting):
    image, mask = booth_painting
    with pytest.raises(ExportError, match="tee colour must be one of white, black"):
        product_preview(image, mask, "tee", {"colour": "pink"})
    with pytest.raises(ExportError, match="120 to 2048 px wide"):
        product_preview(image, mask, "mug", {}, width=10)
    with pytest.raises(ExportError, match="unknown product"):
        product_preview(image, mask, "poster", {})
    with pytest.raises(ExportError, match="the people mask is 10×10"):
        product_preview(image, Image.new("L", (10, 10)), "sticker", {})
    big = image.resize((1800, 1200))  # reduced for the preview, after the mask is checked
    with pytest.raises(ExportError, match="the people mask is 10×10 but the picture is 1800×1200"):
        product_preview(big, Image.new("L", (10, 10)), "sticker", {})
    with pytest.raises(ImageError):
        product_preview(b"not a picture", None, "tee", {})
