"""A private CUPS server for the tests, with a cups-pdf queue whose PDFs land in a folder.

``cups_server()`` starts Debian's ``cupsd`` in the foreground with a configuration of its own
(ServerRoot, spool, cache, logs in a temporary folder; listening only on a free loopback
port, so the machine's own CUPS and port 631 are never touched), adds the queue ``booth-pdf``
on the cups-pdf backend, and stops it at the end. cups-pdf reads its settings from
``/etc/cups/cups-pdf-<name>.conf`` for a device URI ``cups-pdf:/<name>`` (the directory is
compiled into the backend): the server writes one with a name of its own, pointing the
output at its folder, and removes it when it stops. The backend runs as root (its mode is
0700) and the filters as ``lp``: the folders are world-readable for them.

Installs ``cups``, ``cups-client`` and ``printer-driver-cups-pdf`` with apt when ``cupsd`` or
the backend is missing, as the browser tests do for Chromium (``make system-deps`` does it
up front); ``CupsUnavailable`` when that is impossible (no apt: the tests skip saying so).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port

PACKAGES = ("cups", "cups-client", "printer-driver-cups-pdf")
BACKEND = Path("/usr/lib/cups/backend/cups-pdf")
PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd")
CUPS_PDF_CONF_DIR = Path("/etc/cups")
QUEUE = "booth-pdf"
START_TIMEOUT_S = 20.0


class CupsUnavailable(RuntimeError):
    """CUPS is not installed and cannot be (no apt); the message says what to install."""


def _installed() -> bool:
    return (
        all(shutil.which(tool) for tool in ("cupsd", "lpadmin"))
        and BACKEND.exists()
        and PPD.exists()
    )


def ensure_cups() -> None:
    """Install Debian's CUPS and cups-pdf when missing (idempotent: nothing when present)."""
    if _installed():
        return
    if shutil.which("apt-get") is None:
        raise CupsUnavailable(
            "CUPS is not installed and there is no apt-get here: install "
            f"{', '.join(PACKAGES)} (make system-deps) to run the printing tests"
        )
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=False, env=env, timeout=600)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
        check=True,
        env=env,
        timeout=900,
    )
    if not _installed():
        raise CupsUnavailable(f"`apt-get install {' '.join(PACKAGES)}` left CUPS incomplete")


@dataclass
class CupsServer:
    """A running private cupsd on 127.0.0.1:``port`` with the cups-pdf queue ``queue``."""

    port: int
    root: Path
    out_dir: Path  # where cups-pdf writes the PDFs it prints
    queue: str = QUEUE

    @property
    def address(self) -> str:
        """``host:port``, as ``STYLEBOOTH_CUPS_SERVER`` and ``lpadmin -h`` take it."""
        return f"127.0.0.1:{self.port}"

    def tool(self, *args: str) -> str:
        """Run a CUPS client tool (``lpstat``, ``cupsdisable``, …) against this server."""
        done = subprocess.run(
            [args[0], "-h", self.address, *args[1:]],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "LANG": "C", "LC_ALL": "C"},
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip() or done.stdout}")
        return done.stdout

    def disable(self, reason: str = "paper out") -> None:
        self.tool("cupsdisable", "-r", reason, self.queue)

    def enable(self) -> None:
        self.tool("cupsenable", self.queue)

    def pdfs(self) -> list[Path]:
        return sorted(self.out_dir.rglob("*.pdf"))

    def wait_for_pdfs(self, count: int, timeout: float = 60.0) -> list[Path]:
        """Wait until cups-pdf has written ``count`` PDFs (complete: their size settled)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.pdfs()
            if len(found) >= count:
                sizes = [path.stat().st_size for path in found]
                time.sleep(0.5)
                if [path.stat().st_size for path in found] == sizes and all(sizes):
                    return found
            time.sleep(0.25)
        raise AssertionError(
            f"cups-pdf wrote {len(self.pdfs())} PDFs in {timeout:.0f} s, "
            f"not {count}; its log:\n{self.log()}"
        )

    def log(self) -> str:
        texts = []
        for path in sorted((self.root / "log").glob("*")):
            with suppress(OSError):
                texts.append(f"== {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(texts)


def _write_config(root: Path, port: int) -> tuple[Path, Path]:
    for name in ("spool", "spool/tmp", "cache", "state", "log", "tmp", "ppd", "out", "cpspool"):
        (root / name).mkdir(parents=True, exist_ok=True)
    conf = root / "cupsd.conf"
    conf.write_text(
        f"Listen 127.0.0.1:{port}\nServerName 127.0.0.1\nLogLevel info\nWebInterface No\n"
        "Browsing No\nDefaultAuthType None\nMaxLogSize 0\nPreserveJobFiles No\n"
        "<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
        "<Location /admin>\n  Order allow,deny\n  Allow all\n</Location>\n"
        "<Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n"
    )
    files = root / "cups-files.conf"
    files.write_text(
        f"ServerRoot {root}\nRequestRoot {root}/spool\nCacheDir {root}/cache\n"
        f"StateDir {root}/state\nTempDir {root}/spool/tmp\nErrorLog {root}/log/error_log\n"
        f"AccessLog {root}/log/access_log\nPageLog {root}/log/page_log\n"
        "ServerBin /usr/lib/cups\nDataDir /usr/share/cups\nSandboxing Relaxed\n"
        "FileDevice No\n"
    )
    return conf, files


@contextmanager
def cups_server() -> Iterator[CupsServer]:
    """Start a private cupsd with the cups-pdf queue ``booth-pdf``; stop it at the end."""
    ensure_cups()
    root = Path(tempfile.mkdtemp(prefix="stylebooth-cups-"))
    root.chmod(0o755)  # the filters run as lp, the backend as root
    port = free_port()
    conf, files = _write_config(root, port)
    name = f"stylebooth-test-{os.getpid()}-{port}"
    pdf_conf = CUPS_PDF_CONF_DIR / f"cups-pdf-{name}.conf"
    pdf_conf.write_text(
        f"Out {root}/out\nAnonDirName {root}/out\nSpool {root}/cpspool\n"
        f"Log {root}/log\nAnonUMask 0022\nUserUMask 0022\nLabel 1\nTitlePref 1\n"
    )
    for folder in ("out", "cpspool", "spool", "spool/tmp"):
        (root / folder).chmod(0o1777)
    process = subprocess.Popen(
        ["cupsd", "-f", "-c", str(conf), "-s", str(files)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "LANG": "C"},
    )
    server = CupsServer(port, root, root / "out")
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"cupsd stopped at once: {error}\n{server.log()}")
            # `lpstat -r` exits 0 whether or not the scheduler answers (seen on a fresh
            # install: "scheduler is not running", then lpadmin could not connect), so the
            # words decide; and the queue is added with the same patience.
            try:
                if "scheduler is running" in server.tool("lpstat", "-r"):
                    server.tool(
                        "lpadmin", "-p", QUEUE, "-E", "-v", f"cups-pdf:/{name}", "-P", str(PPD)
                    )
                    break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"cupsd did not answer in {START_TIMEOUT_S:.0f} s\n{server.log()}"
                )
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        pdf_conf.unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)
