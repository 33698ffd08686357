"""The phone page while the painting is still being made (the guest left the booth after the
fast picture): the newest picture and the progress on the page, pushed over the token's own
socket until the final painting, and never the job's id (a key to the booth's own routes).
Real SQLite, the real app; the worker's part is written straight into the database."""

from __future__ import annotations

import re

import aiohttp
from sqlalchemy import update

from db.models import Job, JobStatus, Lane, ResultKind
from tests.unit import test_download as base
from tests.unit.test_download import GuestCapture, found

# The phone page's fixtures: the booth app and one uploaded guest.
booth_settings, client, guest = base.booth_settings, base.client, base.guest


def hq_running(guest: GuestCapture, progress: float) -> None:
    with guest.sessions.begin() as session:
        session.execute(update(Job).where(Job.capture_id == guest.id, Job.mode == Lane.FAST)
                        .values(status=JobStatus.done))  # fmt: skip
        session.execute(update(Job).where(Job.capture_id == guest.id, Job.mode == Lane.HQ)
                        .values(status=JobStatus.running, progress=progress))  # fmt: skip


def ids_of(guest: GuestCapture) -> list[str]:
    with guest.sessions.begin() as session:
        return [job.id for job in session.query(Job).filter(Job.capture_id == guest.id)]


async def test_mid_painting_the_page_shows_the_newest_picture_and_the_progress(client, guest):
    fast = guest.picture(ResultKind.FAST, (64, 48), "JPEG")
    hq_running(guest, 0.25)
    text = await (await client.get(f"/d/{guest.token}")).text()
    shown = found(r'<img id="painting" src="([^"]+)" data-kind="fast"', text)
    assert shown.startswith(f"/d/{guest.token}/picture/fast.jpg?v=")
    assert await (await client.get(shown)).read() == fast
    assert '<progress id="making-progress" max="1" value="0.250">' in text
    assert "Your painting is being finished: 25 %." in text
    assert f'data-ws="/d/{guest.token}/ws"' in text and 'data-live="1"' in text
    assert 'id="download"' not in text  # the download comes with the final painting
    guest.picture(ResultKind.PREVIEW, (64, 48), "JPEG")
    text = await (await client.get(f"/d/{guest.token}")).text()
    assert 'data-kind="preview"' in text
    for job_id in ids_of(guest):  # the page and its URLs name only the token
        assert job_id not in text

    guest.painted()
    text = await (await client.get(f"/d/{guest.token}")).text()
    final = r'<img id="painting" src="[^"]+/painting\.jpg\?v=[^"]+" data-kind="final"'
    assert re.search(final, text)
    assert 'data-ws=""' in text and 'id="download"' in text


async def test_the_socket_pushes_the_painting_in_the_making_then_closes(client, guest):
    guest.picture(ResultKind.FAST, (64, 48), "JPEG")
    hq_running(guest, 0.5)
    socket = await client.ws_connect(f"/d/{guest.token}/ws")
    first = await socket.receive_json(timeout=5)
    assert first["status"] == "running" and first["progress"] == 0.5
    assert first["picture"]["kind"] == "fast" and first["text"].endswith("50 %.")
    assert set(first) == {"status", "progress", "text", "picture"}  # no id, no capture
    guest.picture(ResultKind.PREVIEW, (64, 48), "JPEG")
    second = await socket.receive_json(timeout=5)
    assert second["picture"]["kind"] == "preview"
    preview = await client.get(second["picture"]["url"])
    assert preview.status == 200 and preview.content_type == "image/jpeg"
    guest.painted()
    last = second
    while last["status"] != "done":
        last = await socket.receive_json(timeout=5)
    assert last["picture"]["kind"] == "final" and last["progress"] == 1.0
    assert last["text"] == "Your painting is finished."
    closing = await socket.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await socket.close()


async def test_unknown_tokens_and_kinds_get_nothing(client, guest):
    guest.picture(ResultKind.FAST, (64, 48), "JPEG")
    wrong = guest.token[:-1] + ("A" if guest.token[-1] != "A" else "B")
    for path in (f"/d/{wrong}/picture/fast.jpg", f"/d/{guest.token}/picture/master.jpg",
                 f"/d/{guest.token}/picture/alpha.jpg", f"/d/{wrong}/ws"):  # fmt: skip
        response = await client.get(path)
        assert response.status == 404 and "not valid" in await response.text(), path
