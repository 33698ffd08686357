"""Photo → cut-out → compose: the guest on their scene, ready to be painted.

``prepare`` is the one call for the worker and the command line; the painting itself is one
more call, ``StyleEngine.stylize(prepared.composite, style, …)``, so the worker can paint the
same composite fast at once and in high quality later.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from render.cancel import Cancel, is_cancelled
from render.compose import Composite, compose_layers
from render.cutout import Cutout, cut_out
from render.images import ImageSource, fit_size, load_image
from render.options import (
    DEFAULT_COMPOSE,
    DEFAULT_CUTOUT,
    DEFAULT_SIZE,
    ComposeOptions,
    CutoutOptions,
)
from render.scenes import OWN, Scene, get_scene, load_scene


class RenderCancelled(Exception):
    """The render was cancelled between two steps."""


@dataclass(frozen=True)
class Prepared:
    """The guest on their scene, ready to be painted (fast now, in high quality later)."""

    composite: Image.Image  # RGB, long side as asked
    alpha: Image.Image  # "L": the people in the composite's frame; all 255 when nobody was found
    person_found: bool
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step


def prepare(
    photo: ImageSource,
    scene: str = OWN,
    size: int = DEFAULT_SIZE,
    *,
    model_dir: Path,
    cutout: CutoutOptions = DEFAULT_CUTOUT,
    compose: ComposeOptions = DEFAULT_COMPOSE,
    cancel: Cancel = None,
) -> Prepared:
    """The guests of ``photo`` on ``scene`` ("own": their own background), long side ``size``.

    An unknown scene fails before any work; a bad photo is an ``ImageError``; ``cancel`` is
    honoured between the steps (``RenderCancelled``). Each step's seconds are in ``timings``.
    """
    backdrop = get_scene(scene)
    steps = _Steps(cancel)
    with steps.step("load"):
        image = load_image(photo)
    with steps.step("cutout"):
        people = cut_out(
            _for_cutout(image, size, compose.scale), model_dir=model_dir, options=cutout
        )
    with steps.step("compose"):
        composite = _compose(image, people, backdrop, fit_size(image.size, size), compose)
    return Prepared(composite.image, composite.alpha, people.person_found, steps.timings)


def _for_cutout(photo: Image.Image, size: int, scale: float) -> Image.Image:
    """A photo larger than it will be used is cut out at that size (a camera's 1080p for a
    640 px painting: 5× less work)."""
    needed = round(size * max(1.0, scale))
    if max(photo.size) <= needed:
        return photo
    return photo.resize(fit_size(photo.size, needed), Image.Resampling.LANCZOS)


def _compose(
    photo: Image.Image,
    people: Cutout,
    scene: Scene,
    size: tuple[int, int],
    options: ComposeOptions,
) -> Composite:
    """The people on the scene; for "own" the photo itself, with the people's mask."""
    if scene.kind == "own":
        return Composite(
            photo.resize(size, Image.Resampling.LANCZOS),
            people.alpha.resize(size, Image.Resampling.BILINEAR),
        )
    if options.shadow is None:
        options = replace(options, shadow=scene.shadow)
    backdrop = load_scene(scene.name, size=size)
    return compose_layers(people, backdrop, size=size, options=options)


class _Steps:
    """Times each step by name, and honours a cancel before each."""

    def __init__(self, cancel: Cancel) -> None:
        self.cancel = cancel
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if is_cancelled(self.cancel):
            raise RenderCancelled(f"cancelled before {name}")
        started = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - started
