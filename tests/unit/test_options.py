"""The cut-out and compose options (render/options.py) are checked where they are written:
a bad value is named at construction, an unknown key when read from a mapping."""

from __future__ import annotations

import pytest

from render.options import ComposeOptions, CutoutOptions, OptionError


def test_cutout_options_are_checked_where_they_are_written() -> None:
    with pytest.raises(OptionError, match="contrast"):
        CutoutOptions(contrast=(0.9, 0.1))
    with pytest.raises(OptionError, match="feather"):
        CutoutOptions(feather=-1)
    with pytest.raises(OptionError, match="must be true or false"):
        CutoutOptions.from_mapping({"use_u2netp": "yes"})
    assert CutoutOptions.from_mapping({"contrast": [0, 1]}).contrast == (0.0, 1.0)


def test_compose_options_are_checked_where_they_are_written() -> None:
    for bad, message in [
        ({"scale": 0}, "scale"),
        ({"harmonize": 1.5}, "harmonize"),
        ({"shadow": -0.1}, "shadow"),
    ]:
        with pytest.raises(OptionError, match=message):
            ComposeOptions(**bad)
    with pytest.raises(OptionError, match="unknown compose option"):
        ComposeOptions.from_mapping({"shade": 0.3})
