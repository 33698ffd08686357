"""Settings declared once (kiosk/config.py): the README's table is generated from them, values
come in the documented order, and a bad file stops ``stylebooth`` at load naming the key."""

from __future__ import annotations

import subprocess
import sys
import typing
from dataclasses import fields
from pathlib import Path

import pytest

from kiosk.config import (
    README_END,
    README_START,
    ConfigError,
    Settings,
    load_settings,
    readme_table,
    write_readme,
)
from render.errors import StyleBoothError
from tests.support.paths import REPO


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stylebooth.toml"
    path.write_text(text)
    return path


def stylebooth(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        timeout=120,
    )


def test_the_readme_table_is_generated_from_the_settings() -> None:
    """Fails when a setting is added or its help changed without `stylebooth config --readme`."""
    text = (REPO / "README.md").read_text()
    assert README_START in text and README_END in text
    section = text.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert section == readme_table(), "the README is stale: run `stylebooth config --readme`"
    for spec in fields(Settings):
        assert spec.metadata["help"], spec.name
        name = f"`STYLEBOOTH_{spec.name.upper()}`" if spec.metadata["env"] else spec.name
        assert name in section


def test_write_readme_replaces_only_the_table(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Booth\n\nbefore\n\n{README_START}\n| old |\n{README_END}\n\nafter\n")
    assert write_readme(readme) is True
    text = readme.read_text()
    assert text.startswith("# Booth\n\nbefore\n\n") and text.endswith(f"{README_END}\n\nafter\n")
    assert "| old |" not in text and "`STYLEBOOTH_PORT` | `8080` |" in text
    assert write_readme(readme) is False  # current: nothing to write
    (tmp_path / "plain.md").write_text("no markers")
    with pytest.raises(ConfigError, match="markers"):
        write_readme(tmp_path / "plain.md")


def test_every_setting_has_a_type_the_loader_reads() -> None:
    hints = typing.get_type_hints(Settings)
    for spec in fields(Settings):
        default = spec.default_factory() if spec.name == "hq_options" else spec.default
        if default is not None:
            # Each default, written as text (an environment variable) or kept as is (TOML),
            # reads back as itself.
            given = default if spec.name == "hq_options" else str(default)
            assert getattr(load_settings(env={}, **{spec.name: given}), spec.name) == default
        assert hints[spec.name] is not None


def test_defaults_then_file_then_environment_then_flags(tmp_path) -> None:
    assert load_settings(env={}).port == 8080
    path = toml(tmp_path, 'port = 9000\nevent_name = "Gala"\ndata_dir = "~/booth"\n')
    from_file = load_settings(path, env={})
    assert (from_file.port, from_file.event_name) == (9000, "Gala")
    assert from_file.data_dir == Path("~/booth").expanduser()
    env = {"STYLEBOOTH_PORT": "9100", "STYLEBOOTH_CONFIG": str(path)}
    from_env = load_settings(env=env)  # the file named by STYLEBOOTH_CONFIG, then the variable
    assert (from_env.port, from_env.event_name) == (9100, "Gala")
    assert load_settings(env=env, port=9200).port == 9200  # a flag beats them all
    assert load_settings(env=env, port=None).port == 9100  # a flag not given changes nothing
    assert load_settings(env={"STYLEBOOTH_PORT": ""}).port == 8080  # empty: not set


def test_values_are_read_as_their_declared_types(tmp_path) -> None:
    settings = load_settings(
        env={"STYLEBOOTH_LOG_LEVEL": "debug", "STYLEBOOTH_DEVICE": "CPU"}, admin_port="8081"
    )
    assert (settings.log_level, settings.device, settings.admin_port) == ("DEBUG", "cpu", 8081)
    for text, message in [
        ("port = 'eighty'", "port: a whole number, got 'eighty'"),
        ("port = true", "port: a whole number, got True"),
        ("port = 80.5", "port: a whole number"),
        ("device = 'gpu'", "device: one of auto, cpu, cuda, got 'gpu'"),
        ("log_level = 'LOUD'", "log_level: one of DEBUG, INFO, WARNING, ERROR"),
        ("event_name = ['a']", "event_name: expected str"),
        ("hq_options = 3", "hq_options: a table of style engine options"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_settings(toml(tmp_path, text), env={})
    with pytest.raises(ConfigError, match="STYLEBOOTH_MAX_UPLOADS: a whole number"):
        load_settings(env={"STYLEBOOTH_MAX_UPLOADS": "four"})


def test_an_unknown_key_is_refused_with_its_name(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'prot' \(did you mean 'port'\?\)"):
        load_settings(toml(tmp_path, "prot = 8080"), env={})
    with pytest.raises(ConfigError, match=r"unknown setting 'colour_scheme' \(known: data_dir"):
        load_settings(toml(tmp_path, "colour_scheme = 'dark'"), env={})
    with pytest.raises(TypeError):  # a caller's typo is a bug, not the operator's
        load_settings(env={}, prot=1)
    assert issubclass(ConfigError, StyleBoothError)


def test_hq_options_are_checked_with_the_style_engines_own_options(tmp_path) -> None:
    path = toml(tmp_path, "[hq_options]\nsteps = 30\npreview_every = 10\nscales = [0.5, 1.0]\n")
    settings = load_settings(path, env={})
    assert settings.hq_options == {"steps": 30, "preview_every": 10, "scales": [0.5, 1.0]}
    for table, message in [
        ("stpes = 30", r"hq_options: unknown HQ option\(s\) stpes; known: .*steps"),
        ("steps = 'ten'", "hq_options: HQ option steps must be a whole number, got 'ten'"),
        ("optimizer = 'sgd'", "hq_options: optimizer must be lbfgs or adam, got 'sgd'"),
        ("layer_weights = [1.0]", "hq_options: layer_weights needs 5 values"),
        ("steps = -1", "hq_options: steps must be >= 0"),
        ("relative_weights = 'yes'", "hq_options: HQ option relative_weights must be true or"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_settings(toml(tmp_path, f"[hq_options]\n{table}\n"), env={})


def test_checking_hq_options_loads_no_torch(tmp_path) -> None:
    """The server reads its settings too: checking [hq_options] must not load the engine."""
    path = toml(tmp_path, "[hq_options]\nsteps = 30\n")
    code = (
        "import sys; from kiosk.config import load_settings; "
        f"assert load_settings({str(path)!r}, env={{}}).hq_options == {{'steps': 30}}; "
        "print(sorted(m for m in ('torch', 'cv2', 'onnxruntime') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_stylebooth_serve_stops_at_start_on_a_bad_hq_option(tmp_path) -> None:
    toml(tmp_path, "port = 0\n[hq_options]\nsteps = 30\nstyle_wieght = 10\n")
    done = stylebooth("serve", "--no-worker", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("stylebooth serve: error: stylebooth.toml: hq_options")
    assert "unknown HQ option(s) style_wieght" in line
    assert "running" not in done.stdout and not (tmp_path / "data").exists()


def test_stylebooth_config_prints_the_checked_settings(tmp_path) -> None:
    toml(tmp_path, 'event_name = "Gala"\nadmin_password = "s3cret"\n[hq_options]\nsteps = 30\n')
    done = stylebooth("config", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'event_name = "Gala"' in done.stdout and "port = 8080" in done.stdout
    assert "s3cret" not in done.stdout and 'admin_password = "(set)"' in done.stdout
    assert "[hq_options]\nsteps = 30" in done.stdout
    readme = tmp_path / "README.md"
    readme.write_text(f"{README_START}\n{README_END}\n")
    done = stylebooth("config", "--readme", str(readme), cwd=tmp_path)
    assert done.returncode == 0 and "updated" in done.stdout
    assert readme.read_text() == f"{README_START}\n{readme_table()}\n{README_END}\n"
