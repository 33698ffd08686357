"""Print-export speed: tee PNG + PDF proof, die-cut sticker, mug, from a 640 px painting.

Run alone: ``python -m benchmarks.bench_export``. Each product is exported from scratch
(``export.export_product`` keeps no record, so nothing is reused), interleaved with the others,
``REPEATS`` times; the table shows medians. The input is a painted-looking booth photo of
three people with its reference people mask, at the booth's fast render size.
"""

from __future__ import annotations

import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.run import row, run_alone

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STYLEBOOTH_SHARED_DATA", ROOT.parent / "shared" / "data"))
PEOPLE = SHARED / "people"
RENDER_SIDE = 640  # the booth's fast render size; HQ renders on a CPU are 512
REPEATS = 3

CASES: dict[str, tuple[str, dict[str, Any], bool]] = {  # name: product, options, with mask
    "tee": ("tee", {"layout": "full"}, True),
    "tee_people": ("tee", {"layout": "people"}, True),
    "sticker": ("sticker", {"size": 3}, True),
    "sticker_rectangle": ("sticker", {"size": 3}, False),
    "mug": ("mug", {"size": "11oz", "layout": "centred"}, True),
    "mug_wrap": ("mug", {"size": "15oz", "layout": "wrap"}, True),
}
TARGETS = {"tee": "≤ 5", "tee_people": "≤ 5", "sticker": "≤ 3", "sticker_rectangle": "≤ 3"}
LABELS = {
    "tee": "tee 12×16 in PNG + PDF proof (full picture)",
    "tee_people": "tee PNG + PDF proof (people only)",
    "sticker": "sticker 3 in die-cut PDF + PNG (people)",
    "sticker_rectangle": "sticker 3 in PDF + PNG (no people: rounded rectangle)",
    "mug": "mug 11 oz centred PNG + PDF",
    "mug_wrap": "mug 15 oz wrap PNG + PDF",
}


def painting() -> tuple[Any, Any]:
    import cv2
    import numpy as np
    from PIL import Image

    photo = Image.open(PEOPLE / "booth_group.jpg").convert("RGB")
    size = (RENDER_SIDE, round(RENDER_SIDE * photo.height / photo.width))
    photo = photo.resize(size, Image.Resampling.LANCZOS)
    painted = Image.fromarray(cv2.stylization(np.asarray(photo), sigma_s=30, sigma_r=0.35))
    mask = Image.open(PEOPLE / "booth_group_mask.png").convert("L").resize(size)
    return painted, mask


def run() -> dict[str, Any]:
    from export import export_product

    image, mask = painting()
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        jobs: dict[str, Callable[[], object]] = {
            name: functools.partial(
                export_product,
                image,
                product,
                options=options,
                out_dir=Path(tmp) / name,
                alpha=mask if use_mask else None,
            )
            for name, (product, options, use_mask) in CASES.items()
        }
        jobs["sticker"]()  # warm up: imports, LUTs, the ICC profile
        for _ in range(REPEATS):
            for name, job in jobs.items():
                started = time.perf_counter()
                job()
                samples[name].append(time.perf_counter() - started)
    seconds = {name: round(statistics.median(values), 2) for name, values in samples.items()}
    rows = [
        row(LABELS[name], value, unit="s", target=TARGETS.get(name, ""))
        for name, value in seconds.items()
    ]
    return {
        "timings_s": seconds,
        "tee_s": seconds["tee"],
        "sticker_s": seconds["sticker"],
        "mug_s": seconds["mug"],
        "input": f"{image.width}×{image.height} painting",
        "repeats": REPEATS,
        "rows": rows,
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"| export from a {result['input']} (median of {result['repeats']}) | s | target |",
        "| --- | --- | --- |",
    ]
    for entry in result["rows"]:
        lines.append(f"| {entry['metric']} | {entry['value']:.2f} | {entry['target']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run_alone(run)))
