"""The style engine's Python API: one ``StyleEngine`` per worker process, one call per painting.

>>> engine = StyleEngine(model_dir)
>>> engine.stylize("guest.jpg", "starry_night", size=512).save("painting.jpg")
>>> engine.stylize(photo_bytes, painting, mode="fast", strength=0.7)
>>> engine.stylize(composite, "udnie", hq=GatysOptions(steps=200), budget=60)

``content`` and ``style`` are a path, bytes or a PIL image; ``style`` may also be the name of a
preset (render/styles.py) and, in fast mode, an index 0..25 of the built-in 26-style network.
Bad images raise ``render.images.ImageError``; bad options raise ``ValueError``.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PIL import Image

from render.cancel import Cancel, is_cancelled
from render.color import keep_colors, luminance
from render.images import ImageError, ImageSource, fit_long_side, load_image
from render.options import DEFAULT_HQ, DEFAULT_SIZE, GatysOptions, OptionError
from render.progress import Progress, StyleProgress
from render.styles import StyleSource, resolve_style

if TYPE_CHECKING:
    from render.fast import FastStylizer
    from render.vgg import VGG19Features

__all__ = ["StyleEngine"]

MIN_SIZE, MAX_SIZE = 32, 4096
Mode = Literal["hq", "fast"]


class StyleEngine:
    """Holds VGG19 and the ONNX sessions, loaded on first use (or by ``warm_up``)."""

    def __init__(
        self, model_dir: Path, device: str = "auto", *, cache_dir: Path | None = None
    ) -> None:
        from render.device import pick_device
        from render.grams import GramCache
        from render.models import ModelStore

        self.store = ModelStore(Path(model_dir))
        self.device = pick_device(device)
        self.grams = GramCache(cache_dir if cache_dir is not None else self.store.root / "grams")
        self._vggs: dict[tuple[str, bool], VGG19Features] = {}
        self._fast: FastStylizer | None = None
        self._lock = threading.Lock()

    def vgg(self, pool: str = "max", channels_last: bool = False) -> VGG19Features:
        """VGG19 features on the engine's device, loaded once per (pooling, memory layout)."""
        import torch

        from render.vgg import load_vgg19

        with self._lock:
            key = (pool, channels_last)
            if key not in self._vggs:
                model = load_vgg19(self.store.ensure("vgg19"), pool=pool).to(self.device)
                if channels_last:
                    # torch's stubs lack Module.to's memory_format; it exists at run time
                    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
                self._vggs[key] = model
            return self._vggs[key]

    @property
    def fast(self) -> FastStylizer:
        from render.fast import FastStylizer

        with self._lock:
            if self._fast is None:
                self._fast = FastStylizer(
                    self.store.ensure("magenta-predict"),
                    self.store.ensure("magenta-transform"),
                    self.store.ensure("multistyle26"),
                    device=self.device.type,
                )
            return self._fast

    def warm_up(self) -> None:
        """Load every model now, so the first guest does not wait for it."""
        self.vgg(GatysOptions.pool, GatysOptions.channels_last and self.device.type == "cpu")
        self.fast.load()

    def stylize(
        self,
        content: ImageSource,
        style: StyleSource,
        *,
        size: int = DEFAULT_SIZE,
        mode: Mode = "hq",
        hq: GatysOptions | None = None,
        progress: Progress | None = None,
        cancel: Cancel = None,
        budget: float | None = None,
        preserve_color: bool = False,
        strength: float = 1.0,
        seed: int | None = None,
    ) -> Image.Image:
        """``content`` painted like ``style``, its long side ``size`` pixels.

        ``mode``: "hq" (Gatys, seconds to tens of seconds) or "fast" (feed-forward, ~0.1 s).
        ``hq``: the HQ mode's knobs (default: the tuned booth defaults; fast mode ignores them).
        ``progress`` gets a ``StyleProgress`` per HQ step (with a preview every few steps; one
        at the end in fast mode). ``cancel`` (an Event or a callable) and ``budget`` (seconds)
        stop HQ early and return the best image so far. ``preserve_color`` keeps the photo's
        colours (luminance-only transfer). ``strength`` 0..1 scales the style. ``seed`` fixes
        the noise of ``init="noise"``.

        The returned image's ``info["stopped"]`` says "done", "cancelled" or "budget".
        """
        started = time.perf_counter()
        _check(size, mode, strength, budget)
        painting = resolve_style(style)
        if isinstance(painting, int) and mode != "fast":
            raise OptionError("a numbered style (0..25) exists only in fast mode")
        photo = _load(content)
        if mode == "fast":
            picture = painting if isinstance(painting, int) else _load(painting)
            result = self._fast_mode(photo, picture, size, strength, preserve_color)
            stopped = "cancelled" if is_cancelled(cancel) else "done"
            if progress is not None:
                nan = math.nan  # a feed-forward network has no losses
                elapsed = time.perf_counter() - started
                progress(StyleProgress(1, 1, 1, 1, nan, nan, nan, nan, elapsed, result))
        else:
            assert not isinstance(painting, int)
            result, stopped = self._hq_mode(
                photo, _load(painting), size, hq or DEFAULT_HQ, strength, seed,
                preserve_color, progress, cancel, budget, started,
            )  # fmt: skip
        result.info["stopped"] = stopped
        return result

    def _fast_mode(
        self,
        photo: Image.Image,
        painting: Image.Image | int,
        size: int,
        strength: float,
        preserve_color: bool,
    ) -> Image.Image:
        if isinstance(painting, int):
            result = self.fast.preset(photo, painting, size=size, strength=strength)
        else:
            result = self.fast.arbitrary(photo, painting, size=size, strength=strength)
        return keep_colors(result, photo) if preserve_color else result

    def _hq_mode(
        self,
        photo: Image.Image,
        painting: Image.Image,
        size: int,
        options: GatysOptions,
        strength: float,
        seed: int | None,
        preserve_color: bool,
        progress: Progress | None,
        cancel: Cancel,
        budget: float | None,
        started: float,
    ) -> tuple[Image.Image, str]:
        from render.gatys import Gatys

        target = fit_long_side(photo, size)
        if preserve_color:
            # Gatys et al. 2016, "Preserving color": transfer on luminance, the style's
            # luminance matched to the photo's, then put the photo's chroma back.
            source, painting = luminance(target), luminance(painting, like=target)
        else:
            source = target
        result = Gatys(self.vgg, self.grams, self.device).run(
            source,
            painting,
            size=target.size,
            options=options,
            strength=strength,
            seed=seed,
            progress=progress,
            cancel=cancel,
            budget=budget,
            started=started,
        )
        image = keep_colors(result.image, target) if preserve_color else result.image
        return image, result.stopped


def _check(size: int, mode: str, strength: float, budget: float | None) -> None:
    if mode not in {"hq", "fast"}:
        raise OptionError(f"mode must be 'hq' or 'fast', got {mode!r}")
    if not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise OptionError(f"size must be a whole number of pixels, {MIN_SIZE} to {MAX_SIZE}")
    if not 0.0 <= strength <= 1.0:
        raise OptionError(f"strength must be between 0 and 1, got {strength}")
    if budget is not None and not budget > 0:
        raise OptionError(f"budget must be a positive number of seconds, got {budget}")


def _load(source: ImageSource) -> Image.Image:
    try:
        return load_image(source)
    except OSError as exc:  # PIL's header parser can fail this way on a truncated file
        raise ImageError(f"the image file is truncated or corrupt ({exc})") from exc
