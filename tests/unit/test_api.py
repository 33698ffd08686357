"""The booth's HTTP API through aiohttp's test client: config, uploads, bad input, files by id,
download tokens, the admin API. (Rendering end to end: tests/e2e/test_api_render.py.)"""

from __future__ import annotations

import io
import secrets
from dataclasses import replace

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import select

from db.models import Capture, Export, Result, ResultKind, new_id
from db.session import make_engine, make_sessionmaker
from kiosk.app import create_app
from kiosk.keys import STORE
from render.styles import STYLES
from tests.support.photos import guest_jpeg
from tests.support.qr import decode_qr

ADMIN = {"Authorization": aiohttp.encode_basic_auth("operator", "s3cret")}


@pytest.fixture
def booth_settings(settings):
    return replace(
        settings, max_upload_mb=1, admin_password="s3cret", public_url="http://booth.test"
    )


@pytest.fixture
async def client(aiohttp_client, booth_settings):
    return await aiohttp_client(create_app(booth_settings))


def jpeg(side: int = 640) -> bytes:
    return guest_jpeg(side, quality=90)


def form(photo: bytes, **fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for key, value in {"style": "starry_night", "scene": "own", "source": "camera"}.items():
        data.add_field(key, fields.get(key, value))
    data.add_field("photo", photo, filename="photo.jpg", content_type="image/jpeg")
    return data


async def assert_error(response: aiohttp.ClientResponse, status: int, code: str) -> str:
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["code"] == code and body["error"]
    return body["error"]


async def upload(client, photo: bytes | None = None, **fields: str) -> dict:
    response = await client.post("/api/captures", data=form(photo or jpeg(), **fields))
    assert response.status == 201, await response.text()
    return await response.json()


# --- config and thumbnails -----------------------------------------------------------------


async def test_config_lists_styles_scenes_and_products(client) -> None:
    body = await (await client.get("/api/config")).json()
    assert body["event_name"] == "StyleBooth"
    assert body["idle_timeout_s"] == 60 and body["countdown_s"] == 3
    assert [s["name"] for s in body["styles"]] == list(STYLES)
    assert body["scenes"][0] == {"name": "own", "title": "Keep my background", "thumb_url": None}
    assert len(body["scenes"]) > 1
    assert {p["name"] for p in body["products"]} == {"tee", "sticker", "mug"}
    for item in body["styles"] + body["scenes"][1:]:
        response = await client.get(item["thumb_url"])
        assert response.status == 200 and response.content_type == "image/jpeg"
        thumb = Image.open(io.BytesIO(await response.read()))
        assert thumb.size == (360, 270)


async def test_event_settings_from_the_admin_api_change_the_config(client) -> None:
    response = await client.put(
        "/admin/api/settings",
        json={"event_name": "Anna & Ben's wedding", "countdown_s": 5, "styles": ["udnie"]},
        headers=ADMIN,
    )
    assert response.status == 200
    body = await (await client.get("/api/config")).json()
    assert body["event_name"] == "Anna & Ben's wedding" and body["countdown_s"] == 5
    assert [s["name"] for s in body["styles"]] == ["udnie"]
    # A style the operator switched off is refused.
    await assert_error(await client.post("/api/captures", data=form(jpeg())), 400, "unknown_style")
    message = await assert_error(
        await client.put("/admin/api/settings", json={"countdown_s": 99}, headers=ADMIN),
        400,
        "bad_setting",
    )
    assert "countdown_s" in message
    await client.put("/admin/api/settings", json={"styles": None}, headers=ADMIN)
    assert len((await (await client.get("/api/config")).json())["styles"]) == len(STYLES)


# --- uploads -----------------------------------------------------------------------------


async def test_capture_creates_a_queued_job(client) -> None:
    created = await upload(client)
    assert created["status_url"] == f"/api/jobs/{created['job_id']}"
    assert created["ws_url"] == f"/api/jobs/{created['job_id']}/ws"
    state = await (await client.get(created["status_url"])).json()
    assert state["status"] == "queued" and state["queue_position"] == 0
    assert state["fast_url"] is None and state["download_url"] is None
    # The stored photo is upright RGB JPEG of the upload, inside the capture's folder (in
    # the app's store: the data directory by default, or S3).
    stored = client.app[STORE].get(f"captures/{created['capture_id']}/photo.jpg")
    assert Image.open(io.BytesIO(stored)).size == Image.open(io.BytesIO(jpeg())).size
    second = await upload(client)
    state = await (await client.get(second["status_url"])).json()
    assert state["queue_position"] == 1  # one guest ahead


async def test_health_counts_the_queue_and_says_when_no_worker_runs(client, booth_settings) -> None:
    body = await (await client.get("/healthz")).json()
    assert body["status"] == "degraded" and body["workers"] == []
    assert any("no render worker" in problem for problem in body["problems"])
    idle = {"queued": 0, "running": 0}
    assert body["queue"] == {"fast": idle, "hq": idle, "print": idle, "booths": {}}
    await upload(client)
    await upload(client)
    body = await (await client.get("/healthz")).json()
    assert body["queue"]["fast"] == {"queued": 2, "running": 0}
    assert body["queue"]["hq"] == {"queued": 2, "running": 0}
    waiting = {"fast": {"queued": 2, "running": 0}, "hq": {"queued": 2, "running": 0}}
    assert body["queue"]["booths"] == {booth_settings.booth_id: {**waiting, "print": idle}}


@pytest.mark.parametrize(
    ("photo", "message"),
    [
        (b"%PDF-1.4 definitely not a picture", "not an image"),
        (b"", "empty"),
        (jpeg()[:5000], "truncated or corrupt"),
    ],
)
async def test_a_bad_image_is_a_clear_400(client, photo: bytes, message: str) -> None:
    text = await assert_error(
        await client.post("/api/captures", data=form(photo)), 400, "bad_image"
    )
    assert message in text


async def test_a_decompression_bomb_is_refused_before_decoding(client) -> None:
    buffer = io.BytesIO()
    Image.new("L", (12_000, 10_000)).save(buffer, "PNG", optimize=True)
    assert len(buffer.getvalue()) < 1024 * 1024  # small on the wire, 120 megapixels inside
    text = await assert_error(
        await client.post("/api/captures", data=form(buffer.getvalue())), 400, "bad_image"
    )
    assert "120 megapixels" in text


async def test_an_oversized_upload_is_413(client) -> None:
    big = secrets.token_bytes(1_300_000)  # the limit is 1 MB in these settings
    text = await assert_error(await client.post("/api/captures", data=form(big)), 413, "too_large")
    assert "1 MB" in text

    async def chunks():  # no Content-Length: the limit holds while the body streams in
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="photo"; filename="a.jpg"\r\n\r\n'
        for _ in range(20):
            yield secrets.token_bytes(100_000)
        yield b"\r\n--xyz--\r\n"

    response = await client.post(
        "/api/captures",
        data=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    await assert_error(response, 413, "too_large")


async def test_missing_photo_and_unknown_choices_are_named(client) -> None:
    data = aiohttp.FormData(default_to_multipart=True)
    data.add_field("style", "starry_night")
    assert "photo" in await assert_error(
        await client.post("/api/captures", data=data), 400, "bad_image"
    )
    assert "picasso" in await assert_error(
        await client.post("/api/captures", data=form(jpeg(), style="picasso")),
        400,
        "unknown_style",
    )
    assert "mars" in await assert_error(
        await client.post("/api/captures", data=form(jpeg(), scene="mars")), 400, "unknown_scene"
    )
    # JSON where a multipart photo upload belongs: refused by its media type.
    await assert_error(
        await client.post("/api/captures", json={"a": 1}), 415, "unsupported_media_type"
    )


# --- unknown ids, traversal, tokens ----------------------------------------------------------


async def test_unknown_job_is_a_json_404_everywhere(client) -> None:
    job = new_id()
    for path in (
        f"/api/jobs/{job}",
        f"/api/jobs/{job}/ws",
        f"/api/jobs/{job}/images/final.jpg",
        f"/api/jobs/{job}/qr.png",
        f"/api/styles/{job}/thumb.jpg",
        f"/api/scenes/{job}/thumb.jpg",
        "/api/nothing/here",
    ):
        await assert_error(await client.get(path), 404, "not_found")
    await assert_error(
        await client.post(f"/api/captures/{job}/orders", json={"product": "tee"}), 404, "not_found"
    )
    await assert_error(await client.get(f"/api/captures/{job}/orders"), 404, "not_found")
    await assert_error(await client.delete("/api/config"), 405, "method_not_allowed")


async def test_files_are_only_reachable_by_id(client, booth_settings) -> None:
    created = await upload(client)
    job = created["job_id"]
    secret = booth_settings.data_dir / "secret.txt"
    secret.write_text("operator notes")
    attempts = [
        f"/api/jobs/{job}/images/photo.jpg",  # the raw photo has no route
        f"/api/jobs/{job}/images/..%2F..%2Fsecret.txt",
        f"/api/jobs/{job}/images/%2e%2e%2f%2e%2e%2fsecret.jpg",
        "/api/jobs/..%2F..%2Fsecret.txt/images/final.jpg",
        "/api/styles/..%2F..%2F..%2Fkiosk%2Fconfig/thumb.jpg",
        "/ui/../kiosk/config.py",
        "/ui/%2e%2e/kiosk/config.py",
        "/ui/..%2Fkiosk%2Fconfig.py",
        "/d/..%2F..%2Fsecret.txt",
        "/d/..%2F..%2Fsecret.txt/painting.jpg",
    ]
    for path in attempts:
        response = await client.get(path)
        body = await response.read()
        assert response.status == 404, path
        assert b"operator notes" not in body and b"STYLEBOOTH_" not in body, path
    # An export row whose file path points outside the data directory is refused, too.
    engine = make_engine(booth_settings.db_url)
    with make_sessionmaker(engine).begin() as session:
        export = Export(
            key="evil",
            source_sha256="0" * 64,
            product="tee",
            files={"png": {"path": "../../../etc/passwd", "sha256": "0"}},
        )
        session.add(export)
        session.flush()
        export_id = export.id
    engine.dispose()
    response = await client.get(f"/api/exports/{export_id}/files/png")
    await assert_error(response, 404, "not_found")


async def test_a_guessed_download_token_finds_nothing(client, booth_settings) -> None:
    created = await upload(client)
    engine = make_engine(booth_settings.db_url)
    with make_sessionmaker(engine).begin() as session:
        token = session.scalar(select(Capture.token).where(Capture.id == created["capture_id"]))
    engine.dispose()
    assert len(token) >= 43  # 256 random bits
    # The real token opens the page (still painting); guesses of every shape do not.
    response = await client.get(f"/d/{token}")
    assert response.status == 200 and "still being made" in await response.text()
    for guess in (
        secrets.token_urlsafe(32),
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        created["capture_id"],
        created["job_id"],
        "a",
    ):
        response = await client.get(f"/d/{guess}")
        assert response.status == 404 and "not valid" in await response.text()
        assert (await client.get(f"/d/{guess}/painting.jpg")).status == 404
    # Nothing to download before the painting exists.
    assert (await client.get(f"/d/{token}/painting.jpg")).status == 404


async def test_qr_code_encodes_the_public_download_url(client, booth_settings) -> None:
    created = await upload(client)
    response = await client.get(f"/api/jobs/{created['job_id']}/qr.png")
    assert response.status == 200 and response.content_type == "image/png"
    text = decode_qr(await response.read())
    assert text.startswith("http://booth.test/d/") and len(text) > len("http://booth.test/d/") + 40


async def test_a_forged_host_header_never_reaches_the_qr_code(aiohttp_client, settings) -> None:
    """With no public_url the phones' link comes from this machine's LAN address (bound to
    loopback or to every interface alike: never loopback), whatever Host the request claims."""
    from kiosk.network import public_base

    for host in ("127.0.0.1", "0.0.0.0"):
        booth = replace(settings, host=host, port=8123, public_url=None)
        client = await aiohttp_client(create_app(booth))
        created = await upload(client)
        response = await client.get(
            f"/api/jobs/{created['job_id']}/qr.png", headers={"Host": "evil.example:80"}
        )
        text = decode_qr(await response.read())
        assert "evil.example" not in text and "127.0.0.1" not in text and text, text
        assert text.startswith(f"{public_base(booth)}/d/") and ":8123/d/" in text, text


def paint(settings, capture_id: str, size: tuple[int, int] = (300, 400)) -> None:
    """As if the capture's HQ painting were done: its master's row (orders need no file)."""
    engine = make_engine(settings.db_url)
    with make_sessionmaker(engine).begin() as session:
        session.add(Result(capture_id=capture_id, kind=ResultKind.MASTER, path="m.png",
                           width=size[0], height=size[1], sha256="0" * 64))  # fmt: skip
    engine.dispose()


async def test_an_order_before_the_fast_picture_is_409(client) -> None:
    created = await upload(client)
    url = f"/api/captures/{created['capture_id']}/orders"
    await assert_error(await client.post(url, json={"product": "tee"}), 409, "not_ready")
    preview = f"/api/captures/{created['capture_id']}/preview/tee.png"
    await assert_error(await client.get(preview), 409, "not_ready")
    await assert_error(await client.post(url, json={"product": "hat"}), 400, "unknown_product")
    not_json = await client.post(url, data=b"{nope", headers={"Content-Type": "application/json"})
    await assert_error(not_json, 400, "bad_request")
    assert (await (await client.get(url)).json()) == {"orders": []}


async def test_an_order_gets_a_number_and_a_print_job(client, booth_settings) -> None:
    created = await upload(client)
    paint(booth_settings, created["capture_id"])
    url = f"/api/captures/{created['capture_id']}/orders"
    tee = {"product": "tee", "options": {"size": "xl", "colour": "Black"}, "quantity": 2}
    response = await client.post(url, json=tee)
    assert response.status == 201, await response.text()
    body = await response.json()
    order = body["order"]
    assert body["title"] == order["title"] == "T-shirt"
    assert order["number"] == "A-001" and order["status"] == "received"
    assert order["options"] == {"size": "XL", "colour": "black", "layout": "full"}
    assert order["quantity"] == 2 and order["files"] == [] and order["progress"] == 0.0
    assert [e["status"] for e in order["events"]] == ["received"]
    sticker = await client.post(url, json={"product": "sticker"})
    assert (await sticker.json())["order"]["number"] == "A-002"
    listed = (await (await client.get(url)).json())["orders"]
    assert [o["number"] for o in listed] == ["A-001", "A-002"]
    # Both share the capture's one queued print job; /healthz counts it in its lane.
    assert listed[0]["job_id"] == listed[1]["job_id"] is not None
    health = await (await client.get("/healthz")).json()
    assert health["queue"]["print"] == {"queued": 1, "running": 0}
    # The event's prefix numbers the next order (one to three capital letters).
    bad = await client.put("/admin/api/settings", json={"order_prefix": "b-1"}, headers=ADMIN)
    assert "order_prefix: one to three capital letters" in await assert_error(
        bad, 400, "bad_setting"
    )
    put = await client.put("/admin/api/settings", json={"order_prefix": "BTH"}, headers=ADMIN)
    assert put.status == 200, await put.text()
    mug = await client.post(url, json={"product": "mug", "options": {"layout": "wrap"}})
    assert (await mug.json())["order"]["number"] == "BTH-001"


@pytest.mark.parametrize(
    ("order", "words"),
    [
        ({"product": "tee", "options": {"size": "XXS"}}, "tee size must be"),
        ({"product": "tee", "options": {"colour": "plaid"}}, "tee colour must be one of"),
        ({"product": "tee", "options": {"sleeves": "long"}}, "tee has no option sleeves"),
        ({"product": "sticker", "options": {"size": 9}}, "sticker size must be"),
        ({"product": "mug", "options": {"layout": "inside"}}, "mug layout must be one of"),
        ({"product": "mug", "options": ["wrap"]}, "options must be a JSON object"),
        ({"product": "tee", "quantity": 0}, "quantity must be from 1 to 10, not 0"),
        ({"product": "tee", "quantity": 11}, "not 11"),
        ({"product": "tee", "quantity": "2"}, "whole number"),
    ],
)
async def test_a_bad_order_is_a_400_that_names_what_is_wrong(
    client, booth_settings, order, words
) -> None:
    created = await upload(client)
    paint(booth_settings, created["capture_id"])
    url = f"/api/captures/{created['capture_id']}/orders"
    response = await client.post(url, json=order)
    assert response.status == 400, await response.text()
    assert words in (await response.json())["error"]
    assert (await (await client.get(url)).json()) == {"orders": []}  # nothing was taken


async def test_a_bad_preview_request_is_refused_before_any_drawing(client, booth_settings) -> None:
    created = await upload(client)
    paint(booth_settings, created["capture_id"])
    base = f"/api/captures/{created['capture_id']}/preview"
    await assert_error(await client.get(f"{base}/hat.png"), 400, "unknown_product")
    error = await assert_error(await client.get(f"{base}/mug.png?size=20oz"), 400, "bad_options")
    assert "mug size must be" in error
    await assert_error(await client.get(f"/api/captures/{new_id()}/preview/tee.png"), 404,
                       "not_found")  # fmt: skip


# --- admin -----------------------------------------------------------------------------------


async def test_admin_api_needs_the_password(client) -> None:
    response = await client.get("/admin/api/jobs")
    await assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    wrong = {"Authorization": aiohttp.encode_basic_auth("operator", "guess")}
    await assert_error(await client.get("/admin/api/jobs", headers=wrong), 401, "unauthorized")
    assert (await client.get("/admin/api/jobs", headers=ADMIN)).status == 200


async def test_admin_api_is_off_without_a_password(aiohttp_client, settings) -> None:
    client = await aiohttp_client(create_app(settings))
    await assert_error(await client.get("/admin/api/jobs", headers=ADMIN), 403, "admin_disabled")


async def test_admin_lists_cancels_and_retries_jobs(client) -> None:
    created = await upload(client)
    body = await (await client.get("/admin/api/jobs", headers=ADMIN)).json()
    assert {(j["mode"], j["status"]) for j in body["jobs"]} == {
        ("fast", "queued"),
        ("hq", "queued"),
    }
    job = created["job_id"]
    retry = f"/admin/api/jobs/{job}/retry"
    await assert_error(await client.post(retry, headers=ADMIN), 409, "conflict")
    cancelled = await client.post(f"/admin/api/jobs/{job}/cancel", headers=ADMIN)
    assert (await cancelled.json())["status"] == "cancelled"
    state = await (await client.get(f"/api/jobs/{job}")).json()
    assert state["status"] == "cancelled"
    retried = await (await client.post(retry, headers=ADMIN)).json()
    assert retried["status"] == "queued" and retried["attempts"] == 0
    await assert_error(
        await client.post(f"/admin/api/jobs/{new_id()}/retry", headers=ADMIN), 404, "not_found"
    )
    filtered = await (await client.get("/admin/api/jobs?status=failed", headers=ADMIN)).json()
    assert filtered["jobs"] == []
    await assert_error(
        await client.get("/admin/api/jobs?status=weird", headers=ADMIN), 400, "bad_request"
    )


async def test_the_admin_page_and_its_choices_need_the_password(client) -> None:
    redirect = await client.get("/admin", allow_redirects=False)
    assert redirect.status == 308 and redirect.headers["Location"] == "/admin/"
    await assert_error(await client.get("/admin/"), 401, "unauthorized")
    page = await client.get("/admin/", headers=ADMIN)
    assert page.status == 200 and "/ui/js/admin.js" in await page.text()
    choices = await (await client.get("/admin/api/choices", headers=ADMIN)).json()
    assert [s["name"] for s in choices["styles"]] == list(STYLES)
    assert choices["scenes"] and "own" not in {s["name"] for s in choices["scenes"]}


async def test_purge_deletes_finished_guests_and_keeps_renders_in_progress(client) -> None:
    finished, waiting = await upload(client), await upload(client)
    jobs = (await (await client.get("/admin/api/jobs", headers=ADMIN)).json())["jobs"]
    for job in jobs:
        if job["capture_id"] == finished["capture_id"]:
            await client.post(f"/admin/api/jobs/{job['id']}/cancel", headers=ADMIN)
    store = client.app[STORE]
    assert store.stat(f"captures/{finished['capture_id']}/photo.jpg") is not None

    for body in (None, {}, {"older_than_hours": -1}, {"older_than_hours": "all"},
                 {"older_than_hours": True}):  # fmt: skip
        response = await client.post("/admin/api/purge", json=body, headers=ADMIN)
        await assert_error(response, 400, "bad_request")
    client.session.cookie_jar.clear()  # no admin session either: the password is needed
    await assert_error(
        await client.post("/admin/api/purge", json={"older_than_hours": 0}), 401, "unauthorized"
    )
    kept = await client.post("/admin/api/purge", json={"older_than_hours": 1}, headers=ADMIN)
    assert await kept.json() == {
        "deleted": 0,
        "skipped_active": 0,
        "failed_folders": [],
        "orphans_removed": 0,
    }

    response = await client.post("/admin/api/purge", json={"older_than_hours": 0}, headers=ADMIN)
    assert await response.json() == {
        "deleted": 1,
        "skipped_active": 1,
        "failed_folders": [],
        "orphans_removed": 0,
    }
    assert list(store.list(f"captures/{finished['capture_id']}")) == []
    assert store.stat(f"captures/{waiting['capture_id']}/photo.jpg") is not None
    await assert_error(await client.get(finished["status_url"]), 404, "not_found")
    assert (await client.get(waiting["status_url"])).status == 200
    left = (await (await client.get("/admin/api/jobs", headers=ADMIN)).json())["jobs"]
    assert {job["capture_id"] for job in left} == {waiting["capture_id"]}
