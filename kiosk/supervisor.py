"""``stylebooth serve`` runs the render worker as a child process and keeps it running.

The restart policy is systemd's (``Restart=on-failure`` with ``RestartSec=`` growing by
``RestartSteps=`` up to ``RestartMaxDelaySec=``): a worker that dies at once is started again
after 1 s, then 2, 4, … up to a minute, so a worker that cannot start (its models deleted)
costs the booth one attempt a minute instead of a busy loop; only a worker that has run
healthily for a minute (systemd's ``StartLimitIntervalSec=`` idea) earns the short delay back.
``/healthz`` shows the supervisor's state: restarts, the last exit code, the error the worker
reported (in its row of the ``workers`` table, under the id the supervisor gave it) and when
the next try is. Once a worker has exited, its row is removed, so a worker killed outright
is not counted alive and its running job is requeued at once.

The worker dies with the server: it asks the kernel for SIGTERM when its parent goes
(``PR_SET_PDEATHSIG``) and checks its parent's pid as well (see ``kiosk.queue.worker``), so a
``kill -9`` of the server never leaves a second worker behind for the next server.

This module is imported by the server: it must stay light (no torch, no OpenCV), so the
worker's code is imported only inside the child process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from db.models import new_id
from kiosk.config import Settings
from kiosk.keys import SESSIONS, SETTINGS
from kiosk.queue import manager

log = logging.getLogger("stylebooth.server")

CHECK_S = 1.0
STOP_TIMEOUT_S = 20.0


@dataclass
class RestartPolicy:
    """How long to wait before starting a worker again, given how long the last one ran."""

    first_s: float = 1.0
    cap_s: float = 60.0
    healthy_s: float = 60.0  # a run this long resets the delay to ``first_s``
    factor: float = 2.0
    _next_s: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._next_s = self.first_s

    def delay_after(self, ran_s: float) -> float:
        """The wait before the next start, after a worker exited having run ``ran_s``."""
        if ran_s >= self.healthy_s:
            self._next_s = self.first_s
        delay = self._next_s
        self._next_s = min(self._next_s * self.factor, self.cap_s)
        return delay


def _worker_entry(settings: Settings, parent_pid: int, worker_id: str) -> None:
    """The child process's target (module level: ``spawn`` pickles it by name)."""
    from kiosk.queue.worker import main

    main(settings, parent_pid=parent_pid, worker_id=worker_id)


class Supervisor:
    """Starts the render worker, restarts it with backoff, and remembers why it died."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        policy: RestartPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions  # to read (and remove) an exited worker's row
        self.policy = policy or RestartPolicy()
        self.process: BaseProcess | None = None
        self.worker_id: str | None = None  # the id given to the current worker
        self.started_at = 0.0  # monotonic
        self.restarts = 0
        self.failures = 0  # exits since the worker last ran healthily
        self.last_exit_code: int | None = None
        self.last_error: str | None = None
        self.next_start_at: float | None = None  # monotonic, while waiting to restart
        self.restart_delay_s: float | None = None  # the wait chosen after the last exit

    def start(self) -> BaseProcess:
        # Started from the event loop's thread, which lives as long as the server:
        # PR_SET_PDEATHSIG fires when the creating *thread* exits, not only the process.
        self.worker_id = new_id()
        process = multiprocessing.get_context("spawn").Process(
            target=_worker_entry,
            args=(self.settings, os.getpid(), self.worker_id),
            name="stylebooth-worker",
        )
        process.start()
        self.process, self.started_at, self.next_start_at = process, time.monotonic(), None
        log.info("render worker started (pid %s)", process.pid)
        return process

    async def watch(self) -> None:
        """Restart the worker when it exits (a crash loses nothing: its job is requeued)."""
        while True:
            await asyncio.sleep(CHECK_S)
            process = self.process
            if process is None or process.is_alive():
                if process is not None and time.monotonic() - self.started_at >= (
                    self.policy.healthy_s
                ):
                    self.failures = 0  # healthy for a while: old crashes are history
                continue
            ran_s = time.monotonic() - self.started_at
            self.last_exit_code = process.exitcode
            error = await asyncio.to_thread(self._take_fatal)
            self.last_error = error
            self.failures = 1 if ran_s >= self.policy.healthy_s else self.failures + 1
            delay = self.restart_delay_s = self.policy.delay_after(ran_s)
            self.next_start_at = time.monotonic() + delay
            log.warning(
                "render worker (pid %s) exited with code %s after %.0f s%s; restarting in %.0f s",
                process.pid,
                process.exitcode,
                ran_s,
                f": {error}" if error else "",
                delay,
            )
            await asyncio.sleep(delay)
            self.restarts += 1
            self.start()

    def _take_fatal(self) -> str | None:
        if self.worker_id is None:
            return None
        try:
            return manager.in_session(self.sessions, manager.take_fatal, self.worker_id)
        except Exception as exc:  # the database is away: the exit code still tells
            log.warning("the render worker's error could not be read: %s", exc)
            return None

    async def stop(self) -> None:
        process = self.process
        if process is not None and process.is_alive():
            process.terminate()  # SIGTERM: the worker requeues its unfinished job and exits
            await asyncio.to_thread(process.join, STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join)

    def report(self) -> dict[str, Any]:
        """The supervisor's state for ``/healthz``."""
        process = self.process
        waiting = self.next_start_at
        return {
            "pid": process.pid if process is not None else None,
            "alive": bool(process is not None and process.is_alive()),
            "restarts": self.restarts,
            "failures": self.failures,
            "last_exit_code": self.last_exit_code,
            "last_error": self.last_error,
            "restart_delay_s": self.restart_delay_s,
            "next_start_in_s": (
                round(max(0.0, waiting - time.monotonic()), 1) if waiting is not None else None
            ),
        }

    def problem(self) -> str | None:
        """A sentence for the operator while the worker keeps dying, else None."""
        if not self.failures:
            return None
        why = f"exit code {self.last_exit_code}"
        if self.last_error:
            why += f": {self.last_error}"
        sentence = f"the render worker keeps stopping ({self.failures}× in a row, {why})"
        report = self.report()
        if report["next_start_in_s"] is not None:
            sentence += f"; next try in {report['next_start_in_s']:.0f} s"
        return sentence


SUPERVISOR = web.AppKey("supervisor", Supervisor)


async def worker_process(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: start the worker with the app, stop it (gracefully) with the app.
    ``create_app`` puts the ``Supervisor`` in the app (``/healthz`` reads its state)."""
    supervisor = app.get(SUPERVISOR) or Supervisor(app[SETTINGS], app[SESSIONS])
    supervisor.start()
    watcher = asyncio.create_task(supervisor.watch())
    yield
    watcher.cancel()
    await supervisor.stop()
