"""`stylebooth` commands as real processes, for the tests of the server and the render worker
as the booth runs them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from kiosk.config import Settings
from tests.support.paths import REPO


def free_port() -> int:
    """A loopback port nobody listens on now (for a server whose address must be known before
    it starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stylebooth(settings: Settings, log: Path, *args: str) -> subprocess.Popen:
    """Start ``python -m kiosk ARGS`` on ``settings``' data and model directories, with no
    settings file and none of this shell's STYLEBOOTH_ variables (but ``settings``' database
    and storage, so a scale-out test's worker shares its PostgreSQL and S3); output goes to
    ``log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYLEBOOTH_")}
    for key in ("database_url", "storage_url"):
        if getattr(settings, key):
            env[f"STYLEBOOTH_{key.upper()}"] = str(getattr(settings, key))
    command = [
        sys.executable,
        "-m",
        "kiosk",
        "--config",
        os.devnull,
        "--data-dir",
        str(settings.data_dir),
        "--model-dir",
        str(settings.models),
        *args,
    ]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def start_worker(settings: Settings, log: Path) -> subprocess.Popen:
    """A render worker alone (`stylebooth worker`)."""
    return stylebooth(settings, log, "worker")


def serve(settings: Settings, port: int, log: Path, *extra: str) -> subprocess.Popen:
    """The booth server with its supervised render worker (`stylebooth serve`)."""
    return stylebooth(settings, log, "serve", "--port", str(port), *extra)
