"""``LocalStore``: the files in a directory on this host (the embedded default)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from kiosk.storage.base import MissingFile, StoredObject, check_key
from render.files import atomic_path, write_atomic


class LocalStore:
    """Keys are paths relative to ``root``; writes are temp file + rename."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.description = f"the directory {self.root}"

    def path(self, key: str) -> Path:
        """The file of a key (refusing keys that leave the root)."""
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise MissingFile(f"{key} is outside the data directory")
        return path

    def put(self, key: str, data: bytes, *, sha256: str | None = None) -> None:
        write_atomic(self.path(key), data)

    def put_file(self, key: str, source: Path, *, sha256: str | None = None) -> None:
        target = self.path(key)
        if Path(source).resolve() == target:
            return
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise MissingFile(f"{key} is not in {self.description}") from None

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self.path(key)
        if not path.is_file():
            raise MissingFile(f"{key} is not in {self.description}")
        yield path

    def stat(self, key: str) -> StoredObject | None:
        try:
            info = self.path(key).stat()
        except FileNotFoundError:
            return None
        modified = datetime.fromtimestamp(info.st_mtime, UTC)
        return StoredObject(check_key(key), info.st_size, modified)

    def move(self, source: str, target: str) -> None:
        destination = self.path(target)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self.path(source), destination)
        except FileNotFoundError:
            raise MissingFile(f"{source} is not in {self.description}") from None

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        folder = self.path(prefix)
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
        return count

    def list(self, prefix: str) -> Iterator[StoredObject]:
        folder = self.path(prefix)
        if not folder.is_dir():
            return
        for path in folder.rglob("*"):
            if path.is_file():
                info = path.stat()
                key = path.relative_to(self.root).as_posix()
                yield StoredObject(key, info.st_size, datetime.fromtimestamp(info.st_mtime, UTC))
