"""Print each benchmark's time ratio against its reference benchmark, from ONE pytest-benchmark run.

The machine is shared and noisy, so speed targets are ratios of two benchmarks measured in the same run
(e.g. TTFS forward / ReLU forward), never absolute times. A benchmark declares its reference and optional
target in ``benchmark.extra_info``::

    benchmark.extra_info["reference"] = "test_ann_forward"   # name of the reference benchmark
    benchmark.extra_info["target"] = 1.3                     # optional: ratio must not exceed this
    benchmark.extra_info["label"] = "TTFS forward / ANN"     # optional: the row's name in the table

Usage::

    pytest benchmarks --benchmark-only --benchmark-json=bench.json
    python benchmarks/ratios.py bench.json            # or a file saved by --benchmark-autosave

A throughput benchmark (the batch loader) instead reports ``samples_per_s`` with an absolute floor
``min_samples_per_s`` in ``extra_info``; it is printed in its own section, against that floor.

Exit status 1 when a ratio exceeds its target or a throughput falls below its floor (:func:`missed_targets`).
The same check runs inside pytest with ``pytest benchmarks --benchmark-only --ratio-check`` (see
``benchmarks/conftest.py``), so one command measures and gates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _latest_autosave() -> Path:
    runs = sorted(Path(".benchmarks").glob("*/*.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SystemExit("ratios.py: no benchmark JSON given and none found under .benchmarks/")
    return runs[-1]


def ratio_rows(data: dict[str, Any], stat: str = "median") -> list[tuple[str, str, float, float | None]]:
    """Return ``(name, reference, ratio, target)`` for every benchmark that names a reference."""
    by_name = {b["name"]: b for b in data["benchmarks"]}
    rows = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        ref_name = info.get("reference")
        if ref_name is None:
            continue
        if ref_name not in by_name:
            raise SystemExit(
                f"ratios.py: {bench['name']}: reference benchmark {ref_name!r} is not in this run"
            )
        ratio = bench["stats"][stat] / by_name[ref_name]["stats"][stat]
        rows.append((bench["name"], ref_name, ratio, info.get("target")))
    return rows


def throughput_rows(data: dict[str, Any]) -> list[tuple[str, float, float]]:
    """Return ``(name, samples_per_s, min_samples_per_s)`` for every benchmark that declares a floor."""
    rows = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if "min_samples_per_s" in info:
            rows.append((bench["name"], float(info["samples_per_s"]), float(info["min_samples_per_s"])))
    return rows


def missed_targets(data: dict[str, Any], stat: str = "median") -> list[str]:
    """One line per missed target of a pytest-benchmark run (its JSON, or the same ``{"benchmarks": [...]}``
    shape): a ratio above its ``target``, a throughput below its ``min_samples_per_s``, or a target that
    cannot be checked because its reference benchmark is not in the run. Empty when every target is met.
    """
    names = {b["name"] for b in data["benchmarks"]}
    missed = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        ref = info.get("reference")
        if ref is not None and info.get("target") is not None and ref not in names:
            missed.append(f"{bench['name']}: reference benchmark {ref!r} is not in this run (run it too)")
    checkable = [
        b for b in data["benchmarks"] if b.get("extra_info", {}).get("reference", b["name"]) in names
    ]
    for name, ref, ratio, target in ratio_rows({"benchmarks": checkable}, stat):
        if target is not None and ratio > target:
            missed.append(f"{name}: {stat} time / {ref} = {ratio:.3f}, above the target {target:g}")
    for name, rate, floor in throughput_rows(data):
        if rate < floor:
            missed.append(f"{name}: {rate:,.0f} samples/s, below the floor {floor:,.0f}")
    return missed


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else _latest_autosave()
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = ratio_rows(data)
    failed = bool(missed_targets(data))
    print(f"{'benchmark':55s} {'reference':35s} {'ratio':>7s} {'target':>7s}")
    labels = {b["name"]: b.get("extra_info", {}).get("label") for b in data["benchmarks"]}
    for name, ref, ratio, target in rows:
        ok = target is None or ratio <= target
        target_text = "-" if target is None else f"{target:.2f}"
        shown = labels[name] or name
        print(f"{shown:55s} {ref:35s} {ratio:7.3f} {target_text:>7s}{'' if ok else '  EXCEEDED'}")
    loader = throughput_rows(data)
    if loader:
        print(f"\n{'loader throughput':55s} {'samples/s':>10s} {'target':>10s}")
    for name, rate, floor in loader:
        ok = rate >= floor
        verdict = f"meets >= {floor:,.0f}" if ok else f"BELOW {floor:,.0f}"
        print(f"{name:55s} {rate:10,.0f} {verdict:>10s}")
    for bench in data["benchmarks"]:
        shown_above = ("reference", "target", "label")
        extra = {k: v for k, v in bench.get("extra_info", {}).items() if k not in shown_above}
        if extra:
            print(f"  {bench['name']}: {extra}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
