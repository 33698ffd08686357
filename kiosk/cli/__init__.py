"""``stylebooth``: one command line for the booth, its models, database, renders and exports.

Each area registers its own subcommands (``register(subparsers)``); heavy imports (torch,
onnxruntime) happen inside the handlers so ``stylebooth --help`` stays instant. A
``StyleBoothError`` from any command (a bad file, an unknown scene, a setting at fault) is
printed as one line, exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from kiosk import __version__
from kiosk.config import Settings, load_settings
from render.errors import StyleBoothError

Handler = Callable[[argparse.Namespace, Settings], int]

# Modules that add subcommands, in the order --help lists them.
COMMAND_MODULES = (
    "kiosk.cli.booth",
    "kiosk.cli.doctor",
    "kiosk.cli.stylize",
    "kiosk.cli.scenes",
    "kiosk.cli.export",
)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers too chatty at INFO: alembic narrates every start-up migration check; aiohttp's
# access log would write every URL, and the booth's URLs carry bearer keys (job ids, download
# tokens). Both speak again at DEBUG.
QUIET_LOGGERS = ("alembic", "aiohttp.access")


def configure_logging(level: str = "INFO") -> None:
    """Send log records to stderr, one concise line each, once per process.

    ``stylebooth`` calls it at start and so does a spawned render worker (a fresh interpreter
    with no handlers). A process that already has handlers (a test runner, an embedding
    program) keeps its own.
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
        root.setLevel(level)
    if logging.getLevelName(level) != logging.DEBUG:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


class CommandError(StyleBoothError):
    """A wrong command line (a missing argument, a file that is not there): like every
    ``StyleBoothError``, printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylebooth",
        description="StyleBooth photo-booth kiosk: paint the guest, print the merch.",
    )
    parser.add_argument("--version", action="version", version=f"stylebooth {__version__}")
    parser.add_argument("--config", type=Path, help="TOML settings file (or STYLEBOOTH_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="data directory (or STYLEBOOTH_DATA_DIR)")
    parser.add_argument(
        "--model-dir", type=Path, help="model cache (or STYLEBOOTH_MODEL_DIR; DATA_DIR/models)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config, data_dir=args.data_dir, model_dir=args.model_dir)
        configure_logging(settings.log_level)
        handler: Handler = args.handler
        return handler(args, settings)
    except StyleBoothError as exc:  # anything else is a bug: its traceback is the report
        print(f"stylebooth {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
