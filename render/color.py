"""Colour moves between a photo and a painting, on PIL images (numpy, no torch)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def match_palette(image: Image.Image, palette: Image.Image) -> Image.Image:
    """``image`` recoloured so its RGB mean and covariance are ``palette``'s (a linear map)."""
    source = np.asarray(image.convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255.0
    target = np.asarray(palette.convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255.0
    _, inverse = _sqrt_and_inverse(np.cov(source, rowvar=False))
    root, _ = _sqrt_and_inverse(np.cov(target, rowvar=False))
    mapped = (source - source.mean(0)) @ (root @ inverse).T + target.mean(0)
    pixels = np.clip(mapped * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels.reshape(image.height, image.width, 3))


def _sqrt_and_inverse(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The symmetric square root of a covariance matrix and that root's inverse."""
    values, vectors = np.linalg.eigh(cov + np.eye(3) * 1e-5)
    values = np.clip(values, 1e-8, None)
    return (vectors * np.sqrt(values)) @ vectors.T, (vectors / np.sqrt(values)) @ vectors.T


def luminance(image: Image.Image, like: Image.Image | None = None) -> Image.Image:
    """Grey RGB of ``image``'s luma; with ``like``, its mean and spread matched to like's."""
    luma = np.asarray(image.convert("YCbCr"), dtype=np.float32)[..., 0]
    if like is not None:
        ref = np.asarray(like.convert("YCbCr"), dtype=np.float32)[..., 0]
        luma = (luma - luma.mean()) / (luma.std() + 1e-6) * ref.std() + ref.mean()
    grey = Image.fromarray(np.clip(luma + 0.5, 0, 255).astype(np.uint8))
    return Image.merge("RGB", (grey, grey, grey))


def keep_colors(painted: Image.Image, photo: Image.Image) -> Image.Image:
    """The painting's luminance with the photo's chroma (YCbCr)."""
    luma = painted.convert("YCbCr").getchannel("Y")
    _, cb, cr = photo.resize(painted.size, Image.Resampling.LANCZOS).convert("YCbCr").split()
    return Image.merge("YCbCr", (luma, cb, cr)).convert("RGB")
