"""The print desk's API (``/admin/api/orders``) through aiohttp's test client, on a real
SQLite database with orders placed through ``kiosk.order_book`` and print files made by the
real export library (small stickers and mugs: well under a second each).

Listing newest first and by status, every change the desk makes stored as an event, the
changes a status does not allow answered 409 in words, unknown numbers 404, the retry's new
print job, and the slip. (The hand-off ZIP: tests/unit/test_handoff.py.)"""

from __future__ import annotations

import io
from dataclasses import replace

import aiohttp
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from db.models import Job, JobStatus, Lane, OrderEvent
from kiosk import order_book
from kiosk.app import create_app
from tests.support.desk import fail_order, make_files, painted_capture, place_order

ADMIN = {"Authorization": aiohttp.encode_basic_auth("operator", "s3cret")}


@pytest.fixture
def desk_settings(settings):
    return replace(settings, admin_password="s3cret", public_url="http://booth.test")


@pytest.fixture
async def client(aiohttp_client, desk_settings):
    return await aiohttp_client(create_app(desk_settings))


@pytest.fixture
def orders(client, sessions, desk_settings) -> dict[str, str]:
    """Three orders of one guest, oldest first: a sticker with its files, a sticker that
    failed, a mug still waiting. (The client fixture first: the app migrates the database.)"""
    data_dir = desk_settings.data_dir
    capture = painted_capture(sessions, data_dir)
    ready = place_order(sessions, capture, "sticker", {"size": 2})
    make_files(sessions, data_dir, ready)
    failed = place_order(sessions, capture, "sticker", {"size": 4})
    fail_order(sessions, failed, "the printer jammed")
    waiting = place_order(sessions, capture, "mug", {"size": "11oz", "layout": "wrap"}, 2)
    return {"ready": ready, "waiting": waiting, "failed": failed, "capture": capture}


async def listed(client, query: str = "") -> list[dict]:
    response = await client.get(f"/admin/api/orders{query}", headers=ADMIN)
    assert response.status == 200, await response.text()
    return (await response.json())["orders"]


async def act(client, number: str, action: str) -> aiohttp.ClientResponse:
    return await client.post(f"/admin/api/orders/{number}/{action}", headers=ADMIN)


async def assert_refused(response: aiohttp.ClientResponse, status: int, *words: str) -> str:
    assert response.status == status, await response.text()
    message = (await response.json())["error"]
    assert all(word in message for word in words), message
    return message


def events(sessions, number: str) -> list[tuple[str, str | None]]:
    with sessions() as session:
        order = order_book.by_number(session, number)
        assert order is not None
        rows = session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
        )
        return [(row.status.value, row.note) for row in rows]


async def test_orders_are_listed_newest_first_with_what_the_desk_needs(client, orders) -> None:
    rows = await listed(client)
    assert [row["number"] for row in rows] == [orders["waiting"], orders["failed"], orders["ready"]]
    waiting, failed, ready = rows
    assert ready["status"] == "files_ready" and ready["actions"] == ["printed"]
    assert ready["status_label"] == "Files ready"
    assert ready["product_title"] == "Sticker" and ready["option_words"] == ["2 in die-cut"]
    assert {file["role"] for file in ready["files"]} == {"png", "pdf"}
    for file in ready["files"]:  # the links download the recorded files
        response = await client.get(file["url"], headers=ADMIN)
        assert response.status == 200
        assert (await response.read())[:4] == (b"\x89PNG" if file["role"] == "png" else b"%PDF")
    thumbnail = await client.get(ready["thumbnail_url"], headers=ADMIN)
    assert thumbnail.status == 200 and thumbnail.content_type == "image/jpeg"
    assert waiting["status"] == "received" and waiting["files"] == [] and waiting["actions"] == []
    assert waiting["quantity"] == 2 and waiting["option_words"] == ["11 oz", "Layout wrap"]
    assert 0.0 <= waiting["progress"] < 1.0
    assert failed["status"] == "failed" and failed["error"] == "the printer jammed"
    assert failed["actions"] == ["retry"] and failed["files"] == []


async def test_the_list_filters_by_status_and_limits(client, orders) -> None:
    assert [row["number"] for row in await listed(client, "?status=files_ready")] == [
        orders["ready"]
    ]
    assert [row["number"] for row in await listed(client, "?status=failed")] == [orders["failed"]]
    assert await listed(client, "?status=collected") == []
    assert [row["number"] for row in await listed(client, "?limit=1")] == [orders["waiting"]]
    await assert_refused(
        await client.get("/admin/api/orders?status=lost", headers=ADMIN), 400, "status", "failed"
    )
    await assert_refused(
        await client.get("/admin/api/orders?limit=many", headers=ADMIN), 400, "limit"
    )


async def test_printed_then_collected_then_reprinted_is_stored(client, orders, sessions) -> None:
    number = orders["ready"]
    printed = await act(client, number, "printed")
    assert printed.status == 200
    body = await printed.json()
    assert body["status"] == "printed" and body["actions"] == ["collected", "reprint"]
    collected = await (await act(client, number, "collected")).json()
    assert collected["status"] == "collected" and collected["actions"] == ["reprint"]
    reprinted = await (await act(client, number, "reprint")).json()
    assert reprinted["status"] == "printed"
    assert [event["status"] for event in reprinted["events"]][-3:] == [
        "printed",
        "collected",
        "printed",
    ]
    stored = events(sessions, number)
    assert stored[-3:] == [
        ("printed", None),
        ("collected", None),
        ("printed", "reprinted at the print desk"),
    ]
    again = await (await act(client, number, "reprint")).json()  # printed stays printed
    assert again["status"] == "printed" and len(events(sessions, number)) == len(stored) + 1
    rows = await listed(client, "?status=printed")
    assert [row["number"] for row in rows] == [number]


async def test_changes_the_status_does_not_allow_are_409_in_words(client, orders, sessions) -> None:
    ready, waiting = orders["ready"], orders["waiting"]
    before = events(sessions, waiting)
    await assert_refused(await act(client, waiting, "printed"), 409, waiting, "(received)")
    await assert_refused(await act(client, ready, "collected"), 409, ready, "only a printed")
    await assert_refused(await act(client, ready, "reprint"), 409, ready, "(files ready)")
    await assert_refused(await act(client, ready, "retry"), 409, ready, "only a failed")
    assert (await act(client, ready, "printed")).status == 200
    await assert_refused(await act(client, ready, "printed"), 409, "(printed)", "use Reprint")
    assert events(sessions, waiting) == before  # a refused change records nothing
    for action in ("printed", "collected", "reprint", "retry"):
        await assert_refused(await act(client, "Z-999", action), 404, "Z-999")
    await assert_refused(
        await client.get("/admin/api/orders/Z-999/slip.pdf", headers=ADMIN), 404, "Z-999"
    )


async def test_a_retry_starts_the_failed_order_again_with_a_print_job(
    client, orders, sessions
) -> None:
    number = orders["failed"]
    with sessions() as session:
        old_job = order_book.by_number(session, number).job_id  # type: ignore[union-attr]
        session.get(Job, old_job).status = JobStatus.done  # type: ignore[union-attr]
        session.commit()
    body = await (await act(client, number, "retry")).json()
    assert body["status"] == "received" and body["error"] is None and body["files"] == []
    assert body["events"][-1]["status"] == "received"
    with sessions() as session:
        job = session.get(Job, body["job_id"])
        assert job is not None and job.mode == Lane.PRINT and job.status == JobStatus.queued
        assert job.id != old_job


async def test_the_desk_is_behind_the_admin_password(client, orders) -> None:
    response = await client.get("/admin/api/orders")
    assert response.status == 401
    response = await client.post(f"/admin/api/orders/{orders['ready']}/printed")
    assert response.status == 401
    client.session.cookie_jar.clear()
    assert (await listed(client))[0]["number"] == orders["waiting"]
    # Signed in by the cookie alone, a change needs the page's CSRF token.
    refused = await client.post(f"/admin/api/orders/{orders['ready']}/printed")
    assert refused.status == 403 and (await refused.json())["code"] == "csrf"


async def test_the_slip_is_a_4x6_pdf_with_the_number_and_the_download_link(
    client, orders, sessions
) -> None:
    number = orders["waiting"]
    response = await client.get(f"/admin/api/orders/{number}/slip.pdf", headers=ADMIN)
    assert response.status == 200 and response.content_type == "application/pdf"
    assert f"{number}-slip.pdf" in response.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(await response.read()))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == (288.0, 432.0)
    text = page.extract_text()
    assert number in text and "Mug" in text and "× 2" in text and "Layout wrap" in text
    fonts = page["/Resources"]["/Font"]
    for ref in fonts.values():  # every font the page uses is embedded
        descriptor = ref.get_object()["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor
