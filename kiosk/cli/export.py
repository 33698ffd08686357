"""``stylebooth export``: print files for a painting, or a preflight of one file.

    stylebooth export RESULT --product tee|sticker|mug [--size S] [--colour C] [--layout L]
                      [--mask MASK.png] -o DIR
    stylebooth export --check FILE

RESULT is an image file or the id of a result in the database (a print master, for a print
shop: the art is never enlarged to fit). The files are made and recorded in the booth's
store (``storage_url``: the data directory by default) like an order's — a result's under
``exports/<capture id>/``, an image file's under ``exports/cli/`` — and copied into DIR.
The people mask comes from ``--mask``, else from ``NAME_mask.png`` beside an image file;
without one, the sticker is cut as a rounded rectangle
and the tee prints the full picture. Files made from art below 150 effective DPI at print
size are written, and their preflight problems printed, with exit status 1.
"""

from __future__ import annotations

import argparse
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


CLI_PREFIX = "exports/cli"  # where exports of image files (no capture) live in the store


def _source(result: str, sessions: Any, store: Any) -> tuple[Path | bytes, str | None, str]:
    """The picture (an image file, or a stored result's bytes), the result id when RESULT
    named one, and the store prefix its files go under."""
    from db.models import Result
    from kiosk.cli import CommandError
    from kiosk.exports import export_prefix
    from kiosk.storage import MissingFile

    path = Path(result)
    if path.is_file():
        return path, None, CLI_PREFIX
    with sessions() as session:
        row = session.get(Result, result)
    if row is None:
        raise CommandError(f"no such image file or result id: {result}")
    try:
        data = store.get(row.path)
    except MissingFile as exc:
        raise CommandError(f"result {result}: {exc}") from exc
    return data, row.id, export_prefix(row.capture_id)


def _mask(args: argparse.Namespace, image: Path | bytes) -> Any:
    """``--mask``, else ``NAME_mask.png`` beside an image file (a stored result: none)."""
    from export.specs import ExportError
    from render.images import ImageError, load_image

    if args.mask is None and isinstance(image, bytes):
        return None
    if args.mask is not None:
        path = args.mask
    else:
        assert isinstance(image, Path)
        path = image.with_name(f"{image.stem}_mask.png")
        if not path.is_file():
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
    from kiosk.storage import open_store
    from render.files import write_atomic

    if args.out.exists() and not args.out.is_dir():
        raise CommandError(f"-o {args.out}: exists and is not a directory")
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    store = open_store(settings.storage_url, settings.data_dir)
    try:
        sessions = make_sessionmaker(engine)
        image, result_id, prefix = _source(args.result, sessions, store)
        result = record_export(
            sessions,
            image,
            args.product,
            options={"size": args.size, "colour": args.colour, "layout": args.layout},
            store=store,
            prefix=prefix,
            alpha=_mask(args, image),
            result_id=result_id,
        )
        out = args.out.resolve()
        for role, key in result.files.items():  # the stored files, copied here
            path = out / Path(key).name
            write_atomic(path, store.get(key))
            print(f"{role:4} {path}")
    finally:
        engine.dispose()
    for note in result.notes:
        print(f"note: {note}")
    if result.reused:
        print(f"(export {result.key[:10]} was made before: the stored files are unchanged)")
    for problem in result.problems:
        print(f"PROBLEM: {problem}")
    return 1 if result.problems else 0
