"""Put the cut-out guests onto a scene.

The scene fills the output frame (cover-crop: scaled to cover, centred, cropped). The people
keep their natural size (their height relative to the frame, as in the photo, times
``scale``), are centred on the group horizontally and stand on the frame's bottom: where the
photo cuts them off (a bust shot, a side), the cut stays on the frame's edge, so nobody
floats. Optional: a colour harmonisation of the people towards the scene's light, and a soft
shadow on the backdrop.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from render.cutout import Cutout
from render.options import DEFAULT_COMPOSE, ComposeOptions

EDGE = 0.01  # people within this fraction of a photo edge are cut off by that edge
MARGIN = 0.03  # headroom / side room kept free in the output frame
HARMONY = np.array([0.4, 0.3, 0.3], np.float32)  # share of the L, a, b difference at strength 1
HARMONY_LIMIT = np.array([12.0, 6.0, 6.0], np.float32)  # at most this many Lab units


@dataclass(frozen=True)
class Composite:
    image: Image.Image  # RGB
    alpha: Image.Image  # "L": the people in the output frame (all 255 when nobody was found)


@dataclass(frozen=True)
class Placement:
    scale: float  # photo pixels -> output pixels
    x: float  # output position of the photo's top-left corner
    y: float


def cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` scaled to cover ``size`` and centre-cropped to it."""
    width, height = size
    factor = max(width / image.width, height / image.height)
    crop_w, crop_h = min(image.width, width / factor), min(image.height, height / factor)
    left, top = (image.width - crop_w) / 2, (image.height - crop_h) / 2
    pixels = np.asarray(image)[
        int(top) : int(np.ceil(top + crop_h)), int(left) : int(np.ceil(left + crop_w))
    ]
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return Image.fromarray(cv2.resize(pixels, size, interpolation=interpolation))


def people_box(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1, exclusive) of the people, ignoring specks."""
    factor = max(1, max(alpha.shape) // 512)  # find the blobs on a small copy
    mask = (alpha[::factor, ::factor] >= 128).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = stats[1:][areas >= max(4, 0.05 * areas.max())]
    height, width = alpha.shape
    x0 = int(keep[:, cv2.CC_STAT_LEFT].min()) * factor
    y0 = int(keep[:, cv2.CC_STAT_TOP].min()) * factor
    x1 = min(width, int((keep[:, cv2.CC_STAT_LEFT] + keep[:, cv2.CC_STAT_WIDTH]).max()) * factor)
    y1 = min(height, int((keep[:, cv2.CC_STAT_TOP] + keep[:, cv2.CC_STAT_HEIGHT]).max()) * factor)
    return x0, y0, x1, y1


def place(
    photo_size: tuple[int, int],
    box: tuple[int, int, int, int],
    size: tuple[int, int],
    scale: float = 1.0,
) -> Placement:
    """Where the photo goes in the output frame so the people stand naturally in it."""
    w, h = photo_size
    width, height = size
    x0, y0, x1, y1 = box
    tol_x, tol_y = EDGE * w, EDGE * h
    cut_left, cut_right = x0 <= tol_x, x1 >= w - tol_x
    cut_bottom, cut_top = y1 >= h - tol_y, y0 <= tol_y
    frame = height / h  # natural: the people's height relative to the frame, as in the photo
    # The people's lowest point keeps its distance to the frame's bottom (0 when cut off).
    bottom = height if cut_bottom else height - (h - y1) * frame
    s = frame * scale
    if not cut_top:
        s = min(s, (bottom - MARGIN * height) / (y1 - y0))  # room above the heads
    if cut_left and cut_right:
        s = max(s, width / (x1 - x0))  # cut off on both sides: span the frame's width
    else:
        s = min(s, width * (1 - 2 * MARGIN) / (x1 - x0))
    if cut_left and not cut_right:
        x = -x0 * s
    elif cut_right and not cut_left:
        x = width - x1 * s
    else:
        x = width / 2 - (x0 + x1) / 2 * s
    return Placement(scale=s, x=x, y=bottom - y1 * s)


def harmonize_gains(
    people: np.ndarray, mask: np.ndarray, scene: np.ndarray, strength: float
) -> np.ndarray:
    """Per-channel gains that move the people's average light and tint part of the way
    towards the scene's (decided in Lab, within limits that keep skin looking like skin)."""
    small = (64, 64)
    people_small = cv2.resize(people, small, interpolation=cv2.INTER_AREA)
    weight = cv2.resize(mask, small, interpolation=cv2.INTER_AREA).astype(np.float32)[..., None]
    mean_people = (people_small * weight).reshape(-1, 3).sum(0) / max(float(weight.sum()), 1.0)
    mean_scene = cv2.resize(scene, small, interpolation=cv2.INTER_AREA).reshape(-1, 3).mean(0)
    means = np.stack([mean_people, mean_scene]).astype(np.float32)[None] / 255.0
    lab_people, lab_scene = cv2.cvtColor(means, cv2.COLOR_RGB2Lab)[0]
    shift = np.clip((lab_scene - lab_people) * strength * HARMONY, -HARMONY_LIMIT, HARMONY_LIMIT)
    target = cv2.cvtColor((lab_people + shift).astype(np.float32)[None, None], cv2.COLOR_Lab2RGB)
    return (target.reshape(3) * 255.0 / np.maximum(mean_people, 1.0)).astype(np.float32)


def compose_layers(
    cutout: Cutout,
    scene: Image.Image,
    *,
    size: tuple[int, int] | None = None,
    options: ComposeOptions = DEFAULT_COMPOSE,
) -> Composite:
    """The guests on the scene, and where they are in the frame. ``size``: output (w, h),
    default the photo's; ``options``: the people's size, the colour match to the scene's
    light, and the soft shadow on the backdrop (None: none; ``prepare`` puts in the scene's)."""
    scale, harmonize, shadow = options.scale, options.harmonize, options.shadow or 0.0
    size = size or cutout.image.size
    width, height = size
    alpha_full = np.asarray(cutout.alpha)
    box = people_box(alpha_full) if cutout.person_found else None
    if box is None:  # nobody to cut out: keep the photo as it is
        return Composite(cover(cutout.image, size), Image.new("L", size, 255))
    where = place(cutout.image.size, box, size, scale)
    out = np.array(cover(scene.convert("RGB"), size))  # uint8, writable
    alpha = np.zeros((height, width), np.uint8)

    # The people's box, resized and pasted into the frame; only its visible part counts.
    s = where.scale
    x0, y0, x1, y1 = box
    patch_w, patch_h = max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))
    left, top = round(where.x + x0 * s), round(where.y + y0 * s)
    cx0, cy0 = max(0, -left), max(0, -top)
    cx1, cy1 = min(patch_w, width - left), min(patch_h, height - top)
    if cx1 <= cx0 or cy1 <= cy0:
        return Composite(Image.fromarray(out), Image.fromarray(alpha))
    interpolation = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    people = cv2.resize(
        np.asarray(cutout.image)[y0:y1, x0:x1], (patch_w, patch_h), interpolation=interpolation
    )[cy0:cy1, cx0:cx1]
    mask = cv2.resize(alpha_full[y0:y1, x0:x1], (patch_w, patch_h), interpolation=interpolation)
    mask = mask[cy0:cy1, cx0:cx1]
    fx0, fy0 = left + cx0, top + cy0
    region = (slice(fy0, fy0 + mask.shape[0]), slice(fx0, fx0 + mask.shape[1]))
    if harmonize > 0:
        gains = harmonize_gains(people, mask, out, harmonize)
        # saturating, uint8; OpenCV takes a 4-tuple as a per-channel scalar (some releases'
        # stubs do not know it, others do: hence the ignore that may be unused)
        people = cv2.multiply(people, (*gains.tolist(), 0.0))  # type: ignore[call-overload, unused-ignore]
    if shadow > 0:
        _cast_shadow(out, mask, (fx0, fy0), shadow)
    weight = mask.astype(np.float32) * (1 / 255)
    out[region] = cv2.blendLinear(people, out[region], weight, 1 - weight)
    alpha[region] = mask
    return Composite(Image.fromarray(out), Image.fromarray(alpha))


def _cast_shadow(
    frame: np.ndarray, mask: np.ndarray, origin: tuple[int, int], opacity: float
) -> None:
    """Darken the backdrop (in place) under a soft copy of the people, offset as if lit from
    the front, a little above and to the left. Drawn at a quarter size: it is soft anyway."""
    height, width = frame.shape[:2]
    factor = 4
    sigma = max(1.0, 0.02 * height / factor)
    pad = int(3 * sigma) + 1
    dx, dy = round(0.012 * width) // factor, round(0.018 * height) // factor
    part = cv2.resize(
        mask,
        (max(1, mask.shape[1] // factor), max(1, mask.shape[0] // factor)),
        interpolation=cv2.INTER_AREA,
    ).astype(np.float32) * (opacity / 255)
    # the shadow's own small canvas: the part, shifted, with room for the blur
    canvas = np.zeros((part.shape[0] + 2 * pad + dy, part.shape[1] + 2 * pad + dx), np.float32)
    canvas[pad + dy : pad + dy + part.shape[0], pad + dx : pad + dx + part.shape[1]] = part
    canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
    ox, oy = origin[0] - pad * factor, origin[1] - pad * factor  # canvas origin in the frame
    shade = cv2.resize(
        canvas,
        (canvas.shape[1] * factor, canvas.shape[0] * factor),
        interpolation=cv2.INTER_LINEAR,
    )
    fx0, fy0 = max(0, ox), max(0, oy)
    fx1, fy1 = min(width, ox + shade.shape[1]), min(height, oy + shade.shape[0])
    if fx1 <= fx0 or fy1 <= fy0:
        return
    keep = 1 - shade[fy0 - oy : fy1 - oy, fx0 - ox : fx1 - ox]
    region = frame[fy0:fy1, fx0:fx1]
    region[:] = cv2.multiply(region, cv2.merge([keep, keep, keep]), dtype=cv2.CV_8U)
