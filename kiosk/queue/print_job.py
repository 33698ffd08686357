"""The print job's body: the guest's painting continued to print size, then the orders' files.

A print job (lane ``PRINT``) is queued by an order (``kiosk.order_book.place``), a retry, or
the event setting ``print_masters_for_all``. It paints only when the capture's print master
(``ResultKind.PRINT``) is smaller than its orders need, continuing from the largest painting
there is (``render.print_master.paint_print`` through the painter); it gives way to guests
between units of work (``JobContext.yield_to_guests``), so a new guest's fast picture and
the next HQ painting never wait behind it. Then each of its orders gets its files from the
print master (``kiosk.exports.record_export``, preflighted) and moves to files_ready, or to
failed with the reason in words.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

from PIL import Image

from db.models import ResultKind
from kiosk import order_book
from kiosk.queue import manager
from kiosk.queue.jobs import StoredResult, print_size
from kiosk.queue.tasks import (
    PROGRESS_EVERY_S,
    JobContext,
    Timings,
    failure_message,
    prepared_for,
    progress_fraction,
)
from kiosk.storage import MissingFile
from render.errors import StyleBoothError
from render.images import ImageError
from render.progress import StyleProgress

log = logging.getLogger("stylebooth.worker")

PrintOrder = tuple[str, str, dict[str, Any]]  # (order id, product, options)
PRINT_SOURCES = (ResultKind.PRINT, ResultKind.MASTER, ResultKind.COMPOSITE, ResultKind.ALPHA)


class PrintProgress:
    """The print render's progress callback: the job's progress (its orders show it), at
    most every ``PROGRESS_EVERY_S``; painting is 2..92 %, the files the rest."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.reported_at = float("-inf")

    def __call__(self, step: StyleProgress) -> None:
        now = time.monotonic()
        if now - self.reported_at >= PROGRESS_EVERY_S:
            self.ctx.report(progress=0.02 + 0.9 * progress_fraction(step, None))
            self.reported_at = now


def run_print(ctx: JobContext) -> Timings | None:
    """The painting continued to print size (unless the print master is big enough
    already), then each waiting order's files from it. An order whose files cannot be made
    fails with the reason; a render that fails fails its orders with the job."""
    started = time.perf_counter()
    orders: list[PrintOrder] = ctx.db(order_book.start_painting, ctx.job.id)
    try:
        ctx.report(stage="painting", progress=0.02)
        sources = ctx.db(manager.stored_results, ctx.job.capture.id, PRINT_SOURCES)
        if ResultKind.MASTER not in sources:
            raise PrintError("the HQ painting is gone: there is nothing to print from")
        alpha = _load_alpha(ctx, sources)
        master = _print_master(ctx, sources, _wanted_size(ctx, sources, alpha, orders))
        if master is None:  # stopping (requeued) or cancelled (its orders are swept)
            return None if ctx.stopping.is_set() else {"print": time.perf_counter() - started}
        painted = time.perf_counter() - started
        ctx.report(stage="files", progress=0.92)
        _make_files(ctx, master, alpha, orders)
    except Exception as exc:
        reason = failure_message(exc)
        for order_id, _product, _options in orders:
            ctx.db(order_book.fail, order_id, reason)
        raise
    return {"print": painted, "files": time.perf_counter() - started - painted,
            "paused_for_guests": ctx.paused_s, "orders": float(len(orders))}  # fmt: skip


class PrintError(StyleBoothError, code="print_failed"):
    """A print job that cannot be made; the message says why."""


def _load_alpha(ctx: JobContext, sources: dict[ResultKind, StoredResult]) -> Image.Image | None:
    stored = sources.get(ResultKind.ALPHA)
    if stored is None:
        return None
    with Image.open(io.BytesIO(ctx.store.get(stored.path))) as image:
        return image.convert("L")


def _people_box(alpha: Image.Image | None) -> tuple[float, float, float, float] | None:
    """The people's bounding box in fractions of the frame (None: nobody found)."""
    if alpha is None:
        return None
    box = alpha.point(lambda v: 255 if v >= 128 else 0).getbbox()
    if box is None:
        return None
    width, height = alpha.size
    return box[0] / width, box[1] / height, box[2] / width, box[3] / height


def _wanted_size(
    ctx: JobContext,
    sources: dict[ResultKind, StoredResult],
    alpha: Image.Image | None,
    orders: list[PrintOrder],
) -> tuple[int, int]:
    """The size the job was queued for, or more when an order's product prints a crop
    around the people (known only here, from the mask)."""
    width, height = sources[ResultKind.MASTER].size
    box = _people_box(alpha)
    sizes = [ctx.job.options.print_size or (width, height)]
    sizes += [print_size(ctx.job.options, product, options, width / height, box)
              for _id, product, options in orders]  # fmt: skip
    return max(sizes, key=lambda size: size[0] * size[1])


def _print_master(
    ctx: JobContext, sources: dict[ResultKind, StoredResult], size: tuple[int, int]
) -> Image.Image | None:
    """The capture's print master at ``size`` at least: the stored one when it is that big,
    else painted on from the largest painting there is, and saved. None: stopped."""
    master = sources[ResultKind.MASTER]
    stored = sources.get(ResultKind.PRINT)
    if stored is not None and stored.created_at < master.created_at:
        stored = None  # the HQ painting was made again since: that print master is another
    if stored is not None and stored.size[0] >= size[0] and stored.size[1] >= size[1]:
        try:
            return ctx.load(stored.path)
        except (ImageError, MissingFile, OSError):
            log.warning("job %s: print master unreadable, painting it again", ctx.job.id[:8])
            stored = None
    start = stored if stored is not None and stored.size[0] > master.size[0] else master
    painting = ctx.load(start.path)
    composite = prepared_for(ctx, ctx.job.options.hq_size).composite  # the painting's shape
    result = ctx.painter.print_master(painting, composite, ctx.job.capture.style, size,
                                      progress=PrintProgress(ctx), cancel=ctx.should_stop,
                                      pause=ctx.yield_to_guests)  # fmt: skip
    if result is None or ctx.should_stop():
        return None
    ctx.report(stage="saving", progress=0.9)
    ctx.save(ResultKind.PRINT, result, "PNG")
    return result


def _make_files(
    ctx: JobContext, master: Image.Image, alpha: Image.Image | None, orders: list[PrintOrder]
) -> None:
    """Each order's print files from the print master (``kiosk.exports.record_export``,
    which imports OpenCV: only this process does), preflighted at the capture's print scale;
    an order whose files cannot be made or fail the preflight fails with the reason, and the
    others are still made."""
    from kiosk.exports import export_prefix, record_export

    assert ctx.sessions is not None, "the worker gives a print job its sessions"
    capture_id = ctx.job.capture.id
    result_id = ctx.db(manager.stored_results, capture_id, (ResultKind.PRINT,))[ResultKind.PRINT].id
    mask = alpha.resize(master.size, Image.Resampling.BILINEAR) if alpha is not None else None
    prefix = export_prefix(capture_id)
    for done, (order_id, product, options) in enumerate(orders, 1):
        try:
            label = None
            if product == "photo":  # the label names the painting, the event and the day
                from export.photo_print import PhotoLabel
                from kiosk.printing.label import photo_label

                label = PhotoLabel(*ctx.db(photo_label, capture_id, ctx.settings))
            export = record_export(
                ctx.sessions,
                master,
                product,
                options=options,
                store=ctx.store,
                prefix=prefix,
                alpha=mask,
                result_id=result_id,
                scale=ctx.job.options.print_scale,
                label=label,
            )
        except Exception as exc:
            log.exception("job %s: an order's files could not be made", ctx.job.id[:8])
            ctx.db(order_book.fail, order_id, failure_message(exc))
        else:
            if export.problems:  # never "ready" for a print shop to refuse
                reason = "the print files did not pass the preflight: " + "; ".join(export.problems)
                ctx.db(order_book.fail, order_id, reason)
            else:
                ctx.db(order_book.files_made, order_id, export.id)
        ctx.report(progress=0.92 + 0.08 * done / len(orders))
