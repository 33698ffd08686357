"""Orders: print files made by ``export.export_product`` in a separate process.

Exports take seconds of CPU (big PNGs, PDFs); a one-process pool keeps them off the server's
event loop. The export module records each export in the database; asking again for the same
product and options returns the stored files.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

from export.specs import DEFAULTS, MUG_LAYOUTS, MUG_SIZES, STICKER_SIZES, TEE_LAYOUTS


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


class OrderError(ValueError):
    """The order cannot be made as asked; the message says why."""


class ExportPool:
    """One export process, started on the first order and stopped with the app."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, *args: Any) -> tuple[str, dict[str, str], list[str]]:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        return await asyncio.get_running_loop().run_in_executor(self._pool, run_export, *args)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


@cache
def _sessions(db_url: str):  # type: ignore[no-untyped-def]
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
    the export's notes for a person (fallbacks it took)."""
    from PIL import Image
    from sqlalchemy import select

    from db.models import Export
    from export import export_product
    from render.images import load_image

    sessions = _sessions(db_url)
    image = load_image(source)
    mask = Image.open(alpha).convert("L") if alpha is not None else None
    try:
        result = export_product(
            image,
            product,
            options=options,
            out_dir=out_dir,
            alpha=mask,
            sessions=sessions,
            result_id=result_id,
            files_root=data_dir,
        )
    except (ValueError, TypeError) as exc:  # a bad option: the export module says which
        raise OrderError(str(exc)) from None
    with sessions() as session:
        export_id = session.scalar(select(Export.id).where(Export.key == result.key))
    if export_id is None:
        raise RuntimeError(f"export {result.key} was made but not recorded")
    files = {role: str(path) for role, path in result.files.items()}
    return export_id, files, list(result.notes)
