"""The preflight (export/preflight.py) on generated files: each problem a print shop would
refuse is found and named, art below 150 effective DPI and unembedded fonts included.
(Every product the exporter makes passing it: tests/integration/test_export.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from reportlab.lib.colors import CMYKColorSep
from reportlab.pdfgen.canvas import Canvas

from export.preflight import preflight
from export.specs import ExportError, product_tag


def _pdf(path: Path, *, trim=(9, 9, 135, 135), bleed=(4.5, 4.5, 139.5, 139.5), closed=True):
    canvas = Canvas(str(path), pagesize=(144, 144))
    if trim:
        canvas.setTrimBox(list(trim))
    if bleed:
        canvas.setBleedBox(list(bleed))
    canvas.setKeywords(product_tag("sticker", {"size": 2}))
    canvas.setStrokeColor(CMYKColorSep(0, 1, 0, 0, spotName="CutContour"))
    canvas.setStrokeOverprint(True)
    path_ = canvas.beginPath()
    path_.moveTo(20, 20)
    path_.lineTo(120, 20)
    path_.lineTo(70, 120)
    if closed:
        path_.close()
    canvas.drawPath(path_, stroke=1, fill=0)
    canvas.save()
    return path


def test_preflight_finds_problems(tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (300, 300), "red").save(plain)
    report = preflight(plain)
    assert not report.ok
    assert any("DPI" in p for p in report.problems) and any("ICC" in p for p in report.problems)

    soft = np.zeros((4800, 3600, 4), np.uint8)
    soft[100:200, 100:200] = (10, 20, 30, 128)
    from export.imaging import save_png

    tee = save_png(
        tmp_path / "tee.png", soft[:2400, :1800], product_tag("tee", {"layout": "people"})
    )
    problems = " | ".join(preflight(tee).problems)
    assert "semi-transparent" in problems and "needs 3600×4800" in problems

    wrong_size = " | ".join(preflight(_pdf(tmp_path / "small.pdf")).problems)
    assert "longest side should be 2 in" in wrong_size  # a 2 in sticker with a 1.75 in trim
    open_cut = " | ".join(preflight(_pdf(tmp_path / "open.pdf", closed=False)).problems)
    assert "not closed" in open_cut
    no_boxes = " | ".join(preflight(_pdf(tmp_path / "nobox.pdf", trim=None, bleed=None)).problems)
    assert "no TrimBox" in no_boxes and "no BleedBox" in no_boxes
    inverted = preflight(_pdf(tmp_path / "nest.pdf", trim=(0, 0, 144, 144), bleed=(9, 9, 135, 135)))
    assert any("not inside the BleedBox" in p for p in inverted.problems)
    (tmp_path / "junk.pdf").write_bytes(b"%PDF-1.4 garbage")
    assert not preflight(tmp_path / "junk.pdf").ok
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ExportError, match="neither a PNG nor a PDF"):
        preflight(tmp_path / "notes.txt")


def _gradient(width: int, height: int) -> Image.Image:
    """A generated picture with detail everywhere (no photo needed)."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.dstack([x * 255 // width, y * 255 // height, (x ^ y) & 255]).astype(np.uint8)
    return Image.fromarray(rgb)


def test_art_below_150_effective_dpi_is_refused_in_words(tmp_path):
    from export import export_product

    small = export_product(_gradient(384, 512), "tee", out_dir=tmp_path / "small")
    sentence = "art is 384×512 px over 12×16 in: 32 effective DPI, below the 150 DPI minimum"
    for path in small.files.values():
        report = preflight(path)
        assert sentence in report.problems, report.problems
        assert report.facts["art_px"] == (384, 512) and report.facts["art_dpi"] == 32.0
    assert Image.open(small.files["png"]).size == (384, 512)  # never enlarged

    # an XS shirt prints 9×12 in: 1350×1800 px is its 150 DPI, 900×1200 is not
    xs = {"size": "XS"}
    enough = export_product(_gradient(1350, 1800), "tee", options=xs, out_dir=tmp_path / "xs")
    assert enough.problems == ()
    assert preflight(enough.files["pdf"]).facts["trim_in"] == (9.0, 12.0)
    short = export_product(_gradient(900, 1200), "tee", options=xs, out_dir=tmp_path / "short")
    assert any("over 9×12 in: 100 effective DPI, below" in p for p in short.problems)


def test_the_floor_scales_with_a_tests_print_size(tmp_path):
    from export import export_product

    made = export_product(_gradient(180, 240), "tee", out_dir=tmp_path, scale=0.1)
    assert made.problems == ()
    assert preflight(made.files["png"], scale=0.1).ok
    assert not preflight(made.files["png"]).ok
    with pytest.raises(ExportError, match="scale is a fraction"):
        preflight(made.files["png"], scale=2)
    with pytest.raises(ExportError, match="scale is a fraction"):  # before anything is written
        export_product(_gradient(180, 240), "tee", out_dir=tmp_path / "never", scale=0)
    assert not (tmp_path / "never").exists()


def test_a_tagged_file_must_record_its_art_and_fonts_must_be_embedded(tmp_path):
    from export.imaging import save_png

    design = np.zeros((2400, 1800, 4), np.uint8)
    design[:100, :100] = (10, 20, 30, 255)
    untold = save_png(tmp_path / "tee.png", design, product_tag("tee", {"size": "M"}), dpi=150)
    assert any("does not record its art" in p for p in preflight(untold).problems)

    text = tmp_path / "text.pdf"
    canvas = Canvas(str(text), pagesize=(144, 144))
    canvas.setTrimBox([0, 0, 144, 144])
    canvas.setBleedBox([0, 0, 144, 144])
    canvas.setFont("Helvetica", 12)
    canvas.drawString(10, 10, "hello")
    canvas.save()
    assert "the font Helvetica is not embedded (a RIP would substitute another)" in (
        preflight(text).problems
    )
