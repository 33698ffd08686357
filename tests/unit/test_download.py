"""The guest's phone page (``/d/<token>``, kiosk/download.py) on a real SQLite database: the
event's name, the painting and its best resolution, the guest's orders in words, and whether
the page keeps itself up to date. (In a real browser with a real worker:
tests/e2e/test_browser_order.py.)"""

from __future__ import annotations

import io
import re
from dataclasses import replace

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import select, update

from db.models import Capture, Job, JobStatus, Lane, OrderStatus, Result, ResultKind
from db.session import make_engine, make_sessionmaker
from kiosk import order_book
from kiosk.app import create_app
from kiosk.config import Settings
from kiosk.storage import open_store
from tests.support.photos import guest_jpeg

EVENT = "Ada & <Grace>'s Party"


@pytest.fixture
def booth_settings(settings: Settings) -> Settings:
    return replace(settings, event_name=EVENT, public_url="http://booth.test")


@pytest.fixture
async def client(aiohttp_client, booth_settings):
    return await aiohttp_client(create_app(booth_settings))


class GuestCapture:
    """One guest's capture, uploaded through the API, whose pictures and orders the test
    writes straight into the database (the worker's and the print job's part)."""

    def __init__(self, settings: Settings, capture_id: str) -> None:
        self.settings = settings
        self.engine = make_engine(settings.db_url)
        self.sessions = make_sessionmaker(self.engine)
        self.store = open_store(settings.storage_url, settings.data_dir)  # the app's files
        self.id = capture_id
        with self.sessions.begin() as session:
            self.token = session.scalar(select(Capture.token).where(Capture.id == capture_id))

    def picture(self, kind: ResultKind, size: tuple[int, int], fmt: str) -> bytes:
        """Store a picture of ``kind`` as the worker would; returns its bytes."""
        buffer = io.BytesIO()
        Image.new("RGB", size, (40, 90, 200)).save(buffer, fmt)
        key = f"captures/{self.id}/{kind.value}.{fmt.lower()}"
        self.store.put(key, buffer.getvalue())
        with self.sessions.begin() as session:
            session.add(
                Result(
                    capture_id=self.id,
                    kind=kind,
                    path=key,
                    width=size[0],
                    height=size[1],
                    sha256="0" * 64,
                )
            )
        return buffer.getvalue()

    def painted(self) -> bytes:
        """The HQ render is over: its painting is stored and its job done."""
        with self.sessions.begin() as session:
            session.execute(
                update(Job).where(Job.capture_id == self.id).values(status=JobStatus.done)
            )
        return self.picture(ResultKind.FINAL, (96, 128), "JPEG")

    def order(
        self,
        product: str,
        options: dict,
        *,
        status: OrderStatus,
        progress: float = 0.0,
        error: str | None = None,
    ) -> str:
        """An order moved to ``status``; while painting, its print job at ``progress``."""
        with self.sessions.begin() as session:
            job = Job(
                capture_id=self.id, mode=Lane.PRINT, status=JobStatus.running, progress=progress
            )
            session.add(job)
            session.flush()
            order = order_book.create_order(
                session, capture_id=self.id, product=product, options=options, job_id=job.id
            )
            path = {
                OrderStatus.received: [],
                OrderStatus.painting: [OrderStatus.painting],
                OrderStatus.files_ready: [OrderStatus.painting, OrderStatus.files_ready],
                OrderStatus.failed: [OrderStatus.painting, OrderStatus.failed],
            }[status]
            for step in path:
                order_book.transition(session, order, step, error=error)
            if status != OrderStatus.painting:
                job.status = JobStatus.done
            return order.number

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
async def guest(client, booth_settings):
    data = aiohttp.FormData()
    for key, value in {"style": "starry_night", "scene": "own", "source": "camera"}.items():
        data.add_field(key, value)
    data.add_field("photo", guest_jpeg(320), filename="photo.jpg", content_type="image/jpeg")
    response = await client.post("/api/captures", data=data)
    assert response.status == 201, await response.text()
    capture = GuestCapture(booth_settings, (await response.json())["capture_id"])
    yield capture
    capture.close()


def found(pattern: str, text: str) -> str:
    """The first group of ``pattern`` in the page, as a URL (``&amp;`` read back)."""
    match = re.search(pattern, text)
    assert match is not None, pattern
    return match[1].replace("&amp;", "&")


def order_items(text: str) -> dict[str, str]:
    """Each order on the page: its number -> its list item's HTML."""
    return dict(re.findall(r'<li class="order"[^>]*data-number="([^"]+)">(.*?)</li>', text, re.S))


async def test_the_page_shows_the_orders_in_words_and_offers_the_print_master(client, guest):
    painting = guest.painted()
    master = guest.picture(ResultKind.PRINT, (300, 400), "PNG")
    tee = guest.order(
        "tee",
        {"size": "L", "colour": "black", "layout": "full"},
        status=OrderStatus.painting,
        progress=0.42,
    )
    sticker = guest.order("sticker", {"size": 3}, status=OrderStatus.files_ready)
    mug = guest.order(
        "mug",
        {"size": "11oz", "layout": "wrap"},
        status=OrderStatus.failed,
        error="the print files could not be made",
    )

    response = await client.get(f"/d/{guest.token}")
    assert response.status == 200
    text = await response.text()
    # The event's name, escaped: a guest-set name never becomes markup.
    assert "<h1>Ada &amp; &lt;Grace&gt;&#x27;s Party</h1>" in text

    orders = order_items(text)
    assert list(orders) == [tee, sticker, mug]  # oldest first
    assert "T-shirt · size L · colour black · layout full" in orders[tee]
    assert "Painting at print size: 42 %" in orders[tee]
    assert '<progress max="1" value="0.420">' in orders[tee]
    assert "Sticker · size 3 in" in orders[sticker] and "Print files ready" in orders[sticker]
    assert "<progress" not in orders[sticker]
    assert "Could not be made: the print files could not be made." in orders[mug]

    # Something is still painting: the page is live (phone.js, or the meta refresh without it).
    assert 'data-live="1"' in text
    assert '<noscript><meta http-equiv="refresh"' in text

    # Shown: the booth's painting; offered for download and sharing: the print master.
    shown = found(r'<img id="painting" src="([^"]+)"', text)
    download = found(r'<a class="button primary" id="download" href="([^"]+)"', text)
    share = found(r'<button class="button" id="share"[^>]*data-file="([^"]+)"', text)
    assert "Print quality: 300 × 400 pixels." in text
    assert await (await client.get(shown)).read() == painting
    response = await client.get(download)
    assert await response.read() == master
    assert response.headers["Content-Disposition"] == 'attachment; filename="stylebooth.png"'
    response = await client.get(share)
    assert await response.read() == master and "Content-Disposition" not in response.headers


async def test_a_page_with_nothing_in_progress_stays_still(client, guest):
    painting = guest.painted()
    number = guest.order("sticker", {"size": 2}, status=OrderStatus.files_ready)
    text = await (await client.get(f"/d/{guest.token}")).text()
    assert list(order_items(text)) == [number]
    assert 'data-live=""' in text and "http-equiv" not in text
    # No print master yet: the booth's painting is the download, and no print.png exists.
    download = found(r'id="download" href="([^"]+)"', text)
    assert "/painting.jpg" in download and "Print quality" not in text
    response = await client.get(download)
    assert await response.read() == painting
    assert response.headers["Content-Disposition"] == 'attachment; filename="stylebooth.jpg"'
    assert (await client.get(f"/d/{guest.token}/print.png")).status == 404


async def test_before_the_painting_the_page_waits_and_refreshes(client, guest):
    text = await (await client.get(f"/d/{guest.token}")).text()
    assert "still being made" in text and 'data-live="1"' in text
    assert "<h2>Your orders</h2>" not in text and 'id="download"' not in text


async def test_the_page_runs_only_its_own_script(client, guest):
    guest.painted()
    response = await client.get(f"/d/{guest.token}")
    text = await response.text()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", text, re.S)
    assert scripts == [(' type="module" src="/ui/js/phone.js"', "")]  # nothing inline
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    script = await client.get("/ui/js/phone.js")
    assert script.status == 200 and "navigator.share" in await script.text()


async def test_guessed_tokens_get_nothing(client, guest):
    guest.painted()
    guest.picture(ResultKind.PRINT, (30, 40), "PNG")
    for guess in (guest.id, guest.token[:-1] + ("A" if guest.token[-1] != "A" else "B"), "x"):
        for path in (f"/d/{guess}", f"/d/{guess}/painting.jpg", f"/d/{guess}/print.png"):
            response = await client.get(path)
            assert response.status == 404 and "not valid" in await response.text(), path
