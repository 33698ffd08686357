"""Cut the guests out of a photo: a soft alpha that holds up on a new backdrop.

1. Segment at a small working size (``render.segment``: MediaPipe selfie models, optionally
   fused with u2netp).
2. Refine with a colour guided filter (He et al.): the coarse mask snaps to the photo's own
   edges and keeps hair where the models see it. Its linear coefficients are computed at the
   working size and applied at full resolution ("fast guided filter"), so edges are sharp at
   any photo size for the cost of a small image.
3. Shape: a gentle contrast curve removes the faint veil the filter leaves on the old
   background and the see-through patches inside people; an optional feather softens the rim.
4. Decontaminate edge colours (blur-fusion foreground estimation, Forte & Pitié 2021): a rim
   pixel is a mix of guest and old background; we solve for the guest's own colour so no halo
   of the old background comes along to the new scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from render.images import ImageSource, load_image
from render.options import DEFAULT_CUTOUT, CutoutOptions
from render.segment import person_probability

WORK_SIDE = 512  # long side at which the models' output is refined
PERSON_MIN_AREA = 0.005  # confident person pixels needed, as a fraction of the frame
PERSON_MIN_SOLIDITY = 0.5  # confident / probable pixels: low on paintings and patterns


@dataclass(frozen=True)
class Cutout:
    image: Image.Image  # RGB, the photo with decontaminated edge colours
    alpha: Image.Image  # "L": 255 = guest; all 255 when nobody was found
    person_found: bool

    def rgba(self) -> Image.Image:
        rgba = self.image.copy()
        rgba.putalpha(self.alpha)
        return rgba


def cut_out(
    photo: ImageSource, *, model_dir: Path | str, options: CutoutOptions = DEFAULT_CUTOUT
) -> Cutout:
    """Cut the people out of ``photo`` (path, bytes or image; bad input: ``ImageError``).

    ``options`` (``render.options.CutoutOptions``, each field explained there): the models
    (``use_u2netp`` also keeps held props, for ~3× the time), the guided filter's window and
    edge sensitivity, optional closed-form matting, the contrast curve, despeckling, feathering
    and edge decontamination.
    """
    image = load_image(photo)
    rgb = np.asarray(image)
    height, width = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    work_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(rgb, work_size, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    probability = person_probability(small, str(model_dir), use_u2netp=options.use_u2netp)
    if not _has_person(probability):
        return Cutout(image=image, alpha=Image.new("L", image.size, 255), person_found=False)
    # The models' masks are soft and blurry (256 px); steepen them around 0.5 so the guided
    # filter snaps a near-binary mask to the photo's edges instead of copying its texture.
    mask = np.clip((probability - 0.5) * options.sharpen + 0.5, 0.0, 1.0)
    if options.matting:
        mask = _matte(small, probability)
    alpha = fast_guided_filter(
        rgb.astype(np.float32) / 255.0, small, mask, radius=options.radius, eps=options.eps
    )
    low, high = options.contrast
    alpha = _to_uint8(np.clip((alpha - low) / (high - low), 0.0, 1.0))
    if options.despeckle > 0:
        alpha = _open(alpha, options.despeckle * max(height, width))
    if options.feather > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), options.feather)
    if options.decontaminate:
        rgb = estimate_foreground(rgb, alpha.astype(np.float32) / 255.0, small)
    return Cutout(image=Image.fromarray(rgb), alpha=Image.fromarray(alpha), person_found=True)


def _matte(small: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """Closed-form matting (Levin et al., via pymatting) on a trimap: sure guest and sure
    background are the model's mask eroded, the band between them is solved."""
    from pymatting import estimate_alpha_cf

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    trimap = np.full(probability.shape, 0.5)
    trimap[cv2.erode((probability >= 0.5).astype(np.uint8), kernel) > 0] = 1.0
    trimap[cv2.erode((probability < 0.5).astype(np.uint8), kernel) > 0] = 0.0
    alpha = estimate_alpha_cf(small.astype(np.float64) / 255.0, trimap)
    return np.clip(alpha, 0, 1).astype(np.float32)


def _has_person(probability: np.ndarray) -> bool:
    confident = int((probability >= 0.9).sum())
    probable = int((probability >= 0.5).sum())
    return (
        confident >= PERSON_MIN_AREA * probability.size
        and confident >= PERSON_MIN_SOLIDITY * probable
    )


def _open(alpha: np.ndarray, size: float) -> np.ndarray:
    """Grey-level opening: removes slivers thinner than ``size`` pixels, the jagged bits of a
    patterned background the guided filter lets through next to similar colours."""
    k = max(1, round(size)) | 1
    if k < 3:
        return alpha
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.morphologyEx(alpha, cv2.MORPH_OPEN, kernel)


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    return cv2.blur(x, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def fast_guided_filter(
    full: np.ndarray, small: np.ndarray, mask: np.ndarray, *, radius: float, eps: float
) -> np.ndarray:
    """Colour guided filter of ``mask`` (at ``small``'s size) guided by the photo; the
    coefficients are computed on ``small`` and applied to ``full`` (float32 RGB 0..1)."""
    r = max(1, round(radius))
    guide = small.astype(np.float32) / 255.0
    mean_i = _box(guide, r)
    mean_p = _box(mask, r)
    cov = _box(guide * mask[..., None], r) - mean_i * mean_p[..., None]
    products = np.stack([guide[..., i] * guide[..., j] for i, j in _PAIRS], axis=-1)
    var = _box(products, r) - np.stack([mean_i[..., i] * mean_i[..., j] for i, j in _PAIRS], -1)
    rr, rg, rb, gg, gb, bb = (var[..., k] for k in range(6))
    rr, gg, bb = rr + eps, gg + eps, bb + eps
    # a = Σ⁻¹ cov, with the symmetric 3×3 inverse written out (much faster than linalg.solve)
    inv = (
        (gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb),
        (gb * rb - rg * bb, rr * bb - rb * rb, rb * rg - rr * gb),
        (rg * gb - gg * rb, rb * rg - rr * gb, rr * gg - rg * rg),
    )
    det = rr * inv[0][0] + rg * inv[0][1] + rb * inv[0][2]
    a = np.stack([sum(inv[k][c] * cov[..., c] for c in range(3)) / det for k in range(3)], axis=-1)
    b = mean_p - (a * mean_i).sum(-1)
    height, width = full.shape[:2]
    a = cv2.resize(_box(a, r), (width, height), interpolation=cv2.INTER_LINEAR)
    b = cv2.resize(_box(b, r), (width, height), interpolation=cv2.INTER_LINEAR)
    weighted = cv2.transform(cv2.multiply(a, full), np.ones((1, 3), np.float32))  # Σ a·I
    return np.clip(weighted + b, 0.0, 1.0)


_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


def estimate_foreground(rgb: np.ndarray, alpha: np.ndarray, small: np.ndarray) -> np.ndarray:
    """The guests' own colours (uint8 RGB) under a soft alpha, by blur-fusion (two passes).
    The blurred foreground/background fields are smooth, so they are estimated on ``small``
    (the photo at the working size); only the rim (0 < alpha < 1) is unmixed at full size:
    elsewhere the photo is kept exactly."""
    height, width = alpha.shape
    work_size = (small.shape[1], small.shape[0])
    image = small.astype(np.float32) / 255.0
    a = cv2.resize(alpha, work_size, interpolation=cv2.INTER_AREA)[..., None]
    fg, bg = image, image
    for radius in (max(3, max(work_size) // 14), max(2, max(work_size) // 200)):
        size = (radius, radius)
        blurred_a = cv2.blur(a, size)[..., None]
        blurred_fg = cv2.blur(fg * a, size) / (blurred_a + 1e-5)
        blurred_bg = cv2.blur(bg * (1 - a), size) / ((1 - blurred_a) + 1e-5)
        fg = np.clip(blurred_fg + a * (image - a * blurred_fg - (1 - a) * blurred_bg), 0, 1)
        bg = blurred_bg
    rows, cols = np.nonzero((alpha > 1 / 255) & (alpha < 254 / 255))
    x = (cols + 0.5) * (work_size[0] / width) - 0.5
    y = (rows + 0.5) * (work_size[1] / height) - 0.5
    f_hat, b_hat = _sample(blurred_fg, x, y), _sample(blurred_bg, x, y)
    observed = rgb[rows, cols].astype(np.float32) / 255.0
    a = alpha[rows, cols][:, None]
    unmixed = f_hat + a * (observed - a * f_hat - (1 - a) * b_hat)
    out = rgb.copy()
    out[rows, cols] = _to_uint8(unmixed)
    return out


def _sample(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples (N×3) of an H×W×3 field at float pixel coordinates."""
    count = len(x)
    width = 1024  # cv2.remap wants maps under 32767 per side: lay the points out in rows
    padded = -(-max(count, 1) // width) * width
    maps = np.zeros((2, padded), np.float32)
    maps[0, :count], maps[1, :count] = x, y
    shape = (padded // width, width)
    out = cv2.remap(
        field,
        maps[0].reshape(shape),
        maps[1].reshape(shape),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out.reshape(-1, 3)[:count]


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
