"""Several booths and render hosts on one database: captures carry their booth, the queue is
counted per booth, the guest's queue position counts only the paintings really ahead, the
device lock has one slot file per concurrent render in the host's runtime directory, and
``/healthz`` lists every live worker of the fleet (not only this server's own)."""

from __future__ import annotations

import base64
import functools
import re
import shutil
import subprocess
import sys
from dataclasses import fields, replace

import aiohttp
import pytest
from alembic import command
from sqlalchemy import inspect, select

from db.migrate import alembic_config, upgrade
from db.models import Capture, Job, JobStatus, Lane, new_id
from db.session import make_engine
from kiosk import health
from kiosk.app import create_app
from kiosk.config import ConfigError, Settings, load_settings
from kiosk.queue import manager
from kiosk.queue.jobs import job_options
from kiosk.queue.tasks import DeviceLock
from tests.support.paths import REPO
from tests.support.photos import guest_jpeg


@pytest.fixture
def db(sessions):
    return functools.partial(manager.in_session, sessions)


def add_capture(db, settings, booth: str = "booth") -> Job:
    return db(functools.partial(
        manager.create_capture, capture_id=new_id(), source="upload",
        photo_path="captures/x/photo.jpg", size=(640, 480), style="starry_night", scene=None,
        options=job_options(settings), booth_id=booth,
    ))  # fmt: skip


def register(db, host: str, lanes: list[str] | None) -> str:
    worker_id = new_id()
    info = {"device_name": "cpu", "bf16": False, "torch": "x"}
    if lanes is not None:
        info |= {"lanes": lanes, "device_slots": 2}
    db(manager.register_worker, worker_id, host=host, pid=1234, parent=None, device="cpu",
       info=info)  # fmt: skip
    return worker_id


def claim(db, lane: Lane, worker: str) -> str:
    job = db(manager.claim, lane, worker)
    assert job is not None, f"nothing claimable in the {lane} lane"
    return job.id


# --- booth identity -----------------------------------------------------------------------


def test_a_capture_keeps_its_booth_and_the_queue_is_counted_per_booth(db, sessions, settings):
    for booth in ("hall-a", "hall-a", "hall-b"):
        add_capture(db, settings, booth)
    worker = register(db, "gpu-1", ["fast", "hq", "print"])
    claim(db, Lane.FAST, worker)  # the oldest: hall-a's first
    with sessions.begin() as session:
        stored = sorted(session.scalars(select(Capture.booth_id)))
    assert stored == ["hall-a", "hall-a", "hall-b"]
    counts = db(manager.queue_counts)
    assert counts["fast"] == {"queued": 2, "running": 1}
    assert counts["hq"] == {"queued": 3, "running": 0}
    assert counts["booths"] == {
        "hall-a": {"fast": {"queued": 1, "running": 1}, "hq": {"queued": 2, "running": 0},
                   "print": {"queued": 0, "running": 0}},
        "hall-b": {"fast": {"queued": 1, "running": 0}, "hq": {"queued": 1, "running": 0},
                   "print": {"queued": 0, "running": 0}},
    }  # fmt: skip


def test_the_migration_gives_earlier_captures_the_default_booth(settings) -> None:
    """A database at 0005 with a capture and its job: upgraded, the capture is booth
    ``booth``; downgraded again, the column goes and no job goes with it (no table rebuild,
    whose DROP TABLE would cascade)."""
    url = settings.db_url
    upgrade(url, "0005")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO captures (id, created_at, source, photo_path, width, height, style,"
                " token) VALUES ('c1', CURRENT_TIMESTAMP, 'upload', 'p', 1, 1, 's', 't1')"
            )
            connection.exec_driver_sql(
                "INSERT INTO jobs (id, capture_id, mode, options, status, progress, attempts,"
                " created_at, timings) VALUES ('j1', 'c1', 'hq', '{}', 'queued', 0, 0,"
                " CURRENT_TIMESTAMP, '{}')"
            )
        upgrade(url)
        with engine.connect() as connection:
            booth = connection.exec_driver_sql("SELECT booth_id FROM captures").scalar_one()
        assert booth == "booth"
        command.downgrade(alembic_config(url), "0005")
        with engine.connect() as connection:
            columns = [column["name"] for column in inspect(connection).get_columns("captures")]
            jobs = connection.exec_driver_sql("SELECT id FROM jobs").scalars().all()
        assert "booth_id" not in columns and jobs == ["j1"]
    finally:
        engine.dispose()


# --- the guest's queue position -------------------------------------------------------------


def test_the_queue_position_counts_the_paintings_claimed_before_this_one(db, settings) -> None:
    """Three guests at two booths; the first painting in a worker's hands is not ahead of
    anyone. Each position is the number of claims before that job's: the guest at 0 is the
    one the next claim takes."""
    first, second, third = (add_capture(db, settings, b) for b in ("a", "b", "a"))
    worker, other = register(db, "gpu-1", None), register(db, "gpu-2", None)
    for _ in range(3):
        db(manager.finish, claim(db, Lane.FAST, worker), worker, JobStatus.done)

    def position(job: Job) -> int:
        state = db(manager.job_state, job.id)
        return state.queue_position

    assert [position(job) for job in (first, second, third)] == [0, 1, 2]
    assert claim(db, Lane.HQ, worker) == first.id
    # The running painting is no longer ahead of anyone: the second guest is next.
    assert [position(job) for job in (first, second, third)] == [0, 0, 1]
    assert claim(db, Lane.HQ, other) == second.id
    assert position(third) == 0
    assert claim(db, Lane.HQ, worker) == third.id


# --- per-host device slots ------------------------------------------------------------------


def test_device_slots_let_that_many_renders_share_a_device(settings, tmp_path) -> None:
    runtime = tmp_path / "run"
    locks = [DeviceLock(runtime, "cuda0", slots=2) for _ in range(3)]
    assert locks[0].try_acquire() and locks[1].try_acquire()
    assert {locks[0].slot, locks[1].slot} == {0, 1}
    assert not locks[2].try_acquire()  # both slots painting
    assert DeviceLock(runtime, "cuda1", slots=2).try_acquire()  # another device: its own slots
    locks[0].release()
    assert locks[2].try_acquire() and locks[2].slot == 0
    assert sorted(p.name for p in (runtime / "locks").iterdir()) == [
        "device-cuda0.0.lock", "device-cuda0.1.lock", "device-cuda1.0.lock", "device-cuda1.1.lock",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="at least one render slot"):
        DeviceLock(runtime, "cpu", slots=0)


def test_a_slot_held_by_another_process_on_the_host_is_busy(tmp_path) -> None:
    """``flock`` between processes: a slot another worker process holds is not taken."""
    runtime = tmp_path / "run"
    script = (
        "import sys, pathlib; from kiosk.queue.tasks import DeviceLock; "
        f"lock = DeviceLock(pathlib.Path({str(runtime)!r}), 'cpu', 1); "
        "print(lock.try_acquire(), flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        mine = DeviceLock(runtime, "cpu", 1)
        assert not mine.try_acquire()
    finally:
        holder.communicate("", timeout=30)
    assert mine.try_acquire()  # the holder exited: its lock went with it


def test_the_runtime_directory_is_the_hosts_own(settings, tmp_path) -> None:
    assert settings.runtime == settings.data_dir / "run"
    assert replace(settings, runtime_dir=tmp_path).runtime == tmp_path


# --- the fleet on /healthz -------------------------------------------------------------------


async def test_healthz_lists_every_live_worker_of_the_fleet(aiohttp_client, db, settings):
    """Two render hosts registered by other machines (this server supervises none): no "no
    render worker" problem; each worker with its lanes, slots and the jobs in its hands (ids
    cut short); the queue per booth."""
    hall_a = add_capture(db, replace(settings, booth_id="hall-a"), "hall-a")
    add_capture(db, settings, "hall-b")
    gpu_1 = register(db, "gpu-1", ["hq", "print"])
    gpu_2 = register(db, "gpu-2", ["fast"])
    fast_job = claim(db, Lane.FAST, gpu_2)
    client = await aiohttp_client(create_app(replace(settings, booth_id="hall-a")))
    body = await (await client.get("/healthz")).json()
    assert not any("render worker" in problem for problem in body["problems"]), body["problems"]
    assert body["booth"] == "hall-a"
    by_host = {worker["host"]: worker for worker in body["workers"]}
    assert set(by_host) == {"gpu-1", "gpu-2"}
    assert by_host["gpu-1"]["lanes"] == ["hq", "print"] and by_host["gpu-1"]["device_slots"] == 2
    assert by_host["gpu-1"]["jobs"] == [] and by_host["gpu-1"]["worker"] == gpu_1
    (in_hand,) = by_host["gpu-2"]["jobs"]
    assert in_hand == {"job": fast_job[: manager.SHOWN_ID], "lane": "fast", "booth": "hall-a",
                       "stage": None, "progress": 0.0}  # fmt: skip
    assert fast_job not in str(body) and hall_a.id not in str(body)  # no full id: bearer keys
    assert body["queue"]["booths"]["hall-a"]["fast"] == {"queued": 0, "running": 1}
    assert body["queue"]["booths"]["hall-b"]["hq"] == {"queued": 1, "running": 0}


async def test_healthz_says_which_lane_no_live_worker_takes(aiohttp_client, db, settings):
    register(db, "gpu-1", ["hq", "print"])
    client = await aiohttp_client(create_app(settings))
    problems = (await (await client.get("/healthz")).json())["problems"]
    assert [p for p in problems if "worker" in p] == [
        "no live render worker takes first pictures (fast): they wait in the queue "
        "(set worker_lanes on a render host to include fast)"
    ]


def test_fleet_problems_in_words() -> None:
    assert health.fleet_problems([], None) == [health.NO_WORKER]
    assert health.fleet_problems([], "the render worker keeps stopping") == []
    assert health.fleet_problems(None, None) == []  # unreadable: the database problem says it
    assert health.fleet_problems([{"host": "old-row"}], None) == []  # no lanes: all of them
    two = [{"lanes": ["fast"]}, {"lanes": ["print", "hq"]}]
    assert health.fleet_problems(two, None) == []


def test_a_worker_records_the_lanes_it_serves(settings, db) -> None:
    """A running ``Worker.serve`` has its lanes and device slots in its row, for every
    server of the fleet to read; stopped, it is gone from the fleet."""
    import threading
    import time

    from kiosk.queue.worker import Worker

    worker = Worker(replace(settings, device_slots=3))
    worker.device = "cpu"
    serving = threading.Thread(target=worker.serve, args=([Lane.HQ, Lane.PRINT],))
    serving.start()
    try:
        deadline = time.monotonic() + 20
        while not (fleet := db(manager.live_workers, settings.worker_lease_s)):
            assert time.monotonic() < deadline, "the worker never registered"
            time.sleep(0.05)
        (row,) = fleet
        assert row["worker"] == worker.worker_id
        assert row["lanes"] == ["hq", "print"] and row["device_slots"] == 3
        assert row["jobs"] == []
    finally:
        worker.stop()
        serving.join(30)
    assert not serving.is_alive()
    assert db(manager.live_workers, settings.worker_lease_s) == []


# --- settings, docs and the worker host's unit ---------------------------------------------------


def test_a_booth_id_must_fit_its_column(settings) -> None:
    assert load_settings(env={"STYLEBOOTH_BOOTH_ID": "hall-a"}).booth_id == "hall-a"
    for bad in ("x" * 65, " "):
        with pytest.raises(ConfigError, match="booth_id: a name of 1 to 64 characters"):
            load_settings(env={"STYLEBOOTH_BOOTH_ID": bad})


def test_the_deployment_guide_names_real_settings() -> None:
    """Each setting in docs/deployment.md's table is a field of ``Settings`` (a renamed
    setting fails here, not at a venue)."""
    guide = (REPO / "docs" / "deployment.md").read_text()
    named = re.findall(r"^\| `(\w+)` \|", guide, flags=re.MULTILINE)
    assert {"database_url", "storage_url", "booth_id", "worker_lanes", "device_slots",
            "runtime_dir"} <= set(named)  # fmt: skip
    assert set(named) <= {spec.name for spec in fields(Settings)}


def test_the_worker_hosts_unit_runs_the_worker_with_its_secrets_from_a_file(tmp_path) -> None:
    unit = (REPO / "systemd" / "stylebooth-worker.service").read_text()
    lines = set(unit.splitlines())
    assert "ExecStart=/opt/stylebooth/.venv/bin/stylebooth worker" in lines
    assert "EnvironmentFile=/etc/stylebooth-worker.env" in lines  # required, no leading "-"
    assert "Environment=STYLEBOOTH_RUNTIME_DIR=/run/stylebooth" in lines
    assert not any("SECRET" in line or "postgresql" in line for line in lines if "=" in line
                   and not line.startswith("#"))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "kiosk", "worker", "--help"], cwd=REPO, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and "docs/deployment.md" in done.stdout, done.stderr
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: the unit's syntax is not checked")
    here = tmp_path / "stylebooth-worker.service"  # the checkout and venv of this machine
    here.write_text(unit.replace("/opt/stylebooth", str(REPO)))
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(here)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr


async def test_two_booth_servers_on_one_database_count_each_others_guests(
    aiohttp_client, settings
) -> None:
    """Two booth servers (their own booth ids, one database): a guest at each; either
    server's /healthz counts both booths, and the admin job list names each job's booth."""
    password = "s3cret"
    auth = {"Authorization": "Basic " + base64.b64encode(f"op:{password}".encode()).decode()}
    servers = {}
    for booth in ("hall-a", "hall-b"):
        app = create_app(replace(settings, booth_id=booth, admin_password=password))
        servers[booth] = await aiohttp_client(app)
    created = {}
    for booth, client in servers.items():
        data = aiohttp.FormData()
        for key, value in {"style": "starry_night", "scene": "own", "source": "camera"}.items():
            data.add_field(key, value)
        data.add_field("photo", guest_jpeg(640, quality=90), filename="p.jpg",
                       content_type="image/jpeg")  # fmt: skip
        response = await client.post("/api/captures", data=data)
        assert response.status == 201, await response.text()
        created[booth] = (await response.json())["job_id"]
    waiting = {"queued": 1, "running": 0}
    idle = {"queued": 0, "running": 0}
    for client in servers.values():
        queue = (await (await client.get("/healthz")).json())["queue"]
        assert queue["booths"] == {
            booth: {"fast": waiting, "hq": waiting, "print": idle} for booth in servers
        }
    jobs = (await (await servers["hall-a"].get("/admin/api/jobs", headers=auth)).json())["jobs"]
    booth_of = {job["id"]: job["booth"] for job in jobs}
    assert {booth_of[job_id] for job_id in created.values()} == {"hall-a", "hall-b"}
    assert all(booth_of[job_id] == booth for booth, job_id in created.items())


@pytest.mark.parametrize("slots", [1, 2])
def test_one_worker_paints_as_many_guests_at_once_as_the_device_has_slots(
    settings, db, slots
) -> None:
    """Three paintings ready; the worker's HQ lane runs ``device_slots`` threads, each under
    its own lock on the device's slots: with 2 slots two paint at once, with 1 only one,
    and every painting is done in the end."""
    import threading
    import time

    from kiosk.queue.worker import Worker

    jobs = [add_capture(db, settings) for _ in range(3)]
    helper = register(db, "booth", ["fast"])
    for _ in jobs:
        db(manager.finish, claim(db, Lane.FAST, helper), helper, JobStatus.done)
    worker = Worker(replace(settings, device_slots=slots))
    worker.device, worker.painter = "cpu", object()  # the bodies below never paint
    worker.device_locks = {Lane.HQ: DeviceLock(settings.runtime, "cpu", slots)}
    painting: set[str] = set()
    most = 0
    guard, go_on = threading.Lock(), threading.Event()

    def paint(ctx) -> dict[str, float]:
        nonlocal most
        with guard:
            painting.add(ctx.job.id)
            most = max(most, len(painting))
        go_on.wait(20)
        with guard:
            painting.discard(ctx.job.id)
        return {"hq": 0.0}

    worker.bodies[Lane.HQ] = paint
    serving = threading.Thread(target=worker.serve, args=([Lane.HQ],))
    serving.start()
    try:
        deadline = time.monotonic() + 20
        while len(painting) < slots:
            assert time.monotonic() < deadline, f"{len(painting)} of {slots} slots painting"
            time.sleep(0.02)
        time.sleep(0.5)  # a third thread, or a lock too many, would take the third job now
        assert most == slots
        assert db(manager.queue_counts)["hq"] == {"queued": 3 - slots, "running": slots}
        go_on.set()
        while db(manager.queue_counts)["hq"] != {"queued": 0, "running": 0}:
            assert time.monotonic() < deadline + 20, "the paintings were never all done"
            time.sleep(0.05)
    finally:
        go_on.set()
        worker.stop()
        serving.join(30)
    assert [db(manager.job_state, job.id).status for job in jobs] == [JobStatus.done] * 3
