"""The print render's geometry needs no model: tiles (render/tiles.py), the coarse-to-fine
stages and the detail measure (render/print_master.py, render/detail.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from render.detail import detail_energy, detail_ratio
from render.print_master import plan_stages
from render.tiles import halo, receptive_radius, stride, tile_grid


def test_strides_and_receptive_fields_are_vgg19s() -> None:
    assert [stride(n) for n in ("conv1_1", "conv2_1", "conv3_1", "conv4_1")] == [1, 2, 4, 8]
    # 3×3 convs and 2×2 pools: conv1_1 sees 3 px, conv2_1 10, conv3_1 24, conv4_1 68.
    assert [receptive_radius(n) for n in ("conv1_1", "conv2_1", "conv3_1", "conv4_1")] == [
        1,
        5,
        12,
        34,
    ]
    for name in ("conv1_1", "conv2_1", "conv3_1", "conv4_1"):
        assert halo(name) % stride(name) == 0 and halo(name) > receptive_radius(name)
    with pytest.raises(KeyError):
        stride("conv9_1")


@pytest.mark.parametrize("size", [(240, 320), (1803, 2401), (130, 66), (64, 64)])
def test_tile_cores_partition_the_image_on_cell_boundaries(size: tuple[int, int]) -> None:
    tiles = tile_grid(size, 64, "conv3_1")
    owned = np.zeros((size[1], size[0]), dtype=int)
    margin = halo("conv3_1")
    for tile in tiles:
        left, top, right, bottom = tile.core
        owned[top:bottom, left:right] += 1
        assert left % 4 == 0 and top % 4 == 0  # cells of conv3_1 line up with the image's
        pl, pt, pr, pb = tile.padded
        assert pl == max(0, left - margin) and pt == max(0, top - margin)
        assert pr == min(size[0], right + margin) and pb == min(size[1], bottom + margin)
        assert right - left >= 4 and bottom - top >= 4  # a sliver joins its neighbour
    assert (owned == 1).all()
    # The cores' cells at each layer partition the whole image's feature map, too.
    for name in ("conv1_1", "conv2_1", "conv3_1"):
        step = stride(name)
        cells = np.zeros((size[1] // step, size[0] // step), dtype=int)
        for tile in tiles:
            cl, ct, cr, cb = tile.cells(step)
            pl, pt = tile.padded[:2]
            cells[pt // step + ct : pt // step + cb, pl // step + cl : pl // step + cr] += 1
        assert (cells == 1).all(), name


def test_stages_grow_evenly_to_the_exact_print_size() -> None:
    assert plan_stages((384, 512), (1800, 2400), 2.5) == [(831, 1109), (1800, 2400)]
    assert plan_stages((384, 512), (3600, 4800), 2.5) == [(810, 1080), (1707, 2276), (3600, 4800)]
    assert plan_stages((384, 512), (900, 1200), 2.5) == [(900, 1200)]
    assert plan_stages((384, 512), (384, 512), 2.5) == []
    assert plan_stages((900, 1200), (1800, 2400), 2.5) == [(1800, 2400)]


def test_detail_energy_sees_fine_texture_not_size() -> None:
    rng = np.random.default_rng(0)
    texture = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    flat = Image.new("RGB", (64, 64), (120, 80, 40))
    assert detail_energy(flat) == 0.0
    assert detail_energy(texture) > 0.1
    # A Lanczos enlargement of the texture has far less detail than fresh texture at that size.
    fresh = Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
    assert detail_ratio(fresh, texture) > 5.0
    # Measured at 150 DPI scale, a 300 DPI file is first shrunk to it (never enlarged).
    assert detail_energy(fresh, (128, 128)) < detail_energy(fresh)
    with pytest.raises(ValueError, match="at or below"):
        detail_energy(texture, (128, 128))
