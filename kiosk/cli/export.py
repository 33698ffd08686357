"""``stylebooth export``: print files for a painting, or a preflight of one file.

    stylebooth export RESULT --product tee|sticker|mug [--size S] [--colour C] [--layout L]
                      [--mask MASK.png] -o DIR
    stylebooth export --check FILE

RESULT is an image file or the id of a result in the database (a print master, for a print
shop: the art is never enlarged to fit). The people mask comes from ``--mask``, else from
``NAME_mask.png`` beside the image; without one, the sticker is cut as a rounded rectangle
and the tee prints the full picture. Files made from art below 150 effective DPI at print
size are written, and their preflight problems printed, with exit status 1.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from export.specs import (
    MUG_LAYOUTS,
    MUG_SIZES,
    PRODUCTS,
    STICKER_SIZES,
    TEE_COLOURS,
    TEE_LAYOUTS,
    TEE_SIZES,
)
from kiosk.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "export",
        help="write print-ready tee, sticker or mug files, or preflight one (--check)",
        description="Write print-ready files for a painting, or check one print file.",
    )
    parser.add_argument(
        "result", nargs="?", help="image file (a print master), or a result id from the database"
    )
    parser.add_argument("--product", choices=PRODUCTS, help="what to print")
    parser.add_argument(
        "--size",
        help=f"tee: {', '.join(TEE_SIZES)} (default M); "
        f"sticker: {', '.join(map(str, STICKER_SIZES))} (inches, default 3); "
        f"mug: {' or '.join(MUG_SIZES)} (default 11oz)",
    )
    parser.add_argument(
        "--colour", help=f"tee: the shirt, {' or '.join(TEE_COLOURS)} (default white)"
    )
    parser.add_argument(
        "--layout",
        help=f"tee: {' or '.join(TEE_LAYOUTS)} (default full); "
        f"mug: {', '.join(MUG_LAYOUTS)} (default centred)",
    )
    parser.add_argument(
        "--mask", type=Path, help="people mask (white = person); default: NAME_mask.png"
    )
    parser.add_argument("-o", "--out", type=Path, help="directory for the files")
    parser.add_argument("--check", type=Path, metavar="FILE", help="preflight FILE and exit")
    parser.set_defaults(handler=export_command)


def export_command(args: argparse.Namespace, settings: Settings) -> int:
    """A bad request or picture is an ``ExportError`` or ``ImageError``, which ``stylebooth``
    prints as one line like every ``StyleBoothError``."""
    from kiosk.cli import CommandError

    try:
        if args.check is not None:
            if args.result or args.product:
                raise CommandError("--check takes only the file to check")
            return _check(args.check)
        return _export(args, settings)
    except OSError as exc:  # an output directory that cannot be written, a full disk
        where = f": {exc.filename}" if exc.filename else ""
        raise CommandError(f"{exc.strerror or exc}{where}") from exc


def _check(path: Path) -> int:
    from export.preflight import preflight

    report = preflight(path)
    for name, value in report.facts.items():
        shown = " ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else value
        print(f"{name:24} {shown}")
    if report.ok:
        print(f"ok: {path.name} passes the preflight")
        return 0
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    return 1


def _source(result: str, sessions: Any, data_dir: Path) -> tuple[Path, str | None]:
    """The image file, and the result id when RESULT named one."""
    from db.models import Result
    from kiosk.cli import CommandError

    path = Path(result)
    if path.is_file():
        return path, None
    with sessions() as session:
        row = session.get(Result, result)
    if row is None:
        raise CommandError(f"no such image file or result id: {result}")
    return data_dir / row.path, row.id


def _mask(args: argparse.Namespace, image: Path) -> Any:
    from export.specs import ExportError
    from render.images import ImageError, load_image

    path = args.mask if args.mask is not None else image.with_name(f"{image.stem}_mask.png")
    if args.mask is None and not path.is_file():
        return None
    try:
        return load_image(path).convert("L")
    except ImageError as exc:
        raise ExportError(f"the mask {path.name}: {exc}") from exc


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.cli import CommandError

    if not args.result or not args.product or args.out is None:
        raise CommandError("give RESULT, --product and -o DIR (or --check FILE)")
    from db.migrate import upgrade
    from db.session import make_engine, make_sessionmaker
    from kiosk.exports import record_export

    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        sessions = make_sessionmaker(engine)
        image, result_id = _source(args.result, sessions, settings.data_dir)
        result = record_export(
            sessions,
            image,
            args.product,
            options={"size": args.size, "colour": args.colour, "layout": args.layout},
            out_dir=args.out,
            alpha=_mask(args, image),
            result_id=result_id,
        )
    finally:
        engine.dispose()
    out = args.out.resolve()
    for role, path in result.files.items():
        if path.resolve().parent != out:  # made before, elsewhere: copy it here
            out.mkdir(parents=True, exist_ok=True)
            path = Path(shutil.copy2(path, out / path.name))
        print(f"{role:4} {path}")
    for note in result.notes:
        print(f"note: {note}")
    if result.reused:
        print(f"(export {result.key[:10]} was made before: the stored files are unchanged)")
    for problem in result.problems:
        print(f"PROBLEM: {problem}")
    return 1 if result.problems else 0
