"""The whole guest flow through the HTTP API with a real render worker process: upload, the
WebSocket, the fast picture before the final one, the phone page, the QR code, an order."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from PIL import Image

from db.models import Export
from db.session import make_engine, make_sessionmaker
from kiosk.app import create_app
from tests.support.jobs import wait_for_job, wait_for_order
from tests.support.paths import PEOPLE
from tests.support.photos import thumbnail_jpeg
from tests.support.qr import decode_qr

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": aiohttp.encode_basic_auth("operator", "s3cret")}


@pytest.fixture
def render_settings(settings):
    """Tiny renders so the suite stays quick; the worker is a real spawned process."""
    return replace(
        settings,
        fast_size=256,
        hq_size=128,
        hq_budget_s=20,
        admin_password="s3cret",
        public_url="http://booth.test:8080",
        hq_options={"steps": 30, "preview_every": 10},
        print_scale_percent=25,  # print renders a quarter of print size
    )


def photo(name: str = "hiker.jpg") -> bytes:
    return thumbnail_jpeg(Image.open(PEOPLE / name), 640, quality=90)


async def upload(client, name: str, style: str, scene: str) -> dict:
    data = aiohttp.FormData()
    data.add_field("style", style)
    data.add_field("scene", scene)
    data.add_field("source", "camera")
    data.add_field("photo", photo(name), filename="capture.jpg", content_type="image/jpeg")
    response = await client.post("/api/captures", data=data)
    assert response.status == 201, await response.text()
    return await response.json()


async def image(client, url: str) -> Image.Image:
    response = await client.get(url)
    assert response.status == 200 and response.content_type == "image/jpeg", url
    return Image.open(io.BytesIO(await response.read()))


async def test_guest_flow_end_to_end(aiohttp_client, render_settings, artifacts) -> None:
    client = await aiohttp_client(create_app(render_settings, start_worker=True))
    config = await (await client.get("/api/config")).json()
    scene = config["scenes"][1]["name"]
    created = await upload(client, "hiker.jpg", "starry_night", scene)

    messages = []
    async with client.ws_connect(created["ws_url"]) as ws:
        async with asyncio.timeout(180):
            async for message in ws:
                messages.append(message.json())
    final = messages[-1]
    assert final["status"] == "done", final
    assert ws.closed  # the server closes the socket once the job is done
    kinds_seen = [next((k for k in ("final", "fast") if m[f"{k}_url"]), None) for m in messages]
    assert "fast" in kinds_seen and kinds_seen.index("fast") < kinds_seen.index("final")
    progress = [m["progress"] for m in messages]
    assert progress == sorted(progress) and progress[-1] == 1.0

    fast = await image(client, final["fast_url"])
    painting = await image(client, final["final_url"])
    assert max(fast.size) == 256 and max(painting.size) == 128
    fast.save(artifacts / "booth-api-fast.png")
    painting.save(artifacts / "booth-api-final.png")
    # The painting is not the photo: a painted picture differs from a plain resize of it.
    plain = Image.open(io.BytesIO(photo())).convert("RGB").resize(painting.size)
    assert np.abs(np.asarray(painting, float) - np.asarray(plain, float)).mean() > 10

    # The phone page: the QR code holds its public URL; the page shows the painting.
    assert final["download_url"].startswith("http://booth.test:8080/d/")
    qr = await client.get(final["qr_url"])
    assert decode_qr(await qr.read()) == final["download_url"]
    page_path = final["download_url"].removeprefix("http://booth.test:8080")
    page = await client.get(page_path)
    assert page.status == 200 and f"{page_path}/painting.jpg" in await page.text()
    download = await client.get(f"{page_path}/painting.jpg?download=1")
    assert "attachment" in download.headers["Content-Disposition"]
    assert await download.read() == await (await client.get(final["final_url"])).read()

    # An order gets its number at once; the print job paints and makes its files. The same
    # order again is a new number whose files are the same export.
    url = f"/api/captures/{created['capture_id']}/orders"
    response = await client.post(url, json={"product": "sticker", "options": {"size": 2}})
    assert response.status == 201, await response.text()
    order = (await response.json())["order"]
    assert order["product"] == "sticker" and order["number"] == "A-001"
    order = await wait_for_order(client, created["capture_id"], order["number"])
    for file in order["files"]:
        served = await client.get(file["url"])
        assert served.status == 200 and len(await served.read()) > 1000, file
    response = await client.post(url, json={"product": "sticker", "options": {"size": 2}})
    again = await wait_for_order(
        client, created["capture_id"], (await response.json())["order"]["number"]
    )
    assert again["number"] == "A-002" and again["export_id"] == order["export_id"]
    engine = make_engine(render_settings.db_url)  # recorded inside the data directory, which
    with make_sessionmaker(engine).begin() as session:  # may move: relative paths
        export = session.get(Export, order["export_id"])
        paths = [Path(entry["path"]) for entry in export.files.values()]
    engine.dispose()
    assert paths and all(
        not p.is_absolute() and (render_settings.data_dir / p).is_file() for p in paths
    )
    response = await client.post(url, json={"product": "mug", "options": {"size": "20oz"}})
    assert response.status == 400 and "20oz" in (await response.json())["error"]

    jobs = (await (await client.get("/admin/api/jobs", headers=ADMIN)).json())["jobs"]
    timings = {job["mode"]: job["timings"] for job in jobs}
    assert timings["fast"]["first_picture"] > 0 and timings["hq"]["hq"] > 0
    assert 0 < timings["hq"]["steps"] <= timings["hq"]["steps_planned"] <= 30

    # The print desk sees both orders with their files, then the guest's data is purged.
    desk = (await (await client.get("/admin/api/orders", headers=ADMIN)).json())["orders"]
    assert [(o["number"], o["capture_id"], o["product"]) for o in desk] == [
        ("A-002", created["capture_id"], "sticker"),
        ("A-001", created["capture_id"], "sticker"),
    ]
    purge = await client.post("/admin/api/purge", json={"older_than_hours": 0}, headers=ADMIN)
    assert (await purge.json())["deleted"] == 1
    for gone in (order["files"][0]["url"], final["final_url"], page_path, created["status_url"]):
        assert (await client.get(gone)).status == 404, gone
    data = render_settings.data_dir
    assert not (data / "captures" / created["capture_id"]).exists()
    assert not (data / "exports" / created["capture_id"]).exists()
    assert (await (await client.get("/admin/api/orders", headers=ADMIN)).json())["orders"] == []


async def test_a_new_guest_gets_the_fast_picture_while_another_hq_render_runs(
    aiohttp_client, render_settings
) -> None:
    settings = replace(render_settings, hq_size=256, hq_budget_s=60, hq_options={})
    client = await aiohttp_client(create_app(settings, start_worker=True))
    first = await upload(client, "seaside.jpg", "the_scream", "own")
    await wait_for_job(client, first["job_id"], lambda s: s["status"] == "running")
    second = await upload(client, "hiker.jpg", "udnie", "own")
    queued = await (await client.get(second["status_url"])).json()
    assert queued["queue_position"] == 0  # a painting in hand is not ahead: next
    await wait_for_job(client, second["job_id"], lambda s: s["fast_url"] is not None)
    ahead = await (await client.get(first["status_url"])).json()
    assert ahead["status"] == "running" and ahead["final_url"] is None
    for job in (first, second):  # done here: do not paint them to the end
        await client.post(f"/admin/api/jobs/{job['job_id']}/cancel", headers=ADMIN)
    cancelled = await wait_for_job(client, first["job_id"], lambda s: s["status"] == "cancelled")
    assert cancelled["error"] == "cancelled by the operator"
