"""benchmarks/paper/architecture_spread.py: the seed statistics and the resume, with a fake trainer whose
answers are known (no torch training; seconds)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "paper" / "architecture_spread.py"


@pytest.fixture(scope="module")
def spread() -> ModuleType:
    spec = importlib.util.spec_from_file_location("architecture_spread", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# WAR of (architecture, seed): architecture "a" is the best on every seed, "c" the worst.
WAR = {
    "a": {0: 0.80, 1: 0.70, 2: 0.90},
    "b": {0: 0.60, 1: 0.60, 2: 0.60},
    "c": {0: 0.50, 1: 0.55, 2: 0.45},
}
ARCHS = [{"g0b0": name} for name in WAR]


class FakeTrainer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, arch: Mapping[str, str], seed: int) -> dict[str, float]:
        self.calls.append((arch["g0b0"], seed))
        return {"war": WAR[arch["g0b0"]][seed], "uar": WAR[arch["g0b0"]][seed] - 0.1}


def test_statistics_of_known_answers(spread: ModuleType, tmp_path: Path) -> None:
    trainer = FakeTrainer()
    results = spread.measure(ARCHS, [0, 1, 2], trainer, tmp_path)
    stats = spread.spread_statistics(results, "war")

    a, b, c = (spread.arch_key(x) for x in ARCHS)
    assert stats["per_arch"][a]["mean"] == pytest.approx(0.80)
    assert stats["per_arch"][a]["std"] == pytest.approx(0.10)  # sample std of 0.8, 0.7, 0.9
    assert stats["per_arch"][b]["std"] == pytest.approx(0.0)
    assert stats["per_arch"][c]["std"] == pytest.approx(0.05)
    # Spread per seed: max − min over the architectures of that seed.
    assert stats["spread_per_seed"] == pytest.approx({0: 0.30, 1: 0.15, 2: 0.45})
    assert stats["spread"]["mean"] == pytest.approx(0.30)
    assert stats["spread"]["std"] == pytest.approx(0.15)
    assert stats["spread_of_means"] == pytest.approx(0.30)
    assert stats["seed_std"]["mean"] == pytest.approx(0.05)
    assert stats["seed_std"]["max"] == pytest.approx(0.10)
    assert stats["ranking"] == [a, b, c]
    assert spread.spread_statistics(results, "uar")["per_arch"][a]["mean"] == pytest.approx(0.70)


def test_resume_skips_finished_results(spread: ModuleType, tmp_path: Path) -> None:
    first = FakeTrainer()
    spread.measure(ARCHS[:2], [0, 1], first, tmp_path)
    assert len(first.calls) == 4
    assert len(list((tmp_path / "results").glob("*.json"))) == 4

    again = FakeTrainer()
    results = spread.measure(ARCHS, [0, 1, 2], again, tmp_path)
    # Only what was missing is trained: arch c (3 seeds) and seed 2 of a and b.
    assert sorted(again.calls) == [("a", 2), ("b", 2), ("c", 0), ("c", 1), ("c", 2)]
    assert results[spread.arch_key(ARCHS[0])][1]["war"] == pytest.approx(0.70)

    saved = json.loads(next((tmp_path / "results").glob("*_seed0.json")).read_text())
    assert set(saved) == {"architecture", "seed", "metrics"}


def test_uneven_seeds_and_rank(spread: ModuleType) -> None:
    with pytest.raises(ValueError, match="same training seeds"):
        spread.spread_statistics({"x": {0: {"war": 0.5}}, "y": {1: {"war": 0.5}}})
    assert spread.rank_of(0.95, [0.9, 0.8]) == 1
    assert spread.rank_of(0.85, [0.9, 0.8]) == 2
    assert spread.rank_of(0.5, [0.9, 0.8]) == 3


def test_markdown_names_the_figures(spread: ModuleType, tmp_path: Path) -> None:
    results = spread.measure(ARCHS, [0, 1, 2], FakeTrainer(), tmp_path)
    war = spread.spread_statistics(results, "war")
    report = {
        "preset": "hard", "command": "python x", "date": "d", "machine": "m", "budget": {}, "test_runs": 5,
        "random_archs": 3, "war": war, "table_war": war,
        "table_uar": spread.spread_statistics(results, "uar"),
        "results": {k: {str(s): v for s, v in by.items()} for k, by in results.items()},
    }
    text = spread.markdown(report)
    assert "Synthetic data, not SEE/DSEE results." in text
    assert "**30.0 ± 15.0** points" in text
    assert "| 1 | `a` | — | 80.0 ± 10.0 | 70.0 ± 10.0 | 80.0, 70.0, 90.0 |" in text


def test_receptive_field_of_the_demo_backbone(spread: ModuleType) -> None:
    genes = [f"g{s}b{b}" for s in range(3) for b in range(2)]

    def rf(code: str) -> int | None:
        ops = {"3": "conv3x3", "5": "conv5x5", "s": "skip"}
        return spread.receptive_field({g: ops[c] for g, c in zip(genes, code.split(), strict=True)})

    # stem 5 px, the three poolings 1 + 2 + 4; a block adds (k − 1)·2^stage
    assert rf("s s s s s s") == 12
    assert rf("3 3 3 3 3 3") == 40
    assert rf("5 5 5 5 5 5") == 68
    assert rf("s s s s s 5") == 28 and rf("5 s s s s s") == 16
    assert spread.receptive_field({"g0b0": "sep_conv"}) is None
    assert spread.receptive_field({"block0": "skip"}) is None
