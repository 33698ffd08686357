"""``S3Store`` against a real S3 server (SeaweedFS, started once per session by the tier's
``s3`` fixture, ``tests/support/seaweed.py``).

The ``FileStore`` contract tests and the ``respond`` tests are ``tests/unit/test_storage.py``'s
own, imported (pytest collects them here and gives them this module's ``store``: an
``S3Store`` on a fresh bucket), so the local and S3 backends pass one set of tests. Below
them, what only S3 has: checksums in metadata, multipart uploads, key prefixes, refusals."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from pathlib import Path
from typing import Any

import pytest

from kiosk.errors import STATUS_OF_CODE
from kiosk.storage import open_store
from kiosk.storage.s3 import S3Store, StorageUnavailable
from tests.unit.test_storage import (  # noqa: F401  (collected here, on S3)
    KEY,
    store_client,
    test_a_missing_file_is_missing_file_naming_the_key,
    test_delete_prefix_removes_the_folder_and_nothing_beside_it,
    test_delete_removes_and_an_absent_file_is_no_error,
    test_keys_that_could_escape_are_refused_by_every_method,
    test_list_gives_every_file_under_the_folder_with_sizes,
    test_local_copy_holds_the_bytes_while_the_block_runs,
    test_move_renames_and_a_missing_source_is_missing_file,
    test_put_file_copies_a_local_file_in,
    test_put_keeps_no_checksum_it_was_not_given,
    test_put_leaves_only_the_file_behind,
    test_put_then_get_returns_the_bytes_and_a_second_put_replaces_them,
    test_respond_answers_304_to_a_matching_if_none_match,
    test_respond_answers_a_missing_file_with_a_json_404,
    test_respond_names_a_download,
    test_respond_sends_the_bytes_with_type_length_and_the_callers_headers,
    test_stat_gives_size_and_a_recent_utc_time,
)

_buckets = itertools.count()


@pytest.fixture
def bucket(s3: Any) -> str:
    if s3 is None:
        pytest.fail("tests/support/seaweed.py did not give an S3 server", pytrace=False)
    name: str = s3.new_bucket(f"storage-{os.getpid()}-{next(_buckets)}")
    return name


@pytest.fixture
def store(bucket: str) -> S3Store:
    """An ``S3Store`` as a booth makes one: from its ``storage_url`` and the AWS variables
    (the ``s3`` fixture sets them)."""
    made = open_store(f"s3://{bucket}/booth", Path("/nonexistent"))
    assert isinstance(made, S3Store)
    return made


def test_the_sha256_a_writer_gives_comes_back_from_stat(store: S3Store, tmp_path: Path) -> None:
    data = b"final picture"
    digest = hashlib.sha256(data).hexdigest()
    store.put(KEY, data, sha256=digest)
    found = store.stat(KEY)
    assert found is not None and found.sha256 == digest

    source = tmp_path / "print.pdf"
    source.write_bytes(b"%PDF print master")
    file_digest = hashlib.sha256(source.read_bytes()).hexdigest()
    store.put_file("exports/print.pdf", source, sha256=file_digest)
    stat = store.stat("exports/print.pdf")
    assert stat is not None and stat.sha256 == file_digest

    store.move(KEY, "captures/abc123/moved.jpg")  # a copy keeps the metadata
    moved = store.stat("captures/abc123/moved.jpg")
    assert moved is not None and moved.sha256 == digest


def test_a_big_print_file_goes_up_in_parts_and_comes_back_whole(
    store: S3Store, tmp_path: Path
) -> None:
    source = tmp_path / "master.tif"
    data = os.urandom(9 * 1024 * 1024 + 12345)  # above the 8 MB multipart threshold
    source.write_bytes(data)
    store.put_file("exports/master.tif", source)
    head = store.client.head_object(Bucket=store.bucket, Key=store.object_key("exports/master.tif"))
    assert re.fullmatch(r'"[0-9a-f]+-2"', head["ETag"]), head["ETag"]  # a 2-part upload
    with store.local_copy("exports/master.tif") as copy:
        assert copy.stat().st_size == len(data)
        assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_a_prefix_keeps_two_deployments_in_one_bucket_apart(bucket: str) -> None:
    first, second = S3Store(bucket, "booth-a"), S3Store(bucket, "booth-b")
    first.put(KEY, b"from a")
    second.put(KEY, b"from b")
    assert first.get(KEY) == b"from a"
    assert second.delete_prefix("captures") == 1
    assert first.get(KEY) == b"from a"
    listed = [o.key for o in S3Store(bucket).list("booth-a")]
    assert listed == [f"booth-a/{KEY}"]


def test_delete_prefix_deletes_more_than_one_batch(store: S3Store) -> None:
    """DeleteObjects takes 1000 keys: a bigger folder takes several calls (and list several
    pages)."""
    from concurrent.futures import ThreadPoolExecutor

    keys = [f"cache/thumbs/{n:05d}.jpg" for n in range(1005)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: store.put(key, b"t"), keys))
    assert sum(1 for _ in store.list("cache/thumbs")) == 1005
    assert store.delete_prefix("cache/thumbs") == 1005
    assert list(store.list("cache/thumbs")) == []


def test_a_wrong_secret_is_refused_with_a_message_naming_the_store(
    bucket: str, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-" + s3.secret_key)
    store = S3Store.from_url(f"s3://{bucket}/booth")
    with pytest.raises(StorageUnavailable) as refused:
        store.put(KEY, b"x")
    message = str(refused.value)
    assert bucket in message and s3.endpoint in message
    assert "SignatureDoesNotMatch" in message or "AccessDenied" in message
    assert STATUS_OF_CODE[refused.value.code] == 503  # the API's 503, not a 500


def test_a_store_that_is_not_there_is_unavailable_not_missing(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.processes import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nobody listens
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    store = S3Store.from_url(f"s3://{bucket}/booth")
    with pytest.raises(StorageUnavailable, match=re.escape(endpoint)):
        store.get(KEY)


def test_a_bucket_that_does_not_exist_is_unavailable(s3: Any) -> None:
    store = S3Store.from_url("s3://no-such-bucket-here/booth")
    with pytest.raises(StorageUnavailable, match="no-such-bucket-here"):
        store.put(KEY, b"x")
    with pytest.raises(StorageUnavailable, match="NoSuchBucket"):
        store.get(KEY)
