"""Naming a painting (render/styles.py): a preset, a file, or one of the fast network's
styles; anything else is named in the error."""

from __future__ import annotations

import pytest

from render.images import ImageError
from render.styles import STYLES, resolve_style


def test_style_by_preset_or_path() -> None:
    assert resolve_style("great_wave") == STYLES["great_wave"].path
    assert resolve_style(STYLES["udnie"].path) == STYLES["udnie"].path
    assert resolve_style(3) == 3  # a style of the fast 26-style network
    with pytest.raises(ImageError, match="no such file or style preset: nope"):
        resolve_style("nope")
