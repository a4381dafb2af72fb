"""Seed statistics against a fake evaluator whose answer is known in closed form."""

from __future__ import annotations

import math

import pytest

from ttfsnet_nas.emotion.seed_stats import (
    SeedSample,
    compare_methods,
    seed_stats,
    seed_stats_from_summaries,
)

# method → WAR of each training seed; each seed's test runs scatter ±d around it (d per seed below)
SEED_WAR = {"searched": [0.6, 0.7, 0.8], "fixed": [0.5, 0.5, 0.5]}
WINDOW_D = [0.01, 0.02, 0.03]
RUNS = 4


def fake_evaluator(method: str, seed: int, run: int) -> dict[str, float]:
    """Test run ``run`` of the network trained with ``seed``: its seed's WAR + d on even runs, − d on odd
    ones, so a seed's mean is exactly its WAR and its sample std over 4 runs is 2d/√3."""
    d = WINDOW_D[seed] * (1 if run % 2 == 0 else -1)
    war = SEED_WAR[method][seed] + d
    out = {"war": war, "uar": war - 0.1}
    if seed != 1:  # seed 1 has no HDR sequence: the metric is undefined there
        out["lighting/hdr"] = 0.9
    else:
        out["lighting/hdr"] = math.nan
    return out


def _evaluate_all() -> dict[str, list[list[dict[str, float]]]]:
    return {
        method: [[fake_evaluator(method, s, r) for r in range(RUNS)] for s in range(len(WINDOW_D))]
        for method in SEED_WAR
    }


def test_across_seed_mean_and_std_are_the_seed_level_answer() -> None:
    stats = compare_methods(_evaluate_all())
    searched = stats["searched"]
    assert searched.seeds == 3 and searched.runs == (4, 4, 4)
    assert searched.mean["war"] == pytest.approx(0.7, abs=1e-12)
    assert searched.std["war"] == pytest.approx(0.1, abs=1e-12)  # sample std of 0.6, 0.7, 0.8
    assert searched.mean["uar"] == pytest.approx(0.6, abs=1e-12)
    assert stats["fixed"].std["war"] == pytest.approx(0.0, abs=1e-12)
    assert searched.error("war") == (searched.std["war"], "std across seeds")


def test_window_spread_is_reported_separately() -> None:
    searched = compare_methods(_evaluate_all())["searched"]
    # per seed: ±d over 4 runs → sample std sqrt(4 d² / 3) = 2d/√3; mean over seeds of d is 0.02
    expected = 2 * 0.02 / math.sqrt(3)
    assert searched.window_std["war"] == pytest.approx(expected, abs=1e-12)
    # the window spread does not leak into the across-seed std (and vice versa)
    assert searched.window_std["war"] != pytest.approx(searched.std["war"], abs=1e-3)


def test_undefined_metrics_are_left_out_per_seed() -> None:
    searched = compare_methods(_evaluate_all())["searched"]
    assert searched.mean["lighting/hdr"] == pytest.approx(0.9)
    assert searched.std["lighting/hdr"] == pytest.approx(0.0)  # two defined seeds, both 0.9
    assert searched.window_std["lighting/hdr"] == pytest.approx(0.0)


def test_one_seed_has_no_across_seed_std_and_says_so() -> None:
    one = seed_stats([[fake_evaluator("searched", 2, r) for r in range(RUNS)]])
    assert one.seeds == 1 and math.isnan(one.std["war"])
    err, kind = one.error("war")
    assert kind == "test-window std" and err == pytest.approx(2 * 0.03 / math.sqrt(3), abs=1e-12)


def test_summaries_give_the_same_answer_as_runs() -> None:
    per_seed = _evaluate_all()["searched"]
    direct = seed_stats(per_seed)
    summaries = []
    for runs in per_seed:
        wars = [r["war"] for r in runs]
        mean = sum(wars) / len(wars)
        std = math.sqrt(sum((w - mean) ** 2 for w in wars) / (len(wars) - 1))
        summaries.append(SeedSample(mean={"war": mean}, std={"war": std}, runs=len(runs)))
    via = seed_stats_from_summaries(summaries)
    assert via.mean["war"] == pytest.approx(direct.mean["war"], abs=1e-12)
    assert via.std["war"] == pytest.approx(direct.std["war"], abs=1e-12)
    assert via.window_std["war"] == pytest.approx(direct.window_std["war"], abs=1e-12)


def test_empty_input_is_refused() -> None:
    with pytest.raises(ValueError, match="no seed"):
        seed_stats([])
    with pytest.raises(ValueError, match="no test run"):
        seed_stats([[]])
