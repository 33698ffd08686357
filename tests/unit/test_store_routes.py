"""The server keeps every file in its ``FileStore``, not in its data directory: with
``storage_url`` naming another directory (as a shared S3 bucket would be), a guest's photo,
the thumbnails, the previews and the purge all go there, and a file on record that is gone
from the store is a JSON 404 that says so, never a 500. Real SQLite, real files, the API
through aiohttp's test client."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select, update

from db.models import Capture, Export, Job, Result, ResultKind, new_id
from db.session import make_engine, make_sessionmaker
from export.specs import normalize_options
from kiosk import order_book
from kiosk.app import create_app
from kiosk.config import Settings
from kiosk.keys import STORE
from kiosk.storage import FileStore, encode
from render.files import sha256_bytes
from tests.support.photos import guest_jpeg

ADMIN = {"Authorization": aiohttp.encode_basic_auth("operator", "s3cret")}


@pytest.fixture
def store_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The files in a directory of their own, apart from the data directory (the database)."""
    return replace(settings, storage_url=str(tmp_path / "store"), admin_password="s3cret")


@pytest.fixture
async def client(aiohttp_client, store_settings):
    return await aiohttp_client(create_app(store_settings))


def store_of(client) -> FileStore:
    return client.app[STORE]


def stored_keys(store: FileStore, prefix: str) -> list[str]:
    return sorted(item.key for item in store.list(prefix))


async def upload(client) -> dict:
    data = aiohttp.FormData()
    for key, value in {"style": "starry_night", "scene": "own", "source": "camera"}.items():
        data.add_field(key, value)
    data.add_field("photo", guest_jpeg(640), filename="photo.jpg", content_type="image/jpeg")
    response = await client.post("/api/captures", data=data)
    assert response.status == 201, await response.text()
    return await response.json()


def painted(settings: Settings, store: FileStore, capture_id: str) -> bytes:
    """As the worker would: the final painting in the store, its row, the jobs done."""
    data = encode(Image.new("RGB", (96, 128), (200, 60, 40)))
    key = f"captures/{capture_id}/final.jpg"
    store.put(key, data)
    engine = make_engine(settings.db_url)
    with make_sessionmaker(engine).begin() as session:
        session.add(Result(capture_id=capture_id, kind=ResultKind.FINAL, path=key,
                           width=96, height=128, sha256="0" * 64))  # fmt: skip
        session.execute(update(Job).where(Job.capture_id == capture_id).values(status="done"))
    engine.dispose()
    return data


def print_file_ready(settings: Settings, store: FileStore, capture_id: str) -> tuple[str, bytes]:
    """As the print job would: an order for the painted capture, its print file in the
    store under ``exports/<capture_id>/``, recorded, the order files_ready. Its number and
    the file's bytes."""
    png = encode(Image.new("RGB", (60, 60), (10, 120, 60)), "PNG", dpi=(300, 300))
    key = f"exports/{capture_id}/sticker.png"
    store.put(key, png)
    engine = make_engine(settings.db_url)
    with make_sessionmaker(engine).begin() as session:
        session.add(
            Result(
                capture_id=capture_id,
                kind=ResultKind.MASTER,
                path="m.png",
                width=96,
                height=128,
                sha256="0" * 64,
            )
        )  # orders need no file
        sticker = normalize_options("sticker", {"size": 2})
        order = order_book.place(session, capture_id=capture_id, product="sticker",
                                 options=sticker, quantity=1)  # fmt: skip
        assert order is not None and order.job_id is not None
        order_book.start_painting(session, order.job_id)
        export = Export(key=new_id(), source_sha256="0" * 64, product="sticker",
                        files={"png": {"path": key, "sha256": sha256_bytes(png)}})  # fmt: skip
        session.add(export)
        session.flush()
        assert order_book.files_made(session, order.id, export.id)
        number = order.number
    engine.dispose()
    return number, png


async def test_a_guest_photo_lands_in_the_store_not_the_data_directory(
    client, store_settings
) -> None:
    created = await upload(client)
    capture_id = created["capture_id"]
    store = store_of(client)
    # Only the placed photo: the pending name is gone once the row committed.
    assert stored_keys(store, f"captures/{capture_id}") == [f"captures/{capture_id}/photo.jpg"]
    photo = Image.open(io.BytesIO(store.get(f"captures/{capture_id}/photo.jpg")))
    assert photo.size == Image.open(io.BytesIO(guest_jpeg(640))).size
    assert not (store_settings.data_dir / "captures").exists()
    assert (Path(store_settings.storage_url) / "captures" / capture_id / "photo.jpg").is_file()


async def test_a_refused_insert_leaves_no_photo_in_the_store(client, monkeypatch) -> None:
    """A capture whose row cannot be written keeps nothing of the guest (privacy first)."""
    from kiosk.queue import manager

    def broken(*args, **kwargs):
        raise RuntimeError("the database refused the insert")

    monkeypatch.setattr(manager, "create_capture", broken)
    data = aiohttp.FormData()
    for key, value in {"style": "starry_night", "scene": "own", "source": "camera"}.items():
        data.add_field(key, value)
    data.add_field("photo", guest_jpeg(320), filename="photo.jpg", content_type="image/jpeg")
    response = await client.post("/api/captures", data=data)
    assert response.status == 500
    assert stored_keys(store_of(client), "captures") == []


async def test_thumbnails_are_made_once_into_the_store(client, store_settings) -> None:
    body = await (await client.get("/api/config")).json()
    style = body["styles"][0]
    response = await client.get(style["thumb_url"])
    assert response.status == 200 and response.content_type == "image/jpeg"
    key = f"cache/thumbs/styles/{style['name']}.jpg"
    assert store_of(client).get(key) == await response.read()
    before = store_of(client).stat(key)
    assert (await client.get(style["thumb_url"])).status == 200
    assert store_of(client).stat(key) == before  # served from the store, not drawn again
    assert not (store_settings.data_dir / "cache").exists()


async def test_an_image_gone_from_the_store_is_a_json_404_that_says_so(
    client, store_settings
) -> None:
    created = await upload(client)
    store = store_of(client)
    data = painted(store_settings, store, created["capture_id"])
    url = f"/api/jobs/{created['job_id']}/images/final.jpg"
    response = await client.get(url)
    assert response.status == 200 and await response.read() == data
    assert response.content_type == "image/jpeg"

    store.delete(f"captures/{created['capture_id']}/final.jpg")  # lost, or purged by hand
    response = await client.get(url)
    assert response.status == 404, await response.text()
    body = await response.json()
    assert body["code"] in ("missing_file", "not_found")
    assert "final.jpg" in body["error"]
    # The product preview of that painting says the same, rather than failing to draw.
    preview = await client.get(f"/api/captures/{created['capture_id']}/preview/sticker.png")
    assert preview.status == 404, await preview.text()
    assert "final.jpg" in (await preview.json())["error"]


async def test_the_preview_is_cached_in_the_captures_store_folder(client, store_settings) -> None:
    created = await upload(client)
    capture_id = created["capture_id"]
    store = store_of(client)
    painted(store_settings, store, capture_id)
    url = f"/api/captures/{capture_id}/preview/sticker.png"
    first = await client.get(url)
    assert first.status == 200 and first.content_type == "image/png", await first.text()
    previews = [k for k in stored_keys(store, f"captures/{capture_id}") if "/previews/" in k]
    assert len(previews) == 1 and store.get(previews[0]) == await first.read()
    second = await client.get(url)
    assert await second.read() == store.get(previews[0])
    assert len([k for k in stored_keys(store, "captures") if "/previews/" in k]) == 1


async def test_purge_removes_the_captures_objects_from_the_store(client, store_settings) -> None:
    done, waiting = await upload(client), await upload(client)
    store = store_of(client)
    painted(store_settings, store, done["capture_id"])
    store.put(f"exports/{done['capture_id']}/abc/tee.png", b"a print file")
    assert len(stored_keys(store, f"captures/{done['capture_id']}")) == 2

    response = await client.post("/admin/api/purge", json={"older_than_hours": 0}, headers=ADMIN)
    assert response.status == 200, await response.text()
    assert (await response.json())["deleted"] == 1
    assert stored_keys(store, f"captures/{done['capture_id']}") == []
    assert stored_keys(store, f"exports/{done['capture_id']}") == []
    # The guest still painting keeps every file.
    assert stored_keys(store, f"captures/{waiting['capture_id']}") == [
        f"captures/{waiting['capture_id']}/photo.jpg"
    ]


async def test_the_phone_page_download_of_a_lost_painting_is_a_404(client, store_settings) -> None:
    created = await upload(client)
    store = store_of(client)
    data = painted(store_settings, store, created["capture_id"])
    engine = make_engine(store_settings.db_url)
    with make_sessionmaker(engine).begin() as session:
        token = session.scalar(select(Capture.token).where(Capture.id == created["capture_id"]))
    engine.dispose()
    response = await client.get(f"/d/{token}/painting.jpg?download=1")
    assert response.status == 200 and await response.read() == data
    assert "stylebooth.jpg" in response.headers["Content-Disposition"]
    store.delete(f"captures/{created['capture_id']}/final.jpg")
    response = await client.get(f"/d/{token}/painting.jpg")
    assert response.status == 404


async def test_the_print_desk_reads_print_files_and_pictures_from_the_store(
    client, store_settings
) -> None:
    created = await upload(client)
    capture_id = created["capture_id"]
    store = store_of(client)
    painted(store_settings, store, capture_id)
    number, png = print_file_ready(store_settings, store, capture_id)

    orders = await (await client.get("/admin/api/orders", headers=ADMIN)).json()
    (row,) = orders["orders"]
    assert row["number"] == number and row["status"] == "files_ready"
    download = await client.get(row["files"][0]["url"])
    assert download.status == 200 and await download.read() == png
    assert "sticker.png" in download.headers["Content-Disposition"]

    response = await client.post(
        "/admin/api/orders/batch", json={"numbers": [number]}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    (name,) = [n for n in archive.namelist() if n.endswith(".png")]
    assert archive.read(name) == png

    slip_url = f"/admin/api/orders/{number}/slip.pdf"
    slip = await client.get(slip_url, headers=ADMIN)
    assert slip.status == 200, await slip.text()
    assert len(PdfReader(io.BytesIO(await slip.read())).pages[0].images) == 1  # the painting

    store.delete(f"exports/{capture_id}/sticker.png")  # lost from the store
    response = await client.post(
        "/admin/api/orders/batch", json={"numbers": [number]}, headers=ADMIN
    )
    assert response.status == 409
    assert "missing from" in (await response.json())["error"]
    gone = await client.get(row["files"][0]["url"])
    assert gone.status == 404 and "sticker.png" in (await gone.json())["error"]
    # A slip whose painting is gone still prints (its number matters more), without it.
    store.delete(f"captures/{capture_id}/final.jpg")
    slip = await client.get(slip_url, headers=ADMIN)
    assert slip.status == 200
    assert len(PdfReader(io.BytesIO(await slip.read())).pages[0].images) == 0
