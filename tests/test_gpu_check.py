"""``benchmarks/gpu_check.py`` stays runnable: its CPU smoke mode runs end to end and reports every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_quick_on_cpu(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--quick", "--device", "cpu",
         "--json", str(figures)],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(figures.read_text())
    assert report["device"] == "cpu"
    assert set(report["convert max |SNN - ANN| logits"]) == {"float64", "float32 tf32 off", "float32 tf32 on"}
    # --quick backbone (width 8, ~8 convs of fan-in ≤ 72): ≲ eps·Σfan_in·|preact| ≈ 2.2e-16·600·~1 ≈ 1.3e-13
    # (check_convert measured 0.0 on CPU); 1e-12 leaves ~8x.
    assert report["convert max |SNN - ANN| logits"]["float64"] < 1e-12
    ratios = report["forward ratios"]["batch 96"]
    assert ratios["snn/ann"] > 0 and ratios["run()/ann"] > 0
    assert report["supernet samples/s"]["fp32"] > 0 and report["loader samples/s"]["0 workers"] > 0
    assert set(report["cut-down run"]["stage_seconds"]) == {"supernet", "search", "retrain", "snn", "test"}
    projection = report["projection minutes (full see-synthetic)"]
    assert projection["total"] == pytest.approx(sum(v for k, v in projection.items() if k != "total"))
    assert "projection, full see-synthetic recipe" in proc.stdout


def test_gpu_check_refuses_a_missing_device() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "gpu"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("gpu_check: --device")
