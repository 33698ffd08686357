"""The batch hand-off (``POST /admin/api/orders/batch``): a ZIP of exactly the selected
orders' print files, made by the real export library, with manifests whose hashes are the
ZIP's files'; orders without files, unknown numbers, bad requests and files that changed or
went missing in the store are refused in words, and nothing is left behind."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from dataclasses import replace

import aiohttp
import pytest
from PIL import Image
from pypdf import PdfReader

from kiosk.app import create_app
from kiosk.handoff import MAX_ORDERS, file_name, placement
from tests.support.desk import make_files, painted_capture, place_order
from tests.support.photos import guest_photo

ADMIN = {"Authorization": aiohttp.encode_basic_auth("operator", "s3cret")}


@pytest.fixture
def desk_settings(settings):
    return replace(settings, admin_password="s3cret")


@pytest.fixture
async def client(aiohttp_client, desk_settings):
    return await aiohttp_client(create_app(desk_settings))


@pytest.fixture
def ready(client, sessions, desk_settings) -> dict[str, dict]:
    """Three orders of two guests with their print files (a sticker, a mug, a tee), and one
    still waiting; each number with its files on disk by role."""
    data_dir = desk_settings.data_dir
    first = painted_capture(sessions, data_dir)
    second = painted_capture(sessions, data_dir, guest_photo((210, 150)))  # files of its own
    made = {}
    for capture, product, options, quantity in (
        (first, "sticker", {"size": 2}, 1),
        (first, "mug", {"size": "11oz", "layout": "centred"}, 3),
        (second, "tee", {"size": "XS", "colour": "black"}, 2),
    ):
        number = place_order(sessions, capture, product, options, quantity)
        made[number] = {"files": make_files(sessions, data_dir, number), "quantity": quantity}
    made["waiting"] = {"number": place_order(sessions, second, "mug")}
    return made


async def batch(client, numbers) -> aiohttp.ClientResponse:  # type: ignore[no-untyped-def]
    return await client.post("/admin/api/orders/batch", json={"numbers": numbers}, headers=ADMIN)


async def refused(response: aiohttp.ClientResponse, status: int, *words: str) -> None:
    assert response.status == status, await response.text()
    message = (await response.json())["error"]
    assert all(word in message for word in words), message


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_the_zip_holds_exactly_the_selected_orders_and_their_hashes(client, ready) -> None:
    numbers = [n for n in ready if n != "waiting"]
    chosen = [numbers[2], numbers[1]]  # the second guest's tee, then the first's mug
    response = await batch(client, [chosen[0], chosen[1].lower(), chosen[0]])  # repeats: once
    assert response.status == 200, await response.text()
    assert response.content_type == "application/zip"
    assert "-2-orders.zip" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    manifest = json.loads(archive.read("manifest.json"))
    orders = manifest["orders"]
    assert [order["external_id"] for order in orders] == chosen
    expected_names = {
        file_name(order["external_id"], order["product"], order["options"], role)
        for order in orders
        for role in ready[order["external_id"]]["files"]
    }
    assert set(archive.namelist()) == expected_names | {"manifest.csv", "manifest.json"}

    for order in orders:
        made = ready[order["external_id"]]
        assert order["quantity"] == made["quantity"]
        assert order["placement"] == placement(order["product"], order["options"])
        assert {file["role"] for file in order["files"]} == set(made["files"])
        for file in order["files"]:
            inside = archive.read(file["file"])
            on_disk = made["files"][file["role"]].read_bytes()
            assert file["sha256"] == sha256(inside) == sha256(on_disk)
            assert file["bytes"] == len(inside)
            proof = order["product"] == "tee" and file["role"] == "pdf"
            assert file["purpose"] == ("proof" if proof else "print")
            if file["role"] == "png":
                with Image.open(io.BytesIO(inside)) as image:
                    assert (file["width_px"], file["height_px"]) == image.size
                    assert file["dpi"] == pytest.approx(image.info["dpi"][0], abs=0.1)
                if order["product"] == "tee":  # the tee keeps the art's own pixels
                    assert file["art_px"].startswith(f"{image.width}x")  # the art spans it
                    assert file["art_dpi"] == pytest.approx(file["dpi"], abs=0.1)
            else:
                trim = PdfReader(io.BytesIO(inside)).pages[0].trimbox
                inches = [round(float(side) / 72, 3) for side in (trim.width, trim.height)]
                assert file["size_in"] == inches and file["dpi"] > 0

    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert [(row["external_id"], row["file"], row["sha256"]) for row in rows] == [
        (order["external_id"], file["file"], file["sha256"])
        for order in orders
        for file in order["files"]
    ]
    assert {row["quantity"] for row in rows if row["external_id"] == chosen[1]} == {"3"}


async def test_orders_without_files_are_refused_by_number(client, ready, desk_settings) -> None:
    data_dir = desk_settings.data_dir
    before = sorted(path for path in data_dir.rglob("*") if path.is_file())
    ready_one = next(iter(ready))
    waiting = ready["waiting"]["number"]
    await refused(
        await batch(client, [ready_one, waiting]), 409, waiting, "order received", "no print files"
    )
    await refused(await batch(client, [ready_one, "Q-404", "Q-405"]), 404, "Q-404", "Q-405")
    for body in ({"numbers": []}, {"numbers": "A-001"}, {"numbers": [1]}, {"orders": ["A-001"]}):
        response = await client.post("/admin/api/orders/batch", json=body, headers=ADMIN)
        await refused(response, 400, "numbers")
    too_many = [f"A-{n:03d}" for n in range(1, MAX_ORDERS + 2)]
    await refused(await batch(client, too_many), 400, f"at most {MAX_ORDERS}")
    assert sorted(path for path in data_dir.rglob("*") if path.is_file()) == before


async def test_a_print_file_changed_or_lost_in_the_store_stops_the_hand_off(client, ready) -> None:
    numbers = [n for n in ready if n != "waiting"]
    changed = ready[numbers[0]]["files"]["png"]
    changed.write_bytes(changed.read_bytes() + b"\0")
    await refused(await batch(client, numbers), 409, numbers[0], "changed in storage")
    ready[numbers[1]]["files"]["pdf"].unlink()
    await refused(await batch(client, numbers[1:]), 409, numbers[1], "missing from the directory")
    assert (await batch(client, numbers[2:])).status == 200  # the others still hand off


def test_names_and_placements_say_the_product_and_its_options() -> None:
    tee = {"size": "XS", "colour": "black", "layout": "people"}
    assert file_name("A-042", "tee", tee, "png") == "A-042_tee_XS_black_people.png"
    assert file_name("B-007", "sticker", {"size": 3}, "pdf") == "B-007_sticker_3in.pdf"
    assert placement("tee", tee) == "front 9x12in"
    assert placement("tee", {**tee, "size": "2XL"}) == "front 12x16in"
    assert placement("sticker", {"size": 4}) == "sticker 4in die-cut"
    assert placement("mug", {"size": "15oz", "layout": "wrap"}) == "mug 15oz wrap 9x3.8in"


async def test_a_hand_off_that_would_fill_the_disk_is_refused(
    aiohttp_client, ready, desk_settings
) -> None:
    """The same booth, told to keep more free space than the disk has: 507 in words."""
    full = await aiohttp_client(create_app(replace(desk_settings, min_free_mb=10**9)))
    numbers = [n for n in ready if n != "waiting"]
    response = await batch(full, numbers)
    await refused(response, 507, "MB free", "fewer orders")
