"""Several hosts by simulation (issue 13): booth servers and render workers as real
``stylebooth`` processes on this machine, each with a data directory, runtime directory,
settings file and log of its own, sharing nothing but one PostgreSQL database and one S3
prefix (the settings' ``database_url`` and ``storage_url``).

The multi-host test (``tests/scaleout/test_multihost.py``) and the fleet benchmark
(``benchmarks/bench_fleet.py``) both start their fleet here, so what the test proves is what
the benchmark measures. One directory is shared on disk all the same: the models (with the
Gram cache), which a real render host keeps a copy of its own; one copy here saves fetching
them again for every host."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.paths import REPO
from tests.support.processes import free_port

BOOTHS = ("booth-a", "booth-b")
START_TIMEOUT_S = 120.0  # a host's start: imports, models loaded, the first beat
STOP_TIMEOUT_S = 30.0  # SIGTERM, then SIGKILL
POLL_S = 0.3  # wait_async's pace


def toml_value(value: Any) -> str:
    """``value`` as a TOML value: a bool, a whole number, or a quoted string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def settings_text(values: Mapping[str, Any], hq_options: Mapping[str, Any] | None = None) -> str:
    """A ``stylebooth.toml``: the top-level ``values``, then the ``[hq_options]`` table."""
    lines = [f"{key} = {toml_value(value)}" for key, value in values.items()]
    if hq_options:
        lines += ["", "[hq_options]", *(f"{k} = {toml_value(v)}" for k, v in hq_options.items())]
    return "\n".join(lines) + "\n"


class Host:
    """One simulated machine: its own data and runtime directories, its own settings file and
    log, one ``stylebooth`` process."""

    def __init__(
        self,
        root: Path,
        name: str,
        models: Path,
        values: Mapping[str, Any],
        hq_options: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name, self.root = name, root / name
        self.data_dir = self.root / "data"
        self.data_dir.mkdir(parents=True)
        self.runtime_dir = self.root / "run"
        self.log = self.root / "stylebooth.log"
        self.config = self.root / "stylebooth.toml"
        own = {**values, "runtime_dir": str(self.runtime_dir)}
        self.config.write_text(settings_text(own, hq_options))
        self.models = models
        self.env = dict(env or {})
        self.port: int | None = values.get("port")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        # None of this shell's STYLEBOOTH_ variables: the settings file says everything. The
        # AWS variables (the S3 server's, here or in ``env``) are kept: they point S3Store
        # at the test server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("STYLEBOOTH_")}
        env.update(self.env)
        command = [
            *(sys.executable, "-m", "kiosk", "--config", str(self.config)),
            *("--data-dir", str(self.data_dir), "--model-dir", str(self.models), *args),
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        return self.process

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM, and SIGKILL when it has not gone after ``STOP_TIMEOUT_S``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} log ---\n" + "\n".join(text.splitlines()[-lines:])


@dataclass
class Fleet:
    """The running hosts: booth servers by booth id, render workers, the shared settings."""

    servers: dict[str, Host]
    workers: list[Host]
    shared: dict[str, Any]
    hosts: list[Host] = field(init=False)

    def __post_init__(self) -> None:
        self.hosts = [*self.servers.values(), *self.workers]

    def logs(self, lines: int = 30) -> str:
        return "\n".join(host.tail(lines) for host in self.hosts)

    def check_alive(self, what: str) -> None:
        """Raise, with every host's log, when a host's process has exited."""
        dead = [host.name for host in self.hosts if not host.alive()]
        if dead:
            raise RuntimeError(f"{dead} exited while {what}; their logs:\n{self.logs()}")

    def host_of(self, pid: int) -> str | None:
        """The name of the host whose process has ``pid`` (a ``workers`` row's pid)."""
        for host in self.hosts:
            if host.process is not None and host.process.pid == pid:
                return host.name
        return None

    def base_url(self, booth: str) -> str:
        return f"http://127.0.0.1:{self.servers[booth].port}"


@contextmanager
def running_fleet(
    root: Path,
    shared: Mapping[str, Any],
    models: Path,
    *,
    settings: Mapping[str, Any],
    hq_options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    booths: tuple[str, ...] = BOOTHS,
    workers: int = 2,
) -> Iterator[Fleet]:
    """Migrate ``shared["database_url"]``, then start a booth server for each of ``booths``
    (``serve --no-worker``, its ``booth_id``, a free loopback port) and ``workers`` render
    workers (``worker``), every host with ``settings`` and ``shared`` in its settings file;
    every process stopped at the end. ``env``: variables for the hosts (an S3 server's)."""
    from db.migrate import upgrade

    upgrade(str(shared["database_url"]))
    values = {**shared, **settings}
    servers = {
        booth: Host(root, booth, models, {**values, "booth_id": booth, "port": free_port()},
                    hq_options, env)
        for booth in booths
    }  # fmt: skip
    render = [
        Host(root, f"worker-{n}", models, values, hq_options, env) for n in range(1, workers + 1)
    ]
    fleet = Fleet(servers, render, dict(shared))
    try:
        for server in servers.values():
            server.start("serve", "--no-worker", "--host", "127.0.0.1", "--port", str(server.port))
        for worker in render:
            worker.start("worker")
        yield fleet
    finally:
        for host in fleet.hosts:
            host.stop()


async def wait_async(
    check: Callable[[], Awaitable[Any]], timeout: float, what: str, fleet: Fleet
) -> Any:
    """Await ``check()`` until it returns something true; raise, with the hosts' logs, when a
    process dies or time runs out. A connection refused (a server not listening yet) is
    tried again."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        fleet.check_alive(f"waiting for {what}")
        try:
            last = await check()
        except (aiohttp.ClientError, OSError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        await asyncio.sleep(POLL_S)
    raise RuntimeError(
        f"timed out after {timeout:.0f} s waiting for {what}: {last}\n{fleet.logs()}"
    )


async def wait_for_workers(
    fleet: Fleet, clients: Mapping[str, aiohttp.ClientSession], timeout: float = START_TIMEOUT_S
) -> dict[str, dict[str, Any]]:
    """Until every booth's ``/healthz`` lists every render worker of the fleet (ready: its
    models loaded, its lanes beating); each booth's health then."""
    healths: dict[str, dict[str, Any]] = {}
    for booth, client in clients.items():

        async def listed(client: aiohttp.ClientSession = client) -> dict[str, Any] | None:
            async with client.get("/healthz") as response:
                if response.status != 200:
                    return None
                health: dict[str, Any] = await response.json()
            return health if len(health.get("workers", [])) == len(fleet.workers) else None

        what = f"{booth}'s /healthz to list all {len(fleet.workers)} workers"
        healths[booth] = await wait_async(listed, timeout, what, fleet)
    return healths
