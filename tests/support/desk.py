"""Orders as the print desk meets them, for the desk's tests: a guest's painted capture (its
jobs done, its painting on disk), orders taken through ``kiosk.order_book`` as the guest API
takes them, and their print files made by the real export library and recorded as the print
job records them (through a ``LocalStore`` on the data directory, as the booth's default
store). Real SQLite, real files; no models, no worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from db.models import JobStatus, Result, ResultKind, new_id
from export.specs import normalize_options
from kiosk import order_book
from kiosk.exports import export_prefix, record_export
from kiosk.queue import manager
from kiosk.queue.jobs import JobOptions
from kiosk.storage import LocalStore, capture_dir, encode
from render.files import sha256_bytes
from tests.support.photos import guest_photo

# Print sizes shrunk as the tests' print_scale_percent setting shrinks them.
TEST_OPTIONS = JobOptions(fast_size=160, hq_size=160, print_scale=0.1)


def painted_capture(
    sessions: sessionmaker[Session], data_dir: Path, picture: Image.Image | None = None
) -> str:
    """A capture whose fast and HQ jobs are done: its final painting (JPEG) and lossless
    master (PNG) on disk and recorded. Its id."""
    picture = (picture or guest_photo((240, 160))).convert("RGB")
    capture_id = new_id()
    folder = capture_dir(capture_id)
    store = LocalStore(data_dir)
    with sessions.begin() as session:
        hq = manager.create_capture(
            session,
            capture_id=capture_id,
            source="upload",
            photo_path=str(folder / "photo.jpg"),
            size=picture.size,
            style="starry_night",
            scene=None,
            options=TEST_OPTIONS.to_json(),
        )
        store.put((folder / "photo.jpg").as_posix(), encode(picture))
        for job in hq.capture.jobs:
            job.status, job.progress, job.stage = JobStatus.done, 1.0, "done"
        paintings = (
            (ResultKind.FINAL, "final.jpg", "JPEG"),
            (ResultKind.MASTER, "master.png", "PNG"),
        )
        for kind, name, fmt in paintings:
            path = folder / name
            data = encode(picture, fmt)
            store.put(path.as_posix(), data)
            digest = sha256_bytes(data)
            session.add(
                Result(
                    capture_id=capture_id,
                    job_id=hq.id,
                    kind=kind,
                    path=str(path),
                    width=picture.width,
                    height=picture.height,
                    sha256=digest,
                )
            )
    return capture_id


def place_order(
    sessions: sessionmaker[Session],
    capture_id: str,
    product: str,
    options: dict[str, Any] | None = None,
    quantity: int = 1,
) -> str:
    """A guest's order (received, with its print job queued), as the guest API places it."""
    with sessions.begin() as session:
        order = order_book.place(
            session,
            capture_id=capture_id,
            product=product,
            options=normalize_options(product, options),
            quantity=quantity,
        )
        assert order is not None
        return order.number


def make_files(sessions: sessionmaker[Session], data_dir: Path, number: str) -> dict[str, Path]:
    """What the print job does for an order: its files made by the real export library from
    the capture's painting and recorded, the order moved to files_ready. The files by role."""
    with sessions.begin() as session:
        order = order_book.by_number(session, number)
        assert order is not None and order.job_id is not None
        order_id, job_id, product = order.id, order.job_id, order.product
        options, capture_id = dict(order.options), order.capture_id
        master = manager.result_paths(session, capture_id, (ResultKind.MASTER,))[ResultKind.MASTER]
        order_book.start_painting(session, job_id)
    store = LocalStore(data_dir)
    export = record_export(
        sessions,
        store.get(master),
        product,
        options=options,
        store=store,
        prefix=export_prefix(capture_id),
    )
    with sessions.begin() as session:
        assert order_book.files_made(session, order_id, export.id)
    return {role: store.path(key) for role, key in export.files.items()}


def fail_order(sessions: sessionmaker[Session], number: str, reason: str) -> None:
    """The print job could not make the order (as the worker records it)."""
    with sessions.begin() as session:
        order = order_book.by_number(session, number)
        assert order is not None
        assert order_book.fail(session, order.id, reason)
