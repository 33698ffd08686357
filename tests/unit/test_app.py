"""The server skeleton through aiohttp's test client, and the CLI."""

from __future__ import annotations

import subprocess
import sys

from export.specs import ExportError
from kiosk.app import create_app
from kiosk.cli import build_parser
from kiosk.queue.manager import JobConflict


async def test_a_stylebooth_error_is_answered_in_words_and_any_other_is_a_500(
    aiohttp_client, settings
) -> None:
    """The middleware answers every StyleBoothError with its sentence and code (400, or the
    status its code stands for); a ValueError is a bug, not the guest's mistake: 500."""
    app = create_app(settings)

    async def refused(_request):  # type: ignore[no-untyped-def]
        raise ExportError("sticker size must be 2 in, 3 in, 4 in; got 5")

    async def conflict(_request):  # type: ignore[no-untyped-def]
        raise JobConflict("job 123 is already queued")

    async def bug(_request):  # type: ignore[no-untyped-def]
        raise ValueError("a slip in the code")

    for path, handler in (("refused", refused), ("conflict", conflict), ("bug", bug)):
        app.router.add_get(f"/api/test/{path}", handler)
    client = await aiohttp_client(app)
    for path, status, code, words in (
        ("refused", 400, "bad_options", "sticker size must be"),
        ("conflict", 409, "conflict", "already queued"),
        ("bug", 500, "internal", "something went wrong"),
    ):
        response = await client.get(f"/api/test/{path}")
        body = await response.json()
        assert (response.status, body["code"]) == (status, code) and words in body["error"]


async def test_start_page_is_served(aiohttp_client, settings) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/")
    assert response.status == 200
    assert "StyleBooth" in await response.text()


def test_cli_help_lists_every_subcommand() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kiosk", "--help"], capture_output=True, text=True, check=True
    )
    names = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in names.items():
        assert name in done.stdout
        assert sub.format_help()
    assert {"serve", "models", "db"} <= set(names)


def test_cli_reports_bad_config_in_one_line(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("port = [")
    done = subprocess.run(
        [sys.executable, "-m", "kiosk", "--config", str(bad), "models", "status"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "not valid TOML" in done.stderr and "Traceback" not in done.stderr
