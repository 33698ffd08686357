"""``stylebooth doctor`` (kiosk/doctor.py) against real things: the data directory's real free
space, a model cache with files missing, unit files written here, a real SQLite database with
and without a beating worker, real sockets, a private CUPS server; and the command itself."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from dataclasses import replace

import pytest

from db.migrate import upgrade
from db.models import new_id
from kiosk import doctor
from kiosk.doctor import CAMERA_FLAG, SHIPPED_UNIT, Check, report_line
from kiosk.queue import manager
from render.models import MANIFEST, SPECS, ModelStore
from tests.support.paths import REPO
from tests.support.processes import free_port

UNIT = """[Service]
ExecStartPre=/bin/sh -c 'until curl -sf http://127.0.0.1:{port}/healthz; do sleep 1; done'
ExecStart=/usr/bin/chromium --kiosk --noerrdialogs \\
  {flags}--user-data-dir=%h/.cache/stylebooth-kiosk http://127.0.0.1:{port}/
"""


def unit_file(tmp_path, *, flags: str = CAMERA_FLAG + " ", port: int = 8080):
    path = tmp_path / "stylebooth-kiosk.service"
    path.write_text(UNIT.format(flags=flags, port=port))
    return path


def test_free_disk_is_the_data_directorys_real_free_space(settings) -> None:
    roomy = doctor.check_disk(replace(settings, min_free_mb=1))
    assert roomy.ok is True and str(settings.data_dir.resolve()) in roomy.detail
    free = os.statvfs(settings.data_dir)
    megabytes = free.f_bavail * free.f_frsize / 2**20
    assert f"{megabytes:,.0f} MB free" in roomy.detail  # the same statvfs, read here
    full = doctor.check_disk(replace(settings, min_free_mb=10**9))
    assert full.ok is False and "would be refused" in full.detail and "purge" in full.fix


def test_a_model_cache_missing_files_fails_naming_them(settings) -> None:
    store = ModelStore(settings.models)
    empty = doctor.check_models(settings)
    assert empty.ok is False and "stylebooth models fetch" in empty.fix
    assert all(name in empty.detail for name in SPECS)
    # One file present with its recorded hash; a second present but damaged.
    good, damaged = list(SPECS)[:2]
    settings.models.mkdir(parents=True)
    store.path(good).parent.mkdir(parents=True, exist_ok=True)
    store.path(good).write_bytes(b"weights")
    store.path(damaged).parent.mkdir(parents=True, exist_ok=True)
    store.path(damaged).write_bytes(b"truncated")
    digest = hashlib.sha256(b"weights").hexdigest()
    (settings.models / MANIFEST).write_text(json.dumps({good: digest, damaged: digest}))
    check = doctor.check_models(settings)
    missing = check.detail.split(": ", 1)[1].split(", ")
    assert check.ok is False and good not in missing and damaged in missing
    assert sorted(missing) == sorted(set(SPECS) - {good})


def test_a_kiosk_unit_without_the_camera_flag_fails_with_the_fix(settings, tmp_path) -> None:
    plain = unit_file(tmp_path, flags="")
    check = doctor.check_camera_flag(settings, plain)
    assert check.ok is False and str(plain) in check.detail and CAMERA_FLAG in check.detail
    assert f"add {CAMERA_FLAG}" in check.fix and "daemon-reload" in check.fix
    assert doctor.check_camera_flag(settings, unit_file(tmp_path)).ok is True
    assert doctor.check_camera_flag(settings, tmp_path / "none.service").ok is None


def test_the_shipped_kiosk_unit_grants_the_camera_and_opens_the_default_booth(settings) -> None:
    assert doctor.check_camera_flag(settings, SHIPPED_UNIT).ok is True
    page = doctor.check_kiosk_page(settings, SHIPPED_UNIT)
    assert page.ok is True and "http://127.0.0.1:8080/" in page.detail
    # Bound to every interface the kiosk still opens loopback: the same unit fits.
    assert doctor.check_kiosk_page(replace(settings, host="0.0.0.0"), SHIPPED_UNIT).ok is True


def test_a_kiosk_unit_opening_another_port_fails(settings, tmp_path) -> None:
    check = doctor.check_kiosk_page(replace(settings, port=9090), unit_file(tmp_path))
    assert check.ok is False
    assert (
        "opens http://127.0.0.1:8080/, but the booth is at http://127.0.0.1:9090/" in check.detail
    )
    assert "http://127.0.0.1:9090/" in check.fix


def test_an_installed_unit_is_preferred_to_the_shipped_one(tmp_path) -> None:
    installed = unit_file(tmp_path)
    assert doctor.kiosk_unit([tmp_path / "absent.service", installed]) == installed
    assert doctor.kiosk_unit([tmp_path / "absent.service"]) == SHIPPED_UNIT


def test_no_database_fails_without_creating_one(settings) -> None:
    check = doctor.check_worker(settings)
    assert check.ok is False and "no database" in check.detail and "db upgrade" in check.fix
    assert not (settings.data_dir / "stylebooth.sqlite3").exists()


def test_the_worker_check_reads_the_workers_table(settings, sessions) -> None:
    upgrade(settings.db_url)
    none = doctor.check_worker(settings)
    assert none.ok is False and "no render worker is running" in none.detail
    assert "stylebooth serve" in none.fix
    worker_id = new_id()
    manager.in_session(
        sessions,
        manager.register_worker,
        worker_id,
        host="booth-7",
        pid=os.getpid(),
        parent=None,
        device="cpu",
        info={},
    )
    alive = doctor.check_worker(settings)
    assert alive.ok is True and alive.detail == "1 alive: booth-7 (cpu)"
    manager.in_session(sessions, manager.stop_worker, worker_id)
    assert doctor.check_worker(settings).ok is False
    hq_only = new_id()
    manager.in_session(
        sessions,
        manager.register_worker,
        hq_only,
        host="gpu-1",
        pid=os.getpid(),
        parent=None,
        device="cuda",
        info={"lanes": ["hq"]},
    )
    partial = doctor.check_worker(settings)
    assert partial.ok is False and "first pictures (fast)" in partial.detail


def test_the_phone_address_check_fails_on_loopback_only(settings) -> None:
    bound = doctor.check_address(replace(settings, host="127.0.0.1", public_url=None))
    assert bound.ok is False and "loopback" in bound.detail and 'host = "0.0.0.0"' in bound.fix
    proxied = doctor.check_address(replace(settings, public_url="https://booth.example"))
    assert proxied.ok is True and proxied.detail == "QR codes carry https://booth.example"


def test_the_phone_url_is_connected_to_only_while_a_booth_runs(settings) -> None:
    port = free_port()
    booth = replace(settings, host="127.0.0.1", port=port)
    closed = free_port()
    skipped = doctor.check_phone_url_answers(
        replace(booth, public_url=f"http://127.0.0.1:{closed}")
    )
    assert skipped.ok is None and "no booth is running" in skipped.detail
    with socket.create_server(("127.0.0.1", port)):  # a booth listening
        answers = doctor.check_phone_url_answers(
            replace(booth, public_url=f"http://127.0.0.1:{port}")
        )
        assert answers.ok is True and f"127.0.0.1:{port} accepts" in answers.detail
        silent = doctor.check_phone_url_answers(
            replace(booth, public_url=f"http://127.0.0.1:{closed}")
        )
        assert silent.ok is False and "does not answer" in silent.detail
        assert "firewall" in silent.fix


def test_the_printer_check_asks_a_real_cups(settings) -> None:
    from tests.support.cups import CupsUnavailable, cups_server

    off = doctor.check_printer(replace(settings, printer=None))
    assert off.ok is None and "no printer is set" in off.detail
    nobody = replace(settings, printer="booth-pdf", cups_server=f"127.0.0.1:{free_port()}")
    unreachable = doctor.check_printer(nobody)
    assert unreachable.ok is False and "start CUPS" in unreachable.fix
    try:
        context = cups_server()
        server = context.__enter__()
    except CupsUnavailable as exc:
        pytest.skip(str(exc))
    try:
        booth = replace(settings, printer=server.queue, cups_server=server.address)
        ready = doctor.check_printer(booth)
        assert ready.ok is True and "idle" in ready.detail
        missing = doctor.check_printer(replace(booth, printer="no-such-queue"))
        assert missing.ok is False and "lpstat -p" in missing.fix
        server.disable("paper out")
        stopped = doctor.check_printer(booth)
        assert stopped.ok is False and f"cupsenable {server.queue}" in stopped.fix
    finally:
        context.__exit__(None, None, None)


def test_report_lines() -> None:
    assert report_line(Check("models", True, "7 intact")) == "OK   models: 7 intact"
    assert report_line(Check("printer", None, "off", "x")) == "SKIP printer: off"
    assert report_line(Check("disk", False, "full", "purge")) == "FAIL disk: full (fix: purge)"


def test_stylebooth_doctor_prints_one_line_per_check_and_exits_1_on_a_failure(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYLEBOOTH_")}
    env.update(
        STYLEBOOTH_DATA_DIR=str(tmp_path / "data"),
        STYLEBOOTH_MIN_FREE_MB="1",
        STYLEBOOTH_MODEL_DIR=str(tmp_path / "models"),
        STYLEBOOTH_PORT=str(free_port()),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "kiosk", "--config", os.devnull, "doctor"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    checks = lines[:-1]
    assert len(checks) == len(doctor.CHECKS)
    assert all(line[:4] in ("OK  ", "FAIL", "SKIP") for line in checks), lines
    assert any(line.startswith("OK   free disk:") for line in checks)
    assert any(
        line.startswith("FAIL models:") and "(fix: run `stylebooth models fetch`" in line
        for line in checks
    )
    assert any(line.startswith("FAIL render worker: there is no database") for line in checks)
    assert lines[-1].endswith("checks failed")
