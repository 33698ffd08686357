"""One render pipeline for the booth, the worker and the CLI: capture → cut-out → compose →
stylize, as a list of small steps over a shared context.

``prepare`` runs the steps up to the composite (the guest on their scene); ``paint`` turns a
prepared composite into a painting, so the worker can paint the same composite fast first and
in high quality later; ``render`` does both.

``RenderRequest.options`` holds the knobs of every step; each step takes the ones its
function accepts (``cut_out``: ``use_u2netp``, ``feather``…; ``compose_layers``: ``scale``,
``harmonize``, ``shadow``; everything else goes to ``StyleEngine.stylize``: ``strength``,
``preserve_color``, ``seed``, ``budget``…).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from render.cancel import Cancel, is_cancelled
from render.compose import compose_layers
from render.cutout import Cutout, cut_out
from render.images import ImageSource, load_image
from render.scenes import OWN, get_scene, load_scene
from render.styles import STYLES

if TYPE_CHECKING:
    from render.stylize import StyleEngine, StyleProgress


class RenderCancelled(Exception):
    """The render was cancelled between two steps."""


@dataclass
class RenderRequest:
    photo: ImageSource
    # a preset name (render.styles), a painting's path, or 0..25 (the fast 26-style network);
    # None: no painting (prepare only)
    style: str | Path | int | None
    scene: str = OWN  # a scene name (render.scenes); "own" keeps the photo's background
    mode: str = "fast"  # "fast" | "hq"
    size: int = 512  # long side of the composite and the painting, in pixels
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class RenderOutput:
    painting: Image.Image  # RGB
    composite: Image.Image  # RGB: the guest on their scene, before painting
    alpha: Image.Image  # "L": the people in the painting's frame; all 255 when nobody was found
    person_found: bool
    timings: dict[str, float]  # seconds per step


@dataclass
class RenderContext:
    """What the steps share: the request, the tools, and what each step has made so far."""

    request: RenderRequest
    model_dir: Path
    engine: StyleEngine | None = None
    progress: Callable[[StyleProgress], None] | None = None
    cancel: Cancel = None
    photo: Image.Image | None = None
    cutout: Cutout | None = None
    composite: Image.Image | None = None
    alpha: Image.Image | None = None
    painting: Image.Image | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def person_found(self) -> bool:
        return self.cutout is not None and self.cutout.person_found

    def output(self) -> RenderOutput:
        assert self.painting is not None and self.composite is not None
        assert self.alpha is not None
        alpha = self.alpha
        if alpha.size != self.painting.size:
            alpha = alpha.resize(self.painting.size, Image.Resampling.BILINEAR)
        return RenderOutput(
            self.painting, self.composite, alpha, self.person_found, dict(self.timings)
        )


Step = Callable[[RenderContext], None]


def _options_for(function: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    accepted = inspect.signature(function).parameters
    return {key: value for key, value in options.items() if key in accepted}


def frame_size(photo_size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """The photo's aspect ratio with the given long side."""
    width, height = photo_size
    factor = long_side / max(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def style_path(style: str | Path | int | None) -> Path | int:
    """A preset's painting or a painting file given by path (a style number passes as is)."""
    if style is None:
        raise ValueError("no style given: choose a painting to paint in")
    if isinstance(style, int):
        return style
    if isinstance(style, str) and style in STYLES:
        return STYLES[style].path
    path = Path(style)
    if not path.is_file():
        raise ValueError(f"unknown style {str(style)!r}: not a preset ({', '.join(STYLES)})")
    return path


# -- the steps ----------------------------------------------------------------------------


def load_photo(ctx: RenderContext) -> None:
    ctx.photo = load_image(ctx.request.photo)


def cut_out_people(ctx: RenderContext) -> None:
    """The people and their mask; for "own" too, where the mask is all that is used. A photo
    larger than the output is cut out at the size it will be used at (a camera's 1080p for a
    640 px painting: 5× less work)."""
    assert ctx.photo is not None
    options = _options_for(cut_out, ctx.request.options)
    options.pop("model_dir", None)
    scale = float(ctx.request.options.get("scale", 1.0))
    needed = round(ctx.request.size * max(1.0, scale))
    photo = ctx.photo
    if max(photo.size) > needed:
        photo = photo.resize(frame_size(photo.size, needed), Image.Resampling.LANCZOS)
    ctx.cutout = cut_out(photo, model_dir=ctx.model_dir, **options)


def compose_scene(ctx: RenderContext) -> None:
    assert ctx.photo is not None and ctx.cutout is not None
    size = frame_size(ctx.photo.size, ctx.request.size)
    scene = get_scene(ctx.request.scene)
    if scene.kind == "own":
        ctx.composite = ctx.photo.resize(size, Image.Resampling.LANCZOS)
        ctx.alpha = ctx.cutout.alpha.resize(size, Image.Resampling.BILINEAR)
        return
    options = {"shadow": scene.shadow, **_options_for(compose_layers, ctx.request.options)}
    for key in ("cutout", "scene", "size"):
        options.pop(key, None)
    layers = compose_layers(ctx.cutout, load_scene(scene.name, size=size), size=size, **options)
    ctx.composite, ctx.alpha = layers.image, layers.alpha


def stylize_composite(ctx: RenderContext) -> None:
    if ctx.engine is None:
        raise ValueError("painting needs a StyleEngine")
    assert ctx.composite is not None
    request = ctx.request
    taken = {*inspect.signature(cut_out).parameters, *inspect.signature(compose_layers).parameters}
    options = {key: value for key, value in request.options.items() if key not in taken}
    ctx.painting = ctx.engine.stylize(
        ctx.composite,
        style_path(request.style),
        size=request.size,
        mode=request.mode,
        progress=ctx.progress,
        cancel=ctx.cancel,
        **options,
    )


COMPOSE_STEPS: tuple[Step, ...] = (load_photo, cut_out_people, compose_scene)
PAINT_STEPS: tuple[Step, ...] = (stylize_composite,)
STEPS: tuple[Step, ...] = COMPOSE_STEPS + PAINT_STEPS
STEP_NAMES = {
    load_photo: "load",
    cut_out_people: "cutout",
    compose_scene: "compose",
    stylize_composite: "stylize",
}


def run_steps(ctx: RenderContext, steps: Sequence[Step]) -> RenderContext:
    """Run ``steps`` in order, timing each; a cancel is honoured between steps."""
    for step in steps:
        if is_cancelled(ctx.cancel):
            raise RenderCancelled("cancelled")
        started = time.perf_counter()
        step(ctx)
        ctx.timings[STEP_NAMES.get(step, step.__name__)] = time.perf_counter() - started
    return ctx


def prepare(request: RenderRequest, *, model_dir: Path, cancel: Cancel = None) -> RenderContext:
    """The guest on their scene (``ctx.composite``, ``ctx.alpha``), ready to be painted.
    Unknown scenes and styles fail here, before any work."""
    get_scene(request.scene)
    if request.style is not None:
        style_path(request.style)
    ctx = RenderContext(request=request, model_dir=Path(model_dir), cancel=cancel)
    return run_steps(ctx, COMPOSE_STEPS)


def paint(
    prepared: RenderContext,
    *,
    engine: StyleEngine,
    mode: str | None = None,
    size: int | None = None,
    progress: Callable[[StyleProgress], None] | None = None,
    cancel: Cancel = None,
) -> RenderOutput:
    """Paint a prepared composite (again): ``mode``/``size`` override the request's."""
    request = prepared.request
    overrides = {"mode": mode or request.mode, "size": size or request.size}
    ctx = RenderContext(
        request=RenderRequest(**{**request.__dict__, **overrides}),
        model_dir=prepared.model_dir,
        engine=engine,
        progress=progress,
        cancel=cancel,
        photo=prepared.photo,
        cutout=prepared.cutout,
        composite=prepared.composite,
        alpha=prepared.alpha,
        timings=dict(prepared.timings),
    )
    return run_steps(ctx, PAINT_STEPS).output()


def render(
    request: RenderRequest,
    *,
    engine: StyleEngine,
    model_dir: Path,
    progress: Callable[[StyleProgress], None] | None = None,
    cancel: Cancel = None,
) -> RenderOutput:
    """The whole pipeline: photo in, painting (and its composite and people mask) out."""
    prepared = prepare(request, model_dir=model_dir, cancel=cancel)
    return paint(prepared, engine=engine, progress=progress, cancel=cancel)
