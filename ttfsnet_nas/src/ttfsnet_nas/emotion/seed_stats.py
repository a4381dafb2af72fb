"""Statistics over training seeds, kept apart from the test-window spread (numpy only, no torch).

A method (one recipe) is trained once per seed; each trained network is tested R times with fresh random
temporal windows (TNAS-ER/SEEN: R = 20). Two spreads follow, and they answer different questions:

* **across seeds** – the sample std (ddof = 1) of the per-seed means: how much the *method's* result moves
  when it is trained again. This is the error bar that can separate two methods.
* **test windows** – the mean over seeds of the within-run std: how much *one trained network's* score moves
  when its test windows are redrawn. It says nothing about retraining and is reported separately.

[`seed_stats`][ttfsnet_nas.emotion.seed_stats.seed_stats] takes, per seed, the metrics of every test run;
[`seed_stats_from_summaries`][ttfsnet_nas.emotion.seed_stats.seed_stats_from_summaries] takes per-seed means
and stds that were already aggregated (a run's ``test/summary.json``, a SEEN result folder).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SeedSample", "SeedStats", "compare_methods", "seed_stats", "seed_stats_from_summaries"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SeedSample:
    """One seed's result: mean and within-run std over its R test runs.

    Attributes:
        mean: metric → mean over the seed's test runs (NaN where undefined).
        std: metric → sample std over the test runs (the test-window spread; may lack metrics that are not
            measured per run, such as parameter counts).
        runs: number of test runs.
    """

    mean: Mapping[str, float]
    std: Mapping[str, float]
    runs: int


@dataclass(frozen=True, kw_only=True, slots=True)
class SeedStats:
    """A method's result over its training seeds.

    Attributes:
        mean: metric → mean over seeds of each seed's mean over its test runs.
        std: metric → sample std (ddof = 1) across the seeds' means; NaN with fewer than two seeds, where the
            spread over retraining is unknown.
        window_std: metric → mean over seeds of the within-run (test-window) std; NaN where no seed recorded
            one.
        seeds: number of seeds.
        runs: test runs of each seed.
    """

    mean: dict[str, float]
    std: dict[str, float]
    window_std: dict[str, float]
    seeds: int
    runs: tuple[int, ...]

    def error(self, key: str) -> tuple[float, str]:
        """The error bar of ``key`` and what it measures: the std across seeds with two or more seeds, else
        the test-window std (``"test-window std"``), so a caller can label it truthfully."""
        if self.seeds >= 2:
            return self.std.get(key, math.nan), "std across seeds"
        return self.window_std.get(key, math.nan), "test-window std"


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if len(arr) else math.nan


def _nanstd(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(arr.std(ddof=1)) if len(arr) >= 2 else math.nan


def _value(mapping: Mapping[str, float | None], key: str) -> float:
    value = mapping.get(key)
    return math.nan if value is None else float(value)


def seed_stats_from_summaries(samples: Sequence[SeedSample]) -> SeedStats:
    """Across-seed mean and std of the per-seed means, and the mean within-run std, of every metric.

    Metrics missing from a seed count as undefined there (NaN) and are left out of that metric's statistics.

    Raises:
        ValueError: if ``samples`` is empty.
    """
    if not samples:
        raise ValueError("seed statistics: no seed")
    keys = list(dict.fromkeys(k for s in samples for k in s.mean))
    mean = {k: _nanmean([_value(s.mean, k) for s in samples]) for k in keys}
    std = {k: _nanstd([_value(s.mean, k) for s in samples]) for k in keys}
    window = {k: _nanmean([_value(s.std, k) for s in samples]) for k in keys}
    return SeedStats(mean=mean, std=std, window_std=window, seeds=len(samples),
                     runs=tuple(s.runs for s in samples))


def _sample(runs: Sequence[Mapping[str, float]]) -> SeedSample:
    if not runs:
        raise ValueError("seed statistics: a seed has no test run")
    keys = list(dict.fromkeys(k for r in runs for k in r))
    mean: dict[str, float] = {}
    std: dict[str, float] = {}
    for k in keys:
        values = [_value(r, k) for r in runs]
        mean[k] = _nanmean(values)
        defined = [v for v in values if not math.isnan(v)]
        # one run has no spread over windows (0, as metrics.aggregate_runs says); none: undefined
        std[k] = _nanstd(defined) if len(defined) >= 2 else (0.0 if defined else math.nan)
    return SeedSample(mean=mean, std=std, runs=len(runs))


def seed_stats(per_seed: Sequence[Sequence[Mapping[str, float]]]) -> SeedStats:
    """Statistics of one method from the metrics of every test run of every seed.

    Args:
        per_seed: one entry per training seed, each the list of that seed's test runs (metric → value, e.g.
            [`RunMetrics.as_dict`][ttfsnet_nas.emotion.metrics.RunMetrics.as_dict]).

    Raises:
        ValueError: if there is no seed or a seed has no run.
    """
    return seed_stats_from_summaries([_sample(runs) for runs in per_seed])


def compare_methods(methods: Mapping[str, Sequence[Sequence[Mapping[str, float]]]]) -> dict[str, SeedStats]:
    """[`seed_stats`][ttfsnet_nas.emotion.seed_stats.seed_stats] of every method (method → seeds → runs)."""
    return {name: seed_stats(per_seed) for name, per_seed in methods.items()}
