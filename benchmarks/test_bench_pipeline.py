"""The main job's cost: wall time and peak memory of ``ttfsnet-nas search demo`` (synthetic data).

Runs the whole demo once in a subprocess (data generation included, fresh data folder), so it takes a few
minutes. Targets from the issue: at most 10 minutes on 2 CPU cores and under 4 GB peak memory; both are
recorded in ``extra_info`` (wall time is machine-dependent, so it is reported rather than gated here).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark(group="pipeline-demo")


def test_bench_demo_pipeline(benchmark, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = {**os.environ, "TTFSNET_DATA": str(tmp_path / "data")}
    command = [sys.executable, "-m", "ttfsnet_nas", "--quiet", "search", "demo", "--out", str(out)]

    def run() -> None:
        subprocess.run(command, env=env, check=True, capture_output=True)

    benchmark.pedantic(run, rounds=1, iterations=1)
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux
    summary = json.loads((out / "result.json").read_text(encoding="utf-8"))
    benchmark.extra_info["peak_rss_gb"] = round(peak_gb, 3)
    benchmark.extra_info["wall_s"] = round(benchmark.stats.stats.max, 1)
    metrics = summary["metrics"]
    benchmark.extra_info["snn_test_war"] = round(metrics["war"], 4)
    benchmark.extra_info["snn_test_uar"] = round(metrics["uar"], 4)
    benchmark.extra_info["snn_ann_agreement"] = metrics["snn_ann_agreement"]
    assert peak_gb < 4.0
