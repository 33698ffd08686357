"""``S3Store``: the product's files in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS …),
so every booth server and render worker reads what any other wrote (issue 13).

Why boto3 and not obstore: boto3 is the mature client every S3-compatible store tests
against (SeaweedFS, MinIO and AWS alike); it reads the standard AWS variables and config
files itself, presigns, and its TransferManager uploads big print files in parts with a
multipart upload that becomes visible only when complete. obstore (Rust) is faster but
younger, and speed is not what limits a booth: a render takes seconds, a file move
milliseconds.

Configuration: ``storage_url = "s3://bucket/prefix"`` names the bucket and an optional key
prefix (several booths' deployments may share a bucket); the endpoint, region and keys come
from ``AWS_ENDPOINT_URL``, ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``),
``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` (or a profile), as for any AWS tool.
Addressing is path-style (``endpoint/bucket/key``), which SeaweedFS and MinIO need and AWS
still serves.

Writes are atomic without a temporary key: an object PUT, or a multipart upload, is visible
only once complete, so a reader never sees half a file. A missing object is ``MissingFile``
(the API's 404); any other failure (no endpoint, refused keys, a timeout) is
``StorageUnavailable`` (the API's 503) with the endpoint, the bucket and the reason.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from kiosk.storage.base import MissingFile, StoredObject, check_key
from render.errors import StyleBoothError

T = TypeVar("T")

SHA256_META = "sha256"  # x-amz-meta-sha256: the writer's checksum, returned by stat()
DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
# A print master runs to tens of MB: parts of 8 MB, in parallel, above 8 MB.
TRANSFER = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)
# A booth must not hang on a store that does not answer: short connects, bounded reads, a few
# retries with backoff ("standard" mode retries throttling and 5xx, not a refused key).
CLIENT_CONFIG = Config(
    s3={"addressing_style": "path"},
    connect_timeout=5,
    read_timeout=30,
    retries={"mode": "standard", "max_attempts": 4},
    max_pool_connections=32,
)


class StorageUnavailable(StyleBoothError, code="unavailable"):
    """The object store cannot be reached or refuses us (wrong keys, no bucket, a timeout):
    not the guest's mistake nor a bug, so the API answers 503 with this message."""


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix")`` (the prefix may be empty)."""
    if not url.startswith("s3://"):
        raise StorageUnavailable(f"not an S3 storage URL: {url!r} (expected s3://bucket/prefix)")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise StorageUnavailable(f"the storage URL {url!r} names no bucket (s3://bucket/prefix)")
    prefix = prefix.strip("/")
    if prefix:
        check_key(prefix)
    return bucket, prefix


class S3Store:
    """Keys live under ``prefix/`` in ``bucket``. Safe to share between threads: the boto3
    client is thread-safe, and is made once, on first use (an import of the settings does
    not dial the store)."""

    def __init__(
        self, bucket: str, prefix: str = "", *, client_factory: Callable[[], Any] | None = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client_factory = client_factory or _default_client
        self._client: Any = None
        self._lock = threading.Lock()
        self.endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"
        where = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.description = f"{where} at {self.endpoint}"

    @classmethod
    def from_url(cls, url: str) -> S3Store:
        bucket, prefix = parse_url(url)
        return cls(bucket, prefix)

    # --- plumbing -------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._client_factory()
                    self.endpoint = self._client.meta.endpoint_url
        return self._client

    def object_key(self, key: str) -> str:
        """The key in the bucket of a store key."""
        key = check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def store_key(self, object_key: str) -> str:
        return object_key[len(self.prefix) + 1 :] if self.prefix else object_key

    def _folder(self, prefix: str) -> str:
        return self.object_key(prefix.rstrip("/")) + "/"

    def _call(self, what: str, key: str | None, action: Callable[[], T]) -> T:
        """Run one request, turning its failures into the product's errors."""
        try:
            return action()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if key is not None and code in MISSING_CODES:
                raise MissingFile(f"{key} is not in {self.description}") from None
            reason = error.get("Message") or code or str(exc)
            raise self._unavailable(what, f"{code}: {reason}" if code else reason) from exc
        except (BotoCoreError, Boto3Error) as exc:  # no answer; a failed multipart upload
            raise self._unavailable(what, str(exc)) from exc

    def _unavailable(self, what: str, reason: str) -> StorageUnavailable:
        return StorageUnavailable(
            f"the file store could not {what} (bucket {self.bucket!r} at {self.endpoint}): "
            f"{reason}. Check that the store is running and AWS_ENDPOINT_URL, "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are right."
        )

    # --- FileStore ------------------------------------------------------------------------

    def put(self, key: str, data: bytes, *, sha256: str | None = None) -> None:
        extra = {"Metadata": {SHA256_META: sha256}} if sha256 else {}
        name = self.object_key(key)
        self._call(
            f"store {key}",
            None,
            lambda: self.client.put_object(Bucket=self.bucket, Key=name, Body=data, **extra),
        )

    def put_file(self, key: str, source: Path, *, sha256: str | None = None) -> None:
        extra = {"Metadata": {SHA256_META: sha256}} if sha256 else None
        name = self.object_key(key)
        self._call(
            f"store {key}",
            None,
            lambda: self.client.upload_file(
                str(source), self.bucket, name, ExtraArgs=extra, Config=TRANSFER
            ),
        )

    def get(self, key: str) -> bytes:
        name = self.object_key(key)

        def read() -> bytes:
            body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        return self._call(f"read {key}", key, read)

    def open(self, key: str, *, if_none_match: str | None = None) -> dict[str, Any]:
        """The raw ``GetObject`` answer (``Body`` a streaming body the caller closes;
        ``ContentLength``, ``ETag``, ``ContentType``), for serving a file without reading it
        whole (``kiosk.storage.serve``). With ``if_none_match`` an unchanged object answers
        ``{"NotModified": True, "ETag": …}``."""
        name = self.object_key(key)
        extra = {"IfNoneMatch": if_none_match} if if_none_match else {}

        def fetch() -> dict[str, Any]:
            try:
                return dict(self.client.get_object(Bucket=self.bucket, Key=name, **extra))
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 304 or exc.response.get("Error", {}).get("Code") == "304":
                    return {"NotModified": True, "ETag": if_none_match}
                raise

        return self._call(f"read {key}", key, fetch)

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        name = self.object_key(key)
        suffix = Path(key).suffix
        handle, temp = tempfile.mkstemp(prefix="stylebooth-s3-", suffix=suffix)
        os.close(handle)
        path = Path(temp)
        try:
            self._call(
                f"read {key}",
                key,
                lambda: self.client.download_file(self.bucket, name, temp, Config=TRANSFER),
            )
            yield path
        finally:
            path.unlink(missing_ok=True)

    def stat(self, key: str) -> StoredObject | None:
        name = self.object_key(key)
        try:
            head = self._call(
                f"look up {key}",
                key,
                lambda: self.client.head_object(Bucket=self.bucket, Key=name),
            )
        except MissingFile:
            return None
        sha = (head.get("Metadata") or {}).get(SHA256_META)
        return StoredObject(
            check_key(key), int(head["ContentLength"]), _utc(head["LastModified"]), sha
        )

    def move(self, source: str, target: str) -> None:
        """Copy then delete (S3 has no rename): the target is whole when it appears; for a
        moment both names exist, which no reader minds."""
        source_name, target_name = self.object_key(source), self.object_key(target)
        self._call(
            f"move {source} to {target}",
            source,
            lambda: self.client.copy_object(
                Bucket=self.bucket,
                Key=target_name,
                CopySource={"Bucket": self.bucket, "Key": source_name},
                MetadataDirective="COPY",
            ),
        )
        self.delete(source)

    def delete(self, key: str) -> None:
        name = self.object_key(key)
        self._call(
            f"delete {key}", None, lambda: self.client.delete_object(Bucket=self.bucket, Key=name)
        )

    def delete_prefix(self, prefix: str) -> int:
        names = [self.object_key(item.key) for item in self.list(prefix)]
        for start in range(0, len(names), DELETE_BATCH):
            batch = [{"Key": name} for name in names[start : start + DELETE_BATCH]]
            answer = self._call(
                f"delete {prefix}/",
                None,
                lambda batch=batch: self.client.delete_objects(  # type: ignore[misc]
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                ),
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise self._unavailable(
                    f"delete {prefix}/", f"{first.get('Key')}: {first.get('Message')}"
                )
        return len(names)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        folder = self._folder(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=folder))
        while True:  # each page is a request: bounded by the bucket's size
            page = self._call(f"list {prefix}/", None, lambda: next(pages, None))
            if page is None:
                return
            for item in page.get("Contents", ()):
                yield StoredObject(
                    self.store_key(item["Key"]), int(item["Size"]), _utc(item["LastModified"])
                )


def _default_client() -> Any:
    """A client from the usual AWS variables and files (boto3 reads them itself)."""
    return boto3.session.Session().client("s3", config=CLIENT_CONFIG)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
