"""``stylebooth export`` end to end: real files, a real SQLite database, exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from kiosk.cli import main
from tests.support.paths import PEOPLE


@pytest.fixture
def hiker(tmp_path: Path) -> Path:
    """A photo with its people mask beside it, as NAME_mask.png."""
    shutil.copy(PEOPLE / "hiker.jpg", tmp_path / "hiker.jpg")
    shutil.copy(PEOPLE / "hiker_mask.png", tmp_path / "hiker_mask.png")
    return tmp_path / "hiker.jpg"


def _run(capsys, settings, *args: str) -> tuple[int, str, str]:
    code = main(["--data-dir", str(settings.data_dir), "--model-dir", str(settings.models), *args])
    out, err = capsys.readouterr()
    return code, out, err


def export(image: Path, product_and_options: str, out_dir: Path, *more: str) -> list[str]:
    """``export IMAGE --product PRODUCT [OPTIONS…] [MORE…] -o OUT_DIR`` as arguments."""
    return [
        "export",
        str(image),
        "--product",
        *product_and_options.split(),
        *more,
        "-o",
        str(out_dir),
    ]


def test_export_then_check_then_reuse(capsys, settings, hiker, tmp_path):
    out_dir = tmp_path / "prints"
    code, out, err = _run(capsys, settings, *export(hiker, "sticker --size 2", out_dir))
    assert code == 0, err
    files = {line.split()[0]: Path(line.split()[1]) for line in out.splitlines() if " " in line}
    assert set(files) == {"pdf", "png"} and all(p.parent == out_dir for p in files.values())
    assert Image.open(files["png"]).size[1] == 600  # the hiker is taller than wide: 2 in high

    code, out, _ = _run(capsys, settings, "export", "--check", str(files["pdf"]))
    assert code == 0 and "passes the preflight" in out and "cut_paths" in out

    code, out, _ = _run(capsys, settings, *export(hiker, "sticker --size 2in", tmp_path / "again"))
    assert code == 0 and "made before" in out
    assert (tmp_path / "again" / files["pdf"].name).read_bytes() == files["pdf"].read_bytes()


def test_mug_and_tee_from_the_command_line(capsys, settings, hiker, tmp_path):
    mug = export(hiker, "mug --size 15oz --layout sides", tmp_path / "m")
    code, out, err = _run(capsys, settings, *mug)
    assert code == 0, err
    png = next(Path(line.split()[1]) for line in out.splitlines() if line.startswith("png"))
    assert Image.open(png).size == (2700, 1140)

    explicit = tmp_path / "mask.png"
    Image.new("L", Image.open(hiker).size, 0).save(explicit)  # a mask with nobody in it
    tee = export(hiker, "tee --layout people", tmp_path / "t", "--mask", str(explicit))
    code, out, err = _run(capsys, settings, *tee)
    assert code == 0, err
    assert "note: no people found" in out


def test_check_lists_problems_with_exit_1(capsys, settings, tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (100, 100), "blue").save(plain)
    code, out, _ = _run(capsys, settings, "export", "--check", str(plain))
    assert code == 1
    assert "PROBLEM: no DPI metadata" in out and "PROBLEM: no ICC profile" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--product", "tee", "--size", "3"], "tee has no option size"),
        (["--product", "sticker", "--size", "10"], "sticker size must be"),
        (["--product", "mug", "--layout", "spiral"], "mug layout must be"),
        (["--product", "mug", "--mask", "missing.png"], "no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, settings, hiker, tmp_path, args, message):
    code, _, err = _run(capsys, settings, "export", str(hiker), *args, "-o", str(tmp_path / "x"))
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_bad_files_are_one_line_and_exit_2(capsys, settings, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    for args, message in [
        (["export", str(broken), "--product", "tee", "-o", str(tmp_path)], "not an image"),
        (["export", "no-such-result", "--product", "tee", "-o", str(tmp_path)], "no such image"),
        (["export", "--check", str(tmp_path / "nothing.pdf")], "no such file"),
        (["export", "--check", str(broken)], "neither a PNG nor a PDF"),
        (["export", str(broken)], "give RESULT, --product and -o DIR"),
        (["export", str(PEOPLE / "hiker.jpg"), "--product", "mug", "-o", str(broken)], "exists"),
    ]:
        code, _, err = _run(capsys, settings, *args)
        assert code == 2 and message in err and "Traceback" not in err, (args, err)
