"""Orders end to end: a real `stylebooth worker` process paints the capture at print size
(print sizes scaled down by ``print_scale_percent``) and makes the files, which pass the
preflight and carry the print master's pixels; a print render gives way to a new guest's
fast picture and HQ painting. Product previews come from a real export process, which is
replaced when it dies and stopped when it hangs (a clear 504)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import select

from db.migrate import upgrade
from db.models import Export, Job, JobStatus, Lane, OrderStatus, Result, ResultKind, new_id
from db.session import make_engine, make_sessionmaker
from export.preflight import preflight
from kiosk import order_book
from kiosk.app import create_app
from kiosk.keys import EXPORT_POOL
from kiosk.queue import manager
from kiosk.queue.jobs import FINISHED, job_options
from kiosk.queue.worker import Worker as RenderWorker
from kiosk.storage import capture_dir, encode, open_store
from tests.support.desk import place_order
from tests.support.jobs import upload, wait_for_job, wait_for_order
from tests.support.paths import PEOPLE
from tests.support.processes import start_worker

pytestmark = pytest.mark.slow

SCALE = 10  # print_scale_percent: a tee 180 px wide instead of 1800
ORDER_ENDS = (OrderStatus.files_ready, OrderStatus.failed)


def wait_until(predicate, timeout: float, what: str, every: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


@pytest.fixture(scope="module")
def booth(module_settings):
    """Settings of one booth whose render worker the module's tests share."""
    return module_settings("orders", fast_size=192, hq_size=160, hq_budget_s=4,
                           print_scale_percent=SCALE)  # fmt: skip


@pytest.fixture(scope="module")
def worker(booth, tmp_path_factory):
    upgrade(booth.db_url)
    process = start_worker(booth, tmp_path_factory.mktemp("logs") / "worker.log")
    yield process
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def rows(settings, query):
    engine = make_engine(settings.db_url)
    with make_sessionmaker(engine).begin() as session:
        found = session.execute(query).all()
    engine.dispose()
    return found


def sizes(settings, capture_id: str) -> dict[str, tuple[int, int]]:
    query = select(Result.kind, Result.width, Result.height).where(Result.capture_id == capture_id)
    return {kind: (width, height) for kind, width, height in rows(settings, query)}


def print_master(settings, capture_id: str) -> Result:
    query = select(Result).where(Result.capture_id == capture_id, Result.kind == ResultKind.PRINT)
    [(found,)] = rows(settings, query)
    return found


def jobs(settings, capture_id: str) -> dict[Lane, Job]:
    query = select(Job).where(Job.capture_id == capture_id).order_by(Job.created_at)
    return {job.mode: job for (job,) in rows(settings, query)}


async def first_picture(client, name: str, worker) -> tuple[dict, float]:
    """A new guest's capture and the seconds from the upload to their fast picture."""
    started = time.perf_counter()
    created = await upload(client, name)
    await wait_for_job(client, created["job_id"], lambda s: s["fast_url"] is not None, worker)
    return created, time.perf_counter() - started


async def order(client, capture_id: str, product: str, **options) -> dict:
    url = f"/api/captures/{capture_id}/orders"
    response = await client.post(url, json={"product": product, "options": options})
    assert response.status == 201, await response.text()
    return (await response.json())["order"]


def done(state: dict) -> bool:
    return state["status"] == "done"


async def test_an_order_is_painted_at_print_size_and_its_files_pass_the_preflight(
    aiohttp_client, booth, worker, tmp_path
) -> None:
    client = await aiohttp_client(create_app(booth))
    created = await upload(client, "hiker.jpg")
    await wait_for_job(client, created["job_id"], done, worker)
    capture_id = created["capture_id"]
    placed = await order(client, capture_id, "tee", colour="black")
    assert placed["status"] == "received" and placed["number"].startswith("A-")

    ready = await wait_for_order(client, capture_id, placed["number"],
                                 lambda o: o["status"] == "files_ready", worker)  # fmt: skip
    assert [e["status"] for e in ready["events"]] == ["received", "painting", "files_ready"]
    assert ready["progress"] == 1.0 and ready["export_id"]
    stored = sizes(booth, capture_id)
    master, print_master = stored[ResultKind.MASTER], stored[ResultKind.PRINT]
    assert print_master[0] > master[0] and print_master[1] > master[1]  # painted larger
    wanted = jobs(booth, capture_id)[Lane.PRINT].options["print_size"]
    assert list(print_master) == wanted

    assert {f["role"] for f in ready["files"]} == {"png", "pdf"}
    for file in ready["files"]:
        response = await client.get(file["url"])
        assert response.status == 200
        path = tmp_path / file["role"]
        path.write_bytes(await response.read())
        report = preflight(path, scale=SCALE / 100)
        assert report.ok, report.problems
        # The art is the print master itself, not the booth painting enlarged.
        assert tuple(report.facts["art_px"]) == print_master, report.facts


async def test_a_print_render_gives_way_to_a_new_guests_pictures(
    aiohttp_client, booth, worker
) -> None:
    # A bigger print (a tee 450 px wide): a render that lasts while the next guest poses.
    client = await aiohttp_client(create_app(replace(booth, print_scale_percent=25)))
    warm, _ = await first_picture(client, "astronaut.png", worker)  # the worker's first job
    await wait_for_job(client, warm["job_id"], done, worker)
    first, alone = await first_picture(client, "hiker.jpg", worker)
    await wait_for_job(client, first["job_id"], done, worker)

    placed = await order(client, first["capture_id"], "tee")
    under_way = lambda o: o["status"] == "painting" and o["progress"] > 0.05  # noqa: E731
    await wait_for_order(client, first["capture_id"], placed["number"], under_way, worker)
    second, meanwhile = await first_picture(client, "seaside.jpg", worker)
    painting = await wait_for_order(client, first["capture_id"], placed["number"],
                                    lambda o: True, worker)  # fmt: skip
    assert painting["status"] == "painting"  # the print render is still under way
    assert meanwhile <= 2 * alone + 1.0, (meanwhile, alone)

    await wait_for_job(client, second["job_id"], done, worker)
    await wait_for_order(client, first["capture_id"], placed["number"],
                         lambda o: o["status"] == "files_ready", worker)  # fmt: skip
    hq, printed = jobs(booth, second["capture_id"])[Lane.HQ], jobs(booth, first["capture_id"])
    # The next HQ painting did not wait behind the print render: it began while that ran,
    # and the print render says it paused for the guests.
    assert hq.started_at < printed[Lane.PRINT].finished_at
    assert printed[Lane.PRINT].timings["paused_for_guests"] > 0


async def test_print_masters_for_everyone_paint_without_an_order(
    aiohttp_client, booth, worker
) -> None:
    """The event setting on: a finished HQ painting gets its print master at the largest
    size the booth sells, order or not; a later order makes its files from it, unpainted."""
    app = create_app(replace(booth, admin_password="desk"))
    client = await aiohttp_client(app)
    admin = {"Authorization": aiohttp.encode_basic_auth("operator", "desk")}
    put = await client.put("/admin/api/settings", json={"print_masters_for_all": True},
                           headers=admin)  # fmt: skip
    assert put.status == 200, await put.text()
    try:
        created = await upload(client, "seaside.jpg")
        await wait_for_job(client, created["job_id"], done, worker)
        capture_id = created["capture_id"]
        deadline = time.monotonic() + 120
        while ResultKind.PRINT not in sizes(booth, capture_id):
            assert time.monotonic() < deadline, jobs(booth, capture_id)
            await asyncio.sleep(0.2)
        painted = jobs(booth, capture_id)[Lane.PRINT]
        assert (await (await client.get(f"/api/captures/{capture_id}/orders")).json()) == {
            "orders": []
        }
        await wait_for(lambda: jobs(booth, capture_id)[Lane.PRINT].status == "done", 60,
                       "the print job to end")  # fmt: skip
        master = print_master(booth, capture_id)

        placed = await order(client, capture_id, "sticker", size=2)
        ready = await wait_for_order(client, capture_id, placed["number"],
                                     lambda o: o["status"] == "files_ready", worker)  # fmt: skip
        assert ready["job_id"] != painted.id
        again = print_master(booth, capture_id)
        assert (again.sha256, again.created_at) == (master.sha256, master.created_at)
    finally:
        put = await client.put("/admin/api/settings", json={"print_masters_for_all": False},
                               headers=admin)  # fmt: skip
        assert put.status == 200


# --- product previews in the export process ---------------------------------------------------


def finished_capture(settings) -> str:
    """A capture whose painting is done (a real small PNG master and its people mask), for
    the previews: no worker needed."""
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    sessions = make_sessionmaker(engine)
    capture_id = new_id()
    folder = capture_dir(capture_id)
    painting = Image.open(PEOPLE / "hiker.jpg").convert("RGB")
    painting.thumbnail((320, 320))
    mask = Image.open(PEOPLE / "hiker_mask.png").convert("L").resize(painting.size)
    files = {
        "photo": (folder / "photo.jpg", painting, "JPEG"),
        "master": (folder / "master.png", painting, "PNG"),
        "alpha": (folder / "alpha.png", mask, "PNG"),
    }
    store = open_store(settings.storage_url, settings.data_dir)
    digests = {}
    for kind, (path, image, fmt) in files.items():
        data = encode(image, fmt)
        store.put(path.as_posix(), data)
        digests[kind] = hashlib.sha256(data).hexdigest()
    with sessions.begin() as session:
        manager.create_capture(session, capture_id=capture_id, source="upload",
                               photo_path=str(files["photo"][0]), size=painting.size,
                               style="starry_night", scene=None, options={})  # fmt: skip
        for kind in ("master", "alpha"):
            path, image, _ = files[kind]
            session.add(Result(capture_id=capture_id, kind=kind, path=path.as_posix(),
                               width=image.width, height=image.height,
                               sha256=digests[kind]))  # fmt: skip
    engine.dispose()
    return capture_id


async def preview(client, capture_id: str, product: str = "sticker", **options):
    query = "&".join(f"{key}={value}" for key, value in options.items())
    return await client.get(f"/api/captures/{capture_id}/preview/{product}.png?{query}")


async def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def problems(client) -> list[str]:
    return (await (await client.get("/healthz")).json())["problems"]


def png(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    image.load()
    return image


async def test_previews_are_drawn_once_per_design(aiohttp_client, settings) -> None:
    capture_id = finished_capture(settings)
    client = await aiohttp_client(create_app(settings))
    white = await preview(client, capture_id, "tee", colour="white", size="M")
    assert white.status == 200, await white.text()
    black = await preview(client, capture_id, "tee", colour="black", size="M")
    drawn_white, drawn_black = png(await white.read()), png(await black.read())
    assert drawn_white.size[0] == drawn_black.size[0] == 480 and drawn_white.mode == "RGBA"
    # The shirt's colour: the same design on a light and a dark shirt.
    corner = (drawn_white.width // 2, drawn_white.height - 40)
    assert sum(drawn_white.getpixel(corner)[:3]) > sum(drawn_black.getpixel(corner)[:3]) + 300
    cached = list(Path(settings.data_dir, capture_dir(capture_id), "previews").iterdir())
    assert len(cached) == 2  # kept in the capture's folder: a purge takes them
    again = await preview(client, capture_id, "tee", colour="black", size="M")
    assert await again.read() == await black.read()


async def test_a_killed_export_process_is_replaced_and_the_next_preview_works(
    aiohttp_client, settings, caplog
) -> None:
    capture_id = finished_capture(settings)
    app = create_app(settings)
    client = await aiohttp_client(app)
    pool = app[EXPORT_POOL]
    first = await preview(client, capture_id, size=2)
    assert first.status == 200, await first.text()
    [victim] = pool.pids()
    os.kill(victim, signal.SIGKILL)
    # The pool notices its dead process; /healthz says so until the next call heals it.
    await wait_for(lambda: pool.problem() is not None, 30, "the pool to notice")
    assert any("export process stopped" in p for p in await problems(client))

    second = await preview(client, capture_id, size=3)
    assert second.status == 200, await second.text()
    assert pool.pids() and victim not in pool.pids()
    assert not any("export" in p for p in await problems(client))

    # Killed while a preview is under way: that one is tried again in a new process. (With
    # no pool, a process id appears only once the call has been handed to it.)
    pool.shutdown()
    pending = asyncio.ensure_future(preview(client, capture_id, "mug", layout="wrap"))
    await wait_for(lambda: pool.pids(), 30, "the export process")
    os.kill(pool.pids()[0], signal.SIGKILL)
    third = await pending
    assert third.status == 200, await third.text()
    assert "the export process died; starting a new one and trying again" in caplog.text


async def test_a_hung_preview_is_a_504_and_the_next_gets_a_fresh_process(
    aiohttp_client, settings
) -> None:
    capture_id = finished_capture(settings)
    app = create_app(settings)
    client = await aiohttp_client(app)
    pool = app[EXPORT_POOL]
    pool.timeout_s = 0.05  # less than a spawn takes: this call cannot finish in time
    hung = await preview(client, capture_id)
    assert hung.status == 504, await hung.text()
    body = await hung.json()
    assert body["code"] == "export_timeout" and "took longer than" in body["error"]
    assert pool.pids() == []  # its process was stopped, not left running

    pool.timeout_s = 120
    retried = await preview(client, capture_id)
    assert retried.status == 200, await retried.text()


# --- the worker's files go through the store --------------------------------------------------


def test_the_worker_reads_and_writes_every_file_through_the_store(settings, tmp_path) -> None:
    """A worker whose store (``storage_url``: here another directory, in a fleet an S3
    bucket) is not its data directory: it reads the guest's photo from the store, and every
    picture, print master and print file it makes lands there, under the keys the database
    records; nothing is written to the data directory's captures/ or exports/."""
    elsewhere = tmp_path / "shared-store"
    settings = replace(settings, storage_url=str(elsewhere), fast_size=128, hq_size=96,
                       hq_budget_s=4, hq_options={"steps": 4},
                       print_scale_percent=SCALE)  # fmt: skip
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    sessions = make_sessionmaker(engine)
    store = open_store(settings.storage_url, settings.data_dir)
    capture_id = new_id()
    photo = Image.open(PEOPLE / "hiker.jpg").convert("RGB")
    photo.thumbnail((256, 256))
    photo_key = f"{capture_dir(capture_id).as_posix()}/photo.jpg"
    store.put(photo_key, encode(photo))
    with sessions.begin() as session:
        hq_id = manager.create_capture(session, capture_id=capture_id, source="upload",
                                       photo_path=photo_key, size=photo.size,
                                       style="starry_night", scene=None,
                                       options=job_options(settings)).id  # fmt: skip

    def hq_status() -> JobStatus:
        with sessions.begin() as session:
            return session.get(Job, hq_id).status

    def order_status(number: str) -> OrderStatus:
        with sessions.begin() as session:
            found = order_book.by_number(session, number)
            assert found is not None
            return found.status

    worker = RenderWorker(settings)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(lambda: hq_status() in FINISHED, 240, "the HQ painting")
        assert hq_status() == JobStatus.done
        number = place_order(sessions, capture_id, "sticker", {"size": 2})
        wait_until(lambda: order_status(number) in ORDER_ENDS, 240, "the order's files")
        assert order_status(number) == OrderStatus.files_ready
    finally:
        worker.stop()
        thread.join(60)
    with sessions.begin() as session:
        results = {r.kind: (r.path, r.sha256) for r in session.scalars(
            select(Result).where(Result.capture_id == capture_id))}  # fmt: skip
        [export] = session.scalars(select(Export)).all()
        export_files = dict(export.files)
    engine.dispose()
    assert {"fast", "composite", "alpha", "master", "final", "print"} <= set(results)
    for key, sha in results.values():  # in the store, as recorded
        assert hashlib.sha256(store.get(key)).hexdigest() == sha, key
    assert {e["path"] for e in export_files.values()} == {
        o.key for o in store.list(f"exports/{capture_id}")
    }
    for entry in export_files.values():
        assert hashlib.sha256(store.get(entry["path"])).hexdigest() == entry["sha256"]
    for folder in ("captures", "exports"):  # the worker's own disk holds none of it
        assert not (settings.data_dir / folder).exists(), sorted(
            (settings.data_dir / folder).rglob("*")
        )
