"""Cut-out on the real photos with the real models, scored against the reference masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from render.cutout import Cutout, cut_out
from render.images import ImageError
from render.models import ModelStore
from render.options import CutoutOptions
from render.segment import selfie_net, u2netp_session
from tests.support.paths import PEOPLE, SCENES

# Each photo's floor, a little under what it measures (benchmarks/bench_cutout.py).
IOU_FLOOR = {"astronaut.png": 0.95, "booth_group.jpg": 0.90, "hiker.jpg": 0.92, "seaside.jpg": 0.96}
# Every photo in the kit (without the kit, collection still works: the tier's check fails).
PHOTOS = (
    sorted(p.name for p in PEOPLE.iterdir() if not p.stem.endswith("_mask"))
    if PEOPLE.is_dir()
    else sorted(IOU_FLOOR)
)
MEAN_IOU = 0.93


def reference(name: str) -> np.ndarray:
    return np.asarray(Image.open(PEOPLE / f"{Path(name).stem}_mask.png").convert("L"))


def iou(alpha: Image.Image | np.ndarray, ref: np.ndarray) -> float:
    ours, theirs = np.asarray(alpha) >= 128, ref >= 128
    return float((ours & theirs).sum() / (ours | theirs).sum())


@pytest.fixture(scope="module")
def cutouts(model_store: ModelStore) -> dict[str, Cutout]:
    return {name: cut_out(PEOPLE / name, model_dir=model_store.root) for name in PHOTOS}


def test_every_reference_photo_is_scored() -> None:
    assert set(PHOTOS) == set(IOU_FLOOR), "a new photo in the kit needs its floor here"


@pytest.mark.parametrize("name", PHOTOS)
def test_iou_per_photo(cutouts: dict[str, Cutout], name: str) -> None:
    cutout = cutouts[name]
    assert cutout.person_found
    score = iou(cutout.alpha, reference(name))
    print(f"{name}: IoU {score:.3f}")
    assert score >= IOU_FLOOR[name]


def test_mean_iou(cutouts: dict[str, Cutout]) -> None:
    scores = [iou(cutouts[name].alpha, reference(name)) for name in PHOTOS]
    assert np.mean(scores) >= MEAN_IOU


def test_cutout_has_the_photo_size_and_soft_edges(cutouts: dict[str, Cutout]) -> None:
    for name, cutout in cutouts.items():
        photo = Image.open(PEOPLE / name)
        assert cutout.image.mode == "RGB" and cutout.alpha.mode == "L"
        assert cutout.image.size == cutout.alpha.size == photo.size
        alpha = np.asarray(cutout.alpha)
        soft = ((alpha > 0) & (alpha < 255)).mean()
        assert 0.001 < soft < 0.08, name  # an anti-aliased rim, not a blur and not a cookie cutter
        rgba = cutout.rgba()
        assert rgba.mode == "RGBA" and np.array_equal(np.asarray(rgba)[..., 3], alpha)


def test_inside_the_people_the_photo_is_untouched(cutouts: dict[str, Cutout]) -> None:
    cutout = cutouts["booth_group.jpg"]
    photo = np.asarray(Image.open(PEOPLE / "booth_group.jpg").convert("RGB"))
    solid = np.asarray(cutout.alpha) == 255
    assert solid.mean() > 0.3
    assert np.array_equal(np.asarray(cutout.image)[solid], photo[solid])


def test_rim_colours_lose_the_old_background(cutouts: dict[str, Cutout]) -> None:
    """Decontamination: in the rim, the cut-out's colours are farther from the old background
    next to them than the photo's own (mixed) colours are."""
    for name in ("booth_group.jpg", "seaside.jpg"):
        cutout = cutouts[name]
        photo = np.asarray(Image.open(PEOPLE / name).convert("RGB")).astype(np.float32)
        alpha = np.asarray(cutout.alpha).astype(np.float32) / 255
        rim = (alpha > 0.1) & (alpha < 0.6)
        background = (alpha == 0).astype(np.float32)
        size = (31, 31)
        local_bg = cv2.blur(photo * background[..., None], size) / (
            cv2.blur(background, size)[..., None] + 1e-6
        )
        ours = np.asarray(cutout.image).astype(np.float32)
        before = np.linalg.norm(photo - local_bg, axis=-1)[rim].mean()
        after = np.linalg.norm(ours - local_bg, axis=-1)[rim].mean()
        assert rim.sum() > 500
        assert after > before * 1.15, name


def test_u2netp_fusion_keeps_the_arm_it_used_to_drop(
    cutouts: dict[str, Cutout], model_store: ModelStore
) -> None:
    fused = cut_out(
        PEOPLE / "hiker.jpg", model_dir=model_store.root, options=CutoutOptions(use_u2netp=True)
    )
    ref = reference("hiker.jpg")
    assert iou(fused.alpha, ref) > iou(cutouts["hiker.jpg"].alpha, ref)
    assert iou(fused.alpha, ref) >= 0.95


@pytest.mark.parametrize("scene", ["tubingen.jpg", "night_sky.jpg", "pink_clouds.jpg"])
def test_nobody_in_the_picture_keeps_the_photo(model_store: ModelStore, scene: str) -> None:
    cutout = cut_out(SCENES / scene, model_dir=model_store.root)
    photo = Image.open(SCENES / scene).convert("RGB")
    assert not cutout.person_found
    assert np.array_equal(np.asarray(cutout.image), np.asarray(photo))
    assert np.asarray(cutout.alpha).min() == 255


def test_sessions_are_opened_once(model_store: ModelStore) -> None:
    root = str(model_store.root)
    assert selfie_net(root, "selfie") is selfie_net(root, "selfie")
    assert selfie_net(root, "selfie-landscape") is selfie_net(root, "selfie-landscape")
    assert u2netp_session(root) is u2netp_session(root)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"GIF89a not really", "not an image")],
)
def test_bad_input_is_a_clear_error(model_store: ModelStore, data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        cut_out(data, model_dir=model_store.root)


def test_truncated_photo_is_a_clear_error(model_store: ModelStore) -> None:
    data = (PEOPLE / "hiker.jpg").read_bytes()
    with pytest.raises(ImageError, match="truncated or corrupt"):
        cut_out(data[: len(data) // 3], model_dir=model_store.root)


def test_tiny_and_odd_photos_work(model_store: ModelStore) -> None:
    photo = Image.open(PEOPLE / "seaside.jpg")
    for size in [(16, 16), (40, 300), (300, 40)]:
        cutout = cut_out(photo.resize(size), model_dir=model_store.root)
        assert cutout.alpha.size == size and cutout.image.size == size
    gray = cut_out(photo.convert("L"), model_dir=model_store.root)
    assert gray.person_found and gray.image.mode == "RGB"
