"""The three Gatys losses as small modules, and the distances we judge results by
(``distances``: how stylised and how recognisable a painting is; tests and benchmarks).

Feature maps may arrive in bfloat16 (autocast VGG); every loss casts them to float32 first, so
Gram matrices and losses are always computed in full precision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from render.images import fit_area
from render.options import CONTENT_LAYER, STYLE_LAYERS, GatysOptions
from render.tensors import to_tensor
from render.vgg import VGG19Features


class _Gram(torch.autograd.Function):
    """Fᵀ·F for F (N, H·W, C) of any float dtype, in fp32; the backward is one matmul.

    Autograd's own backward for ``f.mT @ f`` runs two matmuls plus casts; this halves it.
    """

    @staticmethod
    def forward(ctx: Any, flat: torch.Tensor) -> torch.Tensor:
        full = _at_least_fp32(flat)
        ctx.save_for_backward(full)
        ctx.dtype = flat.dtype
        return full.mT @ full

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (full,) = ctx.saved_tensors
        return (full @ (grad + grad.mT)).to(ctx.dtype)


def _at_least_fp32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) features -> (N, C, C) Gram matrix normalised by layer size (C·H·W), fp32."""
    n, c, h, w = features.shape
    # (N, H·W, C) is a view of a channels_last tensor, so the gradient keeps the conv's layout.
    flat = features.permute(0, 2, 3, 1).reshape(n, h * w, c)
    return _Gram.apply(flat) / (c * h * w)


class ContentLoss(nn.Module):
    """Mean squared error between feature maps and the content image's, at one layer."""

    target: torch.Tensor  # a buffer

    def __init__(self, target: torch.Tensor, weight: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("target", target.detach().float())
        self.weight = weight

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.weight * F.mse_loss(features.float(), self.target)


class StyleLoss(nn.Module):
    """Weighted mean squared error between Gram matrices and the style's, over several layers."""

    def __init__(
        self,
        targets: Mapping[str, torch.Tensor],
        layer_weights: Mapping[str, float],
        weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.layers = list(targets)
        self.layer_weights = dict(layer_weights)
        self.weight = weight
        for name, gram in targets.items():
            self.register_buffer(f"gram_{name}", gram.detach().float())

    def target(self, name: str) -> torch.Tensor:
        gram: torch.Tensor = getattr(self, f"gram_{name}")
        return gram

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        losses = [
            self.layer_weights[name] * F.mse_loss(gram_matrix(features[name]), self.target(name))
            for name in self.layers
        ]
        return self.weight * torch.stack(losses).sum()


class TVLoss(nn.Module):
    """Total variation (mean squared neighbour difference) of an image: smooths pixel noise."""

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        dx = image[..., :, 1:] - image[..., :, :-1]
        dy = image[..., 1:, :] - image[..., :-1, :]
        return self.weight * (dx.pow(2).mean() + dy.pow(2).mean())


def style_distance(
    grams: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    weights: Mapping[str, float] | None = None,
) -> float:
    """Relative Gram distance, Σ w·‖G − A‖² / ‖A‖² over Σ w: 0 = the painting's statistics."""
    names: Sequence[str] = list(targets)
    weights = weights or dict.fromkeys(names, 1.0)
    total = sum(
        weights[n] * float((grams[n] - targets[n]).pow(2).sum() / targets[n].pow(2).sum())
        for n in names
    )
    return total / sum(weights[n] for n in names)


def content_distance(features: torch.Tensor, target: torch.Tensor) -> float:
    """Relative feature distance ‖F − P‖² / ‖P‖² at the content layer: 0 = the photo itself."""
    features, target = features.float(), target.float()
    return float((features - target).pow(2).sum() / target.pow(2).sum())


@dataclass(frozen=True)
class Distances:
    style: float  # relative Gram distance to the painting (lower: more stylised)
    content: float  # relative conv4_2 distance to the photo (lower: more recognisable)


def distances(
    vgg: VGG19Features,
    image: Image.Image,
    content: Image.Image,
    style: Image.Image,
    *,
    style_scale: float = 1.0,
) -> Distances:
    """How far ``image`` is from the painting's style and the photo's content, in fp32.

    Measured at ``image``'s size, with the photo resized to it and the painting resized to the
    same area, the way the HQ mode sees them. The style distance weighs the layers as the style
    loss does by default (1.0, 0.8, 0.5, 0.3, 0.1 from conv1_1 to conv5_1).
    """
    device = next(vgg.parameters()).device
    layers = (*STYLE_LAYERS, CONTENT_LAYER)
    style_small = fit_area(style, image.width * image.height * style_scale**2)
    with torch.no_grad():
        out = vgg(to_tensor(image, device), layers)
        photo = vgg(to_tensor(content.resize(image.size, Image.Resampling.LANCZOS), device), layers)
        painting = vgg(to_tensor(style_small, device), STYLE_LAYERS)
    grams = {n: gram_matrix(out[n]) for n in STYLE_LAYERS}
    targets = {n: gram_matrix(painting[n]) for n in STYLE_LAYERS}
    return Distances(
        style=style_distance(grams, targets, GatysOptions().style_weights),
        content=content_distance(out[CONTENT_LAYER], photo[CONTENT_LAYER]),
    )
