"""Data purge: delete guests' captures (photo, paintings, print files) and their records.

A capture whose render is still queued or running is left alone (cancel it first), so a
worker never loses the files under a job in hand. Records go first, in one transaction;
then the capture's folders. A folder that cannot be removed is reported, not hidden.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from db.models import Capture, Export
from kiosk.jobs import ACTIVE
from kiosk.storage import capture_dir, resolve

EXPORTS = Path("exports")  # the booth's print files: exports/<capture_id>/


@dataclass
class PurgeReport:
    captures: list[str] = field(default_factory=list)  # ids deleted
    skipped_active: int = 0  # captures with a render still queued or running
    failed_folders: list[str] = field(default_factory=list)


def delete_records(session: Session, before: datetime | None) -> PurgeReport:
    """Delete the captures made before ``before`` (every one for None) and their jobs,
    results and exports; return what was deleted and what was kept."""
    report = PurgeReport()
    query = select(Capture).options(selectinload(Capture.jobs), selectinload(Capture.results))
    if before is not None:
        query = query.where(Capture.created_at < before)
    for capture in session.scalars(query):
        if any(job.status in ACTIVE for job in capture.jobs):
            report.skipped_active += 1
            continue
        result_ids = [result.id for result in capture.results]
        if result_ids:
            session.execute(delete(Export).where(Export.result_id.in_(result_ids)))
        session.delete(capture)
        report.captures.append(capture.id)
    return report


def delete_folders(data_dir: Path, report: PurgeReport) -> None:
    for capture_id in report.captures:
        for folder in (capture_dir(capture_id), EXPORTS / capture_id):
            path = resolve(data_dir, folder)
            try:
                shutil.rmtree(path)
            except FileNotFoundError:
                pass
            except OSError:
                report.failed_folders.append(str(folder))
