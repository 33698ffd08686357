"""Style engine benchmark: speed of every precision/layout choice, HQ and fast end to end, and
the plain Gatys baseline in the same run (speed ratio and how stylised / recognisable each is).

* seconds per HQ iteration (VGG19 forward + backward + losses) at 256 and 512 px, per device,
  precision (fp32, bf16 autocast), memory layout (NCHW, channels_last) and pooling;
* HQ end to end at 512 px long side: a fresh engine (cold: weights loaded, the painting's Gram
  targets computed) and the next guest (warm: targets from the cache);
* fast mode at 640×480 (style vector cached, as for a preset);
* the baseline: single-scale fp32 L-BFGS from noise, 300 steps, 512 px, Gatys's default
  weights (α = 5, β = 100, as in the classic neural-style implementation); its time, and the
  Gram (style) and conv4_2 (content) distances of both results to the painting and the photo,
  and the two side by side in docs/images/style_baseline_vs_hq.jpg.

Run alone: ``python -m benchmarks.bench_style``. The CPU may be shared: compare ratios.
``python -m benchmarks.bench_style contact-sheet`` renders docs/images/contact_sheet.jpg.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.run import row, run_alone
from render.files import sha256_bytes
from render.options import DEFAULT_HQ

if TYPE_CHECKING:
    from PIL import Image

    from render.stylize import StyleEngine

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STYLEBOOTH_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODEL_DIR = Path(os.environ.get("STYLEBOOTH_MODEL_DIR", ROOT / "data" / "models"))
PHOTO = SHARED / "people" / "astronaut.png"
PAINTING = SHARED / "styles" / "starry_night.jpg"
FAST_PHOTO = SHARED / "people" / "seaside.jpg"
HQ_SIZE = 512
ITERATION_SAMPLES = 4  # timed iterations per configuration (after one warm-up)

# The plain Gatys baseline: single scale, fp32, from noise, 300 L-BFGS steps, and the classic
# weights of the Caffe-VGG19 implementation (α = 5, β = 100, no TV).
BASELINE = replace(
    DEFAULT_HQ,
    content_weight=5.0,
    style_weight=100.0,
    relative_weights=False,
    scales=(1.0,),
    step_shares=(1.0,),
    steps=300,
    init="noise",
    restore_detail=False,
    match_palette=False,
    precision="fp32",
    channels_last=False,
)


def _load() -> float:
    return os.getloadavg()[0]


def seconds_per_iteration(engine: StyleEngine, size: int, **options: Any) -> float:
    """Median seconds between consecutive HQ iterations at one scale (setup excluded)."""
    stamps: list[float] = []
    engine.stylize(
        PHOTO,
        PAINTING,
        size=size,
        hq=replace(
            DEFAULT_HQ,
            steps=ITERATION_SAMPLES + 1,
            scales=(1.0,),
            step_shares=(1.0,),
            preview_every=0,
            **options,
        ),
        progress=lambda p: stamps.append(p.elapsed),
    )
    return statistics.median(b - a for a, b in itertools.pairwise(stamps))


def iteration_table(engine: StyleEngine, device: str) -> list[dict[str, Any]]:
    from render.device import bf16_supported

    variants = [("fp32", False, "max"), ("fp32", True, "max")]
    if bf16_supported(engine.device):
        variants += [("bf16", False, "max"), ("bf16", True, "max"), ("bf16", True, "avg")]
    rows = []
    for size in (256, 512):
        for precision, channels_last, pool in variants:
            if device == "cuda" and channels_last:
                continue
            seconds = seconds_per_iteration(
                engine, size, precision=precision, channels_last=channels_last, pool=pool
            )
            layout = "channels_last" if channels_last else "NCHW"
            rows.append(
                {
                    "device": device,
                    "size": size,
                    "precision": precision,
                    "layout": layout,
                    "pool": pool,
                    "seconds": round(seconds, 4),
                }
            )
            print(
                f"  {device} {size}px {precision} {layout} {pool}: {seconds:.3f} s/it", flush=True
            )
    return rows


def hq_end_to_end(model_dir: Path, device: str, cache_dir: Path) -> dict[str, Any]:
    from render.stylize import StyleEngine

    started = time.perf_counter()
    engine = StyleEngine(model_dir, device, cache_dir=cache_dir)
    cold_image = engine.stylize(PHOTO, PAINTING, size=HQ_SIZE)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    image = engine.stylize(PHOTO, PAINTING, size=HQ_SIZE)
    warm = time.perf_counter() - started
    assert cold_image.tobytes() == image.tobytes()  # the cache gives the same painting
    return {"cold_s": cold, "warm_s": warm, "image": image, "engine": engine}


def fast_latency(engine: StyleEngine) -> dict[str, float]:
    from PIL import Image, ImageOps

    photo = ImageOps.fit(Image.open(FAST_PHOTO).convert("RGB"), (640, 480))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()  # as the camera sends it: decoding is part of the latency
    started = time.perf_counter()
    first = engine.stylize(data, PAINTING, size=640, mode="fast")
    first_s = time.perf_counter() - started
    assert first.size == (640, 480)
    times = []
    for _ in range(10):
        started = time.perf_counter()
        engine.stylize(data, PAINTING, size=640, mode="fast")
        times.append(time.perf_counter() - started)
    weaker = []
    for _ in range(5):
        started = time.perf_counter()
        engine.stylize(data, PAINTING, size=640, mode="fast", strength=0.6)
        weaker.append(time.perf_counter() - started)
    return {
        "first_s": first_s,
        "median_s": statistics.median(times),
        "strength_median_s": statistics.median(weaker),
    }


def baseline(engine: StyleEngine) -> dict[str, Any]:
    started = time.perf_counter()
    image = engine.stylize(PHOTO, PAINTING, size=HQ_SIZE, hq=BASELINE, seed=0)
    return {"seconds": time.perf_counter() - started, "image": image}


def run() -> dict[str, Any]:
    import torch
    from PIL import Image

    from render.images import fit_long_side, load_image
    from render.losses import distances
    from render.stylize import StyleEngine

    load_before = _load()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out: dict[str, Any] = {"threads": torch.get_num_threads(), "iterations": [], "rows": []}
    rows = out["rows"]
    with tempfile.TemporaryDirectory(prefix="bench-style-") as tmp:
        for device in devices:
            engine = StyleEngine(MODEL_DIR, device, cache_dir=Path(tmp) / f"grams-{device}")
            print(f"== style: seconds per iteration on {device}", flush=True)
            out["iterations"] += iteration_table(engine, device)
            for r in out["iterations"]:
                if r["device"] == device and r["pool"] == "max":
                    rows.append(
                        row(
                            f"HQ iteration {r['size']} px, {device} {r['precision']} {r['layout']}",
                            r["seconds"],
                            unit="s",
                        )
                    )
            print(f"== style: HQ end to end on {device}", flush=True)
            hq = hq_end_to_end(MODEL_DIR, device, Path(tmp) / f"e2e-{device}")
            target = "≤ 2 s" if device == "cuda" else "≤ 30 s"
            rows.append(
                row(
                    f"HQ {HQ_SIZE} px end to end, {device} (next guest, cached style)",
                    round(hq["warm_s"], 2),
                    unit="s",
                    target=target,
                )
            )
            rows.append(
                row(
                    f"HQ {HQ_SIZE} px end to end, {device} (fresh engine, new style)",
                    round(hq["cold_s"], 2),
                    unit="s",
                )
            )
            out[f"hq_{device}"] = {"cold_s": hq["cold_s"], "warm_s": hq["warm_s"]}
            print(f"   warm {hq['warm_s']:.1f} s, cold {hq['cold_s']:.1f} s", flush=True)
            print(f"== style: fast mode on {device}", flush=True)
            fast = fast_latency(hq["engine"])
            out[f"fast_{device}"] = fast
            rows.append(
                row(
                    f"fast 640×480, {device} (median of 10)",
                    round(fast["median_s"] * 1000),
                    unit="ms",
                    target="≤ 150 ms" if device == "cpu" else "",
                )
            )
            print(f"   {fast['median_s'] * 1000:.0f} ms", flush=True)
            if device != "cpu":
                continue
            print("== style: the plain Gatys baseline (fp32, 300 steps, 512 px)", flush=True)
            base = baseline(engine)
            content = fit_long_side(load_image(PHOTO), HQ_SIZE)
            painting = load_image(PAINTING)
            vgg = engine.vgg("max")
            ours = distances(vgg, hq["image"], content, painting)
            theirs = distances(vgg, base["image"], content, painting)
            photo_itself = distances(vgg, content, content, painting)
            painting_itself = distances(
                vgg, painting.resize(content.size, Image.Resampling.LANCZOS), content, painting
            )
            side_by_side(
                [content, base["image"], hq["image"], painting],
                ["photo", "baseline (300 steps, fp32)", "HQ (our defaults)", "painting"],
            )
            out["baseline"] = {
                "seconds": base["seconds"],
                "options": BASELINE.__dict__,
                "distances": theirs.__dict__,
            }
            out["hq_options"] = DEFAULT_HQ.__dict__
            out["hq_distances"] = ours.__dict__
            out["photo_distances"] = photo_itself.__dict__
            out["painting_distances"] = painting_itself.__dict__
            out["speedup"] = base["seconds"] / hq["warm_s"]
            rows += [
                row(
                    "baseline 512 px (fp32, 1 scale, 300 steps)",
                    round(base["seconds"], 1),
                    unit="s",
                ),
                row("HQ speed-up over the baseline", round(out["speedup"], 1), unit="×"),
                row(
                    "style distance (Gram, to the painting): HQ / baseline",
                    f"{ours.style:.3f} / {theirs.style:.3f}",
                    target="HQ ≤ baseline",
                ),
                row(
                    "content distance (conv4_2, to the photo): HQ / baseline",
                    f"{ours.content:.3f} / {theirs.content:.3f}",
                    target="HQ clearly lower",
                ),
                row(
                    "for scale, photo / painting: style distance",
                    f"{photo_itself.style:.3f} / {painting_itself.style:.3f}",
                ),
                row(
                    "for scale, photo / painting: content distance",
                    f"{photo_itself.content:.3f} / {painting_itself.content:.3f}",
                ),
            ]
            print(f"   {base['seconds']:.0f} s; HQ {ours}, baseline {theirs}", flush=True)
    out["load_average"] = {"before": load_before, "after": _load()}
    return out


def side_by_side(
    images: list[Image.Image],
    captions: list[str],
    out: Path = ROOT / "docs" / "images" / "style_baseline_vs_hq.jpg",
    height: int = 300,
) -> Path:
    """The images in one row at ``height`` px, each captioned above."""
    from PIL import Image, ImageDraw, ImageOps

    label, pad = 18, 6
    thumbs = [ImageOps.contain(i.convert("RGB"), (10 * height, height)) for i in images]
    width = sum(t.width for t in thumbs) + pad * (len(thumbs) + 1)
    sheet = Image.new("RGB", (width, height + label + 2 * pad), "white")
    draw = ImageDraw.Draw(sheet)
    x = pad
    for thumb, caption in zip(thumbs, captions, strict=True):
        draw.text((x + 2, pad), caption, fill=(40, 40, 40))
        sheet.paste(thumb, (x, pad + label))
        x += thumb.width + pad
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, quality=80, optimize=True)
    return out


def contact_sheet(
    out: Path = ROOT / "docs" / "images" / "contact_sheet.jpg",
    cells: Path = ROOT / "tests" / "artifacts" / "contact_sheet",
    size: int = HQ_SIZE,
    tile: int = 160,
) -> Path:
    """Rows: the photos in shared/data/people; columns: the paintings in shared/data/styles.

    Every cell is a default HQ painting at ``size`` px (kept full size under ``cells``, and
    reused by a later call with the same options), shown shrunk to ``tile`` px.
    """

    from PIL import Image, ImageDraw, ImageOps

    from render.images import load_image
    from render.stylize import StyleEngine

    people = sorted(p for p in (SHARED / "people").iterdir() if "_mask" not in p.stem)
    paintings = sorted((SHARED / "styles").glob("*.jpg"))
    settings = json.dumps({"size": size, **DEFAULT_HQ.__dict__}, sort_keys=True)
    version = sha256_bytes(settings.encode())[:8]
    cells.mkdir(parents=True, exist_ok=True)
    engine = StyleEngine(MODEL_DIR)
    label, pad = 16, 4
    sheet = Image.new(
        "RGB",
        ((len(paintings) + 1) * (tile + pad) + pad, (len(people) + 1) * (tile + label + pad) + pad),
        "white",
    )
    draw = ImageDraw.Draw(sheet)

    def place(image: Image.Image, line: int, column: int, caption: str = "") -> None:
        x, y = pad + column * (tile + pad), pad + line * (tile + label + pad)
        thumb = ImageOps.contain(image, (tile, tile), Image.Resampling.LANCZOS)
        sheet.paste(thumb, (x + (tile - thumb.width) // 2, y + label + (tile - thumb.height) // 2))
        draw.text((x + 2, y + 2), caption[:28], fill=(40, 40, 40))

    for column, painting in enumerate(paintings, start=1):
        place(load_image(painting), 0, column, painting.stem.replace("_", " "))
    for line, person in enumerate(people, start=1):
        place(load_image(person), line, 0, person.stem)
        for column, painting in enumerate(paintings, start=1):
            cell = cells / f"{person.stem}__{painting.stem}__{version}.png"
            if not cell.is_file():
                started = time.perf_counter()
                engine.stylize(person, painting, size=size).save(cell)
                print(f"  {cell.name}: {time.perf_counter() - started:.0f} s", flush=True)
            place(Image.open(cell).convert("RGB"), line, column)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, quality=66, optimize=True, progressive=True)
    return out


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["contact-sheet"]:
        print(contact_sheet())
        raise SystemExit(0)
    run_alone(run)
