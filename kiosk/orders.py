"""Orders: print files made in a separate process, through ``kiosk.exports.record_export``.

Exports take seconds of CPU (big PNGs, PDFs); a one-process pool keeps them off the server's
event loop. Each export is recorded in the database (``kiosk/exports.py``); asking again for
the same product and options returns the stored files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from export.specs import DEFAULTS, MUG_LAYOUTS, MUG_SIZES, STICKER_SIZES, TEE_LAYOUTS
from kiosk.errors import ApiError

log = logging.getLogger("stylebooth.server")

EXPORT_TIMEOUT_S = 120.0  # a T-shirt PNG and PDF take seconds; two minutes means it hung


def _choices(product: str, option: str, values: Any) -> list[Any]:
    """An option's choices, its default first."""
    default = DEFAULTS[product][option]
    return [default, *(value for value in values if value != default)]


# What the booth offers, with the choices of each option (names as export.specs takes them).
PRODUCTS: list[dict[str, Any]] = [
    {
        "name": "tee",
        "title": "T-shirt",
        "options": {"layout": _choices("tee", "layout", TEE_LAYOUTS)},
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
]
PRODUCT_NAMES = tuple(product["name"] for product in PRODUCTS)


class ExportPool:
    """One export process, started on the first order and stopped with the app.

    The process can die (the out-of-memory killer, a crash in a native library) and a
    ``ProcessPoolExecutor`` whose process died is broken for good: every later order would
    fail with ``BrokenProcessPool`` until the server restarts. So a broken pool is replaced by
    a new one and the order is tried once more (an export is idempotent: the same product and
    options return the stored files). An export that takes longer than ``timeout_s`` is
    answered 504 and its process is killed, so a hung export never holds up the next order
    (nginx's ``proxy_read_timeout``: a bounded wait and a clear error, not a hung request).
    """

    def __init__(self, timeout_s: float = EXPORT_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._pool: ProcessPoolExecutor | None = None
        self.restarts = 0
        self.last_failure: str | None = None  # set when an order failed twice; cleared on success

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

    async def run(self, *args: Any) -> tuple[str, dict[str, str], list[str]]:
        """``run_export(*args)`` in the export process, restarted once if it died."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._current()
            try:
                result = await asyncio.wait_for(
                    loop.run_in_executor(pool, run_export, *args), self.timeout_s
                )
            except BrokenProcessPool:
                self._discard(pool)
                if attempt == 1:
                    log.warning("the export process died; starting a new one and trying again")
                    continue
                self.last_failure = "the export process died twice in a row during an order"
                log.error("%s", self.last_failure)
                raise ApiError(
                    503,
                    "unavailable",
                    "the print files could not be made (the export process stopped); "
                    "please try again in a moment",
                    headers={"Retry-After": "5"},
                ) from None
            except TimeoutError:
                self._discard(pool, kill=True)
                log.error(
                    "an export took longer than %.0f s: its process was stopped", self.timeout_s
                )
                raise ApiError(
                    504,
                    "export_timeout",
                    f"the print files took longer than {self.timeout_s:.0f} s to make and were "
                    "stopped; please try again, or ask the staff",
                ) from None
            self.last_failure = None
            return result
        raise AssertionError("unreachable")

    def pids(self) -> list[int]:
        """The export process ids (none before the first order)."""
        pool = self._pool
        if pool is None:
            return []
        return [pid for pid in getattr(pool, "_processes", {}) if pid]

    def problem(self) -> str | None:
        """A sentence for ``/healthz`` when exports are failing, else None (no I/O)."""
        if self.last_failure:
            return f"orders are failing: {self.last_failure}"
        if self._pool is not None and _broken(self._pool):
            return (
                "the export process stopped unexpectedly; it is started again with the next order"
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


@cache
def _sessions(db_url: str) -> sessionmaker[Session]:
    """The export process's one engine per database (the process serves many orders)."""
    from db.session import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(db_url))


def run_export(
    db_url: str,
    source: Path,
    product: str,
    options: dict[str, Any],
    out_dir: Path,
    alpha: Path | None,
    result_id: str | None,
    data_dir: Path,
) -> tuple[str, dict[str, str], list[str]]:
    """In the export process: make (or reuse) the files; return the export id, the files and
    the export's notes for a person (fallbacks it took). A bad option is an ``ExportError``
    that says which; like every ``StyleBoothError`` it reaches the guest as a 400."""
    from PIL import Image

    from kiosk.exports import record_export
    from render.images import load_image

    image = load_image(source)
    mask = Image.open(alpha).convert("L") if alpha is not None else None
    export = record_export(
        _sessions(db_url),
        image,
        product,
        options=options,
        out_dir=out_dir,
        alpha=mask,
        result_id=result_id,
        files_root=data_dir,
    )
    files = {role: str(path) for role, path in export.files.items()}
    return export.id, files, list(export.notes)
