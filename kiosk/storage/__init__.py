"""Where the product's files live: keys (``keys``), the ``FileStore`` interface (``base``),
its backends (``local``: a directory; ``s3``: an S3-compatible bucket) and ``open_store``,
which picks one from the settings (``storage_url``)."""

from __future__ import annotations

from pathlib import Path

from kiosk.storage.base import BadKey, FileStore, MissingFile, StoredObject, check_key
from kiosk.storage.keys import (
    MAX_GUEST_PIXELS,
    MAX_PHOTO_SIDE,
    PENDING_PREFIX,
    PHOTO,
    capture_dir,
    encode,
    pending_path,
    resolve,
    save_image,
)
from kiosk.storage.local import LocalStore

__all__ = [
    "MAX_GUEST_PIXELS",
    "MAX_PHOTO_SIDE",
    "PENDING_PREFIX",
    "PHOTO",
    "BadKey",
    "FileStore",
    "LocalStore",
    "MissingFile",
    "StoredObject",
    "capture_dir",
    "check_key",
    "encode",
    "open_store",
    "pending_path",
    "resolve",
    "save_image",
]


def open_store(storage_url: str | None, data_dir: Path) -> FileStore:
    """The store a ``storage_url`` names: unset (or a plain path / ``file://``) a local
    directory (unset: the data directory); ``s3://bucket/prefix`` an S3 bucket, with the
    endpoint, region and keys from the usual AWS variables (``AWS_ENDPOINT_URL``,
    ``AWS_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``)."""
    if not storage_url:
        return LocalStore(data_dir)
    if storage_url.startswith("s3://"):
        from kiosk.storage.s3 import S3Store  # boto3: only hosts that use S3 import it

        return S3Store.from_url(storage_url)
    return LocalStore(Path(storage_url.removeprefix("file://")))
