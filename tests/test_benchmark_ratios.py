"""The ratio targets of ``benchmarks/`` gate a run: ``ratios.py`` and ``pytest --ratio-check`` fail on a
missed target and pass on a met one (synthetic benchmark JSON, or targets no timing can miss or meet)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_ratios() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_ratios", ROOT / "benchmarks" / "ratios.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ratios = _load_ratios()


def _bench(name: str, median: float, **extra: Any) -> dict[str, Any]:
    return {"name": name, "stats": {"median": median, "min": median}, "extra_info": extra}


def _run(snn_median: float, target: float = 1.3, rate: float = 5000.0) -> dict[str, Any]:
    return {
        "benchmarks": [
            _bench("test_ann_forward", 1.0),
            _bench("test_snn_forward", snn_median, reference="test_ann_forward", target=target),
            _bench("test_loader", 0.1, samples_per_s=rate, min_samples_per_s=2000),
        ]
    }


def test_met_targets_pass() -> None:
    assert ratios.missed_targets(_run(snn_median=1.2)) == []


def test_a_ratio_above_its_target_is_missed() -> None:
    missed = ratios.missed_targets(_run(snn_median=1.5))
    assert missed == ["test_snn_forward: median time / test_ann_forward = 1.500, above the target 1.3"]


def test_a_throughput_below_its_floor_is_missed() -> None:
    missed = ratios.missed_targets(_run(snn_median=1.0, rate=1500.0))
    assert len(missed) == 1 and missed[0].startswith("test_loader: 1,500 samples/s, below the floor 2,000")


def test_a_target_whose_reference_did_not_run_is_missed() -> None:
    data = _run(snn_median=1.0)
    data["benchmarks"].pop(0)
    missed = ratios.missed_targets(data)
    expected = "test_snn_forward: reference benchmark 'test_ann_forward' is not in this run (run it too)"
    assert missed == [expected]


@pytest.mark.parametrize(("snn_median", "code"), [(1.2, 0), (1.5, 1)])
def test_script_exit_status(tmp_path: Path, snn_median: float, code: int) -> None:
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(_run(snn_median)), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ratios.py"), str(path)], capture_output=True, text=True
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert ("EXCEEDED" in proc.stdout) == (code == 1)


_FAKE_BENCH = """
import pytest

pytestmark = pytest.mark.benchmark(group="fake")


def test_reference(benchmark):
    benchmark.pedantic(sum, args=(range(10),), rounds=3)


def test_subject(benchmark):
    benchmark.extra_info["reference"] = "test_reference"
    benchmark.extra_info["target"] = {target}
    benchmark.pedantic(sum, args=(range(10),), rounds=3)
"""


@pytest.mark.parametrize(("target", "code"), [("1e9", 0), ("1e-9", 1)])
def test_pytest_ratio_check_option(tmp_path: Path, target: str, code: int) -> None:
    """``--ratio-check`` (benchmarks/conftest.py) fails the pytest run on a missed target. The targets are so
    far from any real ratio (10⁹ and 10⁻⁹) that the timing cannot change the outcome."""
    shutil.copy(ROOT / "benchmarks" / "conftest.py", tmp_path / "conftest.py")
    shutil.copy(ROOT / "benchmarks" / "ratios.py", tmp_path / "ratios.py")
    (tmp_path / "test_bench_fake.py").write_text(_FAKE_BENCH.format(target=target), encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    # an xdist worker's variables would make pytest-benchmark disable itself in the child run
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark-only", "--ratio-check",
         "-p", "no:xdist", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert ("missed: test_subject: median time / test_reference" in proc.stdout) == (code == 1)
    assert "ratio check:" in proc.stdout
