"""What the booth sells (``PRODUCTS``) and the export process the server hands work to.

An order's print files are made by its print job in the render worker (``kiosk.queue.tasks``);
the server's own export work is the product previews a guest looks at before ordering:
drawing a design on a tee, a mug or a sticker takes OpenCV and a second of CPU, so it runs in
a one-process pool (``ExportPool.call``), off the event loop and out of the server process
(which never imports OpenCV).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

from export.specs import (
    DEFAULTS,
    MUG_LAYOUTS,
    MUG_SIZES,
    PHOTO_ORIENTATIONS,
    PHOTO_SIZES,
    STICKER_SIZES,
    TEE_COLOURS,
    TEE_LAYOUTS,
    TEE_SIZES,
)
from kiosk.config import Settings
from kiosk.errors import ApiError

T = TypeVar("T")

log = logging.getLogger("stylebooth.server")

EXPORT_TIMEOUT_S = 120.0  # a preview takes a second; two minutes means it hung


def _choices(product: str, option: str, values: Any) -> dict[str, Any]:
    """An option's choices in their natural order (XS before 3XL) and which is the default."""
    return {"choices": list(values), "default": DEFAULTS[product][option]}


# What the booth offers, with the choices of each option (names as export.specs takes them).
PRODUCTS: list[dict[str, Any]] = [
    {
        "name": "tee",
        "title": "T-shirt",
        "options": {
            "size": _choices("tee", "size", TEE_SIZES),
            "colour": _choices("tee", "colour", TEE_COLOURS),
            "layout": _choices("tee", "layout", TEE_LAYOUTS),
        },
    },
    {
        "name": "sticker",
        "title": "Sticker",
        "options": {"size": _choices("sticker", "size", STICKER_SIZES)},
    },
    {
        "name": "mug",
        "title": "Mug",
        "options": {
            "size": _choices("mug", "size", MUG_SIZES),
            "layout": _choices("mug", "layout", MUG_LAYOUTS),
        },
    },
    {
        "name": "photo",
        "title": "Photo print",
        "options": {
            "size": _choices("photo", "size", PHOTO_SIZES),
            "orientation": _choices("photo", "orientation", PHOTO_ORIENTATIONS),
        },
    },
]
PRODUCT_TITLES = {product["name"]: product["title"] for product in PRODUCTS}
ON_SITE = "photo"  # printed at the booth (kiosk/printing): offered only with a printer set


def offered(settings: Settings) -> list[dict[str, Any]]:
    """The products this booth offers its guests: the photo print only when a printer is
    set, with the most copies a guest may ask for (``copies_max``)."""
    return [
        {**product, "copies_max": settings.print_copies_max}
        if product["name"] == ON_SITE
        else product
        for product in PRODUCTS
        if product["name"] != ON_SITE or settings.printer
    ]


class ExportPool:
    """One export process, started on the first call and stopped with the app.

    The process can die (the out-of-memory killer, a crash in a native library) and a
    ``ProcessPoolExecutor`` whose process died is broken for good: every later order would
    fail with ``BrokenProcessPool`` until the server restarts. So a broken pool is replaced by
    a new one and the call is tried once more (what runs there is idempotent: a preview of
    the same design). A call that takes longer than ``timeout_s`` is answered 504 and its
    process is killed, so a hung one never holds up the next guest (nginx's
    ``proxy_read_timeout``: a bounded wait and a clear error, not a hung request).
    """

    def __init__(self, timeout_s: float = EXPORT_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._pool: ProcessPoolExecutor | None = None
        self.restarts = 0
        self.last_failure: str | None = None  # set when a call failed twice; cleared on success

    def _current(self) -> ProcessPoolExecutor:
        if self._pool is not None and _broken(self._pool):
            self._discard(self._pool)
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        return self._pool

    def _discard(self, pool: ProcessPoolExecutor, *, kill: bool = False) -> None:
        """Forget ``pool`` (if it is still the current one) and let it go; ``kill`` ends a
        process that is still busy with an export nobody waits for."""
        if kill:
            for process in list(getattr(pool, "_processes", {}).values()):
                with contextlib.suppress(OSError, AttributeError):
                    process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        if self._pool is pool:
            self._pool = None
            self.restarts += 1

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the export process (``fn`` a module-level function, its arguments
        picklable), restarted once if it died."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._current()
            try:
                result = await asyncio.wait_for(
                    loop.run_in_executor(pool, fn, *args), self.timeout_s
                )
            except BrokenProcessPool:
                self._discard(pool)
                if attempt == 1:
                    log.warning("the export process died; starting a new one and trying again")
                    continue
                self.last_failure = "the export process died twice in a row"
                log.error("%s", self.last_failure)
                raise ApiError(
                    503,
                    "unavailable",
                    "the picture of the product could not be made (the export process "
                    "stopped); please try again in a moment",
                    headers={"Retry-After": "5"},
                ) from None
            except TimeoutError:
                self._discard(pool, kill=True)
                log.error(
                    "an export call took longer than %.0f s: its process was stopped",
                    self.timeout_s,
                )
                raise ApiError(
                    504,
                    "export_timeout",
                    f"the picture of the product took longer than {self.timeout_s:.0f} s to "
                    "make and was stopped; please try again, or ask the staff",
                ) from None
            self.last_failure = None
            return result
        raise AssertionError("unreachable")

    def pids(self) -> list[int]:
        """The export process ids (none before the first call)."""
        pool = self._pool
        if pool is None:
            return []
        return [pid for pid in getattr(pool, "_processes", {}) if pid]

    def problem(self) -> str | None:
        """A sentence for ``/healthz`` when exports are failing, else None (no I/O)."""
        if self.last_failure:
            return f"product previews are failing: {self.last_failure}"
        if self._pool is not None and _broken(self._pool):
            return (
                "the export process stopped unexpectedly; it is started again with the next "
                "product preview"
            )
        return None

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _broken(pool: ProcessPoolExecutor) -> bool:
    """Whether the pool lost its process (its manager thread notices a dead one even while
    idle; ``_broken`` is the executor's own flag, present since Python 3.8)."""
    return bool(getattr(pool, "_broken", False))


def preview_png(
    source: Path,
    alpha: Path | None,
    product: str,
    options: dict[str, Any],
    width: int,
    label: tuple[str, ...] = (),
) -> bytes:
    """In the export process: the design drawn on the product (``export.preview``), as PNG."""
    from PIL import Image

    from export import preview
    from export.photo_print import PhotoLabel
    from render.images import load_image

    image = load_image(source)
    mask = None
    if alpha is not None:
        with Image.open(alpha) as stored:
            mask = stored.convert("L").resize(image.size, Image.Resampling.BILINEAR)
    drawn = preview.product_preview(
        image, mask, product, options, width=width, label=PhotoLabel(*label) if label else None
    )
    buffer = io.BytesIO()
    drawn.save(buffer, "PNG", optimize=False, compress_level=3)
    return buffer.getvalue()
