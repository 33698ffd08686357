"""Preflight: would a print shop accept this file as it is?

PNG: pixel size, DPI metadata (at least ``MIN_DPI``), an embedded sRGB ICC profile, 8-bit
RGB(A); for our products also the exact pixel size, hard alpha (tee, sticker) and a blank
handle zone (mug). PDF: the page boxes present and nested (TrimBox ⊆ BleedBox ⊆ MediaBox),
page size, bleed, placed images' effective resolution, every font embedded, and the
``CutContour`` separation: present, 100 % magenta alternate, stroked as one closed path
inside the trim, overprinting. Our files name their product in a tag (PNG text chunk, PDF
keywords) with the art's own pixel size and its effective DPI at print size, which must be
at least ``MIN_DPI``: a file's own DPI says nothing of an enlargement inside it. Others get
the generic checks.

``scale`` (a test's ``print_scale_percent / 100``, as ``specs.print_pixels`` takes it) lowers
every DPI floor with the print sizes; a print shop's check is ``scale=1``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ContentStream

from export.specs import (
    BLEED_IN,
    CUT_CONTOUR,
    DPI,
    MIN_DPI,
    MUG_HANDLE_SAFE_IN,
    MUG_SIZES,
    STICKER_SIZES,
    TAG_PREFIX,
    TEE_SIZES,
    ExportError,
    check_scale,
    parse_tag,
)

TOLERANCE_PT = 0.05
SIZE_TOLERANCE_PX = 1


@dataclass
class PreflightReport:
    ok: bool
    problems: list[str]
    facts: dict[str, Any] = field(default_factory=dict)


def preflight(path: str | Path, *, scale: float = 1.0) -> PreflightReport:
    """Check one print file. A file that is neither PNG nor PDF is an ``ExportError``."""
    floor = MIN_DPI * check_scale(scale)
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"no such file: {path}")
    with path.open("rb") as stream:
        head = stream.read(8)
    facts: dict[str, Any] = {"file": path.name, "bytes": path.stat().st_size}
    if head.startswith(b"\x89PNG"):
        problems = _check_png(path, facts, floor)
    elif head.startswith(b"%PDF"):
        problems = _check_pdf(path, facts, floor)
    else:
        raise ExportError(f"{path.name} is neither a PNG nor a PDF file")
    return PreflightReport(ok=not problems, problems=problems, facts=facts)


# ---------------------------------------------------------------- PNG


def _icc_name(profile: bytes) -> tuple[str, str]:
    """(description, colour space) of an ICC profile."""
    parsed = ImageCms.ImageCmsProfile(io.BytesIO(profile)).profile
    return parsed.profile_description or "", parsed.xcolor_space.strip()


def _expected_pixels(
    tag: dict[str, str], width: int, height: int, dpi: float
) -> tuple[int, int] | None:
    product = tag.get("product")
    if product == "tee" and tag.get("size", "M") in TEE_SIZES:
        w_in, h_in = TEE_SIZES[tag.get("size", "M")]
        return round(w_in * dpi), round(h_in * dpi)
    if product == "mug" and tag.get("size") in MUG_SIZES:
        w_in, h_in = MUG_SIZES[tag["size"]]
        return round(w_in * dpi), round(h_in * dpi)
    if product == "photo" and tag.get("page"):
        page = _page_in(tag)
        return (round(page[0] * dpi), round(page[1] * dpi)) if page else None
    if product == "sticker" and tag.get("size", "").isdigit():
        long_side = round(int(tag["size"]) * dpi)
        return (long_side, height) if width >= height else (width, long_side)
    return None


def _page_in(tag: dict[str, str]) -> tuple[float, float] | None:
    """A photo print's page (w, h inches), as its tag records it (``page=6x4``)."""
    try:
        width, height = (float(v) for v in tag["page"].split("x"))
    except (KeyError, ValueError):
        return None
    return width, height


def _floor_words(floor: float) -> str:
    if abs(floor - MIN_DPI) < 1e-9:
        return f"the {MIN_DPI} DPI minimum"
    return f"the {floor:g} DPI minimum ({MIN_DPI} DPI × the print scale {floor / MIN_DPI:g})"


def _check_art(tag: dict[str, str], facts: dict[str, Any], floor: float) -> list[str]:
    """The art's effective DPI at print size, as the file records it."""
    try:
        art_dpi = float(tag["art_dpi"])
        width, height = (int(v) for v in tag["art"].split("x"))
        width_in, height_in = (float(v) for v in tag["art_in"].split("x"))
    except (KeyError, ValueError):
        return [
            f"the file does not record its art's pixel size and effective DPI "
            f"(a {tag['product']} needs art of at least {floor:g} DPI at print size)"
        ]
    facts.update(art_px=(width, height), art_dpi=art_dpi)
    if art_dpi < floor - 0.5:
        return [
            f"art is {width}×{height} px over {width_in:g}×{height_in:g} in: {art_dpi:.0f} "
            f"effective DPI, below {_floor_words(floor)}"
        ]
    return []


def _check_png(path: Path, facts: dict[str, Any], floor: float) -> list[str]:
    problems: list[str] = []
    try:
        with Image.open(path) as image:
            image.load()
            info, mode, (width, height) = dict(image.info), image.mode, image.size
            pixels = np.asarray(image) if mode in {"RGBA", "RGB"} else None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return [f"not a readable PNG ({exc})"]
    facts.update(kind="png", width=width, height=height, mode=mode)
    tag = parse_tag(info.get(TAG_PREFIX))
    if tag:
        facts["product"] = tag
    if mode not in {"RGB", "RGBA"}:
        problems.append(f"colour mode {mode}: print files are 8-bit RGB or RGBA")

    dpi = info.get("dpi")
    if not dpi:
        problems.append("no DPI metadata (pHYs chunk)")
        dpi_value = None
    else:
        dpi_x, dpi_y = (float(d) for d in dpi)  # pHYs holds whole pixels per metre
        facts["dpi"] = round(dpi_x, 1)
        facts["inches"] = (round(width / dpi_x, 3), round(height / dpi_y, 3)) if dpi_x else None
        dpi_value = dpi_x
        if abs(dpi_x - dpi_y) > 0.5:
            problems.append(f"horizontal and vertical DPI differ ({dpi_x:.1f} vs {dpi_y:.1f})")
        if dpi_x < floor - 0.5 and not tag:  # ours: the art's own DPI is checked below
            problems.append(f"{dpi_x:.0f} DPI is below {_floor_words(floor)}")

    profile = info.get("icc_profile")
    if not profile:
        problems.append("no ICC profile embedded (sRGB expected)")
    else:
        try:
            description, space = _icc_name(profile)
        except (ImageCms.PyCMSError, OSError) as exc:
            problems.append(f"the embedded ICC profile cannot be read ({exc})")
        else:
            facts["icc"] = description
            if space != "RGB" or "srgb" not in description.lower():
                problems.append(f"the ICC profile is {description!r} ({space}), not sRGB")

    if tag and dpi_value:
        expected = _expected_pixels(tag, width, height, dpi_value)
        if expected and (
            abs(width - expected[0]) > SIZE_TOLERANCE_PX
            or abs(height - expected[1]) > SIZE_TOLERANCE_PX
        ):
            problems.append(
                f"{width}×{height} px; a {tag['product']} at {dpi_value:.0f} DPI "
                f"needs {expected[0]}×{expected[1]}"
            )
        if tag["product"] in {"sticker", "mug", "photo"} and abs(dpi_value - DPI) > 0.5:
            problems.append(f"a {tag['product']} print file is {DPI} DPI, not {dpi_value:.0f}")
    if tag:
        problems += _check_art(tag, facts, floor)
    if tag and pixels is not None:
        problems += _check_png_product(tag["product"], pixels, dpi_value or DPI, facts)
    return problems


def _check_png_product(
    product: str, pixels: np.ndarray, dpi: float, facts: dict[str, Any]
) -> list[str]:
    problems = []
    if product in {"tee", "sticker"}:
        if pixels.shape[2] != 4:
            return [f"a {product} PNG needs an alpha channel (transparent background)"]
        alpha = pixels[..., 3]
        fringe = int(np.count_nonzero((alpha > 0) & (alpha < 255)))
        facts["semi_transparent_pixels"] = fringe
        facts["opaque_fraction"] = round(float(np.count_nonzero(alpha == 255)) / alpha.size, 4)
        if fringe:
            problems.append(
                f"{fringe} semi-transparent pixels: harden the alpha (a DTG "
                "underbase prints under them as a pale halo)"
            )
        if not np.any(alpha == 255):
            problems.append("the image is entirely transparent")
    if product == "mug":
        safe = round(MUG_HANDLE_SAFE_IN * dpi)
        zones = np.concatenate([pixels[:, :safe], pixels[:, -safe:]], axis=1)
        blank = np.all(zones[..., :3] == 255, axis=-1)
        if pixels.shape[2] == 4:
            blank |= zones[..., 3] == 0
        facts["handle_zone_blank"] = bool(blank.all())
        if not blank.all():
            problems.append(f"art in the handle zone ({MUG_HANDLE_SAFE_IN:g} in at each end)")
    return problems


# ---------------------------------------------------------------- PDF


def _box(page: Any, name: str) -> tuple[float, float, float, float] | None:
    value = page.get(f"/{name}")
    if value is None:
        return None
    x0, y0, x1, y1 = (float(v) for v in value.get_object())
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _within(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
    return (
        inner[0] >= outer[0] - TOLERANCE_PT
        and inner[1] >= outer[1] - TOLERANCE_PT
        and inner[2] <= outer[2] + TOLERANCE_PT
        and inner[3] <= outer[3] + TOLERANCE_PT
    )


def _inches(box: tuple[float, ...]) -> tuple[float, float]:
    return round((box[2] - box[0]) / 72, 4), round((box[3] - box[1]) / 72, 4)


def _eval_tint(function: Any, tint: float) -> list[float] | None:
    """Evaluate a Separation tint transform (types 2 and 4) at ``tint``."""
    function = function.get_object()
    kind = int(function.get("/FunctionType", -1))
    if kind == 2:
        c0 = [float(v) for v in function.get("/C0", [0.0])]
        c1 = [float(v) for v in function.get("/C1", [1.0])]
        n = float(function.get("/N", 1))
        return [a + tint**n * (b - a) for a, b in zip(c0, c1, strict=False)]
    if kind == 4:
        return _run_postscript(function.get_data().decode("latin-1"), tint)
    return None


def _run_postscript(program: str, tint: float) -> list[float] | None:
    """The few PostScript calculator operators tint transforms use."""
    stack: list[float] = [tint]
    binary = {
        "add": float.__add__,
        "sub": float.__sub__,
        "mul": float.__mul__,
        "div": float.__truediv__,
    }
    try:
        for word in program.replace("{", " ").replace("}", " ").split():
            if word in binary:
                b, a = stack.pop(), stack.pop()
                stack.append(binary[word](a, b))
            elif word == "dup":
                stack.append(stack[-1])
            elif word == "exch":
                stack[-1], stack[-2] = stack[-2], stack[-1]
            elif word == "pop":
                stack.pop()
            elif word == "index":
                stack.append(stack[-1 - int(stack.pop())])
            else:
                stack.append(float(word))
    except (IndexError, ValueError, ZeroDivisionError):
        return None
    return stack


def _separations(resources: Any) -> dict[str, Any]:
    """Resource name → colour space array, for Separation spaces named CutContour."""
    found = {}
    spaces = resources.get("/ColorSpace") if resources else None
    for name, value in (spaces.get_object() if spaces else {}).items():
        space = value.get_object()
        if (
            isinstance(space, list)
            and len(space) >= 4
            and space[0] == "/Separation"
            and space[1] == f"/{CUT_CONTOUR}"
        ):
            found[name] = space
    return found


@dataclass
class _CutPath:
    subpaths: int
    closed: bool
    overprint: bool
    points: list[tuple[float, float]]


def _walk_content(
    page: Any, reader: PdfReader, cut_names: set[str]
) -> tuple[list[_CutPath], list[float]]:
    """Paths stroked in CutContour, and the effective DPI of every image drawn."""
    resources = page.get("/Resources")
    resources = resources.get_object() if resources else {}
    xobjects = resources.get("/XObject")
    xobjects = xobjects.get_object() if xobjects else {}
    states = resources.get("/ExtGState")
    states = states.get_object() if states else {}
    ctm = np.eye(3)
    stack: list[tuple[np.ndarray, str | None, bool]] = []
    stroke_space: str | None = None
    overprint = False
    subpaths: list[list[tuple[float, float]]] = []
    closed: list[bool] = []
    cuts: list[_CutPath] = []
    image_dpi: list[float] = []

    def point(x: float, y: float) -> tuple[float, float]:
        px, py, _ = np.array([x, y, 1.0]) @ ctm
        return float(px), float(py)

    contents = page.get_contents()
    if contents is None:
        return cuts, image_dpi
    for operands, operator in ContentStream(contents, reader).operations:
        op = operator.decode("latin-1") if isinstance(operator, bytes) else str(operator)
        if op == "q":
            stack.append((ctm.copy(), stroke_space, overprint))
        elif op == "Q" and stack:
            ctm, stroke_space, overprint = stack.pop()
        elif op == "cm":
            a, b, c, d, e, f = (float(v) for v in operands)
            ctm = np.array([[a, b, 0], [c, d, 0], [e, f, 1]]) @ ctm
        elif op == "CS":
            stroke_space = str(operands[0])
        elif op in {"RG", "G", "K"}:  # a device colour: no longer the cut colour
            stroke_space = None
        elif op == "gs":
            state = states.get(operands[0])
            if state is not None:
                value = state.get_object().get("/OP")
                if value is not None:
                    overprint = bool(value)
        elif op == "m":
            subpaths.append([point(*map(float, operands))])
            closed.append(False)
        elif op in {"l", "c", "v", "y"} and subpaths:
            subpaths[-1].append(point(*map(float, operands[-2:])))
        elif op == "re":
            x, y, w, h = (float(v) for v in operands)
            subpaths.append([point(x, y), point(x + w, y), point(x + w, y + h), point(x, y + h)])
            closed.append(True)
        elif op == "h" and closed:
            closed[-1] = True
        elif op in {"S", "s", "B", "B*", "b", "b*", "f", "F", "f*", "n"}:
            if op in {"s", "b", "b*"} and closed:
                closed[-1] = True
            if op in {"S", "s", "B", "B*", "b", "b*"} and stroke_space in cut_names:
                shut = all(
                    c or (len(p) > 2 and math.dist(p[0], p[-1]) < TOLERANCE_PT)
                    for p, c in zip(subpaths, closed, strict=True)
                )
                cuts.append(
                    _CutPath(len(subpaths), shut, overprint, [pt for sub in subpaths for pt in sub])
                )
            subpaths, closed = [], []
        elif op == "Do":
            xobject = xobjects.get(operands[0])
            image = xobject.get_object() if xobject is not None else None
            if image is not None and image.get("/Subtype") == "/Image":
                width_pt = math.hypot(ctm[0, 0], ctm[0, 1])
                height_pt = math.hypot(ctm[1, 0], ctm[1, 1])
                if width_pt > 0 and height_pt > 0:
                    image_dpi.append(
                        min(
                            int(image["/Width"]) / (width_pt / 72),
                            int(image["/Height"]) / (height_pt / 72),
                        )
                    )
    return cuts, image_dpi


def _unembedded_fonts(resources: Any, seen: set[int] | None = None) -> list[str]:
    """Names of the fonts in ``resources`` (and in its forms) that carry no font program."""
    seen = set() if seen is None else seen
    if not resources or id(resources) in seen:
        return []
    seen.add(id(resources))
    missing = []
    fonts = resources.get("/Font")
    for font in (fonts.get_object() if fonts else {}).values():
        font = font.get_object()
        if font.get("/Subtype") == "/Type3":  # glyphs drawn by the PDF itself
            continue
        described = font
        if font.get("/Subtype") == "/Type0":
            described = font["/DescendantFonts"][0].get_object()
        descriptor = described.get("/FontDescriptor")
        descriptor = descriptor.get_object() if descriptor is not None else {}
        if not any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")):
            missing.append(str(font.get("/BaseFont", "unnamed")).lstrip("/"))
    xobjects = resources.get("/XObject")
    for xobject in (xobjects.get_object() if xobjects else {}).values():
        form = xobject.get_object()
        if form.get("/Subtype") == "/Form" and form.get("/Resources") is not None:
            missing += _unembedded_fonts(form["/Resources"].get_object(), seen)
    return missing


def _check_pdf(path: Path, facts: dict[str, Any], floor: float) -> list[str]:
    try:
        reader = PdfReader(path, strict=False)
        pages = list(reader.pages)
        keywords = reader.metadata.get("/Keywords") if reader.metadata else None
    except (PyPdfError, OSError, ValueError, KeyError, TypeError) as exc:
        return [f"not a readable PDF ({exc})"]
    facts.update(kind="pdf", pages=len(pages))
    tag = parse_tag(str(keywords) if keywords else None)
    if tag:
        facts["product"] = tag
    problems: list[str] = []
    if not pages:
        return ["the PDF has no pages"]
    if tag and len(pages) != 1:
        problems.append(f"{len(pages)} pages; a {tag['product']} file has one")
    for number, page in enumerate(pages, 1):
        where = f"page {number}: " if len(pages) > 1 else ""
        try:
            found = _check_page(page, reader, tag, facts, number == 1, floor)
        except (PyPdfError, ValueError, KeyError, TypeError, IndexError) as exc:
            found = [f"the page cannot be read ({exc})"]
        problems += [where + p for p in found]
    if tag:
        problems += _check_art(tag, facts, floor)
    return problems


def _check_page(
    page: Any,
    reader: PdfReader,
    tag: dict[str, str] | None,
    facts: dict[str, Any],
    first: bool,
    floor: float,
) -> list[str]:
    problems: list[str] = []
    media = tuple(float(v) for v in page.mediabox)  # MediaBox may be inherited
    trim, bleed = _box(page, "TrimBox"), _box(page, "BleedBox")
    if trim is None:
        problems.append("no TrimBox")
    if bleed is None:
        problems.append("no BleedBox")
    if trim and bleed and not _within(trim, bleed):
        problems.append(f"the TrimBox {trim} is not inside the BleedBox {bleed}")
    if bleed and not _within(bleed, media):
        problems.append(f"the BleedBox {bleed} is not inside the MediaBox {media}")
    if first:
        facts["media_in"] = _inches(media)
        if trim:
            facts["trim_in"] = _inches(trim)
        if trim and bleed:
            facts["bleed_in"] = round(
                min(trim[0] - bleed[0], trim[1] - bleed[1], bleed[2] - trim[2], bleed[3] - trim[3])
                / 72,
                4,
            )

    resources = page.get("/Resources")
    resources = resources.get_object() if resources else None
    for font in _unembedded_fonts(resources):
        problems.append(f"the font {font} is not embedded (a RIP would substitute another)")
    separations = _separations(resources)
    cuts, image_dpi = _walk_content(page, reader, set(separations))
    if first:
        facts["cut_contour"] = bool(separations)
        facts["cut_paths"] = len(cuts)
        if image_dpi:
            facts["image_dpi"] = round(min(image_dpi), 1)
    for space in separations.values():
        alternate = str(space[2])
        colour = _eval_tint(space[3], 1.0) if alternate == "/DeviceCMYK" else None
        if (
            colour is None
            or len(colour) != 4
            or any(abs(v - t) > 0.01 for v, t in zip(colour, (0, 1, 0, 0), strict=True))
        ):
            problems.append(
                f"the {CUT_CONTOUR} alternate colour ({alternate} {colour}) is not 100 % magenta"
            )
    if image_dpi and min(image_dpi) < floor - 0.5 and not tag:  # ours: the art's DPI
        problems.append(
            f"an image is placed at {min(image_dpi):.0f} DPI, below {_floor_words(floor)}"
        )
    for cut in cuts:
        if cut.subpaths != 1:
            problems.append(f"the {CUT_CONTOUR} path has {cut.subpaths} pieces; a die cut is one")
        if not cut.closed:
            problems.append(f"the {CUT_CONTOUR} path is not closed")
        if not cut.overprint:
            problems.append(
                f"the {CUT_CONTOUR} line does not overprint (it would knock out the art under it)"
            )
        if trim:
            xs, ys = zip(*cut.points, strict=True)
            if not _within((min(xs), min(ys), max(xs), max(ys)), trim):
                problems.append(f"the {CUT_CONTOUR} path runs outside the TrimBox")
    if tag and trim:
        problems += _check_pdf_product(tag, trim, bleed, bool(separations), cuts)
    return problems


def _check_pdf_product(
    tag: dict[str, str],
    trim: tuple[float, ...],
    bleed: Any,
    has_separation: bool,
    cuts: list[_CutPath],
) -> list[str]:
    problems = []
    product = tag["product"]
    width_in, height_in = _inches(trim)
    tee_in = TEE_SIZES.get(tag.get("size", "M"))
    if (
        product == "tee"
        and tee_in is not None
        and (abs(width_in - tee_in[0]) > 0.01 or abs(height_in - tee_in[1]) > 0.01)
    ):
        problems.append(
            f"the tee proof's print area is {width_in:g}×{height_in:g} in, "
            f"not {tee_in[0]:g}×{tee_in[1]:g} (size {tag.get('size', 'M')})"
        )
    if product == "mug" and tag.get("size") in MUG_SIZES:
        w, h = MUG_SIZES[tag["size"]]
        if abs(width_in - w) > 0.01 or abs(height_in - h) > 0.01:
            problems.append(f"the mug wrap is {width_in:g}×{height_in:g} in, not {w:g}×{h:g}")
    if product == "photo":
        page = _page_in(tag)
        if page is None or abs(width_in - page[0]) > 0.01 or abs(height_in - page[1]) > 0.01:
            problems.append(
                f"the photo print's trim is {width_in:g}×{height_in:g} in, not the "
                f"{tag.get('size', '4x6')} page it names ({tag.get('page')})"
            )
    if product == "sticker":
        size = int(tag["size"]) if tag.get("size", "").isdigit() else None
        if size not in STICKER_SIZES or abs(max(width_in, height_in) - size) > 0.01:
            problems.append(
                f"the sticker's trim is {width_in:g}×{height_in:g} in; its longest "
                f"side should be {tag.get('size')} in"
            )
        if not has_separation:
            problems.append(f"no {CUT_CONTOUR} spot colour: the cutter has no line to follow")
        elif len(cuts) != 1:
            problems.append(f"{len(cuts)} {CUT_CONTOUR} paths stroked; a die cut has one")
    if product in {"sticker", "mug"} and bleed:
        least = min(trim[0] - bleed[0], trim[1] - bleed[1], bleed[2] - trim[2], bleed[3] - trim[3])
        if least < BLEED_IN * 72 - TOLERANCE_PT:
            problems.append(f"bleed {least / 72:.4f} in; at least {BLEED_IN:.4f} in is needed")
    return problems
