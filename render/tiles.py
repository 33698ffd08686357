"""Tiles for running VGG19 over an image too large for one pass, with exactly its answers.

A tile is a *core* (the pixels whose feature-map cells it owns) inside a *padded* box: the core
grown by a halo at least as wide as the deepest layer's receptive radius, clipped to the image.
The cores partition the image; each tile keeps only its core's feature cells, so every cell of
the whole image's feature map is computed once, from the same pixels as in a whole-image pass.
Summing the tiles' Gram matrices gives the whole image's, and summing their gradients gives the
whole image's gradient: there is nothing to blend and no seam can form.

Pooling halves the maps, so core and padded boxes start on multiples of the deepest layer's
stride (its cells then line up with the whole image's). Torch-free: pure geometry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from render.vgg import LAYER_PLAN

Box = tuple[int, int, int, int]  # (left, top, right, bottom), pixels, right/bottom exclusive


def stride(layer: str) -> int:
    """Pixels per feature-map cell at ``layer`` (1 for conv1_x, 2 for conv2_x, ... 16)."""
    return 2 ** sum(1 for name, *_ in _upto(layer) if name.startswith("pool"))


def receptive_radius(layer: str) -> int:
    """How many pixels beyond its own a cell of ``layer`` sees, on each side."""
    size, jump = 1, 1
    for name, *_ in _upto(layer):
        if name.startswith("pool"):
            size, jump = size + jump, jump * 2  # 2×2 window, stride 2
        else:
            size += 2 * jump  # 3×3 convolution, padding 1
    return math.ceil((size - 1) / 2)


def halo(layer: str) -> int:
    """The halo that makes tiles exact for ``layer``: its receptive radius plus one cell,
    rounded up to its stride (a pooled cell spans its stride's pixels)."""
    step = stride(layer)
    return math.ceil((receptive_radius(layer) + step) / step) * step


def _spans(length: int, core: int, step: int) -> list[tuple[int, int]]:
    """(start, end) of the cores along one side; a last sliver narrower than a cell joins
    the one before it (alone it would own no cell of the deepest layer)."""
    starts = list(range(0, length, core))
    if len(starts) > 1 and length - starts[-1] < step:
        starts.pop()
    return [(start, min(length, start + core)) for start in starts[:-1]] + [(starts[-1], length)]


def _upto(layer: str) -> list[tuple[str, int, int]]:
    names = [name for name, *_ in LAYER_PLAN]
    if layer not in names:
        raise KeyError(f"unknown VGG19 layer {layer!r}")
    return LAYER_PLAN[: names.index(layer) + 1]


@dataclass(frozen=True)
class Tile:
    core: Box
    padded: Box

    def cells(self, step: int) -> Box:
        """The core's feature cells at a layer of stride ``step``, in the padded map's
        coordinates (the last cell row/column of the image included, as pooling floors)."""
        left, top, right, bottom = self.core
        pl, pt, _, _ = self.padded
        return (left - pl) // step, (top - pt) // step, (right - pl) // step, (bottom - pt) // step


def tile_grid(size: tuple[int, int], tile: int, layer: str) -> list[Tile]:
    """Tiles covering an image of ``size`` (width, height), cores about ``tile`` pixels a side
    (a multiple of the layer's stride), exact for features up to ``layer``."""
    step = stride(layer)
    if tile < step:
        raise ValueError(f"tiles must be at least {step} px for {layer}, got {tile}")
    width, height = size
    core = max(step, tile // step * step)
    margin = halo(layer)
    tiles = []
    for top, bottom in _spans(height, core, step):
        for left, right in _spans(width, core, step):
            padded = (
                max(0, left - margin),
                max(0, top - margin),
                min(width, right + margin),
                min(height, bottom + margin),
            )
            tiles.append(Tile((left, top, right, bottom), padded))
    return tiles
