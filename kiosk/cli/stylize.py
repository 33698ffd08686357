"""Subcommand: stylize. Its HQ flags are the fields of ``render.options.GatysOptions``, with
their types, choices and defaults read from it (and ``--size`` from ``DEFAULT_SIZE``), so
``--help`` shows what a painting gets."""

from __future__ import annotations

import argparse
import math
import sys
import typing
from pathlib import Path
from typing import Literal

from kiosk.cli import CommandError
from kiosk.config import Settings
from render.options import DEFAULT_HQ, DEFAULT_SIZE, GatysOptions
from render.progress import StyleProgress

# The HQ options the command line sets: GatysOptions field -> help.
HQ_FLAGS = {
    "steps": "HQ iterations",
    "init": "HQ starting image",
    "optimizer": "HQ optimiser",
    "content_weight": "α, relative to the photo",
    "style_weight": "β, relative to the painting: more paint above",
    "tv_weight": "total-variation smoothing",
    "style_scale": "painting size relative to the output: bigger brush strokes above 1",
    "pool": "VGG pooling",
    "precision": "VGG precision (auto: bf16 where the hardware has it)",
}


class _ShowDefaults(argparse.HelpFormatter):
    """Each option's help ends with its default, where it has one worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        unsaid = action.default is None or action.default is False
        if unsaid or action.default == argparse.SUPPRESS or action.required:
            return action.help
        return f"{action.help} (default {action.default})"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "stylize",
        help="paint a photo in the style of a painting",
        description="Paint CONTENT in the style of STYLE and save it as OUT. STYLE is an image "
        "file or a preset name (starry_night, the_scream, ...); in fast mode also 0..25, a style "
        "of the built-in 26-style network.",
        formatter_class=_ShowDefaults,
    )
    p.add_argument("content", type=Path, help="the photo")
    p.add_argument("style", help="the painting: image file or preset name")
    p.add_argument("-o", "--output", type=Path, required=True, help="output image (.jpg, .png)")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE, help="long side in pixels")
    p.add_argument("--mode", choices=["hq", "fast"], default="hq", help="HQ or instant")
    p.add_argument("--preserve-color", action="store_true", help="keep the photo's colours")
    p.add_argument("--strength", type=float, default=1.0, help="style strength 0..1")
    p.add_argument("--budget", type=float, help="HQ time limit in seconds: best image so far")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: the settings'")
    p.add_argument("--seed", type=int, help="fix the noise (with --init noise)")
    hints = typing.get_type_hints(GatysOptions)
    for name, text in HQ_FLAGS.items():
        flag, hint, default = f"--{name.replace('_', '-')}", hints[name], getattr(DEFAULT_HQ, name)
        if typing.get_origin(hint) is Literal:
            p.add_argument(flag, choices=typing.get_args(hint), default=default, help=text)
        else:
            p.add_argument(flag, type=hint, default=default, help=text)
    p.add_argument("--scene", help="cut the people out onto this scene first (`stylebooth scenes`)")
    p.set_defaults(handler=stylize_command)


def stylize_command(args: argparse.Namespace, settings: Settings) -> int:
    """A bad photo, painting, option or model is a ``StyleBoothError`` (``ImageError``,
    ``OptionError``, ``ModelUnavailable``…), which ``stylebooth`` prints as one line."""
    from PIL import Image

    from render.stylize import StyleEngine

    out: Path = args.output
    if out.suffix.lower() not in Image.registered_extensions():
        raise CommandError(f"{out}: unknown image type {out.suffix!r}; use .jpg or .png")
    if not out.parent.is_dir():
        raise CommandError(f"{out.parent}: no such directory")
    style: str | int = args.style
    if args.style.isdigit() and not Path(args.style).exists():  # the 26-style network's
        style = int(args.style)
    bar = ProgressBar() if args.mode == "hq" else None
    try:
        hq = GatysOptions.from_mapping({name: getattr(args, name) for name in HQ_FLAGS})
        engine = StyleEngine(settings.models, args.device or settings.device)
        content = args.content
        if args.scene:  # the booth's pipeline: cut the people out onto the scene, then paint
            from render.pipeline import prepare

            prepared = prepare(args.content, args.scene, args.size, model_dir=settings.models)
            content = prepared.composite
        image = engine.stylize(
            content,
            style,
            size=args.size,
            mode=args.mode,
            hq=hq,
            progress=bar,
            budget=args.budget,
            preserve_color=args.preserve_color,
            strength=args.strength,
            seed=args.seed,
        )
    finally:
        if bar is not None:
            bar.close()
    try:
        image.save(out, quality=92)  # JPEG quality; other formats ignore it
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot write {out}: {exc}") from exc
    if bar is not None:
        print(bar.table())
    stopped = image.info.get("stopped", "done")
    note = "" if stopped == "done" else f" (stopped early: {stopped})"
    print(f"wrote {out} ({image.width}×{image.height}){note}")
    return 0


class ProgressBar:
    """Progress on stderr: one redrawn line on a terminal, a line every tenth of the run in a
    log; and the losses every 100 iterations for the table at the end."""

    def __init__(self, width: int = 30, every: int = 100) -> None:
        self.width, self.every = width, every
        self.rows: list[StyleProgress] = []
        self.last: StyleProgress | None = None
        self.redraw = sys.stderr.isatty()

    def __call__(self, p: StyleProgress) -> None:
        tenth = 10 * p.iteration // max(1, p.iterations)
        new_tenth = self.last is None or tenth != 10 * self.last.iteration // max(1, p.iterations)
        self.last = p
        if p.iteration % self.every == 0:
            self.rows.append(p)
        if not (self.redraw or new_tenth):
            return
        filled = round(self.width * p.iteration / max(1, p.iterations))
        start, end = ("\r", " ") if self.redraw else ("", "\n")
        sys.stderr.write(
            f"{start}[{'#' * filled}{'.' * (self.width - filled)}] {p.iteration}/{p.iterations}"
            f" scale {p.scale}/{p.scales}  loss {p.total_loss:.4g}  {p.elapsed:.1f}s{end}"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.last is not None:
            if self.redraw:
                sys.stderr.write("\n")
            if self.last.iteration % self.every:
                self.rows.append(self.last)

    def table(self) -> str:
        head = f"{'iteration':>9} {'scale':>5} {'content':>10} {'style':>10} {'tv':>10} "
        head += f"{'total':>10} {'seconds':>8}"
        lines = [head]
        for p in self.rows:
            values = (p.content_loss, p.style_loss, p.tv_loss, p.total_loss)
            cells = " ".join("       nan" if math.isnan(v) else f"{v:10.4g}" for v in values)
            lines.append(f"{p.iteration:>9} {p.scale:>5} {cells} {p.elapsed:8.1f}")
        return "\n".join(lines)
