"""Subcommand: stylize. Its defaults are the library's (``render.options.GatysOptions``,
``render.stylize.DEFAULT_SIZE``), so ``--help`` shows what a painting gets without the flag."""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import fields
from pathlib import Path

from kiosk.cli import CommandError
from kiosk.config import Settings
from render.options import DEFAULT_HQ, GatysOptions
from render.progress import StyleProgress
from render.stylize import DEFAULT_SIZE

# The HQ options the command line sets, by their GatysOptions field names.
HQ_FLAGS = (
    "steps",
    "init",
    "optimizer",
    "content_weight",
    "style_weight",
    "tv_weight",
    "style_scale",
    "pool",
    "precision",
)
assert set(HQ_FLAGS) <= {f.name for f in fields(GatysOptions)}


def register(sub: argparse._SubParsersAction) -> None:
    defaults = DEFAULT_HQ
    p = sub.add_parser(
        "stylize",
        help="paint a photo in the style of a painting",
        description="Paint CONTENT in the style of STYLE and save it as OUT. STYLE is an image "
        "file or a preset name (starry_night, the_scream, ...); in fast mode also 0..25, a style "
        "of the built-in 26-style network.",
    )
    p.add_argument("content", type=Path, help="the photo")
    p.add_argument("style", help="the painting: image file or preset name")
    p.add_argument("-o", "--output", type=Path, required=True, help="output image (.jpg, .png)")
    p.add_argument(
        "--size",
        type=int,
        default=DEFAULT_SIZE,
        help=f"long side in pixels (default {DEFAULT_SIZE})",
    )
    p.add_argument("--mode", choices=["hq", "fast"], default="hq", help="default hq")
    p.add_argument(
        "--steps",
        type=int,
        default=defaults.steps,
        help=f"HQ iterations (default {defaults.steps})",
    )
    p.add_argument("--preserve-color", action="store_true", help="keep the photo's colours")
    p.add_argument("--strength", type=float, default=1.0, help="style strength 0..1 (default 1)")
    p.add_argument("--budget", type=float, help="HQ time limit in seconds: best image so far")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: settings")
    p.add_argument("--seed", type=int, help="fix the noise (with --init noise)")
    p.add_argument(
        "--init", choices=["content", "noise"], default=defaults.init, help="HQ starting image"
    )
    p.add_argument(
        "--optimizer",
        choices=["lbfgs", "adam"],
        default=defaults.optimizer,
        help=f"default {defaults.optimizer}",
    )
    p.add_argument(
        "--content-weight",
        type=float,
        default=defaults.content_weight,
        help=f"α, relative to the photo (default {defaults.content_weight:g})",
    )
    p.add_argument(
        "--style-weight",
        type=float,
        default=defaults.style_weight,
        help=f"β, relative to the painting: more paint above (default {defaults.style_weight:g})",
    )
    p.add_argument(
        "--tv-weight",
        type=float,
        default=defaults.tv_weight,
        help=f"total-variation smoothing (default {defaults.tv_weight:g})",
    )
    p.add_argument(
        "--style-scale",
        type=float,
        default=defaults.style_scale,
        help="painting size relative to the output: bigger brush strokes above 1",
    )
    p.add_argument("--pool", choices=["max", "avg"], default=defaults.pool, help="VGG pooling")
    p.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp32"],
        default=defaults.precision,
        help="VGG precision (auto: bf16 where the hardware has it)",
    )
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
