"""The paintings the booth ships as style presets (credits in assets/CREDITS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from render.images import ImageError, ImageSource
from render.options import OptionError

ASSETS = Path(__file__).resolve().parent / "assets"


@dataclass(frozen=True)
class StylePreset:
    name: str
    title: str
    artist: str
    year: str

    @property
    def path(self) -> Path:
        return ASSETS / "styles" / f"{self.name}.jpg"


STYLES: dict[str, StylePreset] = {
    preset.name: preset
    for preset in (
        StylePreset("starry_night", "The Starry Night", "Vincent van Gogh", "1889"),
        StylePreset("the_scream", "The Scream", "Edvard Munch", "1893"),
        StylePreset("great_wave", "The Great Wave off Kanagawa", "Katsushika Hokusai", "c. 1831"),
        StylePreset("woman_with_a_hat", "Woman with a Hat", "Henri Matisse", "1905"),
        StylePreset("udnie", "Udnie", "Francis Picabia", "1913"),
        StylePreset(
            "shipwreck_of_the_minotaur",
            "The Shipwreck of the Minotaur",
            "J. M. W. Turner",
            "c. 1810",
        ),
        StylePreset("mosaic", "Mosaic", "unknown artist", ""),
    )
}


def style_preset(name: str) -> StylePreset:
    try:
        return STYLES[name]
    except KeyError:
        raise KeyError(f"unknown style {name!r}; choose one of: {', '.join(STYLES)}") from None


# A painting: a preset's name, an image (path, bytes, PIL image), or in fast mode the number
# 0..25 of a style of the built-in 26-style network.
StyleSource = ImageSource | str | int


def resolve_style(style: StyleSource) -> ImageSource | int:
    """What to paint with: a preset's name becomes its painting's file (unless a file of that
    name exists); a style number passes as is; an image source is given back unchanged."""
    if isinstance(style, bool):
        raise OptionError("a style is a painting or a number, not True/False")
    if isinstance(style, int):
        return style
    if isinstance(style, str) and style in STYLES and not Path(style).exists():
        return STYLES[style].path
    if isinstance(style, (str, Path)) and not Path(style).is_file():
        raise ImageError(
            f"no such file or style preset: {style} (the presets: {', '.join(STYLES)})"
        )
    return style
