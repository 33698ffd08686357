"""The gallery screen's data (kiosk/gallery.py, kiosk/admin_gallery.py, the queries in
kiosk/queue/manager.py) on a real SQLite database with real files: which paintings are on it
(finished, not opted out by the guest, not hidden by the operator, not purged), newest
first, at most N; the API names no capture or job (bearer keys), its pictures and QR codes
exist only while the painting is shown, the guest's choice and the operator's are kept
apart. (In a real browser with a real render worker: tests/e2e/test_browser_gallery.py.)"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import select, update

from db.models import Capture, Job, JobStatus, Lane, Result, ResultKind
from db.session import make_engine, make_sessionmaker
from kiosk import purge
from kiosk.app import create_app
from kiosk.queue import manager
from kiosk.storage import LocalStore
from tests.support.desk import painted_capture
from tests.support.photos import guest_photo
from tests.support.qr import decode_qr

ADMIN = {"Authorization": aiohttp.encode_basic_auth("operator", "s3cret")}
START = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


def paint(sessions, data_dir, minute: int, style: str = "starry_night") -> str:
    """A guest's finished painting, its HQ job done ``minute`` minutes after START; the
    capture id."""
    capture_id = painted_capture(sessions, data_dir, guest_photo((120, 90)))
    with sessions.begin() as session:
        session.execute(
            update(Job)
            .where(Job.capture_id == capture_id, Job.mode == Lane.HQ)
            .values(finished_at=START + timedelta(minutes=minute))
        )
        session.execute(update(Capture).where(Capture.id == capture_id).values(style=style))
    return capture_id


def item_of(sessions, capture_id: str) -> str:
    """The gallery's id of a capture's painting (its final result's id)."""
    with sessions() as session:
        return session.scalar(
            select(Result.id).where(
                Result.capture_id == capture_id, Result.kind == ResultKind.FINAL
            )
        )


def shown(sessions, limit: int = 12) -> list[str]:
    with sessions.begin() as session:
        return [row.id for row in manager.gallery_items(session, limit)]


def test_only_finished_paintings_that_nobody_withdrew_newest_first(sessions, settings) -> None:
    data = settings.data_dir
    first, second, third = (paint(sessions, data, minute) for minute in (1, 2, 3))
    opted_out = paint(sessions, data, 4)
    hidden = paint(sessions, data, 5)
    unfinished = paint(sessions, data, 6)
    with sessions.begin() as session:
        assert manager.set_gallery_opt_out(session, opted_out, True)
        assert manager.set_gallery_hidden(session, item_of(sessions, hidden), True) is not None
        assert not manager.set_gallery_opt_out(session, "no-such-capture", True)
        assert manager.set_gallery_hidden(session, "no-such-item", True) is None
        # The HQ painting run again (an operator's retry): off the gallery until it is done.
        session.execute(
            update(Job)
            .where(Job.capture_id == unfinished, Job.mode == Lane.HQ)
            .values(status=JobStatus.queued)
        )
    ids = {capture: item_of(sessions, capture) for capture in (first, second, third)}
    assert shown(sessions) == [ids[third], ids[second], ids[first]]
    assert shown(sessions, limit=2) == [ids[third], ids[second]]

    with sessions.begin() as session:
        everyone = manager.gallery_items(session, 12, everyone=True)
        flags = {row.id: (row.opted_out, row.hidden) for row in everyone}
        assert flags[item_of(sessions, opted_out)] == (True, False)
        assert flags[item_of(sessions, hidden)] == (False, True)
        assert item_of(sessions, unfinished) not in flags
        # The operator showing a painting again never overrules the guest's "no".
        both = item_of(sessions, opted_out)
        manager.set_gallery_hidden(session, both, True)
        row = manager.set_gallery_hidden(session, both, False)
        assert row is not None and row.opted_out and not row.hidden
        assert manager.gallery_item(session, both) is None
        assert manager.gallery_item(session, both, everyone=True) is not None
    assert both not in shown(sessions)


def test_a_purged_guest_is_gone_from_the_gallery_at_once(sessions, settings) -> None:
    kept = paint(sessions, settings.data_dir, 1)
    gone = paint(sessions, settings.data_dir, 2)
    with sessions.begin() as session:
        session.execute(
            update(Capture).where(Capture.id == kept).values(created_at=START + timedelta(days=1))
        )
        session.execute(update(Capture).where(Capture.id == gone).values(created_at=START))
    assert len(shown(sessions)) == 2
    with sessions.begin() as session:
        report = purge.delete_records(session, START + timedelta(hours=1))
    purge.delete_folders(LocalStore(settings.data_dir), report)
    assert report.captures == [gone]
    assert shown(sessions) == [item_of(sessions, kept)]


# --- through the HTTP API ---------------------------------------------------------------------


@pytest.fixture
def booth_settings(settings):
    return replace(
        settings, admin_password="s3cret", public_url="http://booth.test", event_name="Gala"
    )


@pytest.fixture
async def client(aiohttp_client, booth_settings):
    return await aiohttp_client(create_app(booth_settings))


@pytest.fixture
def booth_sessions(booth_settings, client):
    """The app's database (the client made and migrated it), for the test's own rows."""
    engine = make_engine(booth_settings.db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


async def gallery(client) -> list[dict]:
    response = await client.get("/api/gallery")
    assert response.status == 200, await response.text()
    return (await response.json())["items"]


async def test_the_api_shows_titles_pictures_and_qr_codes_but_no_bearer_keys(
    client, booth_sessions, booth_settings
) -> None:
    data = booth_settings.data_dir
    older = paint(booth_sessions, data, 1, "the_scream")
    newer = paint(booth_sessions, data, 2, "starry_night")
    response = await client.get("/api/gallery")
    body = await response.read()
    view = json.loads(body)
    assert view["event_name"] == "Gala" and view["refresh_s"] > 0
    assert [item["title"] for item in view["items"]] == ["The Starry Night", "The Scream"]
    assert view["items"][1]["artist"] == "Edvard Munch"
    with booth_sessions() as session:
        secrets = [
            value
            for capture in session.scalars(select(Capture))
            for value in (capture.id, capture.token, *(job.id for job in capture.jobs))
        ]
    assert not [secret for secret in secrets if secret in body.decode()]

    newest = view["items"][0]
    picture = await client.get(newest["image_url"])
    assert picture.status == 200 and picture.content_type == "image/jpeg"
    qr = await client.get(newest["qr_url"])
    assert qr.status == 200 and qr.content_type == "image/png"
    with booth_sessions() as session:
        token = session.scalar(select(Capture.token).where(Capture.id == newer))
    assert decode_qr(await qr.read()) == f"http://booth.test/d/{token}"

    # Nothing new: a 304 without a body, for the screens that ask every few seconds.
    etag = response.headers["ETag"]
    again = await client.get("/api/gallery", headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""
    assert (await client.get("/api/gallery?limit=1")).headers["ETag"] != etag

    # The guest says "don't show me" on the result screen.
    choice = f"/api/captures/{older}/gallery"
    assert await (await client.get(choice)).json() == {"show": True}
    put = await client.put(choice, json={"show": False})
    assert put.status == 200 and await put.json() == {"show": False}
    assert await (await client.get(choice)).json() == {"show": False}
    assert [item["title"] for item in await gallery(client)] == ["The Starry Night"]
    changed = await client.get("/api/gallery", headers={"If-None-Match": etag})
    assert changed.status == 200
    older_item = item_of(booth_sessions, older)
    for url in (f"/api/gallery/{older_item}/painting.jpg", f"/api/gallery/{older_item}/qr.png"):
        assert (await client.get(url)).status == 404, url
    assert (await client.put(choice, json={"show": True})).status == 200
    assert len(await gallery(client)) == 2


async def test_the_guest_choice_is_checked_and_guarded(client, booth_sessions, booth_settings):
    capture = paint(booth_sessions, booth_settings.data_dir, 1)
    path = f"/api/captures/{capture}/gallery"
    for body in ({"show": "no"}, {}, ["show"]):
        response = await client.put(path, json=body)
        assert response.status == 400 and "show" in (await response.json())["error"]
    assert (await client.put("/api/captures/nope/gallery", json={"show": False})).status == 404
    assert (await client.get("/api/captures/nope/gallery")).status == 404
    form = await client.put(path, data="show=false", headers={"Content-Type": "text/plain"})
    assert form.status == 415
    elsewhere = await client.put(
        path, json={"show": False}, headers={"Origin": "http://evil.example"}
    )
    assert elsewhere.status == 403
    assert len(await gallery(client)) == 1


async def test_the_operator_hides_and_shows_again(client, booth_sessions, booth_settings) -> None:
    data = booth_settings.data_dir
    kept, opted_out = paint(booth_sessions, data, 1), paint(booth_sessions, data, 2)
    await client.put(f"/api/captures/{opted_out}/gallery", json={"show": False})
    listing = await client.get("/admin/api/gallery", headers=ADMIN)
    items = (await listing.json())["items"]
    assert [(item["opted_out"], item["hidden"], item["shown"]) for item in items] == [
        (True, False, False),
        (False, False, True),
    ]
    for item in items:  # the panel's thumbnails, opted out or not
        thumb = await client.get(item["thumb_url"], headers=ADMIN)
        assert thumb.status == 200 and thumb.content_type == "image/jpeg"
    kept_item = item_of(booth_sessions, kept)
    hide = await client.put(f"/admin/api/gallery/{kept_item}", json={"hidden": True}, headers=ADMIN)
    assert hide.status == 200 and (await hide.json())["hidden"] is True
    assert await gallery(client) == []
    # From a browser, a change needs the admin page's CSRF token.
    refused = await client.put(
        f"/admin/api/gallery/{kept_item}",
        json={"hidden": False},
        headers={**ADMIN, "Origin": str(client.make_url("/")).rstrip("/")},
    )
    assert refused.status == 403 and (await refused.json())["code"] == "csrf"
    shown_again = await client.put(
        f"/admin/api/gallery/{kept_item}", json={"hidden": False}, headers=ADMIN
    )
    assert shown_again.status == 200
    assert [item["id"] for item in await gallery(client)] == [kept_item]
    # Showing the opted-out one "again" leaves it off: only its guest decides.
    other = item_of(booth_sessions, opted_out)
    await client.put(f"/admin/api/gallery/{other}", json={"hidden": False}, headers=ADMIN)
    assert [item["id"] for item in await gallery(client)] == [kept_item]
    assert (
        await client.put(f"/admin/api/gallery/{other}", json={"hidden": 1}, headers=ADMIN)
    ).status == 400
    assert (
        await client.put("/admin/api/gallery/nope", json={"hidden": True}, headers=ADMIN)
    ).status == 404
    client.session.cookie_jar.clear()  # no admin session: the password is asked for
    assert (await client.get("/admin/api/gallery")).status == 401
