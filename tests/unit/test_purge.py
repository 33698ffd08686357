"""The guests' data purge sweeps orphaned folders: a capture's photo or print files whose
database row is gone (a failed insert, a crash, a hand-deleted row) must not survive "purge
everyone". Real SQLite, real files in a ``LocalStore`` (a folder's age is its newest file's,
as an S3 store tells it), the purge functions the admin API calls."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from db.models import JobStatus, new_id
from kiosk import purge
from kiosk.purge import ORPHAN_AFTER_S
from kiosk.queue import manager
from kiosk.storage import LocalStore


def folder_with_photo(data_dir: Path, parent: str, capture_id: str, age_s: float) -> Path:
    folder = data_dir / parent / capture_id
    folder.mkdir(parents=True)
    photo = folder / "photo.jpg"
    photo.write_bytes(b"\xff\xd8 a guest's face")
    moment = time.time() - age_s
    os.utime(photo, (moment, moment))
    return folder


def add_capture(sessions, data_dir: Path, *, finished: bool, age_s: float) -> str:
    capture_id = new_id()
    folder_with_photo(data_dir, "captures", capture_id, age_s)
    folder_with_photo(data_dir, "exports", capture_id, age_s)
    with sessions.begin() as session:
        job = manager.create_capture(
            session,
            capture_id=capture_id,
            source="camera",
            photo_path=f"captures/{capture_id}/photo.jpg",
            size=(640, 480),
            style="starry_night",
            scene=None,
            options={},
        )
        if finished:
            for each in job.capture.jobs:
                each.status = JobStatus.done
    return capture_id


def run_purge(sessions, data_dir: Path, before: datetime | None) -> purge.PurgeReport:
    """What ``POST /admin/api/purge`` does: the records in one transaction, then the folders."""
    with sessions.begin() as session:
        report = purge.delete_records(session, before)
    purge.delete_folders(LocalStore(data_dir), report)
    return report


def test_purge_everyone_also_removes_folders_without_a_capture(sessions, settings) -> None:
    data = settings.data_dir
    old = ORPHAN_AFTER_S + 60
    painting = add_capture(sessions, data, finished=False, age_s=old)  # still queued: kept
    done = add_capture(sessions, data, finished=True, age_s=old)
    lost_photo = folder_with_photo(data, "captures", new_id(), old)  # its insert failed
    lost_print = folder_with_photo(data, "exports", new_id(), old)
    being_made = folder_with_photo(data, "captures", new_id(), 5)  # its row comes in a moment
    not_ours = folder_with_photo(data, "captures", "some-folder.bak", old)  # not an id: left
    (data / "captures" / "notes").write_text("an operator's file")

    report = run_purge(sessions, data, before=None)

    assert report.captures == [done] and report.skipped_active == 1
    assert not (data / "captures" / done).exists() and not (data / "exports" / done).exists()
    assert (data / "captures" / painting).is_dir() and (data / "exports" / painting).is_dir()
    assert not lost_photo.exists() and not lost_print.exists()
    assert sorted(report.orphans) == sorted(
        [f"captures/{lost_photo.name}", f"exports/{lost_print.name}"]
    )
    assert being_made.is_dir() and not_ours.is_dir() and (data / "captures" / "notes").exists()
    assert report.failed_folders == []


def test_an_age_limited_purge_sweeps_orphans_and_keeps_younger_guests(sessions, settings) -> None:
    data = settings.data_dir
    recent = add_capture(sessions, data, finished=True, age_s=ORPHAN_AFTER_S + 60)
    orphan = folder_with_photo(data, "captures", new_id(), ORPHAN_AFTER_S + 60)

    report = run_purge(sessions, data, before=datetime.now(UTC) - timedelta(hours=24))

    assert report.captures == []  # the guest is younger than a day: kept with its files
    assert (data / "captures" / recent / "photo.jpg").exists()
    assert (data / "exports" / recent / "photo.jpg").exists()
    assert not orphan.exists() and report.orphans == [f"captures/{orphan.name}"]


def test_a_purge_with_no_data_folders_yet_is_fine(sessions, settings) -> None:
    report = run_purge(sessions, settings.data_dir, before=None)
    assert report.captures == [] and report.orphans == [] and report.failed_folders == []


def test_a_folder_with_one_fresh_file_is_not_an_orphan_yet(sessions, settings) -> None:
    """An old folder that got a new file a moment ago (a photo being placed) is being made."""
    data = settings.data_dir
    folder = folder_with_photo(data, "captures", new_id(), ORPHAN_AFTER_S + 60)
    (folder / ".pending-photo.jpg").write_bytes(b"\xff\xd8 the next guest")

    report = run_purge(sessions, data, before=None)

    assert report.orphans == [] and (folder / "photo.jpg").exists()


def test_a_folder_the_store_cannot_delete_is_reported(sessions, settings) -> None:
    data = settings.data_dir
    orphan = folder_with_photo(data, "exports", new_id(), ORPHAN_AFTER_S + 60)

    class StuckStore(LocalStore):
        def delete_prefix(self, prefix: str) -> int:
            raise PermissionError(f"{prefix}: permission denied")

    with sessions.begin() as session:
        report = purge.delete_records(session, None)
    purge.delete_folders(StuckStore(data), report)

    assert report.failed_folders == [f"exports/{orphan.name}"] and report.orphans == []
    assert orphan.is_dir()
