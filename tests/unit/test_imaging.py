"""The print upscaler (export/imaging.py) on generated pixels."""

from __future__ import annotations

import numpy as np

from export.imaging import resample


def test_resample_keeps_geometry_and_colour():
    rgb = np.full((40, 60, 3), (200, 120, 40), np.uint8)
    rgb[10, 20] = (255, 255, 255)
    out = resample(rgb, 5.0, (0.0, 0.0), (300, 200))
    assert np.abs(out[150:, 200:].astype(int) - (200, 120, 40)).max() <= 1  # flat stays flat
    y, x = np.unravel_index(np.argmax(out.sum(axis=2)), out.shape[:2])
    assert abs(x - 102) <= 2 and abs(y - 52) <= 2  # pixel (20, 10) lands at its centre × 5
    crop = resample(rgb, 5.0, (15.0, 5.0), (100, 100))  # a window of the same view
    assert np.abs(crop.astype(int) - out[25:125, 75:175]).mean() < 1
