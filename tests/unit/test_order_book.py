"""Orders in a real SQLite file: numbers that never repeat (threads ordering at once), the
status lifecycle with its stored times, refusals in words, the print job an order shares,
the desk's retry, and orders stranded by a job that ended without them."""

from __future__ import annotations

import functools
import threading
from dataclasses import replace

import pytest
from sqlalchemy import select, update

from db.models import Export, Job, JobStatus, Lane, Order, OrderEvent, OrderStatus, Result, new_id
from export.specs import ExportError, normalize_options
from kiosk import order_book, purge
from kiosk.order_book import NotPainted, OrderConflict, OrderRefused
from kiosk.queue import manager
from kiosk.queue.jobs import JobOptions, job_options, print_size
from kiosk.storage import LocalStore


@pytest.fixture
def db(sessions):
    return functools.partial(manager.in_session, sessions)


def add_result(db, capture_id: str, kind: str, size: tuple[int, int]) -> None:
    """The row of a capture's image (orders read its size, never its file)."""
    db(lambda s: s.add(Result(capture_id=capture_id, kind=kind, path=f"{kind}.png",
                              width=size[0], height=size[1], sha256="0" * 64)))  # fmt: skip


def painted_capture(db, settings, size: tuple[int, int] | None = (300, 400)) -> str:
    """A capture with its jobs and, unless ``size`` is None, its jobs done and a finished
    HQ master; with None both jobs are still queued, nothing painted."""
    capture_id = new_id()
    db(functools.partial(manager.create_capture, capture_id=capture_id, source="upload",
                         photo_path="captures/x/photo.jpg", size=(640, 480), style="starry_night",
                         scene=None, options=job_options(settings)))  # fmt: skip
    if size is not None:
        add_result(db, capture_id, "master", size)
        set_jobs(db, capture_id, JobStatus.done)
    return capture_id


def set_jobs(db, capture_id: str, status: JobStatus, *lanes: Lane, error: str | None = None):
    """The capture's jobs of ``lanes`` (default: fast and HQ) as if they had ended so."""
    lanes = lanes or (Lane.FAST, Lane.HQ)
    db(lambda s: s.execute(update(Job).where(Job.capture_id == capture_id, Job.mode.in_(lanes))
                           .values(status=status, error=error)))  # fmt: skip


def place(db, capture_id: str, product: str = "sticker", quantity: int = 1, **options):
    def run(session):
        options_ = normalize_options(product, options)
        order = order_book.place(
            session, capture_id=capture_id, product=product, options=options_, quantity=quantity
        )
        return None if order is None else order_book.detail(session, order)

    return db(run)


def print_jobs(sessions, capture_id: str) -> list[Job]:
    with sessions.begin() as session:
        jobs = session.scalars(
            select(Job).where(Job.capture_id == capture_id, Job.mode == Lane.PRINT)
        ).all()
        session.expunge_all()
        return list(jobs)


def test_numbers_never_repeat_when_guests_order_at_once(db, sessions, settings) -> None:
    capture_id = painted_capture(db, settings)
    numbers: list[str] = []
    lock = threading.Lock()

    def guest() -> None:
        for _ in range(5):
            order = place(db, capture_id)
            with lock:
                numbers.append(order["number"])

    threads = [threading.Thread(target=guest) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(numbers) == 30 and len(set(numbers)) == 30
    assert sorted(numbers) == [f"A-{n:03d}" for n in range(1, 31)]
    # Orders of one capture share its one queued print job.
    assert len(print_jobs(sessions, capture_id)) == 1


def test_a_purge_never_gives_a_number_twice(db, settings) -> None:
    first = place(db, painted_capture(db, settings))["number"]
    db(lambda s: s.execute(Order.__table__.delete()))
    assert place(db, painted_capture(db, settings))["number"] != first
    assert db(order_book.next_number, "B") == "B-001"
    with pytest.raises(Exception, match="one to three capital letters"):
        db(order_book.next_number, "b1")


def test_the_lifecycle_is_stored_with_the_databases_times(db, sessions, settings) -> None:
    order = place(db, painted_capture(db, settings), "tee", size="L", colour="black")
    assert order["status"] == "received" and order["status_text"] == "Order received"
    assert order["progress"] == 0.0 and order["file_roles"] == []
    job_id = order["job_id"]
    assert db(order_book.start_painting, job_id) == [(order["id"], "tee", order["options"])]
    export = new_id()
    db(lambda s: s.execute(Export.__table__.insert().values(
        id=export, key="k", source_sha256="0", product="tee", options={},
        files={"png": {"path": "a.png"}, "pdf": {"path": "a.pdf"}})))  # fmt: skip
    assert db(order_book.files_made, order["id"], export)
    number = order["number"]
    db(order_book.mark, number, OrderStatus.printed, "by Sam")
    done = db(lambda s: order_book.detail(s, order_book.mark(s, number, OrderStatus.collected)))
    assert [e["status"] for e in done["events"]] == [
        "received",
        "painting",
        "files_ready",
        "printed",
        "collected",
    ]
    assert done["events"][3]["note"] == "by Sam"
    assert all(e["at"] is not None for e in done["events"])
    assert done["progress"] == 1.0 and done["file_roles"] == ["pdf", "png"]
    assert done["export_id"] == export
    with sessions.begin() as session:
        times = session.scalars(select(OrderEvent.at).order_by(OrderEvent.id)).all()
    assert times == sorted(times)
    # Collected, it cannot be made again nor collected twice; an unknown number is None.
    with pytest.raises(OrderConflict, match="cannot be marked collected"):
        db(order_book.mark, number, OrderStatus.collected)
    assert db(order_book.mark, "Z-999", OrderStatus.printed) is None


def test_bad_orders_are_refused_in_words(db, settings) -> None:
    capture_id = painted_capture(db, settings)
    with pytest.raises(ExportError, match="tee has no option finish"):
        normalize_options("tee", {"finish": "gloss"})
    with pytest.raises(ExportError, match="sticker size must be"):
        normalize_options("sticker", {"size": 9})
    for quantity, words in ((0, "from 1 to 10, not 0"), (11, "not 11"), ("2", "whole number")):
        with pytest.raises(OrderRefused, match=words):
            place(db, capture_id, quantity=quantity)
    unpainted = painted_capture(db, settings, size=None)
    with pytest.raises(NotPainted, match="not ready yet; order once it is on the screen"):
        place(db, unpainted)  # not even the fast picture yet
    set_jobs(db, unpainted, JobStatus.failed, Lane.HQ)
    add_result(db, unpainted, "composite", (480, 640))  # the fast job had made it
    with pytest.raises(NotPainted, match="could not be finished, so there is nothing to print"):
        place(db, unpainted)
    assert place(db, new_id()) is None  # unknown capture
    assert db(order_book.capture_orders, new_id()) is None
    assert db(order_book.capture_orders, capture_id) == []  # nothing was taken


def test_the_print_job_is_sized_for_the_largest_order(db, sessions, settings) -> None:
    settings = replace(settings, print_scale_percent=10)
    capture_id = painted_capture(db, settings, size=(300, 400))
    stored = JobOptions.from_settings(settings)
    small = print_size(stored, "sticker", {"size": 2}, 0.75)
    large = print_size(stored, "tee", {}, 0.75)
    assert small[0] < large[0]
    place(db, capture_id, "sticker", size=2)
    [job] = print_jobs(sessions, capture_id)
    assert JobOptions.from_json(job.options).print_size == small
    place(db, capture_id, "tee")
    [job] = print_jobs(sessions, capture_id)
    assert JobOptions.from_json(job.options).print_size == large
    assert large[0] / large[1] == pytest.approx(0.75, abs=0.01)
    # Once a worker has it, a new order gets a job of its own (the running one took its
    # orders already); the smaller order does not shrink it.
    worker = new_id()
    db(manager.register_worker, worker, host="h", pid=1, parent=None, device="cpu", info={})
    assert db(manager.claim, Lane.PRINT, worker).id == job.id
    later = place(db, capture_id, "sticker", size=2)
    assert later["job_id"] != job.id and len(print_jobs(sessions, capture_id)) == 2


def test_an_order_before_the_hq_painting_waits_for_it(db, sessions, settings) -> None:
    """The guest ordered after the fast picture: the order is taken (received), sized in the
    composite's aspect, and its print job is claimed only once the HQ painting is done."""
    settings = replace(settings, print_scale_percent=10)
    capture_id = painted_capture(db, settings, size=None)
    set_jobs(db, capture_id, JobStatus.done, Lane.FAST)
    add_result(db, capture_id, "fast", (480, 640))
    add_result(db, capture_id, "composite", (384, 512))
    order = place(db, capture_id, "tee")
    assert order["status"] == "received" and order["events"][0]["status"] == "received"
    [job] = print_jobs(sessions, capture_id)
    stored = JobOptions.from_settings(settings)
    assert JobOptions.from_json(job.options).print_size == print_size(stored, "tee", {}, 0.75)
    worker = new_id()
    db(manager.register_worker, worker, host="h", pid=1, parent=None, device="cpu", info={})
    assert db(manager.claim, Lane.PRINT, worker) is None  # the HQ painting is queued
    assert db(manager.claim, Lane.HQ, worker) is not None
    assert db(manager.claim, Lane.PRINT, worker) is None  # … and running
    add_result(db, capture_id, "master", (384, 512))
    set_jobs(db, capture_id, JobStatus.done, Lane.HQ)
    assert db(manager.claim, Lane.PRINT, worker).id == job.id
    assert db(order_book.start_painting, job.id) == [(order["id"], "tee", order["options"])]


def test_orders_placed_before_a_failed_hq_painting_fail_in_words(db, sessions, settings) -> None:
    """The HQ painting an order waited for failed: the print job, claimable now, fails the
    order with that reason rather than painting nothing; new orders are refused."""
    capture_id = painted_capture(db, settings, size=None)
    set_jobs(db, capture_id, JobStatus.done, Lane.FAST)
    add_result(db, capture_id, "composite", (384, 512))
    order = place(db, capture_id, "mug")
    set_jobs(db, capture_id, JobStatus.failed, Lane.HQ, error="the painter ran out of memory.")
    worker = new_id()
    db(manager.register_worker, worker, host="h", pid=1, parent=None, device="cpu", info={})
    assert db(manager.claim, Lane.PRINT, worker).id == order["job_id"]
    assert db(order_book.start_painting, order["job_id"]) == []
    [failed] = db(order_book.capture_orders, capture_id)
    assert failed["status"] == "failed"
    assert failed["error"] == (
        "the painting could not be finished (the painter ran out of memory), so there is "
        "nothing to print; the staff can paint it again on the admin page and then retry "
        "this order"
    )
    with pytest.raises(NotPainted, match="could not be finished"):
        place(db, capture_id, "mug")


def test_a_failed_order_is_retried_with_a_new_print_job(db, sessions, settings) -> None:
    order = place(db, painted_capture(db, settings))
    with pytest.raises(OrderConflict, match="has not failed"):
        db(order_book.retry_order, order["number"])
    assert db(order_book.fail, order["id"], "the printer ate it")
    failed = db(lambda s: order_book.detail(s, order_book.by_number(s, order["number"])))
    assert failed["status"] == "failed" and failed["error"] == "the printer ate it"
    assert failed["status_text"] == "Could not be made"
    db(lambda s: s.execute(update(Job).where(Job.id == order["job_id"]).values(status="failed")))
    retried = db(lambda s: order_book.detail(s, order_book.retry_order(s, order["number"])))
    assert retried["status"] == "received" and retried["error"] is None
    assert retried["job_id"] not in (None, order["job_id"])
    assert retried["events"][-1] == {**retried["events"][-1], "status": "received",
                                      "note": "retried"}  # fmt: skip
    assert db(order_book.retry_order, "A-404") is None


def test_orders_stranded_by_their_job_are_failed_or_queued_again(db, sessions, settings) -> None:
    capture_id = painted_capture(db, settings)
    cancelled = place(db, capture_id)
    stop = {"status": JobStatus.cancelled, "error": "cancelled by the operator"}
    db(lambda s: s.execute(update(Job).where(Job.id == cancelled["job_id"]).values(**stop)))
    finished = place(db, capture_id)  # a new job: the old one is no longer queued
    db(lambda s: s.execute(update(Job).where(Job.id == finished["job_id"])
                           .values(status=JobStatus.done)))  # fmt: skip
    assert sorted(db(order_book.sweep_stranded)) == sorted(
        [cancelled["number"], finished["number"]]
    )
    orders = {o["number"]: o for o in db(order_book.capture_orders, capture_id)}
    assert orders[cancelled["number"]]["status"] == "failed"
    assert orders[cancelled["number"]]["error"] == "cancelled by the operator"
    requeued = orders[finished["number"]]
    assert requeued["status"] == "received" and requeued["job_id"] != finished["job_id"]
    assert db(order_book.sweep_stranded) == []  # the queued job holds it now


def test_a_purge_takes_the_guests_orders_their_history_and_print_files(
    db, sessions, settings
) -> None:
    capture_id = painted_capture(db, settings)
    kept_id = painted_capture(db, settings)
    order = place(db, capture_id, "tee")
    place(db, kept_id)
    # Its print master and the files made from it, on disk and in the database.
    folder, exports_dir = settings.data_dir / "captures" / capture_id, settings.data_dir / "exports"
    (exports_dir / capture_id).mkdir(parents=True)
    (exports_dir / capture_id / "tee.png").write_bytes(b"png")
    folder.mkdir(parents=True)
    (folder / "print.png").write_bytes(b"png")

    def print_files(session):
        path = f"captures/{capture_id}/print.png"
        master = Result(capture_id=capture_id, kind="print", path=path, width=3, height=4,
                        sha256="1" * 64)  # fmt: skip
        session.add(master)
        session.flush()
        session.add(Export(id="e1", key="k1", result_id=master.id, source_sha256="1",
                           product="tee", options={}, files={}))  # fmt: skip
        session.flush()
        db_order = session.get(Order, order["id"])
        db_order.export_id = "e1"

    db(print_files)
    db(lambda s: s.execute(update(Job).where(Job.capture_id == capture_id).values(status="done")))
    report = db(purge.delete_records, None)
    assert capture_id in report.captures and kept_id not in report.captures  # its job is queued
    purge.delete_folders(LocalStore(settings.data_dir), report)
    with sessions.begin() as session:
        assert session.scalars(select(Order.capture_id)).all() == [kept_id]
        assert session.scalar(select(OrderEvent).where(OrderEvent.order_id == order["id"])) is None
        assert session.get(Export, "e1") is None
    assert not folder.exists() and not (exports_dir / capture_id).exists()
    assert place(db, painted_capture(db, settings))["number"] == "A-003"  # never given twice


def test_the_desk_lists_the_newest_first_and_finds_orders_by_number(db, settings) -> None:
    capture_id = painted_capture(db, settings)
    numbers = [place(db, capture_id)["number"] for _ in range(3)]  # within one second, mostly
    order_id = db(lambda s: order_book.by_number(s, numbers[1]).id)
    db(order_book.fail, order_id, "smudged")
    assert [o["number"] for o in db(order_book.capture_orders, capture_id)] == numbers

    def listed(status=None, limit=10):
        return db(lambda s: [o.number for o in order_book.newest(s, status, limit)])

    assert listed() == numbers[::-1]
    assert listed(limit=2) == numbers[:0:-1]
    assert listed(OrderStatus.failed) == [numbers[1]]
    found = db(lambda s: sorted(order_book.by_numbers(s, [numbers[0].lower(), " Z-001 "])))
    assert found == [numbers[0]]
