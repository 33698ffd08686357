"""High-quality style transfer: Gatys et al. (CVPR 2016) on our VGG19, coarse to fine.

Most iterations run at a fraction of the final size; each scale's result, upsampled (with the
photo's finer detail added back), starts the next. Within a scale the image is optimised with
L-BFGS or Adam on the loss of ``render.objective``; a non-finite loss (a wild L-BFGS step)
starts the scale again from its best image so far, so no preview or result is ever black.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from PIL import Image
from torch.nn import functional as F

from render.cancel import Cancel, is_cancelled
from render.color import match_palette
from render.device import use_bf16
from render.grams import GramCache
from render.images import fit_area, image_digest
from render.objective import Losses, Objective, objective_for
from render.options import STYLE_LAYERS, GatysOptions
from render.progress import Progress, StyleProgress
from render.tensors import Features, resized, to_image, to_tensor
from render.vgg import VGG19Features

Stopped = Literal["done", "cancelled", "budget"]
MAX_RESTARTS = 3  # per scale: after a wild step, or when L-BFGS gives up early


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


@dataclass(frozen=True)
class GatysResult:
    image: Image.Image
    stopped: Stopped


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

    def run(
        self,
        content: Image.Image,
        style: Image.Image,
        *,
        size: tuple[int, int],
        options: GatysOptions,
        strength: float = 1.0,
        seed: int | None = None,
        progress: Progress | None = None,
        cancel: Cancel = None,
        budget: float | None = None,
        started: float | None = None,
    ) -> GatysResult:
        """``content`` painted like ``style`` at ``size``; stops early on ``cancel`` or when
        ``budget`` seconds have passed since ``started``, with the best image so far."""
        plans = plan_scales(size, options)
        run = _Run(
            options=options,
            planned=sum(p.steps for p in plans),
            scales=len(plans),
            started=time.perf_counter() if started is None else started,
            budget=budget,
            cancel=cancel,
            progress=progress,
        )
        features = self._features(options)
        digest = image_digest(style)
        first = _first_image(content, style, options, seed)
        image: torch.Tensor | None = None
        stopped: Stopped = "done"
        for index, plan in enumerate(plans, start=1):
            photo = to_tensor(content.resize(plan.size, Image.Resampling.LANCZOS), self.device)
            targets = self._targets(features.vgg, style, digest, plan.size, options)
            objective = objective_for(features, photo, targets, options, strength)
            if image is None:
                start = first(plan.size).to(self.device)
            else:
                start = _upscaled(image, photo, options)
            image, stopped = _Scale(run, index, plan.steps, objective, start).optimise()
            if stopped != "done":
                break
        assert image is not None
        if tuple(image.shape[-2:]) != (size[1], size[0]):
            image = resized(image, size)
        return GatysResult(to_image(image), stopped)

    def _features(self, options: GatysOptions) -> Features:
        channels_last = options.channels_last and self.device.type == "cpu"
        return Features(
            self.vgg(options.pool, channels_last),
            bf16=use_bf16(self.device, options.precision),
            channels_last=channels_last,
        )

    def _targets(
        self,
        vgg: VGG19Features,
        style: Image.Image,
        digest: str,
        size: tuple[int, int],
        options: GatysOptions,
    ) -> dict[str, torch.Tensor]:
        """The painting's Grams at the area it is seen at for an output of ``size``."""
        area = size[0] * size[1] * options.style_scale**2
        return self.grams.get(vgg, fit_area(style, area), digest, STYLE_LAYERS, options.pool)


def _first_image(
    content: Image.Image, style: Image.Image, options: GatysOptions, seed: int | None
) -> Callable[[tuple[int, int]], torch.Tensor]:
    """Where the first scale starts: the photo (in the painting's palette), or noise."""
    if options.init == "noise":
        generator = torch.Generator().manual_seed(seed if seed is not None else 0)
        return lambda size: torch.rand((1, 3, size[1], size[0]), generator=generator)
    photo = match_palette(content, style) if options.match_palette else content
    return lambda size: to_tensor(photo.resize(size, Image.Resampling.LANCZOS))


def _upscaled(image: torch.Tensor, photo: torch.Tensor, options: GatysOptions) -> torch.Tensor:
    """The last scale's result at ``photo``'s size. Upsampling blurs, so with
    ``restore_detail`` the photo's detail finer than the last scale is added back."""
    height, width = photo.shape[-2:]
    start = F.interpolate(image, size=(height, width), mode="bicubic")
    if options.restore_detail:
        coarse = F.interpolate(photo, size=image.shape[-2:], mode="bicubic", antialias=True)
        start = start + photo - F.interpolate(coarse, size=(height, width), mode="bicubic")
    return start.clamp(0, 1)


class _Stop(Exception):
    def __init__(self, reason: Stopped) -> None:
        super().__init__(reason)
        self.reason = reason


class _Diverged(Exception):
    """The loss became inf or NaN."""


@dataclass
class _Run:
    """What one run's scales share: its limits, its step count, and what it reports."""

    options: GatysOptions
    planned: int  # steps over all scales
    scales: int
    started: float
    budget: float | None
    cancel: Cancel
    progress: Progress | None
    done: int = 0

    def check(self) -> None:
        """Raise ``_Stop`` when the run is cancelled or out of time."""
        if is_cancelled(self.cancel):
            raise _Stop("cancelled")
        if self.budget is not None and time.perf_counter() - self.started >= self.budget:
            raise _Stop("budget")

    def report(self, scale: int, losses: Losses, total: float, x: torch.Tensor) -> None:
        self.done += 1
        update = StyleProgress(
            scale=scale,
            scales=self.scales,
            iteration=self.done,
            iterations=self.planned,
            content_loss=float(losses.content.detach()),
            style_loss=float(losses.style.detach()),
            tv_loss=float(losses.tv.detach()),
            total_loss=total,
            elapsed=time.perf_counter() - self.started,
        )
        every = self.options.preview_every
        if every and self.done % every == 0:
            update.preview = to_image(x)
        if self.progress is not None:
            self.progress(update)


class _Scale:
    """The optimisation of one scale, from ``start``, for ``steps`` loss evaluations."""

    def __init__(
        self, run: _Run, index: int, steps: int, objective: Objective, start: torch.Tensor
    ) -> None:
        self.run, self.index, self.steps, self.objective = run, index, steps, objective
        self.options = run.options
        self.x = start.detach().clone().requires_grad_(True)
        self.best_loss = math.inf
        self.best = self.x.detach().clone()  # the lowest-loss image: a step may make it worse
        self.evals = 0
        self.reference = 0.0  # the scale's first loss: losses are optimised relative to it

    def optimise(self) -> tuple[torch.Tensor, Stopped]:
        """The best image of this scale, and why it stopped."""
        restarts = 0
        while restarts <= MAX_RESTARTS:
            try:
                self._descend()
            except _Stop as stop:
                return self.best, stop.reason
            except _Diverged:  # a wild step: go on from the best image, with fresh history
                restarts += 1
                with torch.no_grad():
                    self.x.copy_(self.best)
                continue
            if self.evals >= self.steps or self.options.optimizer != "lbfgs":
                break
            restarts += 1  # L-BFGS gave up early (converged or no progress): fresh history
        return self.best, "done"

    def _descend(self) -> None:
        """Run the optimiser until the steps run out (``_Stop``) or L-BFGS gives up."""
        if self.options.optimizer == "adam":
            adam = torch.optim.Adam([self.x], lr=self.options.lr)
            while True:
                adam.step(self.closure)
                with torch.no_grad():
                    self.x.clamp_(0, 1)
        left = max(1, self.steps - self.evals)
        lbfgs = torch.optim.LBFGS(
            [self.x],
            max_iter=left,
            max_eval=left,
            history_size=50,
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )
        lbfgs.step(self.closure)

    def closure(self) -> torch.Tensor:
        """One loss evaluation and its gradient (what the optimisers call)."""
        if self.evals >= self.steps:
            raise _Stop("done")
        self.run.check()
        self.x.grad = None
        losses = self.objective(self.x)
        loss = losses.total
        value = float(loss.detach())
        if not math.isfinite(value):
            raise _Diverged
        self.reference = self.reference or max(value, 1e-12)
        relative = loss / self.reference  # O(1) losses keep L-BFGS's first steps sane
        relative.backward()
        self.evals += 1
        if value < self.best_loss:  # NaN never wins
            self.best_loss, self.best = value, self.x.detach().clone()
        self.run.report(self.index, losses, value, self.x)
        return relative.detach()
