"""Print render benchmark: a real booth painting continued to a tee's print size.

* the booth painting: the astronaut (shared data) in the booth's 3:4 portrait frame, cut out
  onto the Tübingen scene and painted in HQ at 384×512 like Starry Night, by the real engine;
* the tee at 150 DPI (1800×2400) with the default ``PrintOptions``: wall time, peak RSS of a
  child process that does only the render (``os.wait4``'s ``ru_maxrss``), the longest gap
  between two ``pause()`` calls (how long a waiting fast or HQ job could wait), and the detail
  ratio against a Lanczos enlargement of the booth painting (``render.detail``), same run;
* the tee at 300 DPI (3600×4800), run with 2 steps per stage instead of 16 (peak RSS and
  the setup are real); its time for the default steps is the measured time plus the missing
  steps at the per-step time measured at each stage, stated as such in the row;
* the same on CUDA when there is a GPU (in full, both sizes).

Run alone: ``python -m benchmarks.bench_print``. A child: ``python -m benchmarks.bench_print
child PAINTING COMPOSITE WIDTH HEIGHT DEVICE STEPS OUT.png`` prints one JSON line.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.run import figures, run_alone

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STYLEBOOTH_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODEL_DIR = Path(os.environ.get("STYLEBOOTH_MODEL_DIR", ROOT / "data" / "models"))
PHOTO = SHARED / "people" / "astronaut.png"
PAINTING = SHARED / "styles" / "starry_night.jpg"
SCENE = "tubingen"
BOOTH = (384, 512)  # the booth's HQ painting, 3:4 portrait like the tee's print area
TEE_150, TEE_300 = (1800, 2400), (3600, 4800)
SHORT_STEPS = 2  # per stage, for the 300 DPI run on a CPU


def booth_painting(folder: Path) -> tuple[Path, Path]:
    """The composite and its HQ painting, as the booth makes them, saved as PNGs."""
    from PIL import Image, ImageOps

    from render.pipeline import prepare
    from render.stylize import StyleEngine

    photo = ImageOps.fit(Image.open(PHOTO).convert("RGB"), BOOTH, Image.Resampling.LANCZOS)
    prepared = prepare(photo, SCENE, max(BOOTH), model_dir=MODEL_DIR)
    engine = StyleEngine(MODEL_DIR, "cpu", cache_dir=folder / "grams")
    painting = engine.stylize(prepared.composite, PAINTING, size=max(BOOTH))
    composite, painted = folder / "composite.png", folder / "booth.png"
    prepared.composite.save(composite)
    painting.save(painted)
    return composite, painted


def child(args: list[str]) -> None:
    """One render in this process, alone: its figures as one JSON line on stdout."""
    from dataclasses import replace

    from PIL import Image

    from render.print_master import PrintOptions, paint_print
    from render.progress import StyleProgress
    from render.stylize import StyleEngine

    painting, composite, width, height, device, steps, out = args
    engine = StyleEngine(MODEL_DIR, device, cache_dir=Path(out).parent / f"grams-{device}")
    engine.vgg("max", device == "cpu")  # loaded, as in a warm worker
    options = replace(PrintOptions(), steps=int(steps))
    stamps: list[float] = []
    reports: list[StyleProgress] = []
    started = time.perf_counter()
    master = paint_print(
        engine,
        Image.open(painting),
        Image.open(composite),
        PAINTING,
        (int(width), int(height)),
        options=options,
        progress=reports.append,
        pause=lambda: stamps.append(time.perf_counter()),
    )
    seconds = time.perf_counter() - started
    assert master is not None
    master.save(out)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    steps_at: dict[int, list[float]] = {}
    for report in reports:
        if report.preview is None:
            steps_at.setdefault(report.scale, []).append(report.elapsed)
    per_step = {
        scale: (times[-1] - times[0]) / (len(times) - 1)
        for scale, times in steps_at.items()
        if len(times) > 1
    }
    print(
        json.dumps(
            {
                "seconds": seconds,
                "pauses": len(stamps),
                "max_gap_s": max(gaps, default=0.0),
                "per_step_s": per_step,
                "default_steps": PrintOptions().steps,
            }
        )
    )


def measure(
    folder: Path, composite: Path, painting: Path, size: tuple[int, int], device: str, steps: int
) -> dict[str, Any]:
    """A child process renders; its JSON, plus its own peak RSS and the load around it."""
    out = folder / f"master-{device}-{size[0]}x{size[1]}.png"
    command = [
        sys.executable, "-m", "benchmarks.bench_print", "child", str(painting), str(composite),
        str(size[0]), str(size[1]), device, str(steps), str(out),
    ]  # fmt: skip
    load = os.getloadavg()[0]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"the print render child failed ({status}): {output[-2000:]}")
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result.update(
        peak_rss_mb=usage.ru_maxrss / 1024, out=out, load_before=load, load_after=os.getloadavg()[0]
    )
    missing = result["default_steps"] - steps
    result["projected_s"] = result["seconds"] + missing * sum(result["per_step_s"].values())
    shown = {k: v for k, v in result.items() if k != "out"}
    print(f"   {device} {size[0]}×{size[1]}: {json.dumps(shown)}", flush=True)
    return result


def run() -> dict[str, Any]:
    import torch
    from PIL import Image

    from render.detail import detail_ratio

    raw: dict[str, Any] = {}
    lines: list[tuple[str, Any, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-print-") as tmp:
        folder = Path(tmp)
        print("== print: the booth painting (HQ 384×512)", flush=True)
        composite, painting = booth_painting(folder)
        for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
            print(f"== print: tee at 150 DPI on {device}", flush=True)
            tee = measure(folder, composite, painting, TEE_150, device, default_steps())
            tee["detail_ratio"] = detail_ratio(Image.open(tee["out"]), Image.open(painting))
            steps = SHORT_STEPS if device == "cpu" else default_steps()
            print(f"== print: tee at 300 DPI on {device}", flush=True)
            big = measure(folder, composite, painting, TEE_300, device, steps)
            raw[device] = {"tee_150": _plain(tee), "tee_300": _plain(big)}
            lines += _rows(device, tee, big, steps)
    return {"rows": figures(*lines), "raw": raw}


def _rows(
    device: str, tee: dict[str, Any], big: dict[str, Any], steps: int
) -> list[tuple[str, Any, str, str]]:
    cpu = device == "cpu"
    load = f"load {tee['load_before']:.1f} to {tee['load_after']:.1f}"
    if steps == default_steps():
        big_time = (f"tee 3600×4800 (300 DPI) print render, {device}", round(big["seconds"]))
    else:
        big_time = (
            f"tee 3600×4800 (300 DPI), {device}: run with {steps} steps per stage, "
            f"the time for {default_steps()} projected from its per-step times",
            round(big["projected_s"]),
        )
    return [
        (f"tee 1800×2400 (150 DPI) print render, {device} ({load})", round(tee["seconds"]), "s",
         "≤ 600" if cpu else ""),
        (f"tee 1800×2400 peak RSS, {device}", round(tee["peak_rss_mb"]), "MB",
         "≤ 4096" if cpu else ""),
        (f"tee 1800×2400 longest gap between pause() calls, {device}",
         round(tee["max_gap_s"], 2), "s", "≤ 2"),
        (f"tee 1800×2400 detail (high-frequency energy) / Lanczos enlargement, {device}",
         round(tee["detail_ratio"], 1), "×", "≥ 2"),
        (*big_time, "s", ""),
        (f"tee 3600×4800 peak RSS, {device}", round(big["peak_rss_mb"]), "MB", ""),
    ]  # fmt: skip


def default_steps() -> int:
    """Steps per stage of the default ``PrintOptions`` (what the booth renders with)."""
    from render.print_master import PrintOptions

    return PrintOptions().steps


def _plain(result: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in result.items()}


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        child(sys.argv[2:])
    else:
        run_alone(run)
