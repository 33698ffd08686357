"""Wake-ups instead of polling: PostgreSQL's LISTEN/NOTIFY for job changes.

A fleet of idle workers polling the queue 20 times a second each, and every job socket of
every server polling its job every 50–100 ms, is load on the one shared database that grows
with the fleet. On PostgreSQL the manager instead *announces* each job change with
``pg_notify`` inside the transaction that makes it (PostgreSQL delivers it at commit, and
never for a rolled-back one), and:

* a worker's ``Listener`` (a thread with its own autocommit connection) wakes the lane the
  change concerns at once, so the lanes can wait on an event with a slow fallback poll;
* a server's ``AsyncListener`` (a task on its event loop) wakes the job sockets' pollers of
  the capture at once (``kiosk.watch``).

The payload is ``"<event>:<lane>:<capture_id>"``: ``queued`` when a job of that lane became
claimable (created, released, requeued, retried, or an HQ job whose fast job ended),
``changed`` for anything a watcher shows (claimed, progress, a saved image, the end). The
capture id names the jobs to read again; it is no secret from a database client, who can
read the jobs table anyway.

On SQLite (the single-machine default) ``announce`` does nothing and nothing listens: the
worker and the server keep their short polls there, which cost a local file nothing.

A listener that loses its connection (the database restarted, a network cut) reconnects
with a growing delay, and says so through ``connected``: its users then poll as on SQLite
until it is back, and are woken once when it is (a notification sent meanwhile was lost).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, func, literal, select, type_coerce
from sqlalchemy.orm import Session

from db.models import Lane

log = logging.getLogger("stylebooth.notify")

CHANNEL = "stylebooth_jobs"
QUEUED, CHANGED = "queued", "changed"
RECONNECT_FIRST_S = 0.5  # a lost listening connection is tried again after this long …
RECONNECT_CAP_S = 15.0  # … doubling up to this
LISTEN_TICK_S = 0.5  # how often a listener thread looks up from its wait to see stopping
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Notice:
    """One announcement, parsed: ``queued`` means a job of ``lane`` became claimable."""

    event: str
    lane: Lane
    capture_id: str

    @property
    def claimable(self) -> bool:
        return self.event == QUEUED


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def announce(session: Session, lane: Lane | str, capture_id: str, *, claimable: bool) -> None:
    """Tell the listeners, at the commit of ``session``'s transaction, that a job of the
    capture changed (``claimable``: a job of ``lane`` can be claimed now). No-op on SQLite."""
    if not is_postgres(session):
        return
    payload = f"{QUEUED if claimable else CHANGED}:{Lane(lane).value}:{capture_id}"
    session.execute(select(func.pg_notify(CHANNEL, payload)))


def notify_sql(
    event: str, lane: Lane | ColumnElement[Any], capture_id: ColumnElement[str]
) -> ColumnElement[Any]:
    """``pg_notify`` of ``announce``'s payload as an SQL expression, for a statement that
    announces the rows it changes in the same round trip (the claim, the owner's writes);
    ``lane`` is a lane or the column holding it."""
    if isinstance(lane, Lane):
        payload = literal(f"{event}:{lane.value}:") + capture_id
    else:
        payload = literal(f"{event}:") + type_coerce(lane, String) + ":" + capture_id
    return func.pg_notify(CHANNEL, payload)


def parse(payload: str) -> Notice | None:
    """The announcement in a payload; None (logged) for one this version does not know."""
    event, _, rest = payload.partition(":")
    lane, _, capture_id = rest.partition(":")
    try:
        if event in (QUEUED, CHANGED) and capture_id:
            return Notice(event, Lane(lane), capture_id)
    except ValueError:
        pass
    log.warning("ignored a job announcement this version does not understand: %r", payload)
    return None


def libpq_url(sqlalchemy_url: str) -> str:
    """The URL psycopg takes, from SQLAlchemy's (``postgresql+psycopg://`` → ``postgresql://``)."""
    scheme, sep, rest = sqlalchemy_url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


def listening(url: str) -> bool:
    """Whether this database URL has notifications (PostgreSQL) rather than polls (SQLite)."""
    return url.startswith(("postgresql", "postgres"))


def wakes(notice: Notice) -> Iterable[Lane]:
    """The worker lanes a notice wakes: the lane it made claimable; and the print lane on
    any HQ change (it runs only while no HQ painting waits, and a print job ordered before
    its capture's HQ painting was done becomes claimable when that job ends: an HQ job
    ending may be its turn)."""
    if notice.claimable:
        yield notice.lane
    if notice.lane == Lane.HQ and not notice.claimable:
        yield Lane.PRINT


class Listener:
    """The worker's listening thread: sets the event of each lane a notice wakes.

    ``connected`` is set while it listens; while it is clear the lanes must poll as on
    SQLite. Every lane is woken once after each (re)connection, for what was missed.
    """

    def __init__(self, url: str, lanes: Iterable[Lane], stopping: threading.Event) -> None:
        self.url = libpq_url(url)
        self.wake = {Lane(lane): threading.Event() for lane in lanes}
        self.connected = threading.Event()
        self.stopping = stopping
        self.notices = 0  # received (for tests and benchmarks)
        self._thread = threading.Thread(target=self._run, name="job-listener", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def wake_all(self) -> None:
        for event in self.wake.values():
            event.set()

    def _run(self) -> None:
        import psycopg

        delay = RECONNECT_FIRST_S
        while not self.stopping.is_set():
            try:
                with psycopg.connect(
                    self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    if delay > RECONNECT_FIRST_S:
                        log.info("job notifications: listening again")
                    delay = RECONNECT_FIRST_S
                    self.wake_all()  # whatever was announced while we were away
                    while not self.stopping.is_set():
                        for message in conn.notifies(timeout=LISTEN_TICK_S):
                            self._deliver(message.payload)
            except psycopg.Error as exc:
                self.connected.clear()
                self.wake_all()  # the lanes go back to polling at once
                log.warning(
                    "job notifications: the connection failed (%s); the lanes poll until it "
                    "is back, trying again in %.1f s",
                    str(exc).strip() or type(exc).__name__,
                    delay,
                )
                self.stopping.wait(delay)
                delay = min(RECONNECT_CAP_S, delay * 2)
        self.connected.clear()

    def _deliver(self, payload: str) -> None:
        notice = parse(payload)
        if notice is None:
            return
        self.notices += 1
        for lane in wakes(notice):
            event = self.wake.get(lane)
            if event is not None:
                event.set()


class AsyncListener:
    """The server's listening task: calls ``on_notice`` (the watch registry's wake-up) for
    each announcement, and ``on_reconnect`` after each (re)connection. ``connected`` says
    whether the pollers may rely on it."""

    def __init__(
        self,
        url: str,
        on_notice: Callable[[Notice], None],
        on_reconnect: Callable[[], None] = lambda: None,
    ) -> None:
        self.url = libpq_url(url)
        self.on_notice, self.on_reconnect = on_notice, on_reconnect
        self.connected = False
        self.notices = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> AsyncListener:
        self._task = asyncio.create_task(self._run(), name="job-listener")
        return self

    async def wait_connected(self, timeout: float) -> bool:
        """For tests: whether it is listening within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.connected

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.connected = False

    async def _run(self) -> None:
        import psycopg

        delay = RECONNECT_FIRST_S
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.connected = True
                    if delay > RECONNECT_FIRST_S:
                        log.info("job notifications: the server listens again")
                    delay = RECONNECT_FIRST_S
                    self.on_reconnect()
                    async for message in conn.notifies():
                        notice = parse(message.payload)
                        if notice is not None:
                            self.notices += 1
                            self.on_notice(notice)
            except psycopg.Error as exc:
                self.connected = False
                self.on_reconnect()  # the pollers go back to polling at once
                log.warning(
                    "job notifications: the server's connection failed (%s); job sockets "
                    "poll until it is back, trying again in %.1f s",
                    str(exc).strip() or type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(RECONNECT_CAP_S, delay * 2)
