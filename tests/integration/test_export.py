"""Print exports on a real painting-like picture at print-master size and a real people mask:
every product and option through the preflight, the PDFs rendered by poppler and inspected
like a print shop would, the booth's database record and its reuse (kiosk/exports.py), and
bad requests. (The print master's own resolution and refusals: test_export_resolution.py.)"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from db.migrate import upgrade
from db.models import Export
from db.session import make_engine, make_sessionmaker
from export import export_product, plan_export
from export import sticker as sticker_module
from export import tee as tee_module
from export.artwork import Artwork
from export.preflight import preflight
from export.specs import DPI, ExportError, print_pixels, tee_size
from kiosk.exports import OrderError, export_prefix, record_export
from kiosk.storage import LocalStore, StoredObject
from render.images import ImageError
from tests.support.paths import PEOPLE

OPTIONS = [
    ("tee", {"layout": "full"}),
    ("tee", {"layout": "people"}),
    ("tee", {"size": "XS", "colour": "black", "layout": "people"}),
    ("tee", {"size": "3XL", "colour": "black", "layout": "full"}),
    ("sticker", {"size": 2}),
    ("sticker", {"size": 3}),
    ("sticker", {"size": 4}),
    ("mug", {"size": "11oz", "layout": "centred"}),
    ("mug", {"size": "11oz", "layout": "sides"}),
    ("mug", {"size": "11oz", "layout": "wrap"}),
    ("mug", {"size": "15oz", "layout": "centred"}),
    ("mug", {"size": "15oz", "layout": "sides"}),
    ("mug", {"size": "15oz", "layout": "wrap"}),
]


def _label(product: str, options: dict) -> str:
    return "-".join([product, *map(str, options.values())])


def _people_box(mask: Image.Image) -> tuple[float, float, float, float]:
    box = mask.point(lambda v: 255 if v >= 128 else 0).getbbox()
    assert box is not None
    return box[0] / mask.width, box[1] / mask.height, box[2] / mask.width, box[3] / mask.height


@pytest.fixture(scope="module")
def painting() -> tuple[Image.Image, Image.Image]:
    """A stylised (painted-looking) booth photo of three people, and its people mask, at the
    size a print master would be painted for the most demanding of ``OPTIONS``
    (``print_pixels``, as the print job asks for it; enlarged here, painted there)."""
    photo = Image.open(PEOPLE / "booth_group.jpg").convert("RGB")
    mask = Image.open(PEOPLE / "booth_group_mask.png").convert("L")
    aspect, box = photo.width / photo.height, _people_box(mask)
    size = max(
        (print_pixels(product, options, aspect, people_box=box) for product, options in OPTIONS),
        key=lambda wh: wh[0] * wh[1],
    )
    painted = cv2.stylization(np.asarray(photo), sigma_s=30, sigma_r=0.35)
    master = Image.fromarray(painted).resize(size, Image.Resampling.LANCZOS)
    return master, mask.resize(size)


@pytest.fixture(scope="module")
def exports(painting, tmp_path_factory) -> dict[str, Any]:
    """Every product and option, exported once."""
    image, mask = painting
    out = tmp_path_factory.mktemp("exports")
    made = {
        _label(product, options): export_product(
            image, product, options=options, out_dir=out, alpha=mask
        )
        for product, options in OPTIONS
    }
    assert all(not result.problems for result in made.values()), [
        result.problems for result in made.values()
    ]
    return {"art_size": image.size, **{label: result.files for label, result in made.items()}}


def _pdftoppm(pdf: Path, dpi: int, out: Path, *, transparent: bool = False) -> np.ndarray:
    """Render page 1 with poppler (pdftocairo keeps unpainted areas transparent)."""
    tool = "pdftocairo" if transparent else "pdftoppm"
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is missing: apt-get install poppler-utils (make test does)")
    args = [tool, "-png", "-r", str(dpi), "-singlefile"]
    subprocess.run([*args, *(["-transp"] if transparent else []), str(pdf), str(out)], check=True)
    return np.asarray(Image.open(out.with_suffix(".png")))


def _magenta(rgb: np.ndarray) -> np.ndarray:
    """The CutContour line: the largest connected run of magenta pixels (poppler shows
    100 % magenta as about (239, 46, 160); a pink prop in the picture is a smaller run)."""
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    magenta = ((r - g > 100) & (b - g > 50)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(magenta, connectivity=8)
    if count < 2:
        return np.zeros(magenta.shape, bool)
    return labels == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])


def _outside(cut: np.ndarray) -> np.ndarray:
    """Pixels reachable from the page corner without crossing the cut line."""
    flood = np.pad(cv2.dilate(cut.astype(np.uint8), np.ones((3, 3), np.uint8)), 1)
    cv2.floodFill(flood, None, (0, 0), 2)
    return (flood == 2)[1:-1, 1:-1]


@pytest.mark.parametrize(("product", "options"), OPTIONS, ids=[_label(*o) for o in OPTIONS])
def test_preflight_passes_every_product_and_option(exports, product, options):
    files = exports[_label(product, options)]
    assert set(files) == {"png", "pdf"}
    png, pdf = preflight(files["png"]), preflight(files["pdf"])
    assert png.ok, png.problems
    assert pdf.ok, pdf.problems
    assert png.facts["icc"] == "sRGB built-in"
    assert pdf.facts["pages"] == 1 and pdf.facts["image_dpi"] >= 150
    assert png.facts["art_px"] == pdf.facts["art_px"] == exports["art_size"]
    assert png.facts["art_dpi"] >= 150
    width, height = png.facts["width"], png.facts["height"]
    if product == "tee":  # the art's own resolution, over the shirt size's print area
        area = tee_size(options.get("size", "M"))
        assert 150 <= png.facts["dpi"] <= DPI
        assert abs(width - area.width_in * png.facts["dpi"]) <= 1
        assert abs(height - area.height_in * png.facts["dpi"]) <= 1
        assert pdf.facts["trim_in"] == (area.width_in, area.height_in)
        assert png.facts["semi_transparent_pixels"] == 0
    elif product == "sticker":
        assert png.facts["dpi"] == DPI
        assert max(width, height) == options["size"] * DPI
        assert max(pdf.facts["trim_in"]) == options["size"]
        assert pdf.facts["bleed_in"] == 0.0625
        assert pdf.facts["cut_contour"] and pdf.facts["cut_paths"] == 1
        assert png.facts["semi_transparent_pixels"] == 0
    else:
        assert png.facts["dpi"] == DPI
        expected = {"11oz": (2700, 1050), "15oz": (2700, 1140)}[options["size"]]
        assert (width, height) == expected
        assert pdf.facts["trim_in"] == (9.0, expected[1] / DPI)
        assert pdf.facts["bleed_in"] == 0.0625
        assert png.facts["handle_zone_blank"] is True


def test_tee_alpha_is_hard_and_follows_the_people(exports, painting):
    full = np.asarray(Image.open(exports["tee-full"]["png"]))
    people = np.asarray(Image.open(exports["tee-people"]["png"]))
    for design in (full, people):
        assert set(np.unique(design[..., 3])) == {0, 255}  # nothing half transparent
    # full: the whole 3:2 picture across the top at its own pixels, fully opaque (12 in wide,
    # so the file is 12×16 in at the art's DPI); the rest is not printed
    art_w, art_h = painting[0].size
    assert full.shape[:2] == (round(art_w * 16 / 12), art_w)
    rows = np.flatnonzero(full[..., 3].any(axis=1))
    assert rows[0] == 0 and rows[-1] + 1 == art_h
    assert full[: rows[-1] + 1, :, 3].min() == 255
    assert np.array_equal(full[:art_h, :, :3], np.asarray(painting[0]))  # never resampled
    # people: the opaque region is the mask, where the art is; no colour where transparent
    art = Artwork.load(*painting)
    x0, y0, x1, y1 = tee_module._people_frame(art)
    inches_per_px = min(12 / (x1 - x0), 16 / (y1 - y0))
    dpi = min(DPI, 1 / inches_per_px)  # the crop's own pixels, unless above 300 DPI
    scale = dpi * inches_per_px
    w, h = round((x1 - x0) * scale), round((y1 - y0) * scale)
    assert people.shape[:2] == (round(16 * dpi), round(12 * dpi))
    left = (people.shape[1] - w) // 2
    box = people[:h, left : left + w, 3]
    opaque = people[..., 3] == 255
    expected = np.asarray(painting[1].crop((round(x0), round(y0), round(x1), round(y1))))
    expected = cv2.resize(expected, (w, h), interpolation=cv2.INTER_LINEAR) >= 128
    iou = np.logical_and(box > 0, expected).sum() / np.logical_or(box > 0, expected).sum()
    assert iou > 0.9
    assert not people[~opaque][:, :3].any()


def test_sticker_pdf_render_has_a_closed_magenta_cut_around_white_bordered_people(
    exports, artifacts
):
    pdf = exports["sticker-3"]["pdf"]
    page = _pdftoppm(pdf, DPI, artifacts / "export_sticker_3in")[..., :3]
    cut = _magenta(page)
    assert cut.sum() > 2000, "no CutContour line in the render"
    # the line is one closed loop: flooding from the page corner cannot reach the art inside
    inside = ~_outside(cut) & ~cut
    assert inside.mean() > 0.5
    # the cut runs along the trim box edges: its extent is the sticker's 3 in longest side
    ys, xs = np.nonzero(cut)
    assert abs(max(xs.max() - xs.min(), ys.max() - ys.min()) - 3 * DPI) <= 4
    # a white border lies between the line and the people, 1/8 in wide
    from_line = cv2.distanceTransform((~cut).view(np.uint8), cv2.DIST_L2, 5)
    ring = inside & (from_line > 3) & (from_line < DPI / 16)
    assert (page[ring].min(axis=1) > 240).mean() > 0.97
    art = inside & (cv2.distanceTransform(inside.view(np.uint8), cv2.DIST_L2, 5) > DPI / 5)
    assert (page[art].min(axis=1) < 200).mean() > 0.5  # the painting, not paper


def test_sticker_bleed_is_painted_past_the_cut_and_nothing_beyond(exports, artifacts):
    pdf = exports["sticker-4"]["pdf"]
    page = _pdftoppm(pdf, DPI, artifacts / "export_sticker_4in_transparent", transparent=True)
    cut = _magenta(_pdftoppm(pdf, DPI, artifacts / "export_sticker_4in")[..., :3])
    painted = page[..., 3] > 200
    from_line = cv2.distanceTransform((~cut).view(np.uint8), cv2.DIST_L2, 5)
    outside = _outside(cut)
    just_past = outside & (from_line > 3) & (from_line < DPI / 20)
    far_past = outside & (from_line > DPI / 10)
    assert painted[just_past].mean() > 0.98  # the art (its white border) runs on into the bleed
    assert painted[far_past].mean() < 0.02  # and stops: no ink on the waste


def test_rectangle_sticker_without_people_bleeds_the_picture(painting, tmp_path, artifacts):
    image, _ = painting  # at the size the print job paints for this sticker: about 1:1
    image = image.resize(print_pixels("sticker", {"size": 2}, image.width / image.height))
    result = export_product(image, "sticker", options={"size": 2}, out_dir=tmp_path)
    assert result.notes and "rounded rectangle" in result.notes[0]
    pdf = preflight(result.files["pdf"])
    assert pdf.ok, pdf.problems
    assert pdf.facts["product"]["shape"] == "rectangle"
    page = _pdftoppm(result.files["pdf"], DPI, artifacts / "export_sticker_rectangle")[..., :3]
    page = page.astype(int)
    bleed = DPI // 16  # 18 whole pixels of the 18.75
    strips = [page[: bleed - 4], page[-bleed + 4 :], page[:, : bleed - 4], page[:, -bleed + 4 :]]
    for strip in strips:  # the bleed is the picture continued: not white paper
        assert strip.mean() < 200 and strip.std() > 20
    # mirrored at the trim line (y = 18.75 px), not stretched: row r shows row 37.5 - r
    rows = np.arange(2, 12)
    mirrored = np.abs(page[rows, 40:-40] - page[np.round(37.5 - rows - 1).astype(int), 40:-40])
    shifted = np.abs(page[rows, 40:-40] - page[rows + 19, 40:-40])
    assert mirrored.mean() < 15 < shifted.mean()


def test_cut_line_keeps_its_distance_from_the_people(painting):
    art = Artwork.load(*painting)
    layout = sticker_module.layout(art, 3)
    clearance = cv2.distanceTransform((~layout.people).view(np.uint8), cv2.DIST_L2, 5)
    xs = np.clip(np.round(layout.cut[:, 0] - 0.5).astype(int), 0, clearance.shape[1] - 1)
    ys = np.clip(np.round(layout.cut[:, 1] - 0.5).astype(int), 0, clearance.shape[0] - 1)
    border = DPI / 8
    assert clearance[ys, xs].min() >= 0.75 * border  # never cuts into the people
    assert np.median(clearance[ys, xs]) <= 1.6 * border  # and hugs them: a die cut


def test_mug_layouts_keep_the_handle_zone_clear(exports, artifacts):
    for label in ("mug-11oz-centred", "mug-11oz-sides", "mug-15oz-wrap"):
        page = _pdftoppm(exports[label]["pdf"], 60, artifacts / f"export_{label}")[..., :3]
        bleed, safe = round(60 / 16), 30  # 1/16 in and 1/2 in at 60 DPI
        ink = page.min(axis=2) < 245
        columns = ink[bleed:-bleed].any(axis=0)
        assert not columns[bleed : bleed + safe - 1].any(), label
        assert not columns[-bleed - safe + 1 : -bleed].any(), label
        runs = np.flatnonzero(np.diff(np.r_[0, columns.astype(int), 0]))
        pictures = len(runs) // 2
        assert pictures == (2 if label.endswith("sides") else 1), label
        if label.endswith("sides"):  # two 3:2 pictures, each as wide as half the wrap
            assert not ink[: bleed + 10].any() and not ink[-bleed - 10 :].any()
            continue
        # full-height pictures run on into the top and bottom bleed, as inked as the edge row
        for bleed_row, edge_row in ((1, bleed + 1), (-2, -bleed - 2)):
            assert ink[bleed_row, columns].mean() >= 0.8 * ink[edge_row, columns].mean() > 0.3
        if label.endswith("centred"):
            left, right = runs[0], page.shape[1] - runs[1]
            assert abs(left - right) <= 3  # opposite the handle


def test_tee_proof_render_shows_the_design_on_a_checkerboard(exports, artifacts):
    page = _pdftoppm(exports["tee-people"]["pdf"], 30, artifacts / "export_tee_people_proof")
    margin = 15  # 0.5 in at 30 DPI
    area = page[margin : margin + 480, margin : margin + 360, :3].astype(int)
    lower = area[400:470, 10:350, 0]  # below the people: transparent, shown as a checkerboard
    assert (np.abs(lower - 232) <= 8).mean() > 0.25 and (lower >= 247).mean() > 0.25
    assert area[:300].std() > 30  # the people are there, on top
    assert (page[: margin - 2, :, :3] == 255).all()  # the proof's margin is blank paper


def test_black_tee_proof_shows_the_shirt_colour(exports, artifacts):
    pdf = exports["tee-3XL-black-full"]["pdf"]
    page = _pdftoppm(pdf, 30, artifacts / "export_tee_black_proof")[..., :3].astype(int)
    margin = 15  # 0.5 in at 30 DPI
    area = page[margin : margin + 480, margin : margin + 360]
    below = area[420:470, 10:350]  # under the 3:2 picture: the shirt, in dark checks
    assert below.max() < 60 and below.std() > 5
    top = area[20:200]  # the picture itself, edge to edge: no white border on black
    assert (top.min(axis=2) > 240).mean() < 0.05
    assert (page[: margin - 2] == 255).all()


def test_files_are_recorded_by_store_key_and_found_when_the_store_moves(
    settings, painting, tmp_path
):
    """The row names each file by its store key, not a path: the booth's data directory can
    move (a new disk, a restore), or be an S3 bucket, and its exports stay found."""
    root = tmp_path / "booth"
    db_url = f"sqlite:///{tmp_path / 'exports.sqlite3'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    image, mask = painting
    store = LocalStore(root)
    made = record_export(
        sessions, image, "sticker", store=store, prefix=export_prefix("c1"), alpha=mask
    )
    with sessions() as session:
        row = session.get(Export, made.id)
    assert row.key == made.key
    assert {e["path"] for e in row.files.values()} == set(made.files.values())
    assert all(key.startswith("exports/c1/sticker-3in-") for key in made.files.values())
    assert {p.name for p in (root / "exports" / "c1").iterdir()} == {
        Path(key).name for key in made.files.values()
    }
    moved = root.rename(tmp_path / "moved")
    again = record_export(
        sessions, image, "sticker", store=LocalStore(moved), prefix="exports/c1", alpha=mask
    )
    assert again.reused and again.id == made.id and again.files == made.files
    engine.dispose()


class _HashingStore(LocalStore):
    """A store that keeps the sha256 it was given, as S3 keeps it in metadata; ``lie``
    makes it report another one."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.hashes: dict[str, str] = {}
        self.lie = False

    def put_file(self, key: str, source: Path, *, sha256: str | None = None) -> None:
        super().put_file(key, source, sha256=sha256)
        assert sha256 is not None  # record_export always says
        self.hashes[key] = sha256

    def stat(self, key: str) -> StoredObject | None:
        found = super().stat(key)
        if found is None:
            return None
        sha = "0" * 64 if self.lie else self.hashes.get(key)
        return StoredObject(found.key, found.size, found.modified, sha)


def test_export_is_recorded_and_reused(settings, painting, tmp_path):
    """The booth records each export (kiosk/exports.py); export/ itself keeps no record."""
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    sessions = make_sessionmaker(engine)
    image, mask = painting
    store = _HashingStore(tmp_path / "store")

    def order(size, **more):  # type: ignore[no-untyped-def]
        return record_export(sessions, image, "sticker", options={"size": size},
                             store=store, prefix="exports/c1", alpha=mask, **more)  # fmt: skip

    first = order("2in")
    assert not first.reused
    with sessions() as session:
        row = session.scalar(select(Export).where(Export.key == first.key))
    assert row.id == first.id and row.product == "sticker" and row.options == {"size": 2}
    for role, key in first.files.items():
        data = store.get(key)
        assert row.files[role]["path"] == key and row.files[role]["bytes"] == len(data)
        assert row.files[role]["sha256"] == hashlib.sha256(data).hexdigest()
        assert store.hashes[key] == row.files[role]["sha256"]  # given to the store, too

    again = order(2)
    assert again.reused and again.key == first.key and again.files == first.files
    assert again.id == first.id and again.problems == first.problems == ()

    png = store.path(first.files["png"])
    png.write_bytes(png.read_bytes() + b"x")  # changed in the store: another size
    repaired = order(2)
    assert not repaired.reused and repaired.id == first.id
    assert preflight(store.path(repaired.files["png"])).ok
    store.lie = True  # the same size, but the store's sha256 is not the recorded one
    assert not order(2).reused
    store.lie = False
    store.delete(first.files["pdf"])  # gone
    restored = order(2)
    assert not restored.reused and store.stat(restored.files["pdf"]) is not None
    assert order(2).reused

    other = order(3)
    assert other.key != first.key
    with sessions() as session:
        assert len(session.scalars(select(Export)).all()) == 2
    with pytest.raises(OrderError, match="no result"):
        order(2, result_id="nope")
    engine.dispose()


def test_reused_files_are_preflighted_again_at_the_asked_scale(settings, painting, tmp_path):
    """A reused export's problems come from its stored files, named as stored."""
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    sessions = make_sessionmaker(engine)
    image, _mask = painting
    store = LocalStore(tmp_path / "store")
    small = image.resize((image.width // 6, image.height // 6))

    def order(scale: float):  # type: ignore[no-untyped-def]
        return record_export(sessions, small, "tee", store=store, prefix="exports/c2",
                             scale=scale)  # fmt: skip

    lenient = order(0.1)
    strict = order(1.0)
    assert strict.reused and strict.id == lenient.id and not lenient.problems
    names = {Path(key).name for key in strict.files.values()}
    assert strict.problems and all(p.split(": ")[0] in names for p in strict.problems)
    engine.dispose()


def test_the_export_library_writes_files_and_no_record(settings, painting, tmp_path):
    """export/ returns the files, notes and key and touches no database: asking twice makes
    the same files again, under the same key."""
    upgrade(settings.db_url)
    image, mask = painting
    plan = plan_export(image, "sticker", options={"size": "2"}, alpha=mask)
    assert plan.options == {"size": 2} and not (tmp_path / "a").exists()  # nothing written yet
    first = plan.make(tmp_path / "a")
    second = export_product(
        image, "sticker", options={"size": 2}, out_dir=tmp_path / "b", alpha=mask
    )
    assert first.key == second.key == plan.key and first.product == "sticker"
    assert first.source_sha256 == second.source_sha256 and first.notes == ()
    for role in ("png", "pdf"):
        assert first.files[role].read_bytes() == second.files[role].read_bytes()
    engine = make_engine(settings.db_url)
    with make_sessionmaker(engine)() as session:
        assert session.scalars(select(Export)).all() == []
    engine.dispose()


@pytest.mark.parametrize(
    ("product", "options", "message"),
    [
        ("poster", {}, "unknown product"),
        ("sticker", {"size": 5}, "sticker size must be"),
        ("mug", {"size": "20oz"}, "mug size must be"),
        ("mug", {"layout": "diagonal"}, "mug layout must be"),
        ("tee", {"size": 3}, "tee size must be one of XS, S, M, L, XL, 2XL, 3XL"),
        ("tee", {"colour": "red"}, "tee colour must be one of white, black"),
        ("tee", {"color": "black"}, "tee has no option color"),
    ],
)
def test_bad_requests_are_clear_errors(painting, tmp_path, product, options, message):
    with pytest.raises(ExportError, match=message):
        export_product(painting[0], product, options=options, out_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_bad_pictures_and_masks(painting, tmp_path):
    with pytest.raises(ImageError):
        export_product(b"not an image", "mug", options={}, out_dir=tmp_path)
    with pytest.raises(ExportError, match="mask is 100×100"):
        export_product(
            painting[0],
            "sticker",
            options={},
            out_dir=tmp_path,
            alpha=Image.new("L", (100, 100), 255),
        )
    nobody = export_product(
        painting[0],
        "tee",
        options={"layout": "people"},
        out_dir=tmp_path,
        alpha=Image.new("L", painting[0].size, 0),
    )
    assert "full picture" in nobody.notes[0]
    assert preflight(nobody.files["png"]).facts["product"]["shape"] == "rectangle"
