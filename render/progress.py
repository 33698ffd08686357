"""What a painting's progress callback receives. Torch-free, so the worker and the command
line can type their callbacks without loading the style engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image


@dataclass
class StyleProgress:
    """One optimisation step (or the one result of fast mode, whose losses are NaN)."""

    scale: int  # 1-based index of the current scale
    scales: int
    iteration: int  # steps done so far, over all scales
    iterations: int  # steps planned, over all scales
    content_loss: float
    style_loss: float
    tv_loss: float
    total_loss: float
    elapsed: float  # seconds since the run started
    preview: Image.Image | None = None


Progress = Callable[[StyleProgress], None]
