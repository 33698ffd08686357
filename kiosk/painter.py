"""The worker's models, loaded once per process, and its four render calls.

The worker prepares the guest's composite once (``prepare``: cut-out and compose), paints it
fast at once (``fast``), keeps the composite, and later paints the same composite in high
quality (``hq``); an order continues that painting to print size (``print_master``). Each is
one call into ``render``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from render.cancel import Cancel
from render.options import DEFAULT_HQ, GatysOptions
from render.pipeline import Prepared, prepare
from render.progress import Progress
from render.scenes import OWN, selectable_scenes
from render.stylize import StyleEngine

if TYPE_CHECKING:
    from render.print_master import PrintOptions


class Painter:
    def __init__(self, model_dir: Path, device: str = "auto") -> None:
        self.model_dir = Path(model_dir)
        self.engine = StyleEngine(self.model_dir, device=device)

    def prepare(self, photo: Image.Image, scene: str | None, size: int) -> Prepared:
        """Cut-out and compose: the guest on their scene, long side ``size``."""
        return prepare(photo, scene or OWN, size, model_dir=self.model_dir)

    def fast(self, prepared: Prepared, style: str, size: int) -> Image.Image:
        """The instant painting of a composite, long side ``size``."""
        return self.engine.stylize(prepared.composite, style, size=size, mode="fast")

    def hq(
        self,
        prepared: Prepared,
        style: str,
        *,
        size: int,
        budget: float | None = None,
        hq: GatysOptions = DEFAULT_HQ,
        progress: Progress | None = None,
        cancel: Cancel = None,
    ) -> Image.Image:
        """The high-quality painting of a composite made earlier; ``budget`` seconds at most
        (the best painting so far), ``info["stopped"]`` says whether it was cut short."""
        return self.engine.stylize(
            prepared.composite,
            style,
            size=size,
            mode="hq",
            hq=hq,
            budget=budget,
            progress=progress,
            cancel=cancel,
        )

    def print_master(
        self,
        painting: Image.Image,
        composite: Image.Image,
        style: str,
        size: tuple[int, int],
        *,
        options: PrintOptions | None = None,
        progress: Progress | None = None,
        cancel: Cancel = None,
        pause: Callable[[], None] | None = None,
    ) -> Image.Image | None:
        """``painting`` (the HQ painting or a smaller print master) painted on up to exactly
        ``size``; ``pause()`` is where the render gives way to guests; None when cancelled."""
        from render.print_master import PrintOptions, paint_print

        return paint_print(self.engine, painting, composite, style, size,
                           options=options or PrintOptions(), progress=progress, cancel=cancel,
                           pause=pause)  # fmt: skip

    def warm_up(self, style: str) -> None:
        """Load every model now (VGG19, the fast networks, the cut-out), so the first guest
        does not pay for it."""
        self.engine.warm_up()
        photo = Image.new("RGB", (160, 120), (128, 110, 90))
        scene = selectable_scenes()[0].name
        self.fast(self.prepare(photo, scene, 128), style, 128)
