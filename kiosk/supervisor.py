"""``stylebooth serve`` runs the render worker as a child process and keeps it running."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import AsyncIterator
from multiprocessing.process import BaseProcess

from aiohttp import web

from kiosk.keys import SETTINGS, WORKER_PROCESS
from kiosk.worker import main as worker_main

log = logging.getLogger("stylebooth.server")

CHECK_S = 1.0
STOP_TIMEOUT_S = 20.0


def _start(app: web.Application) -> BaseProcess:
    process = multiprocessing.get_context("spawn").Process(
        target=worker_main, args=(app[SETTINGS],), name="stylebooth-worker"
    )
    process.start()
    app[WORKER_PROCESS] = process
    log.info("render worker started (pid %s)", process.pid)
    return process


async def _supervise(app: web.Application) -> None:
    """Restart the worker if it dies (a crash loses nothing: its job is requeued)."""
    backoff = 1.0
    while True:
        await asyncio.sleep(CHECK_S)
        process = app[WORKER_PROCESS]
        if process.is_alive():
            backoff = 1.0
            continue
        log.warning("render worker exited with %s; restarting in %.0f s", process.exitcode, backoff)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 30.0)
        _start(app)


async def worker_process(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: start the worker with the app, stop it (gracefully) with the app."""
    _start(app)
    supervisor = asyncio.create_task(_supervise(app))
    yield
    supervisor.cancel()
    process = app[WORKER_PROCESS]
    if process.is_alive():
        process.terminate()  # SIGTERM: the worker requeues its unfinished job and exits
        await asyncio.to_thread(process.join, STOP_TIMEOUT_S)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join)
