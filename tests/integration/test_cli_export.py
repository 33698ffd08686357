"""``stylebooth export`` end to end: real files, a real SQLite database, exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from db.migrate import upgrade
from db.models import Result
from db.session import make_engine, make_sessionmaker
from kiosk.cli import main
from tests.support.desk import painted_capture
from tests.support.paths import PEOPLE
from tests.support.photos import guest_photo


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
    assert code == 1, err  # the files are written, and refused: the photo is no print master
    assert "note: no people found" in out
    png = next(Path(line.split()[1]) for line in out.splitlines() if line.startswith("png"))
    assert Image.open(png).size == (600, 800)  # 600 px over 12 in: 50 DPI, not enlarged
    assert (
        "PROBLEM: " + png.name + ": art is 600×399 px over 12×7.98 in: 50 effective DPI, "
        "below the 150 DPI minimum"
    ) in out


def test_black_tee_size_and_check_in_words(capsys, settings, tmp_path):
    """A print master's tee for a black XS shirt passes; ``--check`` says the art's DPI."""
    art = Image.open(PEOPLE / "booth_group.jpg").convert("RGB").resize((1400, 933))
    mask = Image.open(PEOPLE / "booth_group_mask.png").convert("L").resize(art.size)
    art.save(tmp_path / "master.png")
    mask.save(tmp_path / "master_mask.png")
    args = export(tmp_path / "master.png", "tee --size xs --colour black", tmp_path / "t")
    code, out, err = _run(capsys, settings, *args)
    assert code == 0, out + err
    files = {line.split()[0]: Path(line.split()[1]) for line in out.splitlines() if " " in line}
    assert files["png"].name.startswith("tee-XS-black-full-")
    assert Image.open(files["png"]).size == (1400, 1867)  # 9 in wide: 155.6 DPI, 12 in high
    code, out, _ = _run(capsys, settings, "export", "--check", str(files["pdf"]))
    assert code == 0 and "passes the preflight" in out
    assert "art_dpi" in out and "155.6" in out and "colour=black" in out

    small = tmp_path / "booth.png"
    art.resize((384, 256)).save(small)
    code, out, _ = _run(capsys, settings, *export(small, "tee", tmp_path / "s"))
    assert code == 1
    png = next(Path(line.split()[1]) for line in out.splitlines() if line.startswith("png"))
    code, out, _ = _run(capsys, settings, "export", "--check", str(png))
    assert code == 1
    assert (
        "PROBLEM: art is 384×256 px over 12×8 in: 32 effective DPI, below the 150 DPI minimum"
    ) in out


def test_check_lists_problems_with_exit_1(capsys, settings, tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (100, 100), "blue").save(plain)
    code, out, _ = _run(capsys, settings, "export", "--check", str(plain))
    assert code == 1
    assert "PROBLEM: no DPI metadata" in out and "PROBLEM: no ICC profile" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--product", "tee", "--size", "3"], "tee size must be one of XS, S, M"),
        (["--product", "tee", "--colour", "red"], "tee colour must be one of white, black"),
        (["--product", "sticker", "--colour", "black"], "sticker has no option colour"),
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


def test_a_result_id_is_read_from_the_store_and_its_files_kept_there(
    capsys, settings, tmp_path, monkeypatch
):
    """RESULT as a result id: the painting comes from the booth's store (``storage_url``,
    here not the data directory), the files are made and recorded there under the
    capture's ``exports/`` folder (as an order's would be), and copied into DIR."""
    store_root = tmp_path / "store"
    monkeypatch.setenv("STYLEBOOTH_STORAGE_URL", str(store_root))
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    sessions = make_sessionmaker(engine)
    capture_id = painted_capture(sessions, store_root, guest_photo((600, 400)))
    with sessions() as session:
        master = session.scalar(
            select(Result).where(Result.capture_id == capture_id, Result.kind == "master")
        )
        assert master is not None
        master_id = master.id
    engine.dispose()

    out_dir = tmp_path / "prints"
    code, out, err = _run(capsys, settings, *export(Path(master_id), "mug", out_dir))
    assert code in (0, 1), err  # a small test painting: its preflight may well complain
    files = {line.split()[0]: Path(line.split()[1]) for line in out.splitlines()
             if line.startswith(("png ", "pdf "))}  # fmt: skip
    assert set(files) == {"png", "pdf"} and all(p.parent == out_dir for p in files.values())
    stored = store_root / "exports" / capture_id
    for path in files.values():
        assert (stored / path.name).read_bytes() == path.read_bytes()
    assert not (settings.data_dir / "exports").exists()

    code, out, _ = _run(capsys, settings, *export(Path(master_id), "mug", tmp_path / "again"))
    assert "made before" in out
