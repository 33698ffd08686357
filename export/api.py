"""``export_product``: print files for one picture, recorded in the database and reused.

An export is identified by its key: the picture (and people mask), the product, its
normalised options and ``EXPORT_VERSION``. Asking again for the same key returns the stored
files when every one of them is still on disk with its recorded sha256; otherwise the files
are made again and the record updated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from db.models import Export, Result
from export import mug, sticker, tee
from export.artwork import Artwork
from export.files import sha256_file
from export.specs import ExportError, normalize_options
from render.images import ImageSource

EXPORT_VERSION = 1  # bump when the files an export makes change

Maker = Callable[[Artwork, dict[str, Any], Path, str], dict[str, Path]]
MAKERS: dict[str, Maker] = {"tee": tee.make, "sticker": sticker.make, "mug": mug.make}


@dataclass
class ExportResult:
    files: dict[str, Path]  # role ("png", "pdf") → file
    key: str
    reused: bool
    notes: list[str] = field(default_factory=list)  # what a person should know (fallbacks)


def export_key(art: Artwork, product: str, options: dict[str, Any]) -> str:
    identity = {"v": EXPORT_VERSION, "art": art.sha256, "product": product, "options": options}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


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


def _recorded(path: Path, root: Path | None) -> str:
    """A file's path for the record: relative to ``root`` when inside it, else absolute."""
    path = path.resolve()
    if root is not None and path.is_relative_to(root.resolve()):
        return str(path.relative_to(root.resolve()))
    return str(path)


def _intact(files: dict[str, Any], root: Path | None) -> dict[str, Path] | None:
    paths = {}
    for role, entry in files.items():
        path = Path(entry["path"])
        if not path.is_absolute():
            if root is None:
                return None
            path = root.resolve() / path
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            return None
        paths[role] = path
    return paths or None


def _record(sessions: sessionmaker[Session], key: str, values: dict[str, Any]) -> None:
    for _attempt in range(2):  # a concurrent request for the same key may insert first
        with sessions() as session:
            row = session.scalar(select(Export).where(Export.key == key))
            if row is None:
                session.add(Export(key=key, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            try:
                session.commit()
                return
            except IntegrityError:
                session.rollback()
    raise ExportError(f"could not record export {key[:10]} in the database")


def export_product(
    source_image: ImageSource,
    product: str,
    *,
    options: dict[str, Any] | None = None,
    out_dir: Path,
    alpha: Image.Image | None = None,
    sessions: sessionmaker[Session] | None = None,
    result_id: str | None = None,
    files_root: Path | None = None,
) -> ExportResult:
    """Print files for ``product`` in ``out_dir`` (or the stored ones for the same request).

    The record names files inside ``files_root`` relative to it (the booth passes its data
    directory, which can then move), and any others by absolute path.

    ``alpha`` is the people mask ("L", 255 = person) in the picture's frame; without it, or
    when it holds nobody, the sticker is a rounded rectangle and the tee the full picture.
    Raises ``ImageError`` for an unusable picture and ``ExportError`` for a bad request.
    """
    opts = normalize_options(product, options)
    art = Artwork.load(source_image, alpha)
    key = export_key(art, product, opts)
    notes = _notes(art, product, opts)
    if sessions is not None:
        with sessions() as session:
            if result_id is not None and session.get(Result, result_id) is None:
                raise ExportError(f"no result with id {result_id}")
            row = session.scalar(select(Export).where(Export.key == key))
            stored = _intact(row.files, files_root) if row is not None else None
        if stored is not None:
            return ExportResult(stored, key, reused=True, notes=notes)

    files = MAKERS[product](art, opts, Path(out_dir), _stem(product, opts, key))
    if sessions is not None:
        _record(
            sessions,
            key,
            {
                **({"result_id": result_id} if result_id is not None else {}),
                "source_sha256": art.source_sha256,
                "product": product,
                "options": opts,
                "files": {
                    role: {
                        "path": _recorded(path, files_root),
                        "sha256": sha256_file(path),
                        "bytes": path.stat().st_size,
                    }
                    for role, path in files.items()
                },
            },
        )
    return ExportResult(files, key, reused=False, notes=notes)
