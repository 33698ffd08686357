"""Cut-out quality and speed: IoU against the reference masks, time at 1280×720, compose time.

Run alone: ``python -m benchmarks.bench_cutout``. The CPU may be shared, so the variants are
timed interleaved in one run (medians), which keeps their ratios honest.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.run import figures, row, run_alone

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STYLEBOOTH_SHARED_DATA", ROOT.parent / "shared" / "data"))
PEOPLE = SHARED / "people"
MODEL_DIR = Path(os.environ.get("STYLEBOOTH_MODEL_DIR", ROOT / "data" / "models"))
FRAME = (1280, 720)
REPEATS = 7


def _iou(alpha: np.ndarray, reference: np.ndarray) -> float:
    ours, theirs = alpha >= 128, reference >= 128
    return float((ours & theirs).sum() / (ours | theirs).sum())


def _median_ms(functions: dict[str, Callable[[], object]]) -> dict[str, dict[str, float]]:
    """Median wall-clock and CPU (process, all threads) milliseconds of each function."""
    for function in functions.values():
        function()  # warm up: sessions, caches
    wall: dict[str, list[float]] = {name: [] for name in functions}
    cpu: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(REPEATS):
        for name, function in functions.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            function()
            wall[name].append((time.perf_counter() - started) * 1000)
            cpu[name].append((time.process_time() - started_cpu) * 1000)
    return {
        name: {
            "wall": round(statistics.median(wall[name]), 1),
            "cpu": round(statistics.median(cpu[name]), 1),
        }
        for name in functions
    }


def run() -> dict[str, Any]:
    from render.compose import compose_layers
    from render.cutout import cut_out
    from render.models import ModelStore
    from render.options import ComposeOptions, CutoutOptions
    from render.scenes import load_scene
    from render.segment import selfie_probability, u2netp_mask

    store = ModelStore(MODEL_DIR)
    for name in ("u2netp", "selfie", "selfie-landscape"):
        store.ensure(name)
    model_dir = str(store.root)
    photos = sorted(p for p in PEOPLE.iterdir() if not p.stem.endswith("_mask"))
    with_u2netp = CutoutOptions(use_u2netp=True)
    variants: dict[str, Callable[[Image.Image], np.ndarray]] = {
        "u2netp alone (rembg)": lambda im: u2netp_mask(im, model_dir),
        "MediaPipe selfie ensemble, raw": lambda im: (
            selfie_probability(np.asarray(im), model_dir) * 255
        ),
        "cut_out (default)": lambda im: np.asarray(cut_out(im, model_dir=model_dir).alpha),
        "cut_out(use_u2netp=True)": lambda im: np.asarray(
            cut_out(im, model_dir=model_dir, options=with_u2netp).alpha
        ),
    }
    iou: dict[str, dict[str, float]] = {}
    for variant, mask_of in variants.items():
        iou[variant] = {}
        for photo in photos:
            image = Image.open(photo).convert("RGB")
            reference = np.asarray(Image.open(PEOPLE / f"{photo.stem}_mask.png").convert("L"))
            iou[variant][photo.name] = round(_iou(mask_of(image), reference), 4)
        iou[variant]["mean"] = round(float(np.mean(list(iou[variant].values()))), 4)

    frame = Image.open(PEOPLE / "booth_group.jpg").convert("RGB").resize(FRAME)
    cutout = cut_out(frame, model_dir=model_dir)
    scene = load_scene("tubingen")
    studio = load_scene("studio_grey", size=FRAME)
    ms = _median_ms(
        {
            "cutout": lambda: cut_out(frame, model_dir=model_dir),
            "cutout_u2netp": lambda: cut_out(frame, model_dir=model_dir, options=with_u2netp),
            "compose": lambda: compose_layers(cutout, scene, size=FRAME),
            "compose_shadow": lambda: compose_layers(
                cutout, studio, size=FRAME, options=ComposeOptions(shadow=0.45)
            ),
        }
    )
    default = iou["cut_out (default)"]
    rows = [
        row(f"IoU {name}", value, target="≥ 0.93 mean")
        for name, value in default.items()
        if name != "mean"
    ]
    rows += figures(
        ("IoU mean", default["mean"], "", "≥ 0.93"),
        ("cut-out 1280×720", ms["cutout"]["wall"], "ms", "≤ 300"),
        ("compose 1280×720", ms["compose"]["wall"], "ms", "≤ 100"),
        ("IoU mean, with u2netp", iou["cut_out(use_u2netp=True)"]["mean"], "", "(option)"),
        ("cut-out 1280×720, with u2netp", ms["cutout_u2netp"]["wall"], "ms", "(option)"),
    )
    return {
        "iou": iou,
        "iou_mean": default["mean"],
        "cutout_ms": ms["cutout"]["wall"],
        "compose_ms": ms["compose"]["wall"],
        "timings_ms": ms,
        "frame": f"{FRAME[0]}×{FRAME[1]}",
        "repeats": REPEATS,
        "rows": rows,
    }


def table(result: dict[str, Any]) -> str:
    names = [n for n in next(iter(result["iou"].values())) if n != "mean"]
    lines = [
        "| segmentation | " + " | ".join(names) + " | mean |",
        "| --- |" + " --- |" * (len(names) + 1),
    ]
    for variant, scores in result["iou"].items():
        cells = " | ".join(f"{scores[n]:.3f}" for n in [*names, "mean"])
        lines.append(f"| {variant} | {cells} |")
    ms = result["timings_ms"]
    lines += [
        "",
        f"| at {result['frame']} (median of {result['repeats']}) | wall ms | CPU ms | target |",
        "| --- | --- | --- | --- |",
    ]
    labels = {
        "cutout": ("cut-out (default)", "≤ 300"),
        "cutout_u2netp": ("cut-out with u2netp", "(option)"),
        "compose": ("compose", "≤ 100"),
        "compose_shadow": ("compose with soft shadow", "≤ 100"),
    }
    for key, (label, target) in labels.items():
        ms = result["timings_ms"][key]
        lines.append(f"| {label} | {ms['wall']:.0f} | {ms['cpu']:.0f} | {target} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run_alone(run)))
