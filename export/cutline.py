"""Die-cut lines: one closed, smooth path around the people, offset by the white border.

A blade follows the line, so it must be a single closed loop without narrow inlets or
pixel stairs. The people mask is grown by the border width (a Euclidean distance, so the
offset is even all round), inlets narrower than the border are closed, holes are filled,
and the outline is smoothed along its length. Smoothing never moves the line outwards, so it
stays inside the trim box, and it is checked to stay clear of the people.
"""

from __future__ import annotations

import cv2
import numpy as np

SMOOTH_IN = 0.02  # Gaussian smoothing along the outline (inches, at the print's DPI)
SIMPLIFY_PX = 0.25  # polygon simplification tolerance; far below what a blade resolves
ARC_STEP_DEG = 3.0


def _grow(mask: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within ``radius`` of ``mask`` (Euclidean)."""
    return cv2.distanceTransform((~mask).view(np.uint8), cv2.DIST_L2, 5) <= radius


def _shrink(mask: np.ndarray, radius: float) -> np.ndarray:
    return ~_grow(~mask, radius)


def _single_region(region: np.ndarray, radius: float) -> np.ndarray:
    """Close inlets and gaps until the region is one piece (at worst: its convex hull)."""
    pad = int(np.ceil(4 * radius)) + 2  # room for the closing beyond the canvas edge
    padded = np.pad(region, pad)
    for factor in (1, 2, 4):
        closed = _shrink(_grow(padded, radius * factor), radius * factor)[pad:-pad, pad:-pad]
        contours, _ = cv2.findContours(
            closed.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        if len(contours) == 1:
            return _filled(contours[0][:, 0, :].astype(np.float64), region.shape)
    points = cv2.findNonZero(region.view(np.uint8))
    return _filled(cv2.convexHull(points)[:, 0, :].astype(np.float64), region.shape)


def _filled(polygon: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    return mask.astype(bool)


def _smooth_closed(points: np.ndarray, sigma: float, spacing: float = 1.0) -> np.ndarray:
    """Resample a closed outline evenly, then Gaussian-smooth it around the loop."""
    loop = np.vstack([points, points[:1]])
    lengths = np.r_[0.0, np.cumsum(np.hypot(*np.diff(loop, axis=0).T))]
    count = max(16, int(lengths[-1] / spacing))
    at = np.linspace(0.0, lengths[-1], count, endpoint=False)
    even = np.column_stack([np.interp(at, lengths, loop[:, 0]), np.interp(at, lengths, loop[:, 1])])
    radius = int(3 * sigma / spacing) + 1
    if radius * 2 + 1 >= count:
        return even
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) * spacing / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.vstack([even[-radius:], even, even[:radius]])
    return np.column_stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(2)])


def people_cut(people: np.ndarray, border: float, dpi: float) -> np.ndarray:
    """The cut polygon (N×2, pixel coordinates, implicitly closed) around ``people``.

    ``people`` is a boolean mask with at least ``border`` px of room on every side.
    """
    region = _single_region(_grow(people, border), border)
    contours, _ = cv2.findContours(region.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea)[:, 0, :].astype(np.float64)
    clearance = cv2.distanceTransform((~people).view(np.uint8), cv2.DIST_L2, 5)
    sigma = SMOOTH_IN * dpi
    while True:
        smooth = _smooth_closed(outline, sigma)
        simple = cv2.approxPolyDP(smooth.astype(np.float32), SIMPLIFY_PX, closed=True)[:, 0, :]
        if min_clearance(simple, clearance) >= 0.75 * border or sigma < 1:
            break
        sigma /= 2  # smoothing cut a corner too close to the people: smooth less
    return simple.astype(np.float64) + 0.5  # pixel centres → continuous coordinates


def min_clearance(polygon: np.ndarray, clearance: np.ndarray) -> float:
    """Smallest distance (px) from the polygon's vertices to the people."""
    h, w = clearance.shape
    xs = np.clip(np.round(polygon[:, 0]).astype(int), 0, w - 1)
    ys = np.clip(np.round(polygon[:, 1]).astype(int), 0, h - 1)
    return float(clearance[ys, xs].min())


def rounded_rect(x0: float, y0: float, x1: float, y1: float, radius: float) -> np.ndarray:
    """A rounded rectangle as a closed polygon (clockwise in image coordinates)."""
    r = min(radius, (x1 - x0) / 2, (y1 - y0) / 2)
    corners = (
        (x1 - r, y0 + r, -90),
        (x1 - r, y1 - r, 0),
        (x0 + r, y1 - r, 90),
        (x0 + r, y0 + r, 180),
    )
    steps = max(2, int(90 / ARC_STEP_DEG))
    points = []
    for cx, cy, start in corners:
        angles = np.radians(np.linspace(start, start + 90, steps + 1))
        points.append(np.column_stack([cx + r * np.cos(angles), cy + r * np.sin(angles)]))
    return np.vstack(points)


def polygon_mask(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the polygon's inside (no anti-aliasing: a hard die-cut edge)."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round((polygon - 0.5) * 16).astype(np.int32)], 1, shift=4)
    return mask.astype(bool)
