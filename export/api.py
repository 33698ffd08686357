"""``export_product``: print files for one picture, and the key that names them.

An export is identified by its key: the picture (and people mask), the product, its
normalised options and ``EXPORT_VERSION``; equal requests get equal keys. The library writes
files and says what it made (``ExportResult``); it keeps no record. The booth records each
export in its database and, asked again for the same key, hands back the stored files while
they are intact (``kiosk/exports.py``): so it asks for the key first (``plan_export``) and
makes the files only when it has none (``ExportPlan.make``).

Every file made is preflighted (``export/preflight.py``) and its problems are part of the
result: art below 150 effective DPI at print size (the print master too small for the
product) is a problem, never silently enlarged, and an order with problems is not ready to
print.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from export import mug, photo_print, sticker, tee
from export.artwork import Artwork
from export.photo_print import PhotoLabel
from export.preflight import preflight
from export.specs import check_scale, normalize_options
from render.files import sha256_bytes
from render.images import ImageSource

EXPORT_VERSION = 2  # bump when the files an export makes change

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
    problems: tuple[str, ...] = ()  # the preflight's, "file: problem"; empty: ready to print


@dataclass(frozen=True)
class ExportPlan:
    """One product for one picture, checked and keyed, before any file is written."""

    art: Artwork
    product: str
    options: dict[str, Any]
    key: str
    notes: tuple[str, ...]
    scale: float = 1.0  # the preflight's (a test's print scale)
    label: PhotoLabel | None = None  # a photo print's label text (part of the key)

    def make(self, out_dir: Path) -> ExportResult:
        """Write the print files into ``out_dir`` (named by product, options and key) and
        preflight them."""
        stem = _stem(self.product, self.options, self.key)
        if self.product == "photo":  # the one product that prints words of the booth's
            files = photo_print.make(self.art, self.options, Path(out_dir), stem, self.label)
        else:
            files = MAKERS[self.product](self.art, self.options, Path(out_dir), stem)
        return ExportResult(
            files,
            self.key,
            self.product,
            self.options,
            self.art.source_sha256,
            self.notes,
            check_files(files, self.scale),
        )


def check_files(files: dict[str, Path], scale: float = 1.0) -> tuple[str, ...]:
    """The preflight's problems with these files, each as "file name: problem"."""
    return tuple(
        f"{path.name}: {problem}"
        for path in files.values()
        for problem in preflight(path, scale=scale).problems
    )


def export_key(
    art: Artwork, product: str, options: dict[str, Any], label: PhotoLabel | None = None
) -> str:
    identity: dict[str, Any] = {"v": EXPORT_VERSION, "art": art.sha256, "product": product}
    identity["options"] = options
    if label is not None:  # only photo prints have one: the other products' keys stay put
        identity["label"] = list(label.fields())
    return sha256_bytes(json.dumps(identity, sort_keys=True).encode())


def _stem(product: str, options: dict[str, Any], key: str) -> str:
    if product == "tee":
        label = f"{options['size']}-{options['colour']}-{options['layout']}"
    elif product == "sticker":
        label = f"{options['size']}in"
    elif product == "photo":
        label = f"{options['size']}-{options['orientation']}"
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
    scale: float = 1.0,
    label: PhotoLabel | None = None,
) -> ExportPlan:
    """Check the request and the picture and compute the export's key; nothing is written.

    ``source_image`` is the picture to print as it is: the booth passes its print master, and
    nothing is enlarged beyond what the product's layout needs. ``alpha`` is the people mask
    ("L", 255 = person) in the picture's frame; without it, or when it holds nobody, the
    sticker is a rounded rectangle and the tee the full picture. ``scale`` is the preflight's
    (a test's print scale); ``label`` is a photo print's label text. Raises ``ImageError``
    for an unusable picture and ``ExportError`` for a bad request.
    """
    opts = normalize_options(product, options)
    scale = check_scale(scale)
    art = Artwork.load(source_image, alpha)
    label = (label or PhotoLabel()) if product == "photo" else None
    key = export_key(art, product, opts, label)
    notes = tuple(_notes(art, product, opts))
    return ExportPlan(art, product, opts, key, notes, scale, label)


def export_product(
    source_image: ImageSource,
    product: str,
    *,
    options: dict[str, Any] | None = None,
    out_dir: Path,
    alpha: Image.Image | None = None,
    scale: float = 1.0,
    label: PhotoLabel | None = None,
) -> ExportResult:
    """Print files for ``product`` in ``out_dir``: ``plan_export`` and then ``make``."""
    plan = plan_export(
        source_image, product, options=options, alpha=alpha, scale=scale, label=label
    )
    return plan.make(out_dir)
