"""The one interface every file of the product goes through (``FileStore``), and its errors.

A file is named by a *key*: a relative, slash-separated path such as
``captures/<capture_id>/final.jpg`` — the same string the database stores. Two backends:
``LocalStore`` (a directory: the embedded default) and ``S3Store`` (an S3-compatible bucket
and prefix, for several hosts). Callers never build paths of their own: they pass keys.

Why an interface and not paths: with several booth servers and render workers, a file one
host writes must be readable by every other; a local path would not be (issue 13). Caches
that any host can rebuild (the Gram cache, the models) stay local and do not come here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from render.errors import StyleBoothError


class MissingFile(StyleBoothError, code="missing_file"):
    """A stored file the database names is not in the store (purged, or lost): the API
    answers 404 with this message, never a 500."""


class BadKey(StyleBoothError, code="bad_key"):
    """A key that is not a plain relative path (``..``, absolute, empty part)."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime  # aware, UTC
    sha256: str | None = None  # when the writer recorded it (S3 metadata; local: None)


def check_key(key: str | Path) -> str:
    """The key as a normalised string; ``BadKey`` for anything that could escape the root."""
    text = str(key).replace("\\", "/")
    parts = text.split("/")
    if not text or text.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise BadKey(f"not a storage key: {text!r}")
    return text


class FileStore(Protocol):
    """Where the product's files live. Every method is blocking: the server calls them
    through its I/O pool (``kiosk.dbio.run_io``), the worker from its lane threads.

    Writes are atomic: a reader sees the whole new file or the old one, never a part
    (local: temp file + rename; S3: a PUT, or a multipart upload, is visible only once
    complete)."""

    description: str  # for people: "the directory /srv/data", "s3://bucket/prefix at …"

    def put(self, key: str, data: bytes, *, sha256: str | None = None) -> None:
        """Write ``data`` under ``key`` (replacing it)."""

    def put_file(self, key: str, source: Path, *, sha256: str | None = None) -> None:
        """Copy a local file in under ``key`` (large print files: streamed, not read whole)."""

    def get(self, key: str) -> bytes:
        """The whole file; ``MissingFile`` when absent."""

    def local_copy(self, key: str) -> AbstractContextManager[Path]:
        """A path on this host holding the file while the block runs (local: the file
        itself, read-only by contract; S3: a temporary download, removed afterwards);
        ``MissingFile`` when absent. For code that needs a file name (PIL on huge images,
        ZIP writers)."""
        ...

    def stat(self, key: str) -> StoredObject | None:
        """Size and time of the file; None when absent."""

    def move(self, source: str, target: str) -> None:
        """Rename ``source`` to ``target`` (a pending guest photo into place)."""

    def delete(self, key: str) -> None:
        """Remove the file; an absent file is not an error."""

    def delete_prefix(self, prefix: str) -> int:
        """Remove every file under ``prefix/`` (a capture's folder); how many went."""

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every file under ``prefix/``, in no promised order."""
