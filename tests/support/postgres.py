"""A throwaway PostgreSQL cluster for the tests: Debian's server binaries, a fresh data
directory, a free loopback port, trust authentication, and durability switched off (a test
database that loses its last second on a crash is fine; one that fsyncs every commit makes
the queue tests several times slower).

``postgres_server(tmp_dir)`` starts one and stops it (``-m immediate``: nothing of it is worth
a clean shutdown); ``PgServer.new_database(name)`` hands out a fresh database migrated to the
newest schema, cloned from a template that is migrated once, so a test pays a ``CREATE
DATABASE`` (tens of milliseconds) rather than a full Alembic run.

Installs the ``postgresql`` Debian package when its binaries are missing, as the browser tests
do for Chromium (``make system-deps`` does it up front)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import free_port

# How long a fresh cluster may take to answer (initdb is done by then; this is the server's
# start, normally well under a second).
START_TIMEOUT_S = 30.0
TEMPLATE = "stylebooth_template"


def pg_bin_dir() -> Path:
    """The directory of Debian's PostgreSQL server binaries (the newest version installed),
    installing the ``postgresql`` package first when there is none."""
    found = _installed_bin_dirs()
    if not found:
        _apt_install_postgresql()
        found = _installed_bin_dirs()
    if not found:
        raise RuntimeError(
            "PostgreSQL's server binaries are not installed and `apt-get install postgresql` "
            "did not provide them: run `make system-deps` (or install Debian's `postgresql`)"
        )
    return found[-1]


def _installed_bin_dirs() -> list[Path]:
    dirs = [Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin") if Path(d, "initdb").exists()]
    return sorted(dirs, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)


def _apt_install_postgresql() -> None:
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=False, env=env, timeout=600)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
        check=True,
        env=env,
        timeout=900,
    )


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run ``command`` as the ``postgres`` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@dataclass
class PgServer:
    """A running throwaway cluster on 127.0.0.1:``port`` (superuser ``postgres``, no
    password)."""

    port: int
    data_dir: Path
    socket_dir: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _template_ready: bool = field(default=False, repr=False)
    _count: int = field(default=0, repr=False)

    def url(self, dbname: str = "postgres") -> str:
        """The SQLAlchemy URL of database ``dbname`` on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def execute(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(sql.encode())

    def new_database(self, name: str | None = None, *, migrated: bool = True) -> str:
        """Create a fresh database and return its URL: migrated to the newest schema (a copy
        of a template migrated once) or, with ``migrated=False``, empty. A name is made up
        when none is given; names are lower-cased, as PostgreSQL does."""
        with self._lock:
            self._count += 1
            name = (name or f"test_{self._count}").lower()
            if migrated and not self._template_ready:
                from db.migrate import upgrade

                self.execute(f'CREATE DATABASE "{TEMPLATE}"')
                upgrade(self.url(TEMPLATE))
                self._template_ready = True
            template = f' TEMPLATE "{TEMPLATE}"' if migrated else " TEMPLATE template0"
            self.execute(f'CREATE DATABASE "{name}"{template}')
        return self.url(name)


@contextmanager
def postgres_server(tmp_dir: Path) -> Iterator[PgServer]:
    """Start a throwaway cluster under ``tmp_dir`` on a free loopback port; stop it (and keep
    its log, ``tmp_dir/postgres.log``, for a failing test to read) at the end."""
    bin_dir = pg_bin_dir()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    root = tmp_dir / "pg"
    root.mkdir()
    data_dir, socket_dir, log = root / "data", root / "socket", tmp_dir / "postgres.log"
    socket_dir.mkdir()
    log.touch()
    if os.geteuid() == 0:
        # The cluster belongs to `postgres`, and it must be able to reach it from /.
        for path in (root, socket_dir, log):
            shutil.chown(path, "postgres", "postgres")
        for parent in [tmp_dir, *tmp_dir.parents]:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
    _run(
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        ),
        timeout_s=120,
    )
    port = free_port()
    options = " ".join(
        [
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={socket_dir}",
            f"-p {port}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=200",
        ]
    )
    pg_ctl = str(bin_dir / "pg_ctl")
    _run(
        _as_postgres([pg_ctl, "-D", str(data_dir), "-l", str(log), "-o", options, "-w", "start"]),
        timeout_s=START_TIMEOUT_S + 10,
        log=log,
    )
    try:
        server = PgServer(port=port, data_dir=data_dir, socket_dir=socket_dir)
        _wait_until_answering(server, log)
        yield server
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data_dir), "stop", "-m", "immediate"]),
            check=False,
            capture_output=True,
            timeout=60,
        )


def _run(command: list[str], *, timeout_s: float, log: Path | None = None) -> None:
    """Run a PostgreSQL tool; when it fails, say which, with its output (and the server's
    log), instead of a bare CalledProcessError."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            + (f"\nserver log:\n{tail}" if tail else "")
        )


def _wait_until_answering(server: PgServer, log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with psycopg.connect(
                host="127.0.0.1", port=server.port, user="postgres", connect_timeout=2
            ) as connection:
                connection.execute("SELECT 1")
                return
        except psycopg.OperationalError as error:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the test PostgreSQL on port {server.port} did not answer within "
                    f"{START_TIMEOUT_S:.0f} s ({error}); its log:\n{log.read_text()[-2000:]}"
                ) from error
            time.sleep(0.1)


# --- counting a database's transactions (the idle-worker test and benchmark) ---


def xacts(admin_url: str, dbname: str) -> int:
    """Transactions committed and rolled back in ``dbname`` so far, read from another
    database (so the reading is not counted)."""
    import psycopg

    from kiosk.queue.notify import libpq_url

    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            (dbname,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def autovacuum(admin_url: str, on: bool) -> None:
    """Switch the cluster's autovacuum: its workers' visits are transactions in the
    measured database too, and not the render worker's."""
    import psycopg

    from kiosk.queue.notify import libpq_url

    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET autovacuum = {'on' if on else 'off'}")
        conn.execute("SELECT pg_reload_conf()")
