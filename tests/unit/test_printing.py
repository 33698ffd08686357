"""The booth's CUPS side without CUPS (a real one is in tests/e2e/test_photo_print.py): the
IPP encoding, the printer's state read from IPP answers a small HTTP server gives back
(stopped out of paper, no such queue, nobody listening), the ``prints`` table's book on a
real SQLite file (queued once, sent, followed to completed and the order printed, reprint,
cancel), the auto_print setting, and the guest API's photo print (offered only with a
printer, copies capped, the guest told to ask the host when the printer cannot print)."""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import update

from db.models import Export, Order, OrderStatus
from kiosk import event_settings, order_book
from kiosk.app import create_app
from kiosk.printing import book, cups, ipp
from tests.unit.test_order_book import db as db
from tests.unit.test_order_book import painted_capture, place


def answer(status: int, groups: list[tuple[int, list[tuple[int, str, object]]]]) -> bytes:
    body = struct.pack(">bbhi", 1, 1, status, 1)
    for tag, attrs in groups:
        body += bytes([tag])
        for value_tag, name, value in attrs:
            body += ipp._attribute(value_tag, name, value)
    return body + bytes([ipp.END])


class FakeIpp:
    """An HTTP server answering every IPP POST with ``reply`` and keeping the requests."""

    def __init__(self) -> None:
        self.reply = b""
        self.requests: list[tuple[str, bytes]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake.requests.append(
                    (self.path, self.rfile.read(int(self.headers["Content-Length"])))
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/ipp")
                self.send_header("Content-Length", str(len(fake.reply)))
                self.end_headers()
                self.wfile.write(fake.reply)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake_cups() -> Iterator[FakeIpp]:
    fake = FakeIpp()
    yield fake
    fake.server.shutdown()


def test_requests_and_answers_round_trip_through_the_encoding() -> None:
    body = ipp.encode(
        ipp.PRINT_JOB,
        "ipp://h:1/printers/p",
        [(ipp.NAME, "job-name", "A-001")],
        [(ipp.INTEGER, "copies", 3)],
    )
    parsed = ipp.decode(body)
    assert parsed.status == ipp.PRINT_JOB  # a request's second field is its operation
    operation, job = parsed.first(ipp.OPERATION), parsed.first(ipp.JOB)
    assert operation["printer-uri"] == ["ipp://h:1/printers/p"]
    assert operation["job-name"] == ["A-001"] and job["copies"] == [3]
    many = ipp.decode(answer(0, [(ipp.PRINTER, [(ipp.KEYWORD, "r", ["a", "b", "c"])])]))
    assert many.first(ipp.PRINTER)["r"] == ["a", "b", "c"]  # additional values, no name


def test_a_stopped_printer_out_of_paper_is_read_with_its_reasons(settings, fake_cups) -> None:
    booth = replace(settings, printer="photo", cups_server=f"127.0.0.1:{fake_cups.port}")
    fake_cups.reply = answer(
        0,
        [
            (ipp.OPERATION, []),
            (
                ipp.PRINTER,
                [
                    (ipp.ENUM, "printer-state", 5),
                    (ipp.KEYWORD, "printer-state-reasons", ["media-empty-error", "offline-report"]),
                    (ipp.TEXT, "printer-state-message", "Load paper"),
                    (ipp.BOOLEAN, "printer-is-accepting-jobs", True),
                ],
            ),
        ],
    )
    status = cups.printer_status(booth)
    assert status.state == "stopped" and not status.usable
    assert status.reasons == ["media-empty-error", "offline-report"]
    assert "out of paper, offline" in status.message and "Load paper" in status.message
    assert status.as_json()["reason_words"] == ["out of paper", "offline"]
    path, sent = fake_cups.requests[-1]
    assert path == "/printers/photo"
    assert ipp.decode(sent).first(ipp.OPERATION)["printer-uri"] == [
        f"ipp://127.0.0.1:{fake_cups.port}/printers/photo"
    ]
    fake_cups.reply = answer(
        0,
        [
            (
                ipp.PRINTER,
                [(ipp.ENUM, "printer-state", 3), (ipp.KEYWORD, "printer-state-reasons", "none")],
            )
        ],
    )
    idle = cups.printer_status(booth)
    assert (idle.state, idle.reasons, idle.usable) == ("idle", [], True)
    fake_cups.reply = answer(ipp.NOT_FOUND, [(ipp.OPERATION, [])])
    missing = cups.printer_status(booth)
    assert missing.state == "missing" and "has no printer 'photo'" in missing.message


def test_no_printer_and_no_cups_are_states_too(settings) -> None:
    assert cups.printer_status(settings).state == "off"
    nobody = replace(settings, printer="photo", cups_server="127.0.0.1:1")
    status = cups.printer_status(nobody)
    assert (
        status.state == "unreachable" and "no CUPS server answers at 127.0.0.1:1" in status.message
    )
    with pytest.raises(ipp.Unreachable):
        cups.submit(nobody, b"%PDF", copies=1, title="A-001")


def test_a_print_job_is_sent_with_its_copies_and_media(settings, fake_cups) -> None:
    booth = replace(settings, printer="photo", cups_server=f"127.0.0.1:{fake_cups.port}")
    fake_cups.reply = answer(
        0,
        [
            (
                ipp.JOB,
                [
                    (ipp.INTEGER, "job-id", 41),
                    (ipp.ENUM, "job-state", 3),
                    (ipp.KEYWORD, "job-state-reasons", "job-incoming"),
                ],
            )
        ],
    )
    job = cups.submit(booth, b"%PDF-1.4 data", copies=2, title="A-007", media="na_index-4x6_4x6in")
    assert (job.job_id, job.state, job.reasons) == (41, "pending", ["job-incoming"])
    sent = fake_cups.requests[-1][1]
    assert sent.endswith(b"%PDF-1.4 data")
    request = ipp.decode(sent[: -len(b"%PDF-1.4 data")])
    assert request.first(ipp.JOB) == {"copies": [2], "media": ["na_index-4x6_4x6in"]}
    fake_cups.reply = answer(0x0400, [(ipp.OPERATION, [(ipp.TEXT, "status-message", "bad")])])
    with pytest.raises(cups.PrintRefused, match=r"CUPS refused the print for 'photo'.*bad"):
        cups.submit(booth, b"%PDF", copies=1, title="A-008")


def photo_ready(db, settings, copies: int = 2) -> Order:
    capture_id = painted_capture(db, settings, (400, 300))
    placed = place(db, capture_id, "photo", quantity=copies)

    def ready(session):
        export = Export(
            key=placed["id"],
            product="photo",
            options={},
            source_sha256="0" * 64,
            files={"pdf": {"path": "exports/x/photo.pdf"}},
        )
        session.add(export)
        session.flush()
        order = session.get(Order, placed["id"])
        order.export_id = export.id
        order_book.transition(session, order, OrderStatus.files_ready)
        session.flush()
        session.expunge(order)
        return order

    return db(ready)


def test_a_ready_photo_order_is_queued_once_sent_followed_and_marked_printed(db, settings) -> None:
    order = photo_ready(db, settings)
    assert db(book.queue_ready, "photo") == [order.number]
    assert db(book.queue_ready, "photo") == []  # once
    [item] = db(book.to_send)
    assert (item.number, item.copies, item.pdf_key, item.size) == (
        order.number,
        2,
        "exports/x/photo.pdf",
        "4x6",
    )
    db(book.sent, item.print_id, cups.JobStatus(7, "pending", []))
    assert db(book.to_send) == [] and db(book.unfinished) == [(item.print_id, 7)]
    db(book.update, item.print_id, cups.JobStatus(7, "processing", ["job-printing"]))
    [row] = db(book.listing)
    assert (row["state"], row["reasons"], row["cups_job_id"], row["can_cancel"]) == (
        "processing",
        ["job-printing"],
        7,
        True,
    )
    db(book.update, item.print_id, cups.JobStatus(7, "completed", []))
    assert db(book.unfinished) == []
    statuses = db(lambda s: [e.status.value for e in s.get(Order, order.id).events])
    assert statuses[-2:] == ["files_ready", "printed"]

    again = db(book.reprint_id, item.print_id)
    rows = db(book.listing)
    assert [(r["id"], r["seq"], r["state"]) for r in rows] == [
        (again, 2, "waiting"),
        (item.print_id, 1, "completed"),
    ]
    assert db(book.cancel_target, again) == ("waiting", None)  # never sent: cancelled here
    assert db(book.cancel_target, again) == ("done", None)
    assert db(book.cancel_target, "nope") is None
    assert db(book.queue_ready, "photo") == []  # a printed order is not queued again


def test_cups_forgetting_a_job_aborts_it_and_a_refused_print_fails(db, settings) -> None:
    order = photo_ready(db, settings)
    db(book.queue_ready, "photo")
    [item] = db(book.to_send)
    db(book.not_sent, item.print_id, "CUPS at 127.0.0.1:1 did not answer", False)
    [row] = db(book.listing)
    assert row["state"] == "waiting" and "did not answer" in row["error"]
    db(book.sent, item.print_id, cups.JobStatus(9, "pending", []))
    db(book.update, item.print_id, None)
    [row] = db(book.listing)
    assert (row["state"], row["reasons"], row["error"]) == (
        "aborted",
        ["job-unknown-to-cups"],
        None,
    )
    again = db(book.reprint_id, item.print_id)
    db(book.not_sent, again, "CUPS refused the print", True)
    assert db(book.listing)[0]["state"] == "failed"
    db(
        lambda s: s.execute(
            update(Order).where(Order.id == order.id).values(status=OrderStatus.failed)
        )
    )
    with pytest.raises(order_book.OrderConflict, match="no print files now"):
        db(book.reprint_id, item.print_id)


def test_auto_print_orders_one_photo_per_painting_when_a_printer_is_set(db, settings) -> None:
    capture_id = painted_capture(db, settings, (400, 300))
    printing = replace(settings, printer="photo")
    assert db(order_book.auto_photo_order, capture_id, printing) is None  # the setting is off
    assert event_settings.validate({"auto_print": True}, []) == {"auto_print": True}
    with pytest.raises(event_settings.SettingError, match="auto_print: true or false"):
        event_settings.validate({"auto_print": "yes"}, [])
    db(event_settings.save, {"auto_print": True})
    assert db(order_book.auto_photo_order, capture_id, settings) is None  # no printer
    made = db(lambda s: order_book.auto_photo_order(s, capture_id, printing).number)
    assert made.startswith("A-")
    assert db(order_book.auto_photo_order, capture_id, printing) is None  # once per capture
    kinds = db(
        lambda s: [(o.product, o.quantity) for o in s.query(Order).filter_by(capture_id=capture_id)]
    )
    assert kinds == [("photo", 1)]


async def test_the_guest_api_offers_photo_prints_only_with_a_printer(
    aiohttp_client, settings, db
) -> None:
    capture_id = painted_capture(db, settings, (400, 300))
    plain = await aiohttp_client(create_app(settings))
    products = [p["name"] for p in (await (await plain.get("/api/config")).json())["products"]]
    assert "photo" not in products
    refused = await plain.post(f"/api/captures/{capture_id}/orders", json={"product": "photo"})
    assert refused.status == 400 and "no printer" in (await refused.json())["error"]

    booth = replace(settings, printer="photo", cups_server="127.0.0.1:1", print_copies_max=3)
    client = await aiohttp_client(create_app(booth))
    config = await (await client.get("/api/config")).json()
    [photo] = [p for p in config["products"] if p["name"] == "photo"]
    assert photo["copies_max"] == 3 and photo["options"]["size"]["choices"] == ["4x6", "2x6"]
    url = f"/api/captures/{capture_id}/orders"
    many = await client.post(url, json={"product": "photo", "quantity": 4})
    assert many.status == 400 and "at most 3 copies" in (await many.json())["error"]
    placed = await client.post(url, json={"product": "photo", "quantity": 3})
    assert placed.status == 201
    order = (await placed.json())["order"]
    assert order["quantity"] == 3 and order["print_note"] == "ask_host"  # nobody at port 1
    tee = await client.post(url, json={"product": "tee"})
    assert (await tee.json())["order"]["print_note"] is None


def test_the_print_desks_reprint_of_a_photo_order_sends_it_to_cups_again(db, settings) -> None:
    """The desk's Reprint and the print queue's are one action for a photo print: the last
    submission again, waiting for the spooler; for a tee it stays a note in the history."""
    from kiosk.print_desk import change

    order = photo_ready(db, settings, copies=1)
    db(book.queue_ready, "photo")
    [item] = db(book.to_send)
    db(book.sent, item.print_id, cups.JobStatus(3, "pending", []))
    db(book.update, item.print_id, cups.JobStatus(3, "completed", []))
    db(change, order.number, "reprint")
    rows = db(book.listing)
    assert [(r["seq"], r["state"], r["copies"]) for r in rows] == [
        (2, "waiting", 1),
        (1, "completed", 1),
    ]
    [again] = db(book.to_send)
    assert again.number == order.number and again.print_id != item.print_id

    tee = place(db, painted_capture(db, settings, (400, 300)), "tee")

    def printed(session) -> None:
        for status in (OrderStatus.files_ready, OrderStatus.printed):
            order_book.transition(session, order_book.by_number(session, tee["number"]), status)

    db(printed)
    db(change, tee["number"], "reprint")
    assert len(db(book.listing)) == 2  # no print row for a tee
