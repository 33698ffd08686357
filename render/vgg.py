"""VGG19's convolutional feature stack, defined here (torchvision is not importable on the CPU
build), loaded with the original Caffe ImageNet weights as published by Keras.

Activations are named after the conv layer whose ReLU output they are (``conv4_2`` is the
output of relu4_2), as in Gatys et al. The forward pass stops at the deepest layer asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

# (block, convs per block, channels)
_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))
# Caffe's ImageNet mean, BGR order, 0..255 scale.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _layer_plan() -> list[tuple[str, int, int]]:
    """(name, in_channels, out_channels) for each conv, with 'pool' rows between blocks."""
    plan, channels = [], 3
    for block, convs, width in _BLOCKS:
        for i in range(1, convs + 1):
            plan.append((f"conv{block}_{i}", channels, width))
            channels = width
        plan.append((f"pool{block}", channels, channels))
    return plan


LAYER_PLAN = _layer_plan()
CONV_NAMES = [name for name, *_ in LAYER_PLAN if name.startswith("conv")]


class VGG19Features(nn.Module):
    """VGG19 features. State-dict keys match torchvision's ``features.N`` numbering."""

    mean: torch.Tensor  # a buffer: Caffe's BGR mean, (1, 3, 1, 1)

    def __init__(self, pool: str = "max") -> None:
        super().__init__()
        if pool not in {"max", "avg"}:
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        layers: list[nn.Module] = []
        self.index: dict[str, int] = {}  # activation name -> index of its ReLU / pool
        for name, cin, cout in LAYER_PLAN:
            if name.startswith("conv"):
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=False)]
            else:
                layers.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
            self.index[name] = len(layers) - 1
        self.features = nn.Sequential(*layers)
        self.register_buffer(
            "mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1), persistent=False
        )

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB in 0..1, (N, 3, H, W) -> Caffe input: BGR, 0..255, mean subtracted."""
        return rgb.flip(1) * 255.0 - self.mean

    def forward(self, rgb: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        unknown = wanted - self.index.keys()
        if unknown:
            raise KeyError(f"unknown VGG19 layers: {sorted(unknown)}")
        last = max(self.index[name] for name in wanted)
        by_index = {self.index[name]: name for name in wanted}
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(rgb)
        for i, module in enumerate(list(self.features)[: last + 1]):
            x = module(x)
            if i in by_index:
                out[by_index[i]] = x
        return out


def conv_keys() -> list[tuple[str, int]]:
    """(conv name, index in ``features``) for the 16 convs."""
    model = VGG19Features()
    return [(name, model.index[name] - 1) for name in CONV_NAMES]


def convert_keras_h5(source: Path, target: Path) -> None:
    """Keras ``vgg19_..._notop.h5`` (HWIO kernels) -> safetensors (OIHW, ``features.N.*``)."""
    import h5py
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    with h5py.File(source, "r") as h5:
        for name, index in conv_keys():
            block, conv = name[4:].split("_")
            group = h5[f"block{block}_conv{conv}"]
            kernel = group[f"block{block}_conv{conv}_W_1:0"][()]
            bias = group[f"block{block}_conv{conv}_b_1:0"][()]
            tensors[f"features.{index}.weight"] = (
                torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous().float()
            )
            tensors[f"features.{index}.bias"] = torch.from_numpy(bias).contiguous().float()
    save_file(tensors, str(target), metadata={"source": "keras vgg19 notop (caffe weights)"})


def load_vgg19(weights: Path, pool: str = "max") -> VGG19Features:
    """VGG19 features with trained weights, frozen, in eval mode."""
    from safetensors.torch import load_file

    model = VGG19Features(pool=pool)
    model.load_state_dict(load_file(str(weights)), strict=True)
    model.eval().requires_grad_(False)
    return model
