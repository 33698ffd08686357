"""The preflight (export/preflight.py) on generated files: each problem a print shop would
refuse is found and named. (Every product the exporter makes passing it:
tests/integration/test_export.py.)"""

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
