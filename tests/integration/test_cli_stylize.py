"""`stylebooth stylize`: writes the painting, prints a loss table, fails in one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from kiosk.cli import main
from tests.support.paths import PEOPLE, REPO, STYLES

HIKER = str(PEOPLE / "hiker.jpg")
STARRY = str(STYLES / "starry_night.jpg")


@pytest.fixture
def cli(model_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stylebooth.toml from elsewhere
    return lambda *args: main(["--model-dir", str(model_store.root), "stylize", *args])


def test_hq_writes_the_painting_and_a_loss_table(cli, tmp_path, capsys) -> None:
    out = tmp_path / "painting.png"
    code = cli(HIKER, "starry_night", "-o", str(out), "--size", "80", "--steps", "120")
    assert code == 0
    assert Image.open(out).size == (80, 53)
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert lines[0].split() == ["iteration", "scale", "content", "style", "tv", "total", "seconds"]
    assert [line.split()[0] for line in lines[1:3]] == ["100", "120"]
    assert lines[-1].startswith(f"wrote {out}")
    assert "120/120" in printed.err  # the progress bar


def test_fast_mode_and_budget(cli, tmp_path, capsys) -> None:
    fast = tmp_path / "fast.jpg"
    assert cli(HIKER, STARRY, "-o", str(fast), "--mode", "fast", "--size", "300") == 0
    assert Image.open(fast).size == (300, 200)
    numbered = tmp_path / "numbered.jpg"
    assert cli(HIKER, "7", "-o", str(numbered), "--mode", "fast", "--size", "120") == 0
    limited = tmp_path / "limited.png"
    args = ["-o", str(limited), "--size", "64", "--steps", "100000", "--budget", "1"]
    assert cli(HIKER, STARRY, *args) == 0
    assert "stopped early: budget" in capsys.readouterr().out
    assert Image.open(limited).size == (64, 43)


@pytest.mark.parametrize(
    ("content", "style", "extra", "message"),
    [
        ("missing.jpg", STARRY, [], "no such file"),
        ("empty.jpg", STARRY, [], "empty"),
        (HIKER, "notes.txt", [], "not an image"),
        (HIKER, "no_such_painting", [], "no such file"),
        (HIKER, STARRY, ["--size", "10"], "size"),
        (HIKER, STARRY, ["--strength", "3"], "strength"),
        (HIKER, "7", [], "fast mode"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli, tmp_path, capsys, content, style, extra, message
) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a picture")
    out = tmp_path / "out.jpg"
    assert cli(content, style, "-o", str(out), "--steps", "2", "--size", "64", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("stylebooth stylize: error:")
    assert message in err
    assert not out.exists()


def test_bad_output_is_refused_before_any_work(cli, tmp_path, capsys) -> None:
    assert cli(HIKER, STARRY, "-o", str(tmp_path / "out.docx")) == 2
    assert "unknown image type" in capsys.readouterr().err
    assert cli(HIKER, STARRY, "-o", str(tmp_path / "nowhere" / "out.jpg")) == 2
    assert "no such directory" in capsys.readouterr().err


def test_real_command_prints_no_traceback(model_store, tmp_path) -> None:
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    done = subprocess.run(
        [sys.executable, "-m", "kiosk", "--model-dir", str(model_store.root), "stylize",
         str(bad), STARRY, "-o", str(tmp_path / "out.jpg"), "--mode", "fast"],
        capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin",
                                                           "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("stylebooth stylize: error:")


def test_hq_flags_take_the_librarys_defaults_and_say_them(capsys) -> None:
    from kiosk.cli import build_parser
    from kiosk.cli.stylize import HQ_FLAGS
    from render.options import DEFAULT_HQ

    args = build_parser().parse_args(["stylize", HIKER, STARRY, "-o", "out.jpg"])
    assert {name: getattr(args, name) for name in HQ_FLAGS} == {
        name: getattr(DEFAULT_HQ, name) for name in HQ_FLAGS
    }
    with pytest.raises(SystemExit):
        build_parser().parse_args(["stylize", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert f"HQ iterations (default {DEFAULT_HQ.steps})" in shown
    assert "{lbfgs,adam}" in shown  # the choices come from GatysOptions' Literal types
