"""The style engine's Python API: ``StyleEngine`` (one per worker process) and ``stylize``.

>>> engine = StyleEngine(model_dir)
>>> engine.stylize("guest.jpg", "starry_night", size=512).save("painting.jpg")
>>> engine.stylize(photo_bytes, painting, mode="fast", strength=0.7)

``content`` and ``style`` are a path, bytes or a PIL image; ``style`` may also be the name of a
preset (render/styles.py) and, in fast mode, an index 0..25 of the built-in 26-style network.
Bad images raise ``render.images.ImageError``; bad options raise ``ValueError``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import fields, replace
from functools import cache
from pathlib import Path
from typing import Literal

from PIL import Image

from render.gatys import (
    Cancel,
    Gatys,
    GatysOptions,
    GramCache,
    StyleProgress,
    fit_long_side,
    is_cancelled,
)
from render.images import ImageError, ImageSource, load_image
from render.styles import STYLES

__all__ = ["StyleEngine", "StyleProgress", "stylize"]

MIN_SIZE, MAX_SIZE = 32, 4096
StyleSource = ImageSource | str | int
Progress = Callable[[StyleProgress], None]
HQ_OPTIONS = frozenset(f.name for f in fields(GatysOptions))


class StyleEngine:
    """Holds VGG19 and the ONNX sessions, loaded on first use (or by ``warm_up``)."""

    def __init__(
        self, model_dir: Path, device: str = "auto", *, cache_dir: Path | None = None
    ) -> None:
        from render.device import pick_device
        from render.models import ModelStore

        self.store = ModelStore(Path(model_dir))
        self.device = pick_device(device)
        self.grams = GramCache(cache_dir if cache_dir is not None else self.store.root / "grams")
        self._vggs: dict[tuple[str, bool], object] = {}
        self._fast = None
        self._lock = threading.Lock()

    def vgg(self, pool: str = "max", channels_last: bool = False):
        """VGG19 features on the engine's device, loaded once per (pooling, memory layout)."""
        import torch

        from render.vgg import load_vgg19

        with self._lock:
            key = (pool, channels_last)
            if key not in self._vggs:
                model = load_vgg19(self.store.ensure("vgg19"), pool=pool).to(self.device)
                if channels_last:
                    model = model.to(memory_format=torch.channels_last)
                self._vggs[key] = model
            return self._vggs[key]

    @property
    def fast(self):
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
        size: int = 512,
        mode: Literal["hq", "fast"] = "hq",
        progress: Progress | None = None,
        cancel: Cancel = None,
        budget: float | None = None,
        preserve_color: bool = False,
        strength: float = 1.0,
        seed: int | None = None,
        **hq_opts,
    ) -> Image.Image:
        """``content`` painted like ``style``, its long side ``size`` pixels.

        ``mode``: "hq" (Gatys, seconds to tens of seconds) or "fast" (feed-forward, ~0.1 s).
        ``progress`` gets a ``StyleProgress`` per HQ step (with a preview every few steps; one
        at the end in fast mode). ``cancel`` (an Event or a callable) and ``budget`` (seconds)
        stop HQ early and return the best image so far. ``preserve_color`` keeps the photo's
        colours (luminance-only transfer). ``strength`` 0..1 scales the style. ``seed`` fixes
        the noise of ``init="noise"``. ``hq_opts`` are ``GatysOptions`` fields.

        The returned image's ``info["stopped"]`` says "done", "cancelled" or "budget".
        """
        started = time.perf_counter()
        options = _check(size, mode, strength, budget, hq_opts)
        photo = _load(content)
        if isinstance(style, int) and not isinstance(style, bool):
            if mode != "fast":
                raise ValueError("a numbered style (0..25) exists only in fast mode")
            painting: Image.Image | int = style
        else:
            painting = _load(_style_path(style))
        if mode == "fast":
            result = self._fast_mode(photo, painting, size, strength, preserve_color)
            stopped = "cancelled" if is_cancelled(cancel) else "done"
            if progress is not None:
                nan = math.nan  # a feed-forward network has no losses
                progress(
                    StyleProgress(
                        1, 1, 1, 1, nan, nan, nan, nan, time.perf_counter() - started, result
                    )
                )
        else:
            assert isinstance(painting, Image.Image) and options is not None
            result, stopped = self._hq_mode(
                photo, painting, size, options, strength, seed, preserve_color,
                progress, cancel, budget, started,
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
        target = fit_long_side(photo, size)
        if preserve_color:
            # Gatys et al. 2016, "Preserving color": transfer on luminance, the style's
            # luminance matched to the photo's, then put the photo's chroma back.
            source, painting = _luminance(target), _luminance(painting, like=target)
        else:
            source = target
        gatys = Gatys(self.vgg, self.grams, self.device)
        result = gatys.run(
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


def _check(
    size: int, mode: str, strength: float, budget: float | None, hq_opts: dict
) -> GatysOptions | None:
    if mode not in {"hq", "fast"}:
        raise ValueError(f"mode must be 'hq' or 'fast', got {mode!r}")
    if not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be a whole number of pixels, {MIN_SIZE} to {MAX_SIZE}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, got {strength}")
    if budget is not None and not budget > 0:
        raise ValueError(f"budget must be a positive number of seconds, got {budget}")
    unknown = set(hq_opts) - HQ_OPTIONS
    if unknown:
        known = ", ".join(sorted(HQ_OPTIONS))
        raise ValueError(f"unknown HQ option(s) {', '.join(sorted(unknown))}; known: {known}")
    if mode == "fast":
        return None
    return replace(GatysOptions(), **hq_opts)


def _load(source: ImageSource) -> Image.Image:
    try:
        return load_image(source)
    except OSError as exc:  # PIL's header parser can fail this way on a truncated file
        raise ImageError(f"the image file is truncated or corrupt ({exc})") from exc


def _style_path(style: ImageSource | str) -> ImageSource:
    """A preset's name becomes its file; anything else is an image source as given."""
    if isinstance(style, str) and style in STYLES and not Path(style).exists():
        return STYLES[style].path
    return style


def _luminance(image: Image.Image, like: Image.Image | None = None) -> Image.Image:
    """Grey RGB of ``image``'s luma; with ``like``, its mean and spread matched to like's."""
    import numpy as np

    luma = np.asarray(image.convert("YCbCr"), dtype=np.float32)[..., 0]
    if like is not None:
        ref = np.asarray(like.convert("YCbCr"), dtype=np.float32)[..., 0]
        luma = (luma - luma.mean()) / (luma.std() + 1e-6) * ref.std() + ref.mean()
    grey = Image.fromarray(np.clip(luma + 0.5, 0, 255).astype(np.uint8))
    return Image.merge("RGB", (grey, grey, grey))


def keep_colors(painted: Image.Image, photo: Image.Image) -> Image.Image:
    """The painting's luminance with the photo's chroma (YCbCr)."""
    luma = painted.convert("YCbCr").getchannel("Y")
    _, cb, cr = photo.resize(painted.size, Image.Resampling.LANCZOS).convert("YCbCr").split()
    return Image.merge("YCbCr", (luma, cb, cr)).convert("RGB")


@cache
def _default_engine(model_dir: Path, device: str) -> StyleEngine:
    return StyleEngine(model_dir, device)


def default_engine() -> StyleEngine:
    """The process-wide engine on the configured model directory and device."""
    from kiosk.config import load_settings

    settings = load_settings()
    return _default_engine(settings.models, settings.device)


def stylize(
    content: ImageSource,
    style: StyleSource,
    *,
    size: int = 512,
    mode: Literal["hq", "fast"] = "hq",
    **kwargs,
) -> Image.Image:
    """``StyleEngine.stylize`` on a process-wide engine (see there for the options)."""
    return default_engine().stylize(content, style, size=size, mode=mode, **kwargs)
