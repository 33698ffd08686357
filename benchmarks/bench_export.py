"""Print-export speed from print masters, and product-preview speed from the booth painting.

Run alone: ``python -m benchmarks.bench_export``. Each product is exported from scratch
(``export.export_product`` keeps no record, so nothing is reused), preflight included,
interleaved with the others, ``REPEATS`` times; the table shows medians. The input of each is
what the print job hands it: a painted-looking booth photo of three people, with its
reference people mask, at the size ``export.specs.print_pixels`` asks for that product (the
tee at 150 and at 300 DPI). The previews are drawn from the booth's 512 px painting and from
a 1800×2400 print master, 480 px wide, as the guest sees them while choosing.
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
BOOTH_SIDE = 512  # the booth's HQ painting on a CPU
REPEATS = 3

# name: product, options, with mask, tee DPI the master is painted for
CASES: dict[str, tuple[str, dict[str, Any], bool, int]] = {
    "tee": ("tee", {"layout": "full"}, True, 150),
    "tee_300": ("tee", {"layout": "full"}, True, 300),
    "tee_people_black": ("tee", {"layout": "people", "colour": "black"}, True, 150),
    "sticker": ("sticker", {"size": 3}, True, 150),
    "sticker_rectangle": ("sticker", {"size": 3}, False, 150),
    "mug": ("mug", {"size": "11oz", "layout": "centred"}, True, 150),
    "mug_wrap": ("mug", {"size": "15oz", "layout": "wrap"}, True, 150),
}
PREVIEWS: dict[str, tuple[str, dict[str, Any]]] = {
    "preview_tee": ("tee", {"layout": "people", "colour": "black"}),
    "preview_sticker": ("sticker", {"size": 3}),
    "preview_mug": ("mug", {"layout": "wrap"}),
}
TARGETS = {
    "tee": "≤ 5",
    "tee_300": "≤ 5",
    "tee_people_black": "≤ 5",
    "sticker": "≤ 3",
    "sticker_rectangle": "≤ 3",
    **{f"{name}{source}": "≤ 1" for name in PREVIEWS for source in ("", "_master")},
}
LABELS = {
    "tee": "tee 12×16 in PNG + PDF proof (full picture, 1800×2400 master: 150 DPI)",
    "tee_300": "tee PNG + PDF proof (full picture, 3600×4800 master: 300 DPI)",
    "tee_people_black": "tee PNG + PDF proof (people only, black shirt, 150 DPI)",
    "sticker": "sticker 3 in die-cut PDF + PNG (people)",
    "sticker_rectangle": "sticker 3 in PDF + PNG (no people: rounded rectangle)",
    "mug": "mug 11 oz centred PNG + PDF",
    "mug_wrap": "mug 15 oz wrap PNG + PDF",
    "preview_tee": "preview 480 px: tee, people, black (512 px painting)",
    "preview_sticker": "preview 480 px: sticker 3 in (512 px painting)",
    "preview_mug": "preview 480 px: mug wrap (512 px painting)",
    "preview_tee_master": "preview 480 px: tee (1800×2400 print master)",
    "preview_sticker_master": "preview 480 px: sticker (1800×2400 print master)",
    "preview_mug_master": "preview 480 px: mug (1800×2400 print master)",
}


def painting() -> tuple[Any, Any]:
    """The painted-looking photo at its own size, and its mask."""
    import cv2
    import numpy as np
    from PIL import Image

    photo = Image.open(PEOPLE / "booth_group.jpg").convert("RGB")
    painted = Image.fromarray(cv2.stylization(np.asarray(photo), sigma_s=30, sigma_r=0.35))
    return painted, Image.open(PEOPLE / "booth_group_mask.png").convert("L")


def master(image: Any, mask: Any, size: tuple[int, int]) -> tuple[Any, Any]:
    """The picture and mask at a print master's size (enlarged here; painted by the job)."""
    from PIL import Image

    return image.resize(size, Image.Resampling.LANCZOS), mask.resize(size)


def people_box(mask: Any) -> tuple[float, float, float, float]:
    box = mask.point(lambda v: 255 if v >= 128 else 0).getbbox()
    return box[0] / mask.width, box[1] / mask.height, box[2] / mask.width, box[3] / mask.height


def run() -> dict[str, Any]:
    from export import export_product
    from export.preview import product_preview
    from export.specs import print_pixels

    image, mask = painting()
    aspect, box = image.width / image.height, people_box(mask)
    inputs: dict[str, str] = {}
    jobs: dict[str, Callable[[], object]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        for name, (product, options, use_mask, dpi) in CASES.items():
            size = print_pixels(product, options, aspect, dpi=dpi, people_box=box)
            art, art_mask = master(image, mask, size)
            inputs[name] = f"{size[0]}×{size[1]}"
            jobs[name] = functools.partial(
                export_product,
                art,
                product,
                options=options,
                out_dir=Path(tmp) / name,
                alpha=art_mask if use_mask else None,
            )
        booth = master(image, mask, (BOOTH_SIDE, round(BOOTH_SIDE / aspect)))
        tee_master = master(image, mask, print_pixels("tee", {}, aspect))
        for name, (product, options) in PREVIEWS.items():
            for suffix, (art, art_mask) in (("", booth), ("_master", tee_master)):
                jobs[name + suffix] = functools.partial(
                    product_preview, art, art_mask, product, options
                )
        jobs["sticker"]()  # warm up: imports, LUTs, the ICC profile, the fonts
        jobs["tee"]()
        samples: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(REPEATS):
            for name, job in jobs.items():
                started = time.perf_counter()
                job()
                samples[name].append(time.perf_counter() - started)
    seconds = {name: round(statistics.median(values), 3) for name, values in samples.items()}
    rows = [
        row(LABELS[name], value, unit="s", target=TARGETS.get(name, ""))
        for name, value in seconds.items()
    ]
    return {
        "timings_s": seconds,
        "tee_s": seconds["tee"],
        "sticker_s": seconds["sticker"],
        "mug_s": seconds["mug"],
        "preview_worst_s": max(v for k, v in seconds.items() if k.startswith("preview")),
        "inputs": inputs,
        "repeats": REPEATS,
        "rows": rows,
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"| export from print masters, previews (median of {result['repeats']}) | s | target |",
        "| --- | --- | --- |",
    ]
    for entry in result["rows"]:
        lines.append(f"| {entry['metric']} | {entry['value']:.2f} | {entry['target']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run_alone(run)))
