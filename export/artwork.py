"""The picture to print and its people mask, checked once and fingerprinted."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image

from export.imaging import harden
from export.specs import ExportError
from render.files import sha256_bytes
from render.images import ImageSource, load_image

MIN_PEOPLE_FRACTION = 0.005  # less of the picture than this: nobody was found
MAX_PEOPLE_FRACTION = 0.98  # more: no mask to speak of (cut_out gives all 255 for nobody)
SPECK_FRACTION = 0.001  # mask blobs smaller than this are ignored when framing the people


@dataclass(frozen=True)
class Artwork:
    rgb: np.ndarray  # H×W×3 uint8, sRGB
    alpha: np.ndarray | None  # H×W uint8 people mask (255 = person), or None

    @classmethod
    def load(cls, source: ImageSource, alpha: Image.Image | None = None) -> Artwork:
        """The picture (``ImageError`` if unusable) and a mask matching it (``ExportError``).

        Without ``alpha``, a picture that carries its own transparency (a cut-out PNG) gives
        its alpha channel as the mask.
        """
        image = load_image(source, keep_alpha=True)
        rgba = np.asarray(image)
        own_alpha = rgba[..., 3] if rgba[..., 3].min() < 255 else None
        rgb = np.ascontiguousarray(rgba[..., :3])
        if alpha is not None:
            return cls(rgb, _fit_mask(alpha, image.size))
        if own_alpha is not None:  # transparent pixels show white, as load_image does
            a = own_alpha[..., None].astype(np.float32) / 255
            rgb = np.round(rgb * a + 255 * (1 - a)).astype(np.uint8)
        return cls(rgb, own_alpha)

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    @cached_property
    def sha256(self) -> str:
        alpha = () if self.alpha is None else (b"alpha", self.alpha.tobytes())
        return sha256_bytes(f"{self.size}".encode(), self.rgb.tobytes(), *alpha)

    @cached_property
    def source_sha256(self) -> str:
        """Fingerprint of the picture alone (the Export row's source_sha256)."""
        return sha256_bytes(f"{self.size}".encode(), self.rgb.tobytes())

    @cached_property
    def people(self) -> np.ndarray | None:
        """Hard mask of the people without stray specks, or None when it outlines nobody."""
        if self.alpha is None:
            return None
        width, height = self.size
        solid = harden(self.alpha, max(1, round(SPECK_FRACTION * width * height))) > 0
        if not MIN_PEOPLE_FRACTION <= solid.mean() <= MAX_PEOPLE_FRACTION:
            return None
        return solid

    @cached_property
    def people_box(self) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) around the people, exclusive end, or None."""
        if self.people is None:
            return None
        ys, xs = np.nonzero(self.people)
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _fit_mask(alpha: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The mask as uint8 at the picture's size; a different shape is an error."""
    if not isinstance(alpha, Image.Image):
        raise ExportError("the people mask must be an image")
    mask = alpha.convert("L")
    (mw, mh), (w, h) = mask.size, size
    if abs(mw / mh - w / h) > 0.01 * (w / h):
        raise ExportError(f"the people mask is {mw}×{mh} but the picture is {w}×{h}")
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(mask)
