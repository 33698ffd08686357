"""Database and file calls from the event loop, on their own bounded thread pool.

Image decoding and other CPU work run on the default pool (``asyncio.to_thread``); database
and file calls run here, so a burst of large photos never holds up the job status a guest is
waiting for, and a locked database never takes every thread in the process.

Two bounds keep a slow database from turning into hung requests:

* every SQLite connection of the server waits at most ``busy_timeout_s`` (5 s) for another
  connection's lock (the render worker keeps the long default), and a call that still finds
  the database locked is answered 503 "the booth is busy, try again" with Retry-After;
* at most ``IO_THREADS`` calls run and ``IO_BACKLOG`` more wait; beyond that a call is refused
  with the same 503 at once instead of queueing without end (nginx's ``limit_conn`` with a
  queue: refuse early and cheaply, rather than accept work that cannot be served in time).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.exc import OperationalError

from kiosk import keys
from kiosk.errors import busy, is_database_busy
from kiosk.queue.manager import in_session

log = logging.getLogger("stylebooth.server")

T = TypeVar("T")

IO_THREADS = 4  # SQLite in WAL mode reads in parallel and writes one at a time: a few suffice
IO_BACKLOG = 64  # calls that may wait for a thread before new ones are refused

Where = web.Request | web.Application


class IoPool:
    """A fixed thread pool for blocking database and file calls, with a bounded backlog."""

    def __init__(self, threads: int = IO_THREADS, backlog: int = IO_BACKLOG) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="stylebooth-io")
        self.threads, self.limit = threads, threads + backlog
        self.in_flight = 0  # calls running or waiting for a thread, as the event loop sees them

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a pool thread; a 503 at once when the backlog is full."""
        if self.in_flight >= self.limit:
            log.warning("database/file pool full (%d calls in flight): answered 503", self.limit)
            raise busy()
        self.in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            # Cancelling the await drops a call still waiting for a thread; one already
            # running finishes on its thread (bounded by the busy timeout).
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        finally:
            self.in_flight -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


async def io_pool(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx`` of the app: the pool lives from startup to cleanup."""
    pool = IoPool()
    app[keys.IO_POOL] = pool
    yield
    await asyncio.to_thread(pool.shutdown)


def _app_keys(where: Where) -> Any:
    return where.config_dict if isinstance(where, web.Request) else where


async def run_io(where: Where, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` (file I/O: reading, writing, listing, deleting) on the I/O pool."""
    return await _app_keys(where)[keys.IO_POOL].run(fn, *args)


async def run_db(where: Where, fn: Callable[..., T], *args: Any) -> T:
    """``fn(session, *args)`` in one transaction on the I/O pool. ``where`` is the request (or,
    for the app's own background tasks, the app). A database locked longer than the server's
    busy timeout is an ``ApiError`` 503 with Retry-After, not a hang or a 500."""
    app_keys = _app_keys(where)
    try:
        return await app_keys[keys.IO_POOL].run(in_session, app_keys[keys.SESSIONS], fn, *args)
    except OperationalError as exc:
        if not is_database_busy(exc):
            raise
        log.warning("the database is locked (%s): answered 503", exc.orig)
        raise busy() from None
