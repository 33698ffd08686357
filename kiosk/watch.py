"""``GET /api/jobs/{job_id}/ws``: the job's JSON pushed to the booth each time it changes.

One poller per watched job reads the database and fans each new state out to every socket of
that job: the first socket of a job starts its poller, the last one leaving stops it. A
hundred screens on one job cost the database what one does (each socket used to poll on its
own: 100 sockets took ``/healthz`` from 9 ms to 930 ms).

On SQLite the poller looks every 50 ms until the fast picture exists (what the guest is
waiting for), then every 100 ms. On PostgreSQL, shared by many servers and workers, it reads
only when woken by a notification of a change to the job's capture (``kiosk.queue.notify``:
the server's ``AsyncListener``), and every ``WS_NOTIFIED_POLL_S`` anyway; while that listener
is disconnected it polls as on SQLite. All pollers together stay within
``READ_BUDGET_PER_S`` reads a second by slowing down when many jobs are watched at once, so
the database load has a ceiling whatever the number of sockets.

Sockets are capped per job and in all, before the upgrade (nginx's ``limit_conn``: refuse a
connection the server will not serve well, early, with a status the client can act on): 429
beyond ``max_job_sockets`` on one job, 503 beyond ``max_sockets`` in all, each a JSON error
with Retry-After. The booth page then follows the job by polling ``GET /api/jobs/{id}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from kiosk.dbio import run_db
from kiosk.errors import ApiError, not_found
from kiosk.job_view import describe, painter_alive
from kiosk.keys import LINKS, SETTINGS, SOCKETS, WATCHERS
from kiosk.queue import notify
from kiosk.queue.jobs import FINISHED

log = logging.getLogger("stylebooth.server")

routes = web.RouteTableDef()

WS_POLL_S = 0.1  # between reads once the fast picture is there
WS_FAST_POLL_S = 0.05  # between reads until then: the first picture is what the guest awaits
WS_NOTIFIED_POLL_S = 1.5  # PostgreSQL: between reads without a notification (a safety net)
READ_BUDGET_PER_S = 40.0  # all pollers together read the database at most this often
BUSY_BACKOFF_S = 0.5  # a locked database is read again after this long (growing to 5 s)
RETRY_AFTER_S = 5
FINISHED_VALUES = {status.value for status in FINISHED}
GONE_CODE = 4404  # application close code (4000-4999): the job was deleted while watched

State = dict[str, Any]
Reader = Callable[[str], Awaitable[State | None]]


class JobWatch:
    """What the sockets of one job share: the newest state, numbered, and a wake-up."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.sockets = 0  # open sockets, and those being opened
        self.first: asyncio.Future[State | None] = asyncio.get_running_loop().create_future()
        self.first.add_done_callback(_retrieve)
        self.state: State | None = None
        self.version = 0  # bumped for each new state
        self.close_code: int | None = None  # set when no state will come any more
        self.task: asyncio.Task[None] | None = None
        self.capture_id: str | None = None  # known from the first state: what notices name
        self.poked = asyncio.Event()  # a notice named the job's capture: read it again
        self._wake = asyncio.Event()

    @property
    def ended(self) -> bool:
        return self.close_code is not None

    def publish(self, state: State) -> None:
        if state != self.state:
            self.state, self.version = state, self.version + 1
            self._notify()

    def end(self, close_code: int) -> None:
        if self.close_code is None:
            self.close_code = close_code
            self._notify()

    async def changed(self, seen: int) -> None:
        """Return once there is a state newer than version ``seen``, or the watch ended."""
        while self.version == seen and not self.ended:
            await self._wake.wait()

    def _notify(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """The first read's outcome is for whoever joins; none may be left to look at it."""
    if not future.cancelled():
        future.exception()


class Watchers:
    """The registry of watched jobs: one poller each, and the socket caps."""

    def __init__(self, read: Reader, *, per_job: int, total: int) -> None:
        self._read = read
        self.per_job, self.max_total = per_job, total
        self.total = 0  # sockets open or being opened, over every job
        self.reads = 0  # database reads made by the pollers (for tests and benchmarks)
        self.listener: notify.AsyncListener | None = None  # PostgreSQL: the wake-ups
        self._watches: dict[str, JobWatch] = {}

    def __len__(self) -> int:
        return len(self._watches)

    def join(self, job_id: str) -> JobWatch:
        """Count a new socket in (starting the job's poller if it is the first), or refuse it
        with a JSON 429/503 while there is still no socket to upgrade."""
        watch = self._watches.get(job_id)
        if watch is not None and watch.ended:  # its last sockets are closing; the job may
            watch = None  # have been retried meanwhile: this socket starts a fresh watch
        if watch is not None and watch.sockets >= self.per_job:
            raise ApiError(
                429,
                "too_many_requests",
                f"this job already has {self.per_job} screens following it live; "
                f"poll GET /api/jobs/{job_id} instead",
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        if self.total >= self.max_total:
            raise ApiError(
                503,
                "unavailable",
                f"the booth already has {self.max_total} live job screens open, its most; "
                f"poll GET /api/jobs/{job_id} instead",
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        if watch is None:
            watch = self._watches[job_id] = JobWatch(job_id)
            watch.task = asyncio.create_task(self._poll(watch), name=f"watch {job_id[:8]}")
        watch.sockets += 1
        self.total += 1
        return watch

    def leave(self, watch: JobWatch) -> None:
        """Count a socket out; the last one of a job stops its poller."""
        watch.sockets -= 1
        self.total -= 1
        if watch.sockets == 0:
            if self._watches.get(watch.job_id) is watch:
                del self._watches[watch.job_id]
            if watch.task is not None and not watch.task.done():
                watch.task.cancel()

    def interval(self, state: State) -> float:
        pace = WS_POLL_S if state["fast_url"] else WS_FAST_POLL_S
        return max(pace, len(self._watches) / READ_BUDGET_PER_S)

    @property
    def notified(self) -> bool:
        """Whether the pollers may wait for notifications (PostgreSQL, listener connected)."""
        return self.listener is not None and self.listener.connected

    def wake(self, notice: notify.Notice) -> None:
        """A job of ``notice.capture_id`` changed: its watches read it again now."""
        for watch in self._watches.values():
            if watch.capture_id == notice.capture_id:
                watch.poked.set()

    def wake_all(self) -> None:
        """The listener (re)connected or dropped: every watch reads once (what was missed),
        then waits or polls as ``notified`` now says."""
        for watch in self._watches.values():
            watch.poked.set()

    async def _pause(self, watch: JobWatch, state: State) -> None:
        """Between two reads of a job: until a notice (at most ``WS_NOTIFIED_POLL_S``) when
        notified, else the poll interval; within the read budget either way."""
        if not self.notified:
            await asyncio.sleep(self.interval(state))
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.poked.wait(), WS_NOTIFIED_POLL_S)
        await asyncio.sleep(len(self._watches) / READ_BUDGET_PER_S)

    async def _poll(self, watch: JobWatch) -> None:
        failures = 0
        try:
            while True:
                self.reads += 1
                watch.poked.clear()  # a notice during the read makes another read
                try:
                    state = await self._read(watch.job_id)
                except ApiError as exc:
                    # The first read answers the sockets waiting to open (a 503 for them);
                    # later, a locked database is a moment's wait, not the end of the watch.
                    if not watch.first.done() or exc.status != 503:
                        raise
                    failures += 1
                    await asyncio.sleep(min(BUSY_BACKOFF_S * failures, 5.0))
                    continue
                failures = 0
                if not watch.first.done():
                    watch.first.set_result(state)
                if state is None:  # purged while watched
                    watch.end(GONE_CODE)
                    return
                watch.capture_id = state.get("capture_id")
                watch.publish(state)
                if state["status"] in FINISHED_VALUES:
                    watch.end(WSCloseCode.OK)
                    return
                await self._pause(watch, state)
        except asyncio.CancelledError:
            watch.first.cancel()
            raise
        except Exception as exc:
            if watch.first.done():
                log.exception("following job %s… failed", watch.job_id[:8])
            else:
                watch.first.set_exception(exc)
            watch.end(WSCloseCode.INTERNAL_ERROR)
            if self._watches.get(watch.job_id) is watch:  # the next socket starts afresh
                del self._watches[watch.job_id]

    async def close(self) -> None:
        tasks = [w.task for w in self._watches.values() if w.task is not None]
        self._watches.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def watchers(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx`` of the app (after ``kiosk.dbio.io_pool``): the registry of pollers."""
    settings = app[SETTINGS]
    links = app[LINKS]

    async def read(job_id: str) -> State | None:
        # The same view as GET /api/jobs/{id}, "no painter is running" included (whether a
        # worker is alive is read at most once a second for all the pollers).
        return await run_db(app, describe, job_id, links, await painter_alive(app))

    registry = Watchers(read, per_job=settings.max_job_sockets, total=settings.max_sockets)
    if notify.listening(settings.db_url):
        registry.listener = notify.AsyncListener(
            settings.db_url, registry.wake, registry.wake_all
        ).start()
    app[WATCHERS] = registry
    try:
        yield
    finally:
        if registry.listener is not None:
            await registry.listener.close()
        await registry.close()


@routes.get("/api/jobs/{job_id}/ws", name="job_ws")
async def job_ws(request: web.Request) -> web.WebSocketResponse:
    """Push the job's JSON each time it changes; close after the job finishes (code 1000) or
    is deleted (4404). Unknown job: a JSON 404 before the upgrade; over a cap: 429/503."""
    job_id = request.match_info["job_id"]
    registry = request.config_dict[WATCHERS]
    watch = registry.join(job_id)
    try:
        # Shielded: a client leaving before the upgrade must not cancel the shared read.
        if await asyncio.shield(watch.first) is None:
            raise not_found(f"job {job_id!r}")
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        await follow(request, ws, watch)
        return ws
    finally:
        registry.leave(watch)


async def follow(
    request: web.Request,
    ws: web.WebSocketResponse,
    watch: JobWatch,
    view: Callable[[State], Any] | None = None,
) -> None:
    """Send each new state of ``watch`` on ``ws`` until the job is over or the client left;
    ``view``: what is sent of a state (the phone's socket, ``kiosk.download``, sends less
    than the booth's)."""
    sockets = request.config_dict[SOCKETS]  # closed by the app on shutdown
    sockets.add(ws)

    async def drain() -> None:  # read (and ignore) what the client sends, to see it leave
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break

    reader = asyncio.create_task(drain())
    try:
        sent = 0
        while not ws.closed:
            if watch.version != sent and watch.state is not None:
                # A slow socket skips to the newest state; none is ever sent out of order.
                sent = watch.version
                await ws.send_json(watch.state if view is None else view(watch.state))
            if watch.ended:
                break
            waiter = asyncio.create_task(watch.changed(sent))
            await asyncio.wait([reader, waiter], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if reader.done():
                break
    except ConnectionResetError:  # the client went away mid-send
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        sockets.discard(ws)
        if watch.close_code == GONE_CODE:
            await ws.close(code=GONE_CODE, message=b"the job was deleted")
        elif watch.close_code == WSCloseCode.INTERNAL_ERROR:
            await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"poll the job instead")
        else:
            await ws.close()
