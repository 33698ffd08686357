"""The print render: the guest's approved painting continued, coarse to fine, up to print size.

An enlargement of the booth's 512 px painting is ~30 DPI on a 12×16 in tee; this paints the
missing octaves instead. Each stage is at most ``stage_factor`` larger than the last and
starts from the last one's result, enlarged; the optimiser then adds the painting's (the style
image's) brushwork at the new scale while an *anchor* holds the picture, seen at the last
stage's size, where it started. So everything the guest approved (the deep structure, the
colours, their face) is kept by construction, and only detail finer than what was there is
new. The painting is seen at the print's area (``style_scale``), never enlarged past its own
pixels: the booth's strokes stay as they are, and the painting's finest brushwork, at its own
resolution, fills the octaves the enlargement lacks.

Why it fits a 2-core CPU (one whole-image VGG19 pass at 1800×2400 takes ~47 s and 10 GB):

* Only shallow style layers (conv1_1..conv3_1 by default): the deep ones describe structure
  the booth painting already has right, and they cost two thirds of the network.
* Tiles (``render.tiles``): the style loss uses the *whole image's* Gram matrices, summed over
  the tiles, and each tile's gradient (exact, thanks to a halo as wide as the receptive field)
  goes into one full-image optimiser step. No tile is optimised on its own, so no seam forms.
  A 384 px tile is one unit of work (~0.35 s on that CPU, quiet): ``pause()`` and ``cancel``
  are checked between units, and memory stays at a tile's activations plus a few full-size
  images (1.2 GB peak for the tee at 150 DPI).
* Adam, whose steps need no line search, so each step's gradient can use the Gram matrices
  summed while computing the step before (one forward and backward per tile and step).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from PIL import Image

from render.cancel import Cancel, is_cancelled
from render.images import ImageSource, fit_area, load_image
from render.options import STYLE_LAYERS, OptionError, _FromMapping
from render.progress import Progress, StyleProgress
from render.styles import StyleSource, resolve_style

if TYPE_CHECKING:
    import torch

    from render.stylize import StyleEngine
    from render.tensors import Features
    from render.tiles import Tile

__all__ = ["PrintOptions", "PrintSizeError", "paint_print", "plan_stages"]

MIN_SIDE = 16
MAX_PIXELS = 25_000_000  # 3600×4800 (a tee at 300 DPI) is 17.3 MP
MAX_STYLE_PIXELS = 1_500_000  # the painting's Grams are one whole-image pass: bound its memory


class PrintSizeError(OptionError, code="bad_print_size"):
    """A print size the render cannot make: not two whole numbers, too small or too large, or
    of another shape than the painting it continues."""


@dataclass(frozen=True)
class PrintOptions(_FromMapping):
    """The print render's knobs; the defaults are tuned for a tee on a 2-core CPU (README)."""

    label: ClassVar[str] = "print"

    steps: int = 12  # Adam steps per stage (each: one forward and backward of every tile)
    stage_factor: float = 2.5  # each stage's side at most this times the last one's
    layer_weights: tuple[float, ...] = (1.0, 0.8, 0.5)  # conv1_1, conv2_1, ...: as many as given
    style_weight: float = 1.0  # the style loss, per unit of the stage's start
    anchor_weight: float = 0.1  # per 8-bit level² the picture drifts, seen at the last stage
    lr: float = 0.015  # Adam, on pixels in 0..1
    style_scale: float = 1.0  # the painting's area relative to the print's (never enlarged)
    tile: int = 384  # tile core side, pixels (a unit of work; smaller yields more often)
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    channels_last: bool = True

    def __post_init__(self) -> None:
        if not 1 <= len(self.layer_weights) <= 4:
            raise OptionError("layer_weights takes 1 to 4 values (conv1_1 up to conv4_1)")
        if any(w < 0 for w in self.layer_weights) or not any(self.layer_weights):
            raise OptionError("layer_weights must be >= 0 and not all zero")
        if self.steps < 0:
            raise OptionError(f"steps must be >= 0, got {self.steps}")
        if not self.stage_factor > 1.0:
            raise OptionError(f"stage_factor must be above 1, got {self.stage_factor}")
        if self.style_weight < 0 or self.anchor_weight < 0:
            raise OptionError("style_weight and anchor_weight must be >= 0")
        if not self.lr > 0 or not self.style_scale > 0:
            raise OptionError("lr and style_scale must be positive")
        if self.tile < 32:
            raise OptionError(f"tile must be at least 32 px, got {self.tile}")
        if self.precision not in {"auto", "bf16", "fp32"}:
            raise OptionError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")

    @property
    def layers(self) -> tuple[str, ...]:
        return STYLE_LAYERS[: len(self.layer_weights)]


def plan_stages(
    painting: tuple[int, int], size: tuple[int, int], factor: float
) -> list[tuple[int, int]]:
    """The (width, height) of each stage from ``painting``'s size up to ``size`` (the last),
    evenly spaced in scale, none more than ``factor`` times the one before. Empty when
    ``size`` is no larger than the painting."""
    ratio = max(size[0] / painting[0], size[1] / painting[1])
    if ratio <= 1.0:
        return []
    count = max(1, math.ceil(math.log(ratio) / math.log(factor) - 1e-9))
    stages = [
        (round(painting[0] * ratio ** (k / count)), round(painting[1] * ratio ** (k / count)))
        for k in range(1, count)
    ]
    return [*stages, size]


def paint_print(
    engine: StyleEngine,
    painting: Image.Image,
    composite: Image.Image,
    style: StyleSource,
    size: tuple[int, int],
    *,
    options: PrintOptions = PrintOptions(),
    progress: Progress | None = None,
    cancel: Cancel = None,
    pause: Callable[[], None] | None = None,
) -> Image.Image | None:
    """``painting`` (the booth's HQ painting, or a smaller print master) painted on up to
    exactly ``size`` (width, height) in ``style``, the painting it was made with.

    ``composite`` (the guest on their scene) lends its own detail where it has more than a
    stage (a sharper photo than the painting); it may be the painting's size. ``progress``
    gets a ``StyleProgress`` per step (``content_loss``: the anchor's; a preview at the end
    of each stage). ``pause()`` is called between units of work (about every 0.35 s on a
    2-core CPU) and may block; ``cancel`` true: None is returned. A size no larger than the
    painting is a plain (downscaling) resize.
    """
    started = time.perf_counter()
    painting = painting.convert("RGB")
    _check_size(size, painting.size, "print size")
    _check_size(composite.size, painting.size, "composite")
    stages = plan_stages(painting.size, size, options.stage_factor)
    if not stages:
        return painting.resize(size, Image.Resampling.LANCZOS)
    source = resolve_style(style)
    if isinstance(source, int):
        raise OptionError("a print is painted with a painting, not a numbered fast style")
    return _Render(engine, _load(source), options, progress, cancel, pause, started).run(
        painting, composite.convert("RGB"), stages
    )


def _check_size(size: object, like: tuple[int, int], what: str) -> None:
    """``size`` must be two whole numbers in range, of ``like``'s shape (to rounding)."""
    ok = (
        isinstance(size, tuple)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in size)
    )
    if not ok:
        raise PrintSizeError(f"the {what} must be (width, height) in whole pixels, got {size!r}")
    width, height = int(size[0]), int(size[1])  # type: ignore[index]
    if min(width, height) < MIN_SIDE:
        raise PrintSizeError(
            f"the {what} {width}×{height} is too small (at least {MIN_SIDE} px a side)"
        )
    if width * height > MAX_PIXELS:
        raise PrintSizeError(
            f"the {what} {width}×{height} is too large ({width * height / 1e6:.0f} MP; "
            f"at most {MAX_PIXELS / 1e6:.0f} MP, a tee at 300 DPI is 17 MP)"
        )
    # Each side was rounded to a whole pixel at its own size: allow that much either way.
    slack = 1 / min(like) + 1 / min(width, height)
    if abs(math.log((width / height) / (like[0] / like[1]))) > slack:
        raise PrintSizeError(
            f"the {what} {width}×{height} is not the painting's shape ({like[0]}×{like[1]}): "
            "a print continues the painting, it does not crop or stretch it"
        )


def _load(source: ImageSource) -> Image.Image:
    return load_image(source).convert("RGB")


@dataclass
class _Stage:
    """One stage's fixed parts: its size, its tiles, the loss weights, the anchor."""

    index: int
    size: tuple[int, int]
    tiles: list[Tile]
    targets: dict[str, torch.Tensor]  # the painting's Grams
    anchor: torch.Tensor  # the start seen at the last stage's size: what must not change


class _Stop(Exception):
    """Cancelled: unwinds the render between two units of work."""


class _Render:
    """One print render: the stages in turn, each a few Adam steps over tiles."""

    def __init__(
        self,
        engine: StyleEngine,
        style: Image.Image,
        options: PrintOptions,
        progress: Progress | None,
        cancel: Cancel,
        pause: Callable[[], None] | None,
        started: float,
    ) -> None:
        from render.device import use_bf16
        from render.tensors import Features

        self.engine, self.style, self.options = engine, style, options
        self.progress, self.cancel, self.pause, self.started = progress, cancel, pause, started
        self.device = engine.device
        channels_last = options.channels_last and self.device.type == "cpu"
        self.features: Features = Features(
            engine.vgg("max", channels_last),
            bf16=use_bf16(self.device, options.precision),
            channels_last=channels_last,
        )
        self.targets: dict[tuple[int, int], dict[str, torch.Tensor]] = {}
        self.done = 0
        self.planned = 0

    def unit(self) -> None:
        """Between two units of work: let the worker yield, and stop when cancelled."""
        if self.pause is not None:
            self.pause()
        if is_cancelled(self.cancel):
            raise _Stop

    def run(
        self, painting: Image.Image, composite: Image.Image, stages: list[tuple[int, int]]
    ) -> Image.Image | None:
        from render.tensors import to_image, to_tensor

        self.planned = self.options.steps * len(stages)
        image = to_tensor(painting, self.device)
        detail = to_tensor(composite, self.device)
        try:
            for index, size in enumerate(stages, start=1):
                self.unit()
                start = _start(image, detail, size)
                stage = self._stage(index, size, _seen(start, image.shape[-2:]))
                image = self._optimise(stage, start)
                if self.progress is not None:  # the stage's picture, as a preview
                    self._report(stage, math.nan, math.nan, to_image(image))
        except _Stop:
            return None
        return to_image(image)

    def _stage(self, index: int, size: tuple[int, int], anchor: torch.Tensor) -> _Stage:
        from render.tiles import tile_grid

        tiles = tile_grid(size, self.options.tile, self.options.layers[-1])
        area = min(size[0] * size[1] * self.options.style_scale**2, MAX_STYLE_PIXELS)
        return _Stage(index, size, tiles, self._targets(fit_area(self.style, area)), anchor)

    def _targets(self, style: Image.Image) -> dict[str, torch.Tensor]:
        """The painting's Grams at the size it is seen at, measured as the print is (same
        network, precision and tiles, between pauses: a whole-image pass of a large painting
        would hold the CPU for seconds). Computed once per size and render."""
        from render.tensors import to_tensor
        from render.tiles import tile_grid

        if style.size not in self.targets:
            tiles = tile_grid(style.size, self.options.tile, self.options.layers[-1])
            image = to_tensor(style, self.device)
            self.targets[style.size] = self._sweep(image, tiles, None)
        return self.targets[style.size]

    def _optimise(self, stage: _Stage, start: torch.Tensor) -> torch.Tensor:
        import torch

        if not self.options.steps:
            return start
        x = start.requires_grad_(True)  # ``start`` is this stage's own: optimised in place
        adam = torch.optim.Adam([x], lr=self.options.lr)
        grams = self._sweep(x, stage.tiles, None)
        weights = self._weights(stage, grams)
        for _ in range(self.options.steps):
            pull = {
                name: (2.0 * weights[name] / grams[name].shape[-1] ** 2)
                * (grams[name] - stage.targets[name])
                for name in weights
            }
            style = sum(
                weights[n] * float((grams[n] - stage.targets[n]).pow(2).mean()) for n in weights
            )
            x.grad = torch.zeros_like(x)
            grams = self._sweep(x, stage.tiles, pull)  # the next step's pull
            self.unit()
            anchor = self._anchor(stage, x)
            adam.step()
            with torch.no_grad():
                x.clamp_(0.0, 1.0)
            self.done += 1
            self._report(stage, float(anchor), style)
        return x.detach()

    def _sweep(
        self,
        x: torch.Tensor,
        tiles: list[Tile],
        pull: Mapping[str, torch.Tensor] | None,
    ) -> dict[str, torch.Tensor]:
        """The whole image's Grams of ``x``, tile by tile; with ``pull`` (∂loss/∂Gram per
        layer), each tile's share of the style gradient is added to ``x.grad``."""
        import torch

        from render.losses import gram_matrix
        from render.tiles import stride

        layers = self.options.layers
        norms = _norms((x.shape[-1], x.shape[-2]), layers)
        total: dict[str, torch.Tensor] = {}
        for tile in tiles:
            self.unit()
            left, top, right, bottom = tile.padded
            piece = x.detach()[..., top:bottom, left:right].clone()
            piece.requires_grad_(pull is not None)
            with torch.set_grad_enabled(pull is not None):
                maps = self.features(piece, layers)
                surrogate = piece.new_zeros(())
                for name in layers:
                    cl, ct, cr, cb = tile.cells(stride(name))
                    core = maps[name][..., ct:cb, cl:cr]
                    gram = gram_matrix(core) * (core.numel() / norms[name])
                    total[name] = total[name] + gram.detach() if name in total else gram.detach()
                    if pull is not None:
                        surrogate = surrogate + (gram * pull[name]).sum()
            if pull is not None:
                surrogate.backward()
                assert x.grad is not None and piece.grad is not None
                x.grad[..., top:bottom, left:right] += piece.grad
        return total

    def _weights(self, stage: _Stage, grams: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """Each layer's weight: its share over the start's own distance to the painting there,
        so the style loss starts at ``style_weight`` whatever the painting and the stage."""
        share = sum(self.options.layer_weights)
        weights = {}
        for name, weight in zip(self.options.layers, self.options.layer_weights, strict=True):
            target = stage.targets[name]
            distance = float((grams[name] - target).pow(2).mean())
            floor = 1e-6 * float(target.pow(2).mean()) + 1e-12
            weights[name] = self.options.style_weight * weight / share / max(distance, floor)
        return weights

    def _anchor(self, stage: _Stage, x: torch.Tensor) -> torch.Tensor:
        """The anchor loss of ``x`` (per 8-bit level², its picture at the last stage's size
        against the start's); its gradient is added to ``x.grad``."""
        import torch

        with torch.enable_grad():
            drift = _seen(x, stage.anchor.shape[-2:]) - stage.anchor
            loss = self.options.anchor_weight * drift.mul(255.0).pow(2).mean()
            (grad,) = torch.autograd.grad(loss, x)
        assert x.grad is not None
        x.grad += grad
        return loss.detach()

    def _report(
        self, stage: _Stage, anchor: float, style: float, preview: Image.Image | None = None
    ) -> None:
        if self.progress is None:
            return
        self.progress(
            StyleProgress(
                scale=stage.index,
                scales=math.ceil(self.planned / max(1, self.options.steps)),
                iteration=self.done,
                iterations=self.planned,
                content_loss=anchor,
                style_loss=style,
                tv_loss=0.0,
                total_loss=anchor + style,
                elapsed=time.perf_counter() - self.started,
                preview=preview,
            )
        )


def _norms(size: tuple[int, int], layers: tuple[str, ...]) -> dict[str, float]:
    """C·H·W of each layer's map of a whole image of ``size``: its Gram's divisor."""
    from render.tiles import stride
    from render.vgg import LAYER_PLAN

    channels = {name: out for name, _, out in LAYER_PLAN}
    return {n: float(channels[n] * (size[0] // stride(n)) * (size[1] // stride(n))) for n in layers}


def _seen(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """``x`` as it looks at a smaller (height, width): what the anchor holds still."""
    from torch.nn import functional as F

    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def _start(last: torch.Tensor, detail: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Where a stage starts: the last stage's result enlarged to ``size``, plus the
    composite's own detail between the last stage's scale and this one's, where it has any."""
    from torch.nn import functional as F

    width, height = size
    start = F.interpolate(last, size=(height, width), mode="bicubic", align_corners=False)
    have = detail.shape[-1] / last.shape[-1]  # how much finer the composite is than ``last``
    if have > 1.0:
        sharp = F.interpolate(
            detail, size=(min(height, detail.shape[-2]), min(width, detail.shape[-1])),
            mode="bicubic", antialias=True, align_corners=False,
        )  # fmt: skip
        coarse = F.interpolate(sharp, size=last.shape[-2:], mode="bicubic", antialias=True)
        band = F.interpolate(sharp, size=(height, width), mode="bicubic") - F.interpolate(
            coarse, size=(height, width), mode="bicubic"
        )
        start = start + band
    return start.clamp(0.0, 1.0)
