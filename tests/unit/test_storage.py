"""The ``FileStore`` contract, on ``LocalStore`` here and on ``S3Store`` against a real S3 server
in ``tests/scaleout/test_storage_s3.py``, which imports these very tests (with its own
``store`` fixture) so the two backends cannot drift apart. Then ``respond``, the one way a
route sends a stored file, through a small real aiohttp app."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from kiosk.dbio import io_pool
from kiosk.errors import json_errors
from kiosk.storage import BadKey, FileStore, LocalStore, MissingFile
from kiosk.storage.serve import respond

KEY = "captures/abc123/final.jpg"
MISSING = "captures/nope/final.jpg"
BAD_KEYS = ["../x", "/etc/passwd", "captures//x", "captures/./x", ""]

StoreClient = Callable[[FileStore], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return LocalStore(tmp_path / "data")


def test_put_then_get_returns_the_bytes_and_a_second_put_replaces_them(store: FileStore) -> None:
    store.put(KEY, b"first")
    assert store.get(KEY) == b"first"
    store.put(KEY, b"second, longer")
    assert store.get(KEY) == b"second, longer"


def test_put_leaves_only_the_file_behind(store: FileStore) -> None:
    """No temporary name is left for a reader (or a purge) to find."""
    store.put(KEY, b"x" * 1000)
    store.put("captures/abc123/photo.jpg", b"y")
    assert sorted(o.key for o in store.list("captures/abc123")) == [
        "captures/abc123/final.jpg",
        "captures/abc123/photo.jpg",
    ]


def test_put_file_copies_a_local_file_in(store: FileStore, tmp_path: Path) -> None:
    source = tmp_path / "print.pdf"
    source.write_bytes(os.urandom(50_000))
    store.put_file("exports/print.pdf", source)
    assert store.get("exports/print.pdf") == source.read_bytes()


def test_a_missing_file_is_missing_file_naming_the_key(store: FileStore) -> None:
    with pytest.raises(MissingFile, match=re.escape(MISSING)):
        store.get(MISSING)
    with (
        pytest.raises(MissingFile, match=re.escape(MISSING)),
        store.local_copy(MISSING),
    ):
        pass
    assert store.stat(MISSING) is None


@pytest.mark.parametrize("key", BAD_KEYS)
def test_keys_that_could_escape_are_refused_by_every_method(store: FileStore, key: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.put(key, b"x"),
        lambda: store.get(key),
        lambda: store.stat(key),
        lambda: store.delete(key),
        lambda: store.move(key, KEY),
    ]
    for call in calls:
        with pytest.raises(BadKey):
            call()


def test_stat_gives_size_and_a_recent_utc_time(store: FileStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    store.put(KEY, b"12345")
    found = store.stat(KEY)
    assert found is not None
    assert (found.key, found.size) == (KEY, 5)
    assert found.modified.tzinfo is not None
    assert before <= found.modified <= datetime.now(UTC) + timedelta(seconds=5)


def test_local_copy_holds_the_bytes_while_the_block_runs(store: FileStore) -> None:
    store.put(KEY, b"pixels")
    with store.local_copy(KEY) as path:
        assert path.read_bytes() == b"pixels"
        assert path.suffix == ".jpg"  # PIL and ZIP writers go by the name
    if isinstance(store, LocalStore):
        assert path.exists()  # the file itself: never deleted
    else:
        assert not path.exists()  # a download: removed afterwards


def test_move_renames_and_a_missing_source_is_missing_file(store: FileStore) -> None:
    store.put("captures/abc123/.pending-photo.jpg", b"guest")
    store.move("captures/abc123/.pending-photo.jpg", "captures/abc123/photo.jpg")
    assert store.get("captures/abc123/photo.jpg") == b"guest"
    assert store.stat("captures/abc123/.pending-photo.jpg") is None
    with pytest.raises(MissingFile, match="pending"):
        store.move("captures/abc123/.pending-photo.jpg", "captures/abc123/other.jpg")


def test_delete_removes_and_an_absent_file_is_no_error(store: FileStore) -> None:
    store.put(KEY, b"x")
    store.delete(KEY)
    assert store.stat(KEY) is None
    store.delete(KEY)


def test_delete_prefix_removes_the_folder_and_nothing_beside_it(store: FileStore) -> None:
    for name in ("photo.jpg", "final.jpg", "previews/1.jpg"):
        store.put(f"captures/abc/{name}", b"x")
    store.put("captures/abcd/photo.jpg", b"neighbour")  # a prefix of the name, not the folder
    assert store.delete_prefix("captures/abc") == 3
    assert list(store.list("captures/abc")) == []
    assert store.get("captures/abcd/photo.jpg") == b"neighbour"
    assert store.delete_prefix("captures/abc") == 0
    assert store.delete_prefix("captures/never") == 0


def test_list_gives_every_file_under_the_folder_with_sizes(store: FileStore) -> None:
    store.put("captures/abc/photo.jpg", b"123")
    store.put("captures/abc/previews/1.jpg", b"12345")
    store.put("captures/abcd/photo.jpg", b"x")
    found = {o.key: o.size for o in store.list("captures/abc")}
    assert found == {"captures/abc/photo.jpg": 3, "captures/abc/previews/1.jpg": 5}
    assert list(store.list("captures/none")) == []


# --- LocalStore only ---------------------------------------------------------------------------


def test_local_put_that_fails_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "data")
    store.put(KEY, b"old")
    not_a_file = tmp_path / "a-directory"
    not_a_file.mkdir()
    with pytest.raises(OSError):
        store.put_file(KEY, not_a_file)
    assert store.get(KEY) == b"old"
    assert [p.name for p in store.path(KEY).parent.iterdir()] == ["final.jpg"]


# --- respond(): serving a stored file ----------------------------------------------------------


@pytest.fixture
def store_client(aiohttp_client: Any) -> StoreClient:
    """A real aiohttp app with the server's error middleware and I/O pool, serving
    ``/api/files/{key}`` from a store through ``respond``."""

    async def make(store: FileStore) -> TestClient[Any, Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            key = request.match_info["key"]
            name = request.query.get("download")
            return await respond(
                request, store, key, headers={"Cache-Control": "private, max-age=60"}, filename=name
            )

        app = web.Application(middlewares=[json_errors])
        app.cleanup_ctx.append(io_pool)
        app.router.add_get("/api/files/{key:.+}", handler)
        client: TestClient[Any, Any] = await aiohttp_client(app)
        return client

    return make


async def test_respond_sends_the_bytes_with_type_length_and_the_callers_headers(
    store: FileStore, store_client: StoreClient
) -> None:
    data = os.urandom(700_000)  # several chunks
    store.put(KEY, data)
    client = await store_client(store)
    answer = await client.get(f"/api/files/{KEY}")
    assert answer.status == 200
    assert await answer.read() == data
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert answer.headers["Content-Length"] == str(len(data))
    assert answer.headers["Cache-Control"] == "private, max-age=60"
    assert answer.headers.get("ETag")


async def test_respond_answers_304_to_a_matching_if_none_match(
    store: FileStore, store_client: StoreClient
) -> None:
    store.put(KEY, b"same picture")
    client = await store_client(store)
    etag = (await client.get(f"/api/files/{KEY}")).headers["ETag"]
    again = await client.get(f"/api/files/{KEY}", headers={"If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    store.put(KEY, b"a new picture")
    changed = await client.get(f"/api/files/{KEY}", headers={"If-None-Match": etag})
    assert changed.status == 200
    assert await changed.read() == b"a new picture"


async def test_respond_names_a_download(store: FileStore, store_client: StoreClient) -> None:
    store.put("exports/order-7.pdf", b"%PDF-1.7")
    client = await store_client(store)
    answer = await client.get("/api/files/exports/order-7.pdf?download=order-7.pdf")
    assert answer.headers["Content-Disposition"] == 'attachment; filename="order-7.pdf"'
    assert answer.headers["Content-Type"] == "application/pdf"


async def test_respond_answers_a_missing_file_with_a_json_404(
    store: FileStore, store_client: StoreClient
) -> None:
    client = await store_client(store)
    answer = await client.get("/api/files/captures/gone/final.jpg")
    assert answer.status == 404
    body = await answer.json()
    assert body["code"] == "missing_file"
    assert "captures/gone/final.jpg" in body["error"]


def test_put_keeps_no_checksum_it_was_not_given(store: FileStore) -> None:
    store.put(KEY, b"x")
    found = store.stat(KEY)
    assert found is not None and found.sha256 is None
