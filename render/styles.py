"""The paintings the booth ships as style presets (credits in assets/CREDITS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
