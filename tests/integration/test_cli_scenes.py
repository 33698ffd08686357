"""`stylebooth cutout`, `stylebooth compose` and `stylebooth scenes`, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kiosk.cli import main
from render.models import ModelStore
from tests.support.paths import PEOPLE, SCENES


def run(model_store: ModelStore, *argv: str) -> int:
    return main(["--model-dir", str(model_store.root), *argv])


def test_cutout_writes_an_rgba_png(model_store: ModelStore, tmp_path: Path, capsys) -> None:
    out = tmp_path / "hiker.png"
    assert run(model_store, "cutout", str(PEOPLE / "hiker.jpg"), "-o", str(out)) == 0
    image = Image.open(out)
    assert image.mode == "RGBA" and image.size == (600, 399)
    alpha = np.asarray(image)[..., 3]
    assert 0.05 < (alpha >= 128).mean() < 0.4 and alpha.min() == 0
    assert "RGBA" in capsys.readouterr().out


def test_cutout_of_nobody_keeps_the_picture(
    model_store: ModelStore, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "empty.png"
    assert run(model_store, "cutout", str(SCENES / "night_sky.jpg"), "-o", str(out)) == 0
    assert np.asarray(Image.open(out))[..., 3].min() == 255
    assert "nobody found" in capsys.readouterr().out


def test_compose_writes_the_group_on_a_scene(
    model_store: ModelStore, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "group.jpg"
    argv = ["compose", str(PEOPLE / "booth_group.jpg"), "--scene", "tubingen", "-o", str(out)]
    assert run(model_store, *argv, "--size", "640") == 0
    image = Image.open(out)
    assert image.format == "JPEG" and image.size == (640, 427)
    assert "on tubingen" in capsys.readouterr().out


def test_compose_of_nobody_says_it_kept_the_background(
    model_store: ModelStore, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "empty.png"
    argv = ["compose", str(SCENES / "tubingen.jpg"), "--scene", "sunset", "-o", str(out)]
    assert run(model_store, *argv, "--size", "300") == 0
    assert "nobody found" in capsys.readouterr().out
    assert np.asarray(Image.open(out)).std() > 20


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cutout", "{missing}", "-o", "{out}.png"], "no such file"),
        (["cutout", "{junk}", "-o", "{out}.png"], "not an image"),
        (["cutout", "{photo}", "-o", "{out}.jpg"], "needs transparency"),
        (["compose", "{photo}", "--scene", "atlantis", "-o", "{out}.jpg"], "unknown scene"),
        (["compose", "{photo}", "--scene", "sunset", "-o", "{out}.xyz"], "unknown image type"),
        (["compose", "{photo}", "--scene", "sunset", "-o", "{nodir}/x.jpg"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    model_store: ModelStore, tmp_path: Path, capsys, argv: list[str], message: str
) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not a JPEG")
    names = {
        "missing": str(tmp_path / "missing.jpg"),
        "junk": str(junk),
        "photo": str(PEOPLE / "hiker.jpg"),
        "out": str(tmp_path / "out"),
        "nodir": str(tmp_path / "nodir"),
    }
    assert run(model_store, *[arg.format(**names) for arg in argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err
    assert not list(tmp_path.glob("out*"))


def test_scenes_lists_every_scene(model_store: ModelStore, capsys) -> None:
    assert run(model_store, "scenes") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("own")
    assert any(line.startswith("tubingen") and "CC BY 3.0" in line for line in lines)
    assert any(line.startswith("studio_grey") for line in lines)


def test_stylize_with_a_scene_paints_the_composite(
    model_store: ModelStore, tmp_path: Path, capsys
) -> None:
    """``stylize --scene`` is the booth's pipeline: the same picture as ``compose`` followed by
    ``stylize`` of the composite, and not the painting of the plain photo. (How dark a night sky
    stays once painted depends on the painting's palette, so darkness is checked on the
    composite, before the paint.)"""
    photo = str(PEOPLE / "booth_group.jpg")
    common = ["great_wave", "--mode", "fast", "--size", "128"]
    plain, on_scene = tmp_path / "plain.png", tmp_path / "scene.png"
    composite, painted = tmp_path / "composite.png", tmp_path / "painted.png"
    assert run(model_store, "stylize", photo, *common, "-o", str(plain)) == 0
    argv = ["stylize", photo, *common, "--scene", "night_sky", "-o", str(on_scene)]
    assert run(model_store, *argv) == 0
    compose = ["compose", photo, "--scene", "night_sky", "--size", "128", "-o", str(composite)]
    assert run(model_store, *compose) == 0
    assert run(model_store, "stylize", str(composite), *common, "-o", str(painted)) == 0
    a, b, c = (
        np.asarray(Image.open(p).convert("RGB"), dtype=int) for p in (plain, on_scene, painted)
    )
    assert a.shape == b.shape == c.shape == (85, 128, 3)
    assert np.abs(b - c).max() <= 1  # one pipeline, whichever command runs it
    # the wallpaper around the people became a night sky ...
    sky = np.asarray(Image.open(composite).convert("RGB"), dtype=int)
    wall = np.asarray(Image.open(photo).convert("RGB").resize((128, 85)), dtype=int)
    assert sky[:20, :20].mean() < wall[:20, :20].mean() - 60
    # ... and the painting of it is another picture there, not the plain photo's
    assert np.abs(a - b)[:20, :20].mean() > 20
    assert run(model_store, *argv[:-4], "--scene", "atlantis", "-o", str(on_scene)) == 2
    assert "unknown scene" in capsys.readouterr().err
