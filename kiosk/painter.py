"""The worker's models, loaded once per process: cut-out, compose and both painting modes.

A thin adapter over ``render.pipeline`` (capture → cut-out → compose → stylize) and
``render.stylize.StyleEngine``; the worker calls nothing else of the render package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from render.styles import style_preset


@dataclass
class Prepared:
    """The guest on their scene, ready to be painted (fast now, HQ later)."""

    composite: Image.Image
    alpha: Image.Image | None
    person_found: bool
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Painted:
    painting: Image.Image
    prepared: Prepared


class Painter:
    def __init__(self, model_dir: Path, device: str = "auto") -> None:
        from render.stylize import StyleEngine

        self.model_dir = Path(model_dir)
        self.engine = StyleEngine(self.model_dir, device=device)

    def fast(self, photo: Image.Image, style: str, scene: str | None, size: int) -> Painted:
        """Cut-out, compose and the instant painting, in one pass of the pipeline."""
        from render.pipeline import RenderRequest, render

        request = RenderRequest(
            photo=photo,
            style=str(style_preset(style).path),
            scene=scene or "own",
            mode="fast",
            size=size,
            options={},
        )
        out = render(request, engine=self.engine, model_dir=self.model_dir)
        prepared = Prepared(out.composite, out.alpha, out.person_found, dict(out.timings))
        return Painted(out.painting, prepared)

    def hq(
        self,
        composite: Image.Image,
        style: str,
        *,
        size: int,
        budget: float | None,
        progress: Callable[[Any], None] | None,
        cancel: Callable[[], bool] | None,
        options: dict[str, Any],
    ) -> Image.Image:
        """The high-quality painting of an existing composite."""
        return self.engine.stylize(
            composite,
            style_preset(style).path,
            size=size,
            mode="hq",
            progress=progress,
            cancel=cancel,
            budget=budget,
            **options,
        )

    def warm_up(self) -> None:
        """Open every session now, so the first guest does not pay for it."""
        photo = Image.new("RGB", (96, 64), (128, 110, 90))
        self.fast(photo, next(iter(_styles())), None, 64)


def _styles() -> list[str]:
    from render.styles import STYLES

    return list(STYLES)
