"""Run every area's benchmark once, write benchmarks/results.json and the README table.

Usage: ``python -m benchmarks.run [AREA ...]`` (default: all). Areas already measured keep
their previous results in the JSON when only some are run.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.json"
README = ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
AREAS = {
    "style": "benchmarks.bench_style",
    "cutout": "benchmarks.bench_cutout",
    "export": "benchmarks.bench_export",
    "booth": "benchmarks.bench_booth",
    "uploads": "benchmarks.bench_uploads",
    "sockets": "benchmarks.bench_sockets",
    "print": "benchmarks.bench_print",
    "queue": "benchmarks.bench_queue",
    "fleet": "benchmarks.bench_fleet",
    "occupancy": "benchmarks.bench_occupancy",
}


CPU_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")


def cpu() -> dict[str, Any]:
    """The CPU's model and the flags that decide bf16 speed (AMX, AVX-512 BF16): figures from
    two CPUs are not comparable, only ratios measured in one run."""
    model, flags = platform.processor() or platform.machine(), set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in {"", platform.machine()}:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {"cpu": model, "cpu_flags": [flag for flag in CPU_FLAGS if flag in flags]}


def loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    import torch

    from render.device import bf16_supported, pick_device

    device = pick_device("auto")
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        **cpu(),
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "cpu_threads": torch.get_num_threads(),
        "bf16": bf16_supported(device),
        "date": time.strftime("%Y-%m-%d"),
        "loadavg_before": loadavg(),
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def row(metric: str, value: Any, *, unit: str = "", target: str = "") -> dict[str, Any]:
    """One line of an area's results: what ``table`` writes into the README."""
    return {"metric": metric, "value": value, "unit": unit, "target": target}


def figures(*lines: tuple[str, Any, str, str]) -> list[dict[str, Any]]:
    """An area's rows from ``(metric, value, unit, target)`` lines, one line per figure."""
    return [row(metric, value, unit=unit, target=target) for metric, value, unit, target in lines]


def print_rows(rows: list[dict[str, Any]]) -> None:
    """An area's rows on the terminal (``python -m benchmarks.bench_AREA`` run alone)."""
    for line in rows:
        print(f"{line['metric']:66} {_fmt(line['value']):>9} {line['unit']:6} {line['target']}")


def run_alone(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``python -m benchmarks.bench_AREA``: one area's ``run`` alone, what it found printed."""
    result = run()
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2, default=str))
    print_rows(result["rows"])
    return result


def table(results: dict[str, Any]) -> str:
    lines = ["| area | metric | value | target |", "| --- | --- | --- | --- |"]
    for area, result in results.get("areas", {}).items():
        for row in result.get("rows", []):
            value = f"{_fmt(row['value'])} {row.get('unit', '')}".strip()
            lines.append(f"| {area} | {row['metric']} | {value} | {row.get('target', '')} |")
    info = results.get("machine", {})
    lines.append("")
    for area, result in results.get("areas", {}).items():
        where = result.get("machine")
        if where:
            flags = ", ".join(where.get("cpu_flags", [])) or "no AMX/AVX-512"
            lines.append(
                f"- {area}: {where.get('cpu', '?')} ({flags}), load average before "
                f"{where.get('loadavg_before')}, after {where.get('loadavg_after')}"
            )
        else:
            lines.append(f"- {area}: an earlier run; its CPU was not recorded")
    lines.append("")
    lines.append(
        f"Last run {info.get('date', '?')} on {info.get('cpu', '?')} "
        f"(flags: {', '.join(info.get('cpu_flags', [])) or 'none of AMX/AVX-512'}; device "
        f"{info.get('device', '?')}, {info.get('cpu_threads', '?')} threads, bf16 "
        f"{info.get('bf16', '?')}), torch {info.get('torch', '?')}, load average before "
        f"{info.get('loadavg_before', '?')}. Each area's own machine and load are in "
        "benchmarks/results.json."
    )
    return "\n".join(lines)


def write_readme(results: dict[str, Any]) -> None:
    text = README.read_text()
    block = f"{START}\n{table(results)}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n## Benchmarks\n\n`make bench` runs them all.\n\n" + block + "\n"
    README.write_text(text)


def main(argv: list[str]) -> int:
    chosen = argv or list(AREAS)
    unknown = set(chosen) - AREAS.keys()
    if unknown:
        print(f"unknown areas: {sorted(unknown)}; known: {list(AREAS)}", file=sys.stderr)
        return 2
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"areas": {}}
    results["machine"] = machine()
    for area in chosen:
        print(f"== {area}", flush=True)
        started, load = time.perf_counter(), loadavg()
        result = importlib.import_module(AREAS[area]).run()
        result["seconds"] = round(time.perf_counter() - started, 1)
        result["machine"] = {**cpu(), "loadavg_before": load, "loadavg_after": loadavg()}
        results["areas"][area] = result
        RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    write_readme(results)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
