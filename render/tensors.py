"""Between PIL images and the optimiser's tensors, and the VGG forward pass it runs.

The image lives as float32 RGB 0..1, shape (1, 3, H, W). VGG runs under bfloat16 autocast
where that pays (``render.device.use_bf16``) and, on a CPU, in channels-last layout.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from render.vgg import VGG19Features


def to_tensor(image: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous().to(device)


def to_image(tensor: torch.Tensor) -> Image.Image:
    array = tensor.detach()[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray((array * 255.0 + 0.5).astype(np.uint8))


def resized(tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of an image tensor to (width, height)."""
    return torch.nn.functional.interpolate(tensor, size=(size[1], size[0]), mode="bicubic")


class Features:
    """VGG feature maps of an image tensor, in the precision and layout chosen for the run."""

    def __init__(self, vgg: VGG19Features, *, bf16: bool, channels_last: bool) -> None:
        self.vgg = vgg
        self.bf16 = bf16
        self.channels_last = channels_last
        self.device_type = next(vgg.parameters()).device.type

    def __call__(self, x: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device_type, torch.bfloat16, enabled=self.bf16):
            return self.vgg(x, layers)
