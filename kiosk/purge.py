"""Data purge: delete guests' captures (photo, paintings, print master, print files) and
their records (jobs, results, orders with their history, exports). Order numbers are never
given again (``kiosk.order_book``): a slip left on the desk stays unambiguous.

A capture whose render (fast, HQ or print) is still queued or running is left alone (cancel
it first), so a worker never loses the files under a job in hand. Records go first, in one
transaction; then the capture's files, from the app's ``FileStore`` (``delete_prefix`` of
``captures/<id>`` and ``exports/<id>``: a local directory or an S3 bucket alike). A folder
that cannot be removed is reported, not hidden.

Every purge also sweeps orphans: ``captures/<id>`` and ``exports/<id>`` folders in the store
whose capture has no row (left by a crash, an insert that failed before the server removed
the photo, an operator's hand), whose newest file is older than ``ORPHAN_AFTER_S``. A
guest's photo must not outlive "purge everyone" because its row went missing. The age keeps
the sweep off a capture being made right now (its photo is stored a moment before its row:
the upload deadline is 30 s). An S3 store has no folders, only keys: a folder is the keys
under one prefix, and its age is that of its newest object (``StoredObject.modified``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from db.models import Capture
from kiosk import exports
from kiosk.queue.jobs import ACTIVE
from kiosk.storage import FileStore, capture_dir

log = logging.getLogger("stylebooth.server")

EXPORTS = "exports"  # the booth's print files: exports/<capture_id>/
CAPTURES = "captures"
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


def _remove(store: FileStore, folder: str, report: PurgeReport) -> bool:
    """Delete every file under ``folder``; whether any went. A store that fails (a
    directory that cannot be removed, an S3 error) puts the folder in the report: the
    operator sees that a guest's files are still there."""
    try:
        return store.delete_prefix(folder) > 0
    except Exception:  # any backend's failure: reported to the operator, not raised
        log.exception("purge: could not delete %s from %s", folder, store.description)
        report.failed_folders.append(folder)
        return False


def delete_folders(
    store: FileStore, report: PurgeReport, *, orphan_after_s: float = ORPHAN_AFTER_S
) -> None:
    """Remove the deleted captures' files from the store, then every orphaned folder's (see
    the module doc). Blocking: the server calls it on its I/O pool."""
    for capture_id in report.captures:
        for folder in (capture_dir(capture_id).as_posix(), f"{EXPORTS}/{capture_id}"):
            _remove(store, folder, report)
    for folder in orphan_folders(store, report.kept, orphan_after_s):
        if _remove(store, folder, report):
            report.orphans.append(folder)


def orphan_folders(store: FileStore, kept: set[str], older_than_s: float) -> list[str]:
    """``captures/<id>`` and ``exports/<id>`` folders (as key prefixes) with no capture in
    ``kept`` whose newest file is older than ``older_than_s``. Anything that is not a folder
    named like an id (a file right under ``captures/``, ``some-folder.bak``) is left alone."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    found = []
    for parent in (CAPTURES, EXPORTS):
        newest: dict[str, datetime] = {}
        for stored in store.list(parent):
            parts = stored.key.split("/")
            if len(parts) < 3 or not parts[1].isalnum() or parts[1] in kept:
                continue
            folder = f"{parent}/{parts[1]}"
            newest[folder] = max(stored.modified, newest.get(folder, stored.modified))
        found += sorted(folder for folder, modified in newest.items() if modified <= cutoff)
    return found
