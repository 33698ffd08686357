"""Free space in the data directory: below ``min_free_mb`` the booth takes no new photos.

A full disk fails in the worst places (half-written paintings, a database that cannot commit),
so the booth stops accepting guests a little before it, says why, and keeps serving what it
already made.
"""

from __future__ import annotations

import os
from pathlib import Path

from kiosk.config import Settings


def free_mb(path: Path) -> float:
    """Megabytes free for this process's user on the filesystem holding ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize / (1024 * 1024)


def low_disk(settings: Settings) -> str | None:
    """A sentence for people when the data directory is nearly full, else None."""
    free = free_mb(settings.data_dir)
    if free >= settings.min_free_mb:
        return None
    return (
        f"the data disk is nearly full ({free:.0f} MB free, {settings.min_free_mb} MB needed): "
        "new photos are refused until space is freed (purge old guests' data)"
    )
