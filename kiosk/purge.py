"""Data purge: delete guests' captures (photo, paintings, print master, print files) and
their records (jobs, results, orders with their history, exports). Order numbers are never
given again (``kiosk.order_book``): a slip left on the desk stays unambiguous.

A capture whose render (fast, HQ or print) is still queued or running is left alone (cancel
it first), so a worker never loses the files under a job in hand. Records go first, in one
transaction; then the capture's folders. A folder that cannot be removed is reported, not hidden.

Every purge also sweeps orphans: ``captures/<id>`` and ``exports/<id>`` folders whose capture
has no row (left by a crash, an insert that failed before the server removed the photo, an
operator's hand), older than ``ORPHAN_AFTER_S``. A guest's photo must not outlive "purge
everyone" because its row went missing. The age keeps the sweep off a capture being made
right now (its folder exists a moment before its row: the upload deadline is 30 s).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from db.models import Capture
from kiosk import exports
from kiosk.queue.jobs import ACTIVE
from kiosk.storage import capture_dir, resolve

EXPORTS = Path("exports")  # the booth's print files: exports/<capture_id>/
CAPTURES = Path("captures")
ORPHAN_AFTER_S = 10 * 60  # a folder without a row this old is left over, not being made


@dataclass
class PurgeReport:
    captures: list[str] = field(default_factory=list)  # ids deleted
    skipped_active: int = 0  # captures with a render still queued or running
    failed_folders: list[str] = field(default_factory=list)
    kept: set[str] = field(default_factory=set)  # ids of the captures still in the database
    orphans: list[str] = field(default_factory=list)  # folders removed that had no capture


def delete_records(session: Session, before: datetime | None) -> PurgeReport:
    """Delete the captures made before ``before`` (every one for None) and their jobs,
    results, orders (the capture's cascade) and exports; return what was deleted and what
    was kept."""
    report = PurgeReport()
    query = select(Capture).options(selectinload(Capture.jobs), selectinload(Capture.results))
    if before is not None:
        query = query.where(Capture.created_at < before)
    for capture in session.scalars(query):
        if any(job.status in ACTIVE for job in capture.jobs):
            report.skipped_active += 1
            continue
        exports.forget(session, [result.id for result in capture.results])
        session.delete(capture)
        report.captures.append(capture.id)
    session.flush()
    deleted = set(report.captures)
    report.kept = {id_ for id_ in session.scalars(select(Capture.id)) if id_ not in deleted}
    return report


def _remove(data_dir: Path, folder: Path, report: PurgeReport) -> bool:
    try:
        shutil.rmtree(resolve(data_dir, folder))
    except FileNotFoundError:
        return False
    except OSError:
        report.failed_folders.append(str(folder))
        return False
    return True


def delete_folders(
    data_dir: Path, report: PurgeReport, *, orphan_after_s: float = ORPHAN_AFTER_S
) -> None:
    """Remove the deleted captures' folders, then every orphaned one (see the module doc)."""
    for capture_id in report.captures:
        for folder in (capture_dir(capture_id), EXPORTS / capture_id):
            _remove(data_dir, folder, report)
    for folder in orphan_folders(data_dir, report.kept, orphan_after_s):
        if _remove(data_dir, folder, report):
            report.orphans.append(str(folder))


def orphan_folders(data_dir: Path, kept: set[str], older_than_s: float) -> list[Path]:
    """``captures/<id>`` and ``exports/<id>`` folders (relative) with no capture in ``kept``,
    untouched for ``older_than_s``. Anything that is not a folder named like an id is left
    alone."""
    cutoff = time.time() - older_than_s
    found = []
    for parent in (CAPTURES, EXPORTS):
        try:
            entries = list((data_dir / parent).iterdir())
        except FileNotFoundError:
            continue
        for entry in entries:
            if not entry.name.isalnum() or entry.name in kept:
                continue
            try:
                if not entry.is_dir() or entry.is_symlink() or entry.stat().st_mtime > cutoff:
                    continue
            except FileNotFoundError:
                continue
            found.append(parent / entry.name)
    return found
