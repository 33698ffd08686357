"""The layering rules, checked: dependencies point one way, and the server stays light.

* ``render/`` and ``export/`` are libraries: no module of theirs imports ``kiosk`` (at the top
  or inside a function, where a lazy import would dodge a cycle), and ``render/`` never
  imports ``export/``.
* The server process (the app, its routes, the supervisor) never imports torch, OpenCV,
  onnxruntime or the worker's code: those load only in the render worker and the export
  process.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

HEAVY = ("torch", "cv2", "onnxruntime", "kiosk.queue.worker", "kiosk.queue.tasks", "kiosk.painter")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, wherever the import statement stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def library_files(package: str) -> list[Path]:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"no modules found in {package}/"
    return files


@pytest.mark.parametrize(
    ("package", "forbidden"), [("render", ("kiosk", "export", "db")), ("export", ("kiosk", "db"))]
)
def test_libraries_import_nothing_from_the_app(package: str, forbidden: tuple[str, ...]) -> None:
    offences = [
        f"{path.relative_to(REPO)} imports {module}"
        for path in library_files(package)
        for module in sorted(imported_modules(path))
        if module.split(".")[0] in forbidden
    ]
    assert offences == []


def test_the_rule_sees_a_lazy_import(tmp_path: Path) -> None:
    """The walk finds an import hidden inside a function, as the old cycle dodges were."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from kiosk.config import Settings\n    return Settings\n")
    assert "kiosk.config" in imported_modules(module)


def test_the_server_process_stays_light(tmp_path: Path) -> None:
    """Build the app and answer /healthz and the booth's config in a fresh interpreter; then
    none of the heavy modules is loaded."""
    script = f"""
import asyncio, json, sys
from aiohttp.test_utils import TestClient, TestServer
from kiosk.app import create_app
from kiosk.config import load_settings
import kiosk.supervisor

async def main():
    settings = load_settings(env={{}}, data_dir={str(tmp_path / "data")!r},
                             model_dir={str(REPO / "data" / "models")!r})
    async with TestClient(TestServer(create_app(settings))) as client:
        for path in ("/healthz", "/api/config", "/"):
            assert (await client.get(path)).status == 200, path

asyncio.run(main())
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
