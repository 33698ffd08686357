"""High-quality style transfer: Gatys et al. (CVPR 2016) on our VGG19, coarse to fine.

The optimised image lives in float32 RGB 0..1. VGG runs under bfloat16 autocast where the
hardware has native bf16 (AMX CPUs, Ampere+ GPUs); Gram matrices, losses and the image stay
float32. Most iterations run at a fraction of the final size; each scale's result, upsampled,
starts the next. A style's Gram targets are computed once per (image, size, settings) and kept
in memory and on disk.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from render.cancel import Cancel, is_cancelled
from render.losses import ContentLoss, StyleLoss, TVLoss, gram_matrix
from render.vgg import VGG19Features

STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYER = "conv4_2"


@dataclass(frozen=True)
class GatysOptions:
    """Every knob of the HQ mode. The defaults are the tuned booth defaults (see README)."""

    content_weight: float = 1.0  # α
    style_weight: float = 8.0  # β
    relative_weights: bool = True  # α, β per unit of this photo's and painting's losses
    tv_weight: float = 0.0  # total variation; up to 1e7 changed nothing visible at 512 px
    layer_weights: tuple[float, ...] = (1.0, 0.8, 0.5, 0.3, 0.1)  # for STYLE_LAYERS
    steps: int = 90  # iterations (VGG forward+backward passes) in all, over the scales
    scales: tuple[float, ...] = (0.5, 1.0)  # of the final size
    step_shares: tuple[float, ...] = (0.6, 0.4)  # of `steps`, per scale
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    lr: float = 0.02  # Adam only; L-BFGS takes unit steps
    init: Literal["content", "noise"] = "content"
    restore_detail: bool = True  # between scales, add back the photo's finer detail
    match_palette: bool = True  # start from the photo in the painting's colours (init=content)
    style_scale: float = 1.0  # painting's area relative to the output's: brush-stroke size
    pool: Literal["max", "avg"] = "max"
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    channels_last: bool = True
    preview_every: int = 20  # steps between preview images (0: none)
    min_side: int = 64  # scales whose short side would be smaller are skipped

    def __post_init__(self) -> None:
        if len(self.layer_weights) != len(STYLE_LAYERS):
            raise ValueError(f"layer_weights needs {len(STYLE_LAYERS)} values")
        if len(self.scales) != len(self.step_shares) or not self.scales:
            raise ValueError("scales and step_shares need the same, non-zero length")
        if self.steps < 0:
            raise ValueError("steps must be >= 0")
        if self.optimizer not in {"lbfgs", "adam"}:
            raise ValueError(f"optimizer must be lbfgs or adam, got {self.optimizer!r}")
        if self.init not in {"content", "noise"}:
            raise ValueError(f"init must be content or noise, got {self.init!r}")
        if self.precision not in {"auto", "bf16", "fp32"}:
            raise ValueError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")

    @property
    def style_weights(self) -> dict[str, float]:
        return dict(zip(STYLE_LAYERS, self.layer_weights, strict=True))


@dataclass
class StyleProgress:
    """One optimisation step, as the progress callback sees it."""

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


def to_tensor(image: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous().to(device)


def to_image(tensor: torch.Tensor) -> Image.Image:
    array = tensor.detach()[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray((array * 255.0 + 0.5).astype(np.uint8))


def fit_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """Resized so its longer side is ``long_side`` (aspect ratio kept)."""
    scale = long_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def fit_area(image: Image.Image, area: float) -> Image.Image:
    """Resized to about ``area`` pixels (aspect ratio kept), never above its own size."""
    scale = min(1.0, math.sqrt(area / (image.width * image.height)))
    size = (max(16, round(image.width * scale)), max(16, round(image.height * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def image_digest(image: Image.Image) -> str:
    """sha256 of the decoded pixels: the same picture hashes the same whatever its file."""
    rgb = image.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def match_palette(image: Image.Image, palette: Image.Image) -> Image.Image:
    """``image`` recoloured so its RGB mean and covariance are ``palette``'s (a linear map)."""
    source = np.asarray(image.convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255.0
    target = np.asarray(palette.convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255.0

    def sqrt_and_inverse(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values, vectors = np.linalg.eigh(cov + np.eye(3) * 1e-5)
        values = np.clip(values, 1e-8, None)
        return (vectors * np.sqrt(values)) @ vectors.T, (vectors / np.sqrt(values)) @ vectors.T

    _, inverse = sqrt_and_inverse(np.cov(source, rowvar=False))
    root, _ = sqrt_and_inverse(np.cov(target, rowvar=False))
    mapped = (source - source.mean(0)) @ (root @ inverse).T + target.mean(0)
    array = (
        np.clip(mapped * 255.0 + 0.5, 0, 255).astype(np.uint8).reshape(image.height, image.width, 3)
    )
    return Image.fromarray(array)


def use_bf16(device: torch.device, precision: str) -> bool:
    from render.device import bf16_supported

    return precision == "bf16" or (precision == "auto" and bf16_supported(device))


class GramCache:
    """Style targets (Gram matrices) by image hash and settings, in memory and on disk.

    Targets are computed in float32 (once per style, so precision costs nothing here).
    """

    def __init__(self, directory: Path | None = None, capacity: int = 64) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.capacity = capacity
        self._memory: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = {"memory": 0, "disk": 0, "computed": 0}

    @staticmethod
    def key(digest: str, size: tuple[int, int], pool: str, layers: tuple[str, ...]) -> str:
        settings = json.dumps({"size": size, "pool": pool, "layers": layers, "v": 1})
        return hashlib.sha256(f"{digest}:{settings}".encode()).hexdigest()[:32]

    def get(
        self,
        vgg: VGG19Features,
        style: Image.Image,
        digest: str,
        layers: tuple[str, ...] = STYLE_LAYERS,
        pool: str = "max",
    ) -> dict[str, torch.Tensor]:
        """Gram matrices of ``style`` (already resized) on the VGG's device."""
        device = next(vgg.parameters()).device
        key = self.key(digest, style.size, pool, layers)
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                self.hits["memory"] += 1
                return {k: v.to(device) for k, v in self._memory[key].items()}
        grams = self._load(key)
        if grams is None:
            with torch.no_grad():
                features = vgg(to_tensor(style, device), layers)
            grams = {name: gram_matrix(features[name]).cpu() for name in layers}
            self._save(key, grams)
            self.hits["computed"] += 1
        else:
            self.hits["disk"] += 1
        with self._lock:
            self._memory[key] = grams
            while len(self._memory) > self.capacity:
                self._memory.popitem(last=False)
        return {k: v.to(device) for k, v in grams.items()}

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.safetensors"

    def _load(self, key: str) -> dict[str, torch.Tensor] | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError):
            path.unlink(missing_ok=True)  # corrupt: compute it again
            return None

    def _save(self, key: str, grams: dict[str, torch.Tensor]) -> None:
        path = self._path(key)
        if path is None:
            return
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{threading.get_ident()}.partial")
        save_file({k: v.contiguous() for k, v in grams.items()}, str(partial))
        partial.replace(path)


@dataclass
class ScalePlan:
    size: tuple[int, int]  # (width, height)
    steps: int


def plan_scales(size: tuple[int, int], options: GatysOptions) -> list[ScalePlan]:
    """The coarse-to-fine schedule for a final (width, height): skipped scales' steps move on."""
    width, height = size
    plans: list[ScalePlan] = []
    carried = 0
    for i, (scale, share) in enumerate(zip(options.scales, options.step_shares, strict=True)):
        steps = round(options.steps * share) + carried
        last = i == len(options.scales) - 1
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        if min(w, h) < min(options.min_side, min(size)) and not last:
            carried = steps
            continue
        carried = 0
        plans.append(ScalePlan((w, h) if not last else size, steps))
    # Rounding may leave the total off by one or two: fix it on the first scale.
    plans[0].steps += options.steps - sum(p.steps for p in plans)
    return plans


class _Stop(Exception):
    def __init__(self, reason: Literal["done", "cancelled", "budget"]) -> None:
        super().__init__(reason)
        self.reason = reason


class _Diverged(Exception):
    """The loss became inf or NaN."""


class _Best:
    """The lowest-loss image seen so far in one scale (a step may make things worse)."""

    def __init__(self, start: torch.Tensor) -> None:
        self.loss = math.inf
        self.image = start.detach().clone()

    def offer(self, loss: float, image: torch.Tensor) -> None:
        if loss < self.loss:  # NaN never wins
            self.loss = loss
            self.image = image.detach().clone()


@dataclass
class GatysResult:
    image: Image.Image
    stopped: Literal["done", "cancelled", "budget"]
    history: list[StyleProgress] = field(default_factory=list)


class Gatys:
    """Runs the optimisation for one content/style pair on a loaded VGG."""

    def __init__(
        self,
        vgg: Callable[[str, bool], VGG19Features],
        grams: GramCache,
        device: torch.device,
    ) -> None:
        self.vgg = vgg  # (pool, channels_last) -> the loaded network on ``device``
        self.grams = grams
        self.device = device

    @staticmethod
    def _optimizer(x: torch.Tensor, options: GatysOptions, steps: int) -> torch.optim.Optimizer:
        if options.optimizer == "adam":
            return torch.optim.Adam([x], lr=options.lr)
        return torch.optim.LBFGS(
            [x],
            max_iter=max(1, steps),
            max_eval=max(1, steps),
            history_size=50,
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )

    def run(
        self,
        content: Image.Image,
        style: Image.Image,
        *,
        size: tuple[int, int],
        options: GatysOptions,
        strength: float = 1.0,
        seed: int | None = None,
        progress: Callable[[StyleProgress], None] | None = None,
        cancel: Cancel = None,
        budget: float | None = None,
        started: float | None = None,
    ) -> GatysResult:
        started = time.perf_counter() if started is None else started
        bf16 = use_bf16(self.device, options.precision)
        channels_last = options.channels_last and self.device.type == "cpu"
        vgg = self.vgg(options.pool, channels_last)
        style_digest = image_digest(style)
        plans = plan_scales(size, options)
        total_steps = sum(p.steps for p in plans)
        generator = torch.Generator().manual_seed(seed if seed is not None else 0)
        style_weight = options.style_weight * strength
        history: list[StyleProgress] = []
        image: torch.Tensor | None = None
        stopped: Literal["done", "cancelled", "budget"] = "done"
        done = 0

        def forward(x: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, torch.bfloat16, enabled=bf16):
                return vgg(x, layers)

        recoloured = match_palette(content, style) if options.match_palette else content
        for index, plan in enumerate(plans, start=1):
            width, height = plan.size
            content_t = to_tensor(content.resize(plan.size, Image.Resampling.LANCZOS), self.device)
            style_small = fit_area(style, width * height * options.style_scale**2)
            targets = self.grams.get(vgg, style_small, style_digest, STYLE_LAYERS, options.pool)
            with torch.no_grad():
                photo = forward(content_t, (*STYLE_LAYERS, CONTENT_LAYER))
            content_target = photo[CONTENT_LAYER]
            content_loss = ContentLoss(content_target, options.content_weight)
            style_loss = StyleLoss(targets, options.style_weights, style_weight)
            if options.relative_weights:
                # α per unit of the photo's feature energy; each style layer per unit of the
                # photo's own distance to the painting there. So β means the same for every
                # painting, photo and scale, and the layer weights say what they mean.
                content_loss.weight /= float(content_target.float().pow(2).mean()) + 1e-12
                total = sum(options.layer_weights)
                with torch.no_grad():
                    style_loss.layer_weights = {
                        name: weight
                        / total
                        / max(
                            float(F.mse_loss(gram_matrix(photo[name]), targets[name])),
                            1e-6 * float(targets[name].pow(2).mean()) + 1e-12,
                        )
                        for name, weight in options.style_weights.items()
                    }
            tv_loss = TVLoss(options.tv_weight)

            if image is None:
                if options.init == "content":
                    start = to_tensor(recoloured.resize(plan.size, Image.Resampling.LANCZOS))
                    start = start.to(self.device)
                else:
                    start = torch.rand(content_t.shape, generator=generator).to(self.device)
            else:
                start = F.interpolate(image, size=(height, width), mode="bicubic")
                if options.restore_detail:
                    # Upsampling blurs: add back the photo's detail finer than the last scale.
                    coarse = F.interpolate(
                        content_t, size=image.shape[-2:], mode="bicubic", antialias=True
                    )
                    start = (
                        start
                        + content_t
                        - F.interpolate(coarse, size=(height, width), mode="bicubic")
                    )
                start = start.clamp(0, 1)
            x = start.detach().clone().requires_grad_(True)
            best = _Best(x)
            evals, restarts = 0, 0
            reference = 0.0  # the scale's first loss: losses are optimised relative to it
            layers = (*STYLE_LAYERS, CONTENT_LAYER)

            def closure() -> torch.Tensor:
                nonlocal evals, done, reference
                if evals >= plan.steps:  # noqa: B023
                    raise _Stop("done")
                if is_cancelled(cancel):
                    raise _Stop("cancelled")
                if budget is not None and time.perf_counter() - started >= budget:
                    raise _Stop("budget")
                x.grad = None  # noqa: B023
                features = forward(x, layers)  # noqa: B023
                c_loss = content_loss(features[CONTENT_LAYER])  # noqa: B023
                s_loss = style_loss(features)  # noqa: B023
                t_loss = tv_loss(x)  # noqa: B023
                loss = c_loss + s_loss + t_loss
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise _Diverged
                reference = reference or max(value, 1e-12)
                # O(1) losses keep L-BFGS's first steps (identity Hessian) sane.
                relative = loss / reference
                relative.backward()
                evals += 1
                done += 1
                best.offer(value, x)  # noqa: B023
                update = StyleProgress(
                    scale=index,  # noqa: B023
                    scales=len(plans),
                    iteration=done,
                    iterations=total_steps,
                    content_loss=float(c_loss.detach()),
                    style_loss=float(s_loss.detach()),
                    tv_loss=float(t_loss.detach()),
                    total_loss=value,
                    elapsed=time.perf_counter() - started,
                )
                if options.preview_every and done % options.preview_every == 0:
                    update.preview = to_image(x)  # noqa: B023
                history.append(update)
                if progress is not None:
                    progress(update)
                return relative.detach()

            while True:
                opt = self._optimizer(x, options, plan.steps - evals)
                try:
                    if options.optimizer == "lbfgs":
                        opt.step(closure)
                    else:
                        while True:
                            opt.step(closure)
                            with torch.no_grad():
                                x.clamp_(0, 1)
                except _Stop as stop:
                    stopped = stop.reason
                    break
                except _Diverged:  # a wild step: go on from the best image, fresh history
                    restarts += 1
                    if restarts > 3:
                        break
                    with torch.no_grad():
                        x.copy_(best.image)
                    continue
                if evals >= plan.steps or options.optimizer != "lbfgs":
                    break
                # L-BFGS gave up early (converged or no progress): restart its history.
                restarts += 1
                if restarts > 3:
                    break
            image = best.image
            if stopped != "done":
                break
            stopped = "done"

        assert image is not None
        if tuple(image.shape[-2:]) != (size[1], size[0]):
            image = F.interpolate(image, size=(size[1], size[0]), mode="bicubic")
        return GatysResult(to_image(image), stopped, history)


def baseline_options() -> GatysOptions:
    """The plain Gatys baseline: single scale, fp32, from noise, 300 L-BFGS steps, and the
    classic weights of the Caffe-VGG19 implementation (α = 5, β = 100, no TV)."""
    return replace(
        GatysOptions(),
        content_weight=5.0,
        style_weight=100.0,
        relative_weights=False,
        scales=(1.0,),
        step_shares=(1.0,),
        steps=300,
        init="noise",
        restore_detail=False,
        match_palette=False,
        precision="fp32",
        channels_last=False,
    )


@dataclass(frozen=True)
class Distances:
    style: float  # relative Gram distance to the painting (lower: more stylised)
    content: float  # relative conv4_2 distance to the photo (lower: more recognisable)


def distances(
    vgg: VGG19Features,
    image: Image.Image,
    content: Image.Image,
    style: Image.Image,
    *,
    style_scale: float = 1.0,
) -> Distances:
    """How far ``image`` is from the painting's style and the photo's content, in fp32.

    Measured at ``image``'s size, with the photo resized to it and the painting resized to the
    same area, the way the HQ mode sees them. The style distance weighs the layers as the style
    loss does by default (1.0, 0.8, 0.5, 0.3, 0.1 from conv1_1 to conv5_1).
    """
    from render.losses import content_distance, style_distance

    device = next(vgg.parameters()).device
    layers = (*STYLE_LAYERS, CONTENT_LAYER)
    style_small = fit_area(style, image.width * image.height * style_scale**2)
    with torch.no_grad():
        out = vgg(to_tensor(image, device), layers)
        photo = vgg(to_tensor(content.resize(image.size, Image.Resampling.LANCZOS), device), layers)
        painting = vgg(to_tensor(style_small, device), STYLE_LAYERS)
    grams = {n: gram_matrix(out[n]) for n in STYLE_LAYERS}
    targets = {n: gram_matrix(painting[n]) for n in STYLE_LAYERS}
    return Distances(
        style=style_distance(grams, targets, GatysOptions().style_weights),
        content=content_distance(out[CONTENT_LAYER], photo[CONTENT_LAYER]),
    )
