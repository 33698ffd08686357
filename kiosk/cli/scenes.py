"""Subcommands: cutout, compose, scenes. Their defaults are the library's
(``render.options.CutoutOptions``, ``ComposeOptions``). A bad photo, scene, option or model is
a ``StyleBoothError``, which ``stylebooth`` prints as one line."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from kiosk.cli import CommandError
from kiosk.config import Settings
from render.options import DEFAULT_COMPOSE, DEFAULT_CUTOUT, ComposeOptions, CutoutOptions

ALPHA_FORMATS = {".png", ".webp", ".tif", ".tiff"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cutout = sub.add_parser("cutout", help="cut the people out of a photo (RGBA PNG)")
    cutout.add_argument("photo", type=Path, help="the photo")
    cutout.add_argument("-o", "--output", type=Path, required=True, help="OUT.png (or .webp)")
    cutout.add_argument(
        "--u2netp", action="store_true", help="also run u2netp: keeps held props, ~3× slower"
    )
    cutout.add_argument(
        "--feather",
        type=float,
        default=DEFAULT_CUTOUT.feather,
        help=f"soften the rim (pixels, default {DEFAULT_CUTOUT.feather:g})",
    )
    cutout.set_defaults(handler=cutout_command)

    compose = sub.add_parser("compose", help="put the people of a photo onto a scene")
    compose.add_argument("photo", type=Path, help="the photo")
    compose.add_argument("--scene", required=True, help="scene name (`stylebooth scenes`)")
    compose.add_argument("-o", "--output", type=Path, required=True, help="OUT.jpg / OUT.png")
    compose.add_argument("--size", type=int, help="long side in pixels (default: the photo's)")
    compose.add_argument(
        "--scale",
        type=float,
        default=DEFAULT_COMPOSE.scale,
        help=f"people's size (1 = natural, default {DEFAULT_COMPOSE.scale:g})",
    )
    compose.add_argument(
        "--harmonize",
        type=float,
        default=DEFAULT_COMPOSE.harmonize,
        help=f"colour match to the scene, 0..1 (default {DEFAULT_COMPOSE.harmonize:g})",
    )
    compose.add_argument(
        "--shadow", type=float, help="soft shadow opacity 0..1 (default: the scene's)"
    )
    compose.add_argument("--u2netp", action="store_true", help="also run u2netp (props)")
    compose.set_defaults(handler=compose_command)

    scenes = sub.add_parser("scenes", help="list the scenes")
    scenes.set_defaults(handler=scenes_command)


def _check_output(path: Path) -> None:
    """Refuse an output we cannot write before doing any work."""
    if path.suffix.lower() not in Image.registered_extensions():
        raise CommandError(f"{path}: unknown image type {path.suffix or '(no extension)'!r}")
    if not path.parent.is_dir():
        raise CommandError(f"{path}: the folder {path.parent} does not exist")


def _save(image: Image.Image, path: Path) -> None:
    if path.suffix.lower() in {".jpg", ".jpeg"} and image.mode != "RGB":
        image = image.convert("RGB")
    try:
        image.save(path, quality=92) if image.mode == "RGB" else image.save(path)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot write {path}: {exc}") from exc


def _size(image: Image.Image) -> str:
    return f"{image.width}×{image.height}"


def cutout_command(args: argparse.Namespace, settings: Settings) -> int:
    from render.cutout import cut_out

    if args.output.suffix.lower() not in ALPHA_FORMATS:
        raise CommandError(
            f"{args.output}: a cut-out needs transparency; use .png or .webp, not "
            f"{args.output.suffix or 'no extension'}"
        )
    _check_output(args.output)
    options = CutoutOptions(use_u2netp=args.u2netp, feather=args.feather)
    cutout = cut_out(args.photo, model_dir=settings.models, options=options)
    _save(cutout.rgba(), args.output)
    if cutout.person_found:
        print(f"wrote {args.output} ({_size(cutout.image)}, RGBA)")
    else:
        print(f"wrote {args.output}: nobody found in the photo, kept the whole picture")
    return 0


def compose_command(args: argparse.Namespace, settings: Settings) -> int:
    from render.images import load_image
    from render.pipeline import prepare

    _check_output(args.output)
    compose = ComposeOptions(args.scale, args.harmonize, args.shadow)
    photo = load_image(args.photo)
    prepared = prepare(
        photo,
        args.scene,
        args.size or max(photo.size),
        model_dir=settings.models,
        cutout=CutoutOptions(use_u2netp=args.u2netp),
        compose=compose,
    )
    _save(prepared.composite, args.output)
    if args.scene == "own":
        where = ", own background)"
    elif prepared.person_found:
        where = f", on {args.scene})"
    else:
        where = "): nobody found in the photo, kept its own background"
    print(f"wrote {args.output} ({_size(prepared.composite)}{where}")
    return 0


def scenes_command(args: argparse.Namespace, settings: Settings) -> int:
    from render.scenes import list_scenes

    for scene in list_scenes():
        credit = f"  ({scene.credit})" if scene.credit else ""
        print(f"{scene.name:28} {scene.kind:9} {scene.title}{credit}")
    return 0
