"""tests/unit/test_migrations.py on PostgreSQL (the migrations run on an empty database and
end at the models' schema), and the fleet's start: several processes upgrading one fresh
database at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from alembic.script import ScriptDirectory

from db.migrate import alembic_config, current_revision
from tests.support.paths import REPO
from tests.support.postgres import PgServer
from tests.unit.test_migrations import *  # noqa: F403

UPGRADERS = 4
ROUNDS = 2

# Each upgrader imports everything first, says it is ready, then waits for the start file:
# the four reach the database together, as a fleet's servers and workers do when it is
# switched on. (Run against plain ``alembic.command.upgrade``, this test fails: 3 of the 4
# with a UniqueViolation.)
UPGRADER = """
import sys, time
from pathlib import Path
from db.migrate import upgrade
url, start, ready = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
ready.touch()
deadline = time.monotonic() + 60
while not start.exists() and time.monotonic() < deadline:
    time.sleep(0.002)
upgrade(url)
"""


def _wait_for(paths: list[Path], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(path.exists() for path in paths) and time.monotonic() < deadline:
        time.sleep(0.02)


def test_processes_upgrading_one_fresh_database_at_once_all_succeed(
    pg: PgServer, tmp_path: Path
) -> None:
    """Without the advisory lock, 7 of 24 such upgrades failed with a UniqueViolation (two
    of them creating ``alembic_version`` or the same table)."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    for round_ in range(ROUNDS):
        url = pg.new_database(migrated=False)
        start = tmp_path / f"start-{round_}"
        logs = [tmp_path / f"upgrade-{round_}-{i}.log" for i in range(UPGRADERS)]
        ready = [tmp_path / f"ready-{round_}-{i}" for i in range(UPGRADERS)]
        processes = []
        for log, is_ready in zip(logs, ready, strict=True):
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-c", UPGRADER, url, str(start), str(is_ready)],
                        cwd=REPO,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        _wait_for(ready, timeout_s=60)
        start.touch()
        codes = [process.wait(timeout=120) for process in processes]
        failures = [
            log.read_text()[-1500:] for code, log in zip(codes, logs, strict=True) if code != 0
        ]
        assert not failures, f"round {round_}: {len(failures)} upgrades failed:\n" + "\n".join(
            failures
        )
        assert current_revision(url) == head
