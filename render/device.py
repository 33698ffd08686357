"""Which torch device to run on, and whether bfloat16 autocast pays off there."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch

from render.options import OptionError


def pick_device(preference: str = "auto") -> torch.device:
    if preference not in {"auto", "cpu", "cuda"}:
        raise OptionError(f"device must be auto, cpu or cuda, got {preference!r}")
    if preference == "cuda" and not torch.cuda.is_available():
        raise OptionError("device 'cuda' requested but no CUDA GPU is available")
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(preference)


@cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def bf16_supported(device: torch.device) -> bool:
    """True where bf16 matmuls/convs run natively (AMX or AVX512-BF16 CPUs, Ampere+ GPUs)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(_cpu_flags() & {"amx_bf16", "avx512_bf16"})


def use_bf16(device: torch.device, precision: str) -> bool:
    """Whether to run VGG under bf16 autocast: asked for, or "auto" where it is native."""
    return precision == "bf16" or (precision == "auto" and bf16_supported(device))
