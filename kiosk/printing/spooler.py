"""The booth server's print spooler: photo orders to CUPS, and CUPS's answers back.

A background task of the server (``spooler``, an aiohttp ``cleanup_ctx``), running only when
``settings.printer`` is set. Every ``POLL_S`` it asks CUPS for the printer's state (kept in
``PrinterWatch`` for the guest API and the operator page, which never wait on CUPS), queues
a submission for each photo order whose files are ready (``book.queue_ready``), sends the
waiting ones (the order's PDF from the store, with its copies, ``cups.submit``) and follows
each sent job until CUPS says completed, canceled or aborted. Each CUPS call is blocking
and runs on a thread; SQL and store reads go through the I/O pool.

A printer that is missing, or a CUPS that does not answer, leaves the prints waiting with
the reason on the operator page; they are sent once it is back. A stopped printer
(``cupsdisable``, out of paper) still takes prints: CUPS holds them until it is started
again. Nothing here ever fails a guest's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from kiosk.config import Settings
from kiosk.dbio import run_db, run_io
from kiosk.keys import SETTINGS, STORE
from kiosk.printing import book, cups, ipp
from kiosk.storage import MissingFile

log = logging.getLogger("stylebooth.server")

POLL_S = 2.0
MEDIA = {"4x6": "na_index-4x6_4x6in", "2x6": "custom_2x6in_2x6in"}  # PWG media names


@dataclass
class PrinterWatch:
    """The printer's last known state (asked every ``POLL_S``): read without I/O."""

    status: cups.PrinterStatus
    said: dict[str, str] = field(default_factory=dict)  # print id → the reason last recorded


PRINTER = web.AppKey("printer", PrinterWatch)


def initial_status(settings: Settings) -> cups.PrinterStatus:
    if not settings.printer:
        return cups.printer_status(settings)  # "off", without a call
    return cups.PrinterStatus(
        "unreachable", [], "the printer has not been asked yet", settings.printer
    )


async def _send(app: web.Application, watch: PrinterWatch, item: book.ToSend) -> None:
    settings: Settings = app[SETTINGS]
    if item.pdf_key is None:
        await run_db(app, book.not_sent, item.print_id, "the order has no PDF to print", True)
        return
    try:
        document = await run_io(app, app[STORE].get, item.pdf_key)
    except MissingFile:
        await run_db(
            app,
            book.not_sent,
            item.print_id,
            f"the print file {item.pdf_key} is gone from the store",
            True,
        )
        return
    try:
        job = await asyncio.to_thread(
            cups.submit,
            settings,
            document,
            copies=item.copies,
            title=item.number,
            media=MEDIA.get(item.size),
        )
    except cups.PrintRefused as exc:
        await run_db(app, book.not_sent, item.print_id, str(exc), True)
        return
    except ipp.Unreachable as exc:
        await _record_wait(app, watch, item.print_id, f"CUPS did not answer ({exc})")
        return
    log.info(
        "order %s: sent to %s as CUPS job %d (%s)",
        item.number,
        settings.printer,
        job.job_id,
        job.state,
    )
    await run_db(app, book.sent, item.print_id, job)


async def _record_wait(app: web.Application, watch: PrinterWatch, print_id: str, why: str) -> None:
    """Note why a print waits, once per reason (not a write every poll)."""
    if watch.said.get(print_id) != why:
        watch.said[print_id] = why
        await run_db(app, book.not_sent, print_id, why, False)


async def tick(app: web.Application, watch: PrinterWatch) -> None:
    """One round: the printer's state, new submissions, sending, following."""
    settings: Settings = app[SETTINGS]
    assert settings.printer
    watch.status = await asyncio.to_thread(cups.printer_status, settings)
    await run_db(app, book.queue_ready, settings.printer)
    reachable = watch.status.state not in ("missing", "unreachable", "off")
    for item in await run_db(app, book.to_send):
        if reachable:
            await _send(app, watch, item)
        else:
            await _record_wait(app, watch, item.print_id, watch.status.message)
    if not reachable:
        return
    for print_id, job_id in await run_db(app, book.unfinished):
        try:
            job = await asyncio.to_thread(cups.job_status, settings, job_id)
        except (ipp.Unreachable, cups.PrintRefused) as exc:
            log.warning("CUPS job %d: its state could not be read (%s)", job_id, exc)
            continue
        await run_db(app, book.update, print_id, job)


async def _loop(app: web.Application, watch: PrinterWatch) -> None:
    while True:
        try:
            await tick(app, watch)
        except asyncio.CancelledError:
            raise
        except Exception:  # the spooler outlives any one bad round
            log.exception("print spooler: a round failed; trying again in %.0f s", POLL_S)
        await asyncio.sleep(POLL_S)


async def spooler(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx`` of the booth server: the spooler runs from startup to cleanup."""
    settings: Settings = app[SETTINGS]
    watch = PrinterWatch(initial_status(settings))
    app[PRINTER] = watch
    task = asyncio.create_task(_loop(app, watch)) if settings.printer else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def cancel(request: web.Request, print_id: str) -> str | None:
    """Cancel a submission: a waiting one here, a sent one in CUPS (Cancel-Job), then its
    state as CUPS reports it. None for an unknown one; "done" when it had finished.
    ``ipp.Unreachable`` or ``cups.PrintRefused`` when CUPS could not cancel it."""
    settings: Settings = request.config_dict[SETTINGS]
    target = await run_db(request, book.cancel_target, print_id)
    if target is None:
        return None
    kind, job_id = target
    if kind != "cups" or job_id is None:
        return kind
    await asyncio.to_thread(cups.cancel, settings, job_id)
    job = await asyncio.to_thread(cups.job_status, settings, job_id)
    await run_db(request, book.update, print_id, job)
    return "cups"
