"""The booth's record of its print files: the ``exports`` table's queries live here (a
guest's rows go with the guest's purge, ``kiosk/purge.py``).

``export/`` makes files and names them by a key (the picture, the product, its options); it
keeps no record. ``record_export`` asks it for the key first and, when the table has a row
for that key whose files are all still on disk with their recorded sha256, hands those back
(``reused``) instead of making them again; otherwise it makes them and records them. Either
way the files are preflighted and their problems returned: files with problems (art below
150 effective DPI at print size) are not ready to print. The booth's print jobs and orders
(in the worker and the export process) and ``stylebooth export`` all come through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from db.models import Export, Result
from render.errors import StyleBoothError
from render.files import sha256_file
from render.images import ImageSource

if TYPE_CHECKING:  # export.api pulls in OpenCV: only the export process imports it
    from export.api import ExportResult


class OrderError(StyleBoothError, code="bad_options"):
    """The order cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class RecordedExport:
    """An export as the booth knows it: its row's id, its files and whether they were reused."""

    id: str
    key: str
    files: dict[str, Path]  # role ("png", "pdf") → file
    notes: tuple[str, ...]  # what a person should know (fallbacks the export took)
    reused: bool  # the stored files of an earlier, identical request
    problems: tuple[str, ...] = ()  # the preflight's, "file: problem"; empty: ready to print


def record_export(
    sessions: sessionmaker[Session],
    source_image: ImageSource,
    product: str,
    *,
    options: dict[str, Any] | None = None,
    out_dir: Path,
    alpha: Image.Image | None = None,
    result_id: str | None = None,
    files_root: Path | None = None,
    scale: float = 1.0,
) -> RecordedExport:
    """Print files for ``product`` in ``out_dir``, or the stored ones for the same request.

    The row names files inside ``files_root`` relative to it (the booth passes its data
    directory, which can then move), and any others by absolute path. ``result_id`` links the
    row to the painting it was made from; ``scale`` is the preflight's (the
    ``print_scale_percent`` setting / 100). Raises ``ImageError`` for an unusable picture,
    ``ExportError`` for a bad request and ``OrderError`` for an unknown ``result_id``.
    """
    from export.api import check_files, plan_export

    plan = plan_export(source_image, product, options=options, alpha=alpha, scale=scale)
    with sessions() as session:
        if result_id is not None and session.get(Result, result_id) is None:
            raise OrderError(f"no result with id {result_id}")
        row = session.scalar(select(Export).where(Export.key == plan.key))
        stored = _intact(row.files, files_root) if row is not None else None
        if row is not None and stored is not None:
            problems = check_files(stored, scale)
            return RecordedExport(row.id, plan.key, stored, plan.notes, True, problems)
    made = plan.make(out_dir)
    export_id = _record(sessions, made, result_id, files_root)
    return RecordedExport(export_id, made.key, made.files, made.notes, False, made.problems)


def forget(session: Session, result_ids: list[str]) -> None:
    """Delete the rows of the exports made from these results (a guest's purge)."""
    if result_ids:
        session.execute(delete(Export).where(Export.result_id.in_(result_ids)))


def stored_file(session: Session, export_id: str, role: str) -> str | None:
    """The recorded path of one of an export's files (relative to the data directory when
    it lies inside it), or None."""
    export = session.get(Export, export_id)
    if export is None:
        return None
    entry = export.files.get(role)
    if isinstance(entry, dict):
        entry = entry.get("path")
    return entry if isinstance(entry, str) else None


def _record(
    sessions: sessionmaker[Session],
    made: ExportResult,
    result_id: str | None,
    root: Path | None,
) -> str:
    """Insert or update the row for ``made.key``; its id."""
    values: dict[str, Any] = {
        "source_sha256": made.source_sha256,
        "product": made.product,
        "options": made.options,
        "files": {
            role: {
                "path": _relative(path, root),
                "sha256": sha256_file(path),
                "bytes": path.stat().st_size,
            }
            for role, path in made.files.items()
        },
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


def _relative(path: Path, root: Path | None) -> str:
    """A file's path for the record: relative to ``root`` when inside it, else absolute."""
    path = path.resolve()
    if root is not None and path.is_relative_to(root.resolve()):
        return str(path.relative_to(root.resolve()))
    return str(path)


def _intact(files: dict[str, Any], root: Path | None) -> dict[str, Path] | None:
    """The recorded files, when every one is on disk with its recorded sha256; else None."""
    paths = {}
    for role, entry in files.items():
        path = Path(entry["path"])
        if not path.is_absolute():
            if root is None:
                return None
            path = root.resolve() / path
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            return None
        paths[role] = path
    return paths or None
