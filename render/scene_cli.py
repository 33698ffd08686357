"""Subcommands: cutout, compose, scenes."""

from __future__ import annotations

import argparse
from pathlib import Path

from kiosk.config import Settings

ALPHA_FORMATS = {".png", ".webp", ".tif", ".tiff"}


def register(sub: argparse._SubParsersAction) -> None:
    cutout = sub.add_parser("cutout", help="cut the people out of a photo (RGBA PNG)")
    cutout.add_argument("photo", type=Path, help="the photo")
    cutout.add_argument("-o", "--output", type=Path, required=True, help="OUT.png (or .webp)")
    cutout.add_argument(
        "--u2netp", action="store_true", help="also run u2netp: keeps held props, ~3× slower"
    )
    cutout.add_argument("--feather", type=float, default=0.0, help="soften the rim (pixels)")
    cutout.set_defaults(handler=cutout_command)

    compose = sub.add_parser("compose", help="put the people of a photo onto a scene")
    compose.add_argument("photo", type=Path, help="the photo")
    compose.add_argument("--scene", required=True, help="scene name (`stylebooth scenes`)")
    compose.add_argument("-o", "--output", type=Path, required=True, help="OUT.jpg / OUT.png")
    compose.add_argument("--size", type=int, help="long side in pixels (default: the photo's)")
    compose.add_argument("--scale", type=float, default=1.0, help="people's size (1 = natural)")
    compose.add_argument(
        "--harmonize", type=float, default=0.5, help="colour match to the scene, 0..1"
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
    from PIL import Image

    from kiosk.cli import CommandError

    if path.suffix.lower() not in Image.registered_extensions():
        raise CommandError(f"{path}: unknown image type {path.suffix or '(no extension)'!r}")
    if not path.parent.is_dir():
        raise CommandError(f"{path}: the folder {path.parent} does not exist")


def _save(image, path: Path) -> None:  # type: ignore[no-untyped-def]
    from kiosk.cli import CommandError

    if path.suffix.lower() in {".jpg", ".jpeg"} and image.mode != "RGB":
        image = image.convert("RGB")
    try:
        image.save(path, quality=92) if image.mode == "RGB" else image.save(path)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot write {path}: {exc}") from exc


def _user_errors() -> tuple[type[Exception], ...]:
    from render.images import ImageError
    from render.models import ModelUnavailable

    return ImageError, ModelUnavailable, ValueError


def cutout_command(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.cli import CommandError
    from render.cutout import cut_out

    if args.output.suffix.lower() not in ALPHA_FORMATS:
        raise CommandError(
            f"{args.output}: a cut-out needs transparency; use .png or .webp, not "
            f"{args.output.suffix or 'no extension'}"
        )
    _check_output(args.output)
    try:
        cutout = cut_out(
            args.photo, model_dir=settings.models, use_u2netp=args.u2netp, feather=args.feather
        )
    except _user_errors() as exc:
        raise CommandError(str(exc)) from exc
    _save(cutout.rgba(), args.output)
    if cutout.person_found:
        print(f"wrote {args.output} ({cutout.image.width}×{cutout.image.height}, RGBA)")
    else:
        print(f"wrote {args.output}: nobody found in the photo, kept the whole picture")
    return 0


def compose_command(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.cli import CommandError
    from render.images import load_image
    from render.pipeline import RenderRequest, prepare

    _check_output(args.output)
    options = {"scale": args.scale, "harmonize": args.harmonize, "use_u2netp": args.u2netp}
    if args.shadow is not None:
        options["shadow"] = args.shadow
    try:
        photo = load_image(args.photo)
        request = RenderRequest(
            photo=photo,
            style=None,
            scene=args.scene,
            size=args.size or max(photo.size),
            options=options,
        )
        ctx = prepare(request, model_dir=settings.models)
    except _user_errors() as exc:
        raise CommandError(str(exc)) from exc
    assert ctx.composite is not None
    _save(ctx.composite, args.output)
    size = f"{ctx.composite.width}×{ctx.composite.height}"
    if args.scene == "own":
        print(f"wrote {args.output} ({size}, own background)")
    elif ctx.person_found:
        print(f"wrote {args.output} ({size}, on {args.scene})")
    else:
        print(f"wrote {args.output} ({size}): nobody found in the photo, kept its own background")
    return 0


def scenes_command(args: argparse.Namespace, settings: Settings) -> int:
    from render.scenes import list_scenes

    for scene in list_scenes():
        credit = f"  ({scene.credit})" if scene.credit else ""
        print(f"{scene.name:28} {scene.kind:9} {scene.title}{credit}")
    return 0
