"""The batch hand-off: the selected orders' print files in one ZIP, with a manifest that a
print shop or a print-on-demand provider's order import can take.

The ZIP holds each order's files under names a person can sort and read
(``A-042_tee_M_white_full.png``), then ``manifest.csv`` (one row per file) and
``manifest.json`` (one entry per order, its files inside). Both carry the order number as
the external id, the product, options, quantity, the placement on the product
("front 12x16in", "sticker 3in die-cut", "mug 11oz wrap 9x3.5in"), and each file's DPI,
pixel size, print size, the art's own pixels and effective DPI (as the export wrote them
into the file), bytes and sha256.

The sha256 is computed from the bytes as they go into the ZIP, and must equal the one the
export recorded when it made the file: a print file that went missing or changed in the
store stops the hand-off with a sentence naming the order, rather than sending a shop a file
nobody approved. Files are read through the app's ``FileStore`` (``local_copy``: the file
itself, or a temporary download from S3, one file at a time) and copied into the ZIP in
chunks (stored, not deflated: PNG and PDF are compressed already), so a batch of large tee
files never sits in memory.

``collect`` runs in a database session, ``write_zip`` on a file thread; neither touches the
event loop (``kiosk/print_desk.py`` calls them through ``kiosk.dbio``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Export, Order, OrderStatus
from export.specs import MUG_SIZES, TAG_PREFIX, TEE_SIZES, parse_tag
from kiosk import order_book
from kiosk.order_book import STATUS_TEXT
from kiosk.storage import BadKey, FileStore, MissingFile, check_key
from render.errors import StyleBoothError

MANIFEST_FORMAT = "stylebooth-handoff/1"
MAX_ORDERS = 500  # one hand-off; more is a second batch
CHUNK = 1024 * 1024
HAS_FILES = (OrderStatus.files_ready, OrderStatus.printed, OrderStatus.collected)
PROOFS = {("tee", "pdf")}  # a file to look at, not to print from
CSV_COLUMNS = (
    "external_id",
    "product",
    "options",
    "quantity",
    "placement",
    "file",
    "role",
    "purpose",
    "dpi",
    "width_px",
    "height_px",
    "size_in",
    "art_px",
    "art_dpi",
    "bytes",
    "sha256",
)


class BatchRefused(StyleBoothError, code="conflict"):
    """A hand-off that cannot be made as asked (orders without files, files changed on
    disk); the message names the orders. Answered 409: nothing is handed off."""


class BadBatch(StyleBoothError, code="bad_request"):
    """A hand-off request that is not a list of order numbers; the message says what to send."""


@dataclass(frozen=True)
class BatchFile:
    """One print file of an order, as recorded by its export."""

    key: str  # in the store
    name: str  # inside the ZIP
    role: str  # "png", "pdf"
    sha256: str  # as the export recorded it


@dataclass(frozen=True)
class BatchOrder:
    number: str
    product: str
    options: dict[str, Any]
    quantity: int
    placement: str
    files: tuple[BatchFile, ...]


@dataclass(frozen=True)
class FileFacts:
    """What the manifest says of one file, read from the file itself."""

    file: str
    role: str
    purpose: str  # "print" or "proof"
    bytes: int
    sha256: str
    dpi: float | None = None  # the file's: pixels per inch at print size
    width_px: int | None = None  # a PNG's; a PDF's page is its size_in
    height_px: int | None = None
    size_in: tuple[float, float] | None = None  # the print size (a PDF: its TrimBox)
    art_px: str | None = None  # the art's own pixels ("1800x2400"), as the export recorded
    art_dpi: float | None = None  # the art's effective DPI at print size


def order_numbers(body: dict[str, Any]) -> list[str]:
    """The ``numbers`` of a hand-off request, normalised and without repeats, or ``BadBatch``."""
    numbers = body.get("numbers")
    expected = 'send {"numbers": ["A-001", ...]}: the orders to hand off'
    if not isinstance(numbers, list) or not numbers:
        raise BadBatch(expected)
    if not all(isinstance(number, str) and number.strip() for number in numbers):
        raise BadBatch(expected)
    unique = list(dict.fromkeys(number.strip().upper() for number in numbers))
    if len(unique) > MAX_ORDERS:
        raise BadBatch(f"at most {MAX_ORDERS} orders in one hand-off, not {len(unique)}")
    return unique


def placement(product: str, options: dict[str, Any]) -> str:
    """Where the design goes on the product, in a print shop's words."""
    if product == "tee":
        width, height = TEE_SIZES[options["size"]]
        return f"front {width:g}x{height:g}in"
    if product == "sticker":
        return f"sticker {options['size']}in die-cut"
    if product == "photo":
        return f"photo print {options['size']}in"
    width, height = MUG_SIZES[options["size"]]
    return f"mug {options['size']} wrap {width:g}x{height:g}in"


def _label(product: str, key: str, value: Any) -> str:
    text = f"{value}in" if product == "sticker" and key == "size" else str(value)
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-")


def file_name(number: str, product: str, options: dict[str, Any], role: str) -> str:
    """``A-042_tee_M_white_full.png``: the number first, so a folder sorts by order."""
    labels = [_label(product, key, value) for key, value in options.items()]
    return "_".join([number, product, *filter(None, labels)]) + f".{role}"


def _unready(orders: list[Order]) -> str:
    return ", ".join(f"{o.number} ({STATUS_TEXT[OrderStatus(o.status)].lower()})" for o in orders)


def _files(order: Order, export: Export | None) -> tuple[BatchFile, ...]:
    """The order's recorded print files; none when its export is gone or names a path that
    is not a plain store key (``..``, absolute: not the booth's to hand off)."""
    if export is None:
        return ()
    options = dict(order.options)
    try:
        return tuple(
            BatchFile(
                key=check_key(entry["path"]),
                name=file_name(order.number, order.product, options, role),
                role=role,
                sha256=entry["sha256"],
            )
            for role, entry in sorted(export.files.items())
        )
    except BadKey:
        return ()


def collect(session: Session, numbers: list[str]) -> tuple[list[BatchOrder], list[str]]:
    """The orders to hand off, in the order asked, and the numbers that name no order.
    ``BatchRefused`` names the orders that have no print files yet (or lost them)."""
    rows = order_book.by_numbers(session, numbers)
    unknown = [number for number in numbers if number not in rows]
    orders = [rows[number] for number in numbers if number in rows]
    unready = [o for o in orders if OrderStatus(o.status) not in HAS_FILES]
    if unready:
        raise BatchRefused(
            f"these orders have no print files yet: {_unready(unready)}; "
            "leave them out of the hand-off or wait until their files are ready"
        )
    export_ids = [o.export_id for o in orders if o.export_id]
    exports = {e.id: e for e in session.scalars(select(Export).where(Export.id.in_(export_ids)))}
    batch, lost = [], []
    for order in orders:
        files = _files(order, exports.get(order.export_id or ""))
        if not files:
            lost.append(order.number)
            continue
        options = dict(order.options)
        batch.append(
            BatchOrder(order.number, order.product, options, order.quantity,
                       placement(order.product, options), files)
        )  # fmt: skip
    if lost:
        raise BatchRefused(
            f"the print files of {', '.join(lost)} are no longer on record (purged?): "
            "leave them out of the hand-off"
        )
    return batch, unknown


def _copy_into(
    archive: zipfile.ZipFile, item: BatchFile, path: Path, number: str
) -> tuple[str, int]:
    """Copy one file (its local copy at ``path``) into the ZIP in chunks; its sha256 and
    size as written."""
    digest, size = hashlib.sha256(), 0
    big = path.stat().st_size >= zipfile.ZIP64_LIMIT  # ZIP64 only where it must be
    with path.open("rb") as source, archive.open(item.name, "w", force_zip64=big) as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    if digest.hexdigest() != item.sha256:
        raise BatchRefused(
            f"the print file {item.name} of order {number} changed in storage since it was "
            "made: nothing was handed off"
        )
    return digest.hexdigest(), size


def _art(tag: dict[str, str] | None) -> dict[str, Any]:
    """The art's own pixel size and effective DPI, as the export wrote them into the file."""
    tag = tag or {}
    dpi = tag.get("art_dpi")
    return {"art_px": tag.get("art"), "art_dpi": float(dpi) if dpi else None}


def _png_facts(path: Path) -> dict[str, Any]:
    """The PNG's DPI, pixel and print size and its art from its header (no pixels decoded).
    The file is the one the export made (its hash matched), so a header that cannot be
    read leaves the facts empty rather than stopping the hand-off."""
    try:
        with Image.open(path) as image:
            dpi, (width, height) = image.info.get("dpi"), image.size
            tag = parse_tag(image.info.get(TAG_PREFIX))
    except (OSError, ValueError, Image.DecompressionBombError):
        return {}
    facts = {"width_px": width, "height_px": height, **_art(tag)}
    if dpi and dpi[0]:
        facts["dpi"] = round(float(dpi[0]), 1)
        facts["size_in"] = (round(width / dpi[0], 3), round(height / dpi[1], 3))
    return facts


def _pdf_facts(path: Path) -> dict[str, Any]:
    """The placed image's effective DPI, the trim size and the art, as the preflight reads
    them (pypdf, no images decoded)."""
    from export.preflight import preflight  # only when a batch holds a PDF

    try:
        facts = preflight(path).facts
    except StyleBoothError:  # not a PDF after all: no facts, as for an unreadable PNG
        return {}
    trim = facts.get("trim_in") or facts.get("media_in")
    return {
        "dpi": facts.get("image_dpi"),
        "size_in": (round(trim[0], 3), round(trim[1], 3)) if trim else None,
        **_art(facts.get("product")),
    }


def describe(item: BatchFile, path: Path, product: str, sha256: str, size: int) -> FileFacts:
    """The manifest's facts of one file, read from the file itself (its local copy at
    ``path``)."""
    read = {"png": _png_facts, "pdf": _pdf_facts}.get(item.role)
    facts = read(path) if read else {}
    purpose = "proof" if (product, item.role) in PROOFS else "print"
    return FileFacts(file=item.name, role=item.role, purpose=purpose, bytes=size, sha256=sha256,
                     **facts)  # fmt: skip


def _csv(entries: list[dict[str, Any]]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for entry in entries:
        options = "; ".join(f"{key}={value}" for key, value in entry["options"].items())
        for facts in entry["files"]:
            size_in = facts["size_in"]
            writer.writerow(
                {
                    **{key: entry[key] for key in ("external_id", "product", "quantity")},
                    "options": options,
                    "placement": entry["placement"],
                    **{key: facts[key] for key in CSV_COLUMNS if key in facts},
                    "size_in": f"{size_in[0]:g}x{size_in[1]:g}" if size_in else "",
                }
            )
    return text.getvalue().encode("utf-8")


def _add_file(
    archive: zipfile.ZipFile, store: FileStore, item: BatchFile, order: BatchOrder
) -> FileFacts:
    """One print file into the ZIP, read through a local copy from the store (held only
    while it is copied and its facts are read); its manifest facts."""
    try:
        with store.local_copy(item.key) as path:
            sha256, size = _copy_into(archive, item, path, order.number)
            return describe(item, path, order.product, sha256, size)
    except (MissingFile, FileNotFoundError):
        raise BatchRefused(
            f"the print file {item.name} of order {order.number} is missing from "
            f"{store.description}: nothing was handed off"
        ) from None


def write_zip(orders: list[BatchOrder], out: IO[bytes], store: FileStore) -> dict[str, Any]:
    """Write the hand-off ZIP for ``orders`` into ``out`` (an open binary file), reading the
    print files from ``store``; returns the manifest. ``BatchRefused`` when a file is
    missing or not the one recorded."""
    entries = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for order in orders:
            files = []
            for item in order.files:
                files.append(asdict(_add_file(archive, store, item, order)))
            entries.append(
                {
                    "external_id": order.number,
                    "product": order.product,
                    "options": order.options,
                    "quantity": order.quantity,
                    "placement": order.placement,
                    "files": files,
                }
            )
        manifest = {
            "format": MANIFEST_FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "orders": entries,
        }
        deflate = zipfile.ZIP_DEFLATED
        archive.writestr("manifest.csv", _csv(entries), compress_type=deflate)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2), compress_type=deflate)
    return manifest
