"""The worker's models, loaded once per process, and its two uses of the render pipeline.

``render.pipeline`` does the work (photo → cut-out → compose → stylize). The worker prepares
the composite once, paints it fast at once, keeps the composite, and later paints the same
composite in high quality.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from render.pipeline import RenderContext, RenderRequest, paint, prepare
from render.scenes import OWN, list_scenes


@dataclass
class Prepared:
    """The guest on their scene, ready to be painted (fast now, HQ later)."""

    composite: Image.Image
    alpha: Image.Image
    person_found: bool
    timings: dict[str, float] = field(default_factory=dict)


class Painter:
    def __init__(self, model_dir: Path, device: str = "auto") -> None:
        from render.stylize import StyleEngine

        self.model_dir = Path(model_dir)
        self.engine = StyleEngine(self.model_dir, device=device)

    def prepare(self, photo: Image.Image, style: str, scene: str | None, size: int) -> Prepared:
        """Cut-out and compose: the guest on their scene, long side ``size``."""
        request = RenderRequest(photo=photo, style=style, scene=scene or OWN, size=size)
        ctx = prepare(request, model_dir=self.model_dir)
        assert ctx.composite is not None and ctx.alpha is not None
        return Prepared(ctx.composite, ctx.alpha, ctx.person_found, dict(ctx.timings))

    def fast(self, prepared: Prepared, style: str, size: int) -> Image.Image:
        """The instant painting of a composite, long side ``size``."""
        return self._paint(prepared, style, mode="fast", size=size)

    def _paint(
        self,
        prepared: Prepared,
        style: str,
        *,
        mode: str,
        size: int,
        progress: Callable[[Any], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        options: dict[str, Any] | None = None,
    ) -> Image.Image:
        request = RenderRequest(
            photo=prepared.composite, style=style, mode=mode, size=size, options=options or {}
        )
        ctx = RenderContext(
            request=request,
            model_dir=self.model_dir,
            composite=prepared.composite,
            alpha=prepared.alpha,
        )
        return paint(ctx, engine=self.engine, progress=progress, cancel=cancel).painting

    def hq(
        self,
        prepared: Prepared,
        style: str,
        *,
        size: int,
        progress: Callable[[Any], None] | None,
        cancel: Callable[[], bool] | None,
        options: dict[str, Any],
    ) -> Image.Image:
        """The high-quality painting of a composite made earlier (``options``: the style
        engine's, such as ``budget``)."""
        return self._paint(
            prepared,
            style,
            mode="hq",
            size=size,
            progress=progress,
            cancel=cancel,
            options=options,
        )

    def warm_up(self, style: str) -> None:
        """Load every model now (VGG19, the fast networks, the cut-out), so the first guest
        does not pay for it."""
        self.engine.warm_up()
        photo = Image.new("RGB", (160, 120), (128, 110, 90))
        scene = next(s.name for s in list_scenes() if s.name != OWN)
        self.fast(self.prepare(photo, style, scene, 128), style, 128)
