"""``export_product``: print files for one picture, and the key that names them.

An export is identified by its key: the picture (and people mask), the product, its
normalised options and ``EXPORT_VERSION``; equal requests get equal keys. The library writes
files and says what it made (``ExportResult``); it keeps no record. The booth records each
export in its database and, asked again for the same key, hands back the stored files while
they are intact (``kiosk/exports.py``): so it asks for the key first (``plan_export``) and
makes the files only when it has none (``ExportPlan.make``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from export import mug, sticker, tee
from export.artwork import Artwork
from export.specs import normalize_options
from render.files import sha256_bytes
from render.images import ImageSource

EXPORT_VERSION = 1  # bump when the files an export makes change

Maker = Callable[[Artwork, dict[str, Any], Path, str], dict[str, Path]]
MAKERS: dict[str, Maker] = {"tee": tee.make, "sticker": sticker.make, "mug": mug.make}


@dataclass(frozen=True)
class ExportResult:
    """The files one export made, and what its record needs."""

    files: dict[str, Path]  # role ("png", "pdf") → file
    key: str
    product: str
    options: dict[str, Any]  # normalised: what the key was made from
    source_sha256: str  # the picture alone (without its mask)
    notes: tuple[str, ...] = ()  # what a person should know (fallbacks taken)


@dataclass(frozen=True)
class ExportPlan:
    """One product for one picture, checked and keyed, before any file is written."""

    art: Artwork
    product: str
    options: dict[str, Any]
    key: str
    notes: tuple[str, ...]

    def make(self, out_dir: Path) -> ExportResult:
        """Write the print files into ``out_dir`` (named by product, options and key)."""
        files = MAKERS[self.product](
            self.art, self.options, Path(out_dir), _stem(self.product, self.options, self.key)
        )
        return ExportResult(
            files, self.key, self.product, self.options, self.art.source_sha256, self.notes
        )


def export_key(art: Artwork, product: str, options: dict[str, Any]) -> str:
    identity = {"v": EXPORT_VERSION, "art": art.sha256, "product": product, "options": options}
    return sha256_bytes(json.dumps(identity, sort_keys=True).encode())


def _stem(product: str, options: dict[str, Any], key: str) -> str:
    if product == "tee":
        label = options["layout"]
    elif product == "sticker":
        label = f"{options['size']}in"
    else:
        label = f"{options['size']}-{options['layout']}"
    return f"{product}-{label}-{key[:10]}"


def _notes(art: Artwork, product: str, options: dict[str, Any]) -> list[str]:
    if art.people_box is not None:
        return []
    if product == "sticker":
        return ["no people found: the sticker is cut as a rounded rectangle of the whole picture"]
    if product == "tee" and options["layout"] == "people":
        return ["no people found: the tee prints the full picture"]
    return []


def plan_export(
    source_image: ImageSource,
    product: str,
    *,
    options: dict[str, Any] | None = None,
    alpha: Image.Image | None = None,
) -> ExportPlan:
    """Check the request and the picture and compute the export's key; nothing is written.

    ``alpha`` is the people mask ("L", 255 = person) in the picture's frame; without it, or
    when it holds nobody, the sticker is a rounded rectangle and the tee the full picture.
    Raises ``ImageError`` for an unusable picture and ``ExportError`` for a bad request.
    """
    opts = normalize_options(product, options)
    art = Artwork.load(source_image, alpha)
    key = export_key(art, product, opts)
    return ExportPlan(art, product, opts, key, tuple(_notes(art, product, opts)))


def export_product(
    source_image: ImageSource,
    product: str,
    *,
    options: dict[str, Any] | None = None,
    out_dir: Path,
    alpha: Image.Image | None = None,
) -> ExportResult:
    """Print files for ``product`` in ``out_dir``: ``plan_export`` and then ``make``."""
    return plan_export(source_image, product, options=options, alpha=alpha).make(out_dir)
