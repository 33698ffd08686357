"""The booth's record of its print files: the ``exports`` table's queries live here (a
guest's rows go with the guest's purge, ``kiosk/purge.py``).

``export/`` makes files and names them by a key (the picture, the product, its options); it
keeps no record and knows only local paths. ``record_export`` asks it for the key first and,
when the table has a row for that key whose files are all still in the store with their
recorded size and sha256, hands those back (``reused``) instead of making them again;
otherwise it makes them in a local temporary directory, puts each into the booth's
``FileStore`` under ``<prefix>/<file name>`` and records the keys (so any booth server or
render host finds them, issue 13). Either way the files are preflighted and their problems
returned: files with problems (art below 150 effective DPI at print size) are not ready to
print. The booth's print jobs and orders (in the worker) and ``stylebooth export`` all come
through here.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from PIL import Image
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from db.models import Export, Result
from kiosk.storage import BadKey, FileStore, MissingFile, check_key
from render.errors import StyleBoothError
from render.files import sha256_file
from render.images import ImageSource

if TYPE_CHECKING:  # export.api pulls in OpenCV: only the worker and the CLI import it
    from export.api import ExportResult
    from export.photo_print import PhotoLabel


class OrderError(StyleBoothError, code="bad_options"):
    """The order cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class RecordedExport:
    """An export as the booth knows it: its row's id, its files and whether they were reused."""

    id: str
    key: str
    files: dict[str, str]  # role ("png", "pdf") → store key ("exports/<capture>/<name>")
    notes: tuple[str, ...]  # what a person should know (fallbacks the export took)
    reused: bool  # the stored files of an earlier, identical request
    problems: tuple[str, ...] = ()  # the preflight's, "file: problem"; empty: ready to print


def export_prefix(capture_id: str) -> str:
    """Where a capture's print files live in the store (purged with the capture)."""
    if not capture_id.isalnum():
        raise ValueError(f"not a capture id: {capture_id!r}")
    return f"exports/{capture_id}"


def record_export(
    sessions: sessionmaker[Session],
    source_image: ImageSource,
    product: str,
    *,
    store: FileStore,
    prefix: str,
    options: dict[str, Any] | None = None,
    alpha: Image.Image | None = None,
    result_id: str | None = None,
    scale: float = 1.0,
    label: PhotoLabel | None = None,
) -> RecordedExport:
    """Print files for ``product`` in ``store`` under ``prefix`` (``export_prefix(capture)``
    for the booth), or the stored ones for the same request.

    The row records each file's key, size and sha256. ``result_id`` links the row to the
    painting it was made from; ``scale`` is the preflight's (the ``print_scale_percent``
    setting / 100); ``label`` is a photo print's label text. Raises ``ImageError`` for an
    unusable picture, ``ExportError`` for a bad request and ``OrderError`` for an unknown
    ``result_id``.
    """
    from export.api import plan_export

    prefix = check_key(prefix)
    plan = plan_export(
        source_image, product, options=options, alpha=alpha, scale=scale, label=label
    )
    with sessions() as session:
        if result_id is not None and session.get(Result, result_id) is None:
            raise OrderError(f"no result with id {result_id}")
        row = session.scalar(select(Export).where(Export.key == plan.key))
        recorded = dict(row.files) if row is not None else None
        row_id = row.id if row is not None else None
    if recorded is not None and row_id is not None:
        reused = _reuse(store, recorded, scale)
        if reused is not None:
            keys, problems = reused
            return RecordedExport(row_id, plan.key, keys, plan.notes, True, problems)
    # export/ writes named files (PDF and PNG writers): locally first, then into the store.
    with tempfile.TemporaryDirectory(prefix="stylebooth-export-") as work:
        made = plan.make(Path(work))
        files = _put(store, prefix, made)
    export_id = _record(sessions, made, files, result_id)
    keys = {role: entry["path"] for role, entry in files.items()}
    return RecordedExport(export_id, made.key, keys, made.notes, False, made.problems)


def forget(session: Session, result_ids: list[str]) -> None:
    """Delete the rows of the exports made from these results (a guest's purge)."""
    if result_ids:
        session.execute(delete(Export).where(Export.result_id.in_(result_ids)))


def stored_file(session: Session, export_id: str, role: str) -> str | None:
    """The recorded store key of one of an export's files, or None."""
    export = session.get(Export, export_id)
    if export is None:
        return None
    entry = export.files.get(role)
    if isinstance(entry, dict):
        entry = entry.get("path")
    return entry if isinstance(entry, str) else None


def _put(store: FileStore, prefix: str, made: ExportResult) -> dict[str, dict[str, Any]]:
    """Each made file into the store under ``prefix`` with its name; the row's entries."""
    files: dict[str, dict[str, Any]] = {}
    for role, path in made.files.items():
        key = f"{prefix}/{path.name}"
        sha = sha256_file(path)
        store.put_file(key, path, sha256=sha)
        files[role] = {"path": key, "sha256": sha, "bytes": path.stat().st_size}
    return files


def _record(
    sessions: sessionmaker[Session],
    made: ExportResult,
    files: dict[str, dict[str, Any]],
    result_id: str | None,
) -> str:
    """Insert or update the row for ``made.key``; its id."""
    values: dict[str, Any] = {
        "source_sha256": made.source_sha256,
        "product": made.product,
        "options": made.options,
        "files": files,
    }
    if result_id is not None:
        values["result_id"] = result_id
    for _attempt in range(2):  # a concurrent request for the same key may insert first
        with sessions() as session:
            row = session.scalar(select(Export).where(Export.key == made.key))
            if row is None:
                row = Export(key=made.key, **values)
                session.add(row)
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            try:
                session.commit()
                return row.id
            except IntegrityError:
                session.rollback()
    raise OrderError(f"could not record export {made.key[:10]} in the database; try again")


def _reuse(
    store: FileStore, files: dict[str, Any], scale: float
) -> tuple[dict[str, str], tuple[str, ...]] | None:
    """The recorded files' keys and their preflight problems at ``scale``, when every one is
    in the store as recorded (``_intact``); else None (they are made again)."""
    from export.preflight import preflight

    keys = _intact(store, files)
    if keys is None:
        return None
    problems: list[str] = []
    try:
        for key in keys.values():
            with store.local_copy(key) as path:  # S3: a download the preflight reads
                name = PurePosixPath(key).name  # a download's temporary name is not the file's
                problems += [f"{name}: {p}" for p in preflight(path, scale=scale).problems]
    except MissingFile:  # purged between the check and the read: make them again
        return None
    return keys, tuple(problems)


def _intact(store: FileStore, files: dict[str, Any]) -> dict[str, str] | None:
    """The recorded files' keys, when every one is in the store with its recorded size and
    sha256 (the backend's, when it keeps one: S3 metadata; else the file's own, hashed);
    else None. A recorded path that is not a key (an absolute path of an older booth) is
    not intact: the files are made again, in the store."""
    keys: dict[str, str] = {}
    for role, entry in files.items():
        try:
            key = check_key(entry["path"])
        except (BadKey, KeyError, TypeError):
            return None
        stored = store.stat(key)
        if stored is None or ("bytes" in entry and stored.size != entry["bytes"]):
            return None
        sha = stored.sha256
        if sha is None:
            try:
                with store.local_copy(key) as path:
                    sha = sha256_file(path)
            except MissingFile:
                return None
        if sha != entry.get("sha256"):
            return None
        keys[role] = key
    return keys or None
