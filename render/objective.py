"""The Gatys loss at one scale: content, style and total variation on a photo's features.

With ``relative_weights`` (the default), α is per unit of the photo's feature energy and each
style layer per unit of the photo's own distance to the painting there. So β means the same for
every painting, photo and scale, and the layer weights say what they mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from render.losses import ContentLoss, StyleLoss, TVLoss, gram_matrix
from render.options import CONTENT_LAYER, STYLE_LAYERS, GatysOptions
from render.tensors import Features

LAYERS = (*STYLE_LAYERS, CONTENT_LAYER)


@dataclass(frozen=True)
class Losses:
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.content + self.style + self.tv


@dataclass
class Objective:
    """What the optimiser minimises at one scale."""

    features: Features
    content: ContentLoss
    style: StyleLoss
    tv: TVLoss

    def __call__(self, x: torch.Tensor) -> Losses:
        maps = self.features(x, LAYERS)
        return Losses(self.content(maps[CONTENT_LAYER]), self.style(maps), self.tv(x))


def objective_for(
    features: Features,
    photo: torch.Tensor,
    targets: dict[str, torch.Tensor],
    options: GatysOptions,
    strength: float = 1.0,
) -> Objective:
    """The loss for painting ``photo`` (an image tensor) towards the Gram ``targets``."""
    with torch.no_grad():
        maps = features(photo, LAYERS)
    content = ContentLoss(maps[CONTENT_LAYER], options.content_weight)
    style = StyleLoss(targets, options.style_weights, options.style_weight * strength)
    if options.relative_weights:
        content.weight /= float(maps[CONTENT_LAYER].float().pow(2).mean()) + 1e-12
        style.layer_weights = _relative_layer_weights(maps, targets, options)
    return Objective(features, content, style, TVLoss(options.tv_weight))


def _relative_layer_weights(
    maps: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], options: GatysOptions
) -> dict[str, float]:
    """Each layer's weight (normalised to sum 1) over the photo's Gram distance there."""
    total = sum(options.layer_weights)
    weights = {}
    with torch.no_grad():
        for name, weight in options.style_weights.items():
            distance = float(F.mse_loss(gram_matrix(maps[name]), targets[name]))
            floor = 1e-6 * float(targets[name].pow(2).mean()) + 1e-12
            weights[name] = weight / total / max(distance, floor)
    return weights
