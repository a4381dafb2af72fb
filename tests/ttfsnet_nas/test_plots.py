"""Plot helpers: limits zoomed to the data, readable labels, fitness in percent, PNGs written."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ttfsnet_nas.plots import (
    axis_label,
    fitness_axis,
    plot_bars,
    plot_curves,
    plot_fitness,
    zoomed_limits,
)
from ttfsnet_nas.search import RoundStats

PNG = b"\x89PNG\r\n\x1a\n"


def test_limits_are_zoomed_to_values_and_error_bars() -> None:
    lo, hi = zoomed_limits([80.0, 84.0], [1.0, 2.0], margin=0.1)
    # data span 79 … 86 (value ∓ error), widened by 10 % of 7 on each side; not from 0
    assert lo == pytest.approx(79.0 - 0.7) and hi == pytest.approx(86.0 + 0.7)
    assert lo > 0


def test_limits_ignore_nan_and_clip_to_bounds() -> None:
    lo, hi = zoomed_limits([99.0, math.nan, 97.0], [2.0, 5.0, math.nan], lower=0.0, upper=100.0)
    assert hi == 100.0 and lo == pytest.approx(97.0 - 0.15 * 4.0)


def test_limits_of_equal_values_still_have_a_range() -> None:
    lo, hi = zoomed_limits([50.0, 50.0])
    assert lo < 50.0 < hi
    with pytest.raises(ValueError, match="no finite value"):
        zoomed_limits([math.nan])


def test_axis_labels_are_readable() -> None:
    assert axis_label("war_uar") == "Fitness (WAR+UAR)/2, %"
    assert axis_label("energy_mj") == "Energy (mJ)"
    assert axis_label("latency_ms") == "Latency (ms)"
    assert axis_label("some_new_metric") == "Some new metric"


def test_fitness_in_percent_only_when_it_is_a_fraction() -> None:
    assert fitness_axis("weighted", ["war_uar"], {"war_uar": 1.0}) == (100.0, "Fitness (WAR+UAR)/2, %")
    scale, label = fitness_axis("weighted", ["war", "uar"], {"war": 0.5, "uar": 0.5})
    assert scale == 100.0 and label.endswith("%")
    assert fitness_axis("weighted", ["war_uar", "energy_mj"], {"war_uar": 1.0, "energy_mj": 0.1})[0] == 1.0
    assert fitness_axis("weighted", ["war"], {"war": 2.0})[0] == 1.0  # 2·WAR is no percentage
    assert fitness_axis("pareto", ["war_uar", "energy_mj"]) == (100.0, "Fitness (WAR+UAR)/2, %")
    assert fitness_axis("power", ["accuracy", "spikes"])[0] == 1.0


def test_figures_are_written(tmp_path: Path) -> None:
    stats = [RoundStats(r, 4, 0.5 + 0.1 * r, 0.4, 0.5 + 0.1 * r) for r in range(3)]
    assert plot_fitness(stats, tmp_path / "f.png", scale=100.0).read_bytes().startswith(PNG)
    bars = plot_bars(["A", "B"], {"WAR": ([70.0, math.nan], [1.0, math.nan]), "UAR": ([71.0, 72.0], None)},
                     tmp_path / "b.png", ylabel="%", caption="one seed: test-window std", percent=True)
    assert bars.read_bytes().startswith(PNG)
    curves = plot_curves({"best": ([0, 1], [50.0, 60.0], [1.0, 2.0]), "mean": ([0, 1], [40.0, 45.0], None)},
                         tmp_path / "c.png", xlabel="Search round", ylabel="%")
    assert curves.read_bytes().startswith(PNG)
