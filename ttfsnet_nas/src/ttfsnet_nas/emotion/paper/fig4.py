"""Fig. 4 of TNAS-ER: search curves in the ANN domain and the SNN domain (TNAS-ER §4.3: candidates scored on
the ReLU subnet, or on its TTFS conversion).

Inputs are run folders (``search/search.json``); a run's domain is its recipe's ``search.domain`` (``ann``
when the key is absent). Per round, the curves show the best fitness found so far and the round's mean, in
percent when the fitness is a fraction (``war_uar``: (WAR + UAR) / 2 on the search split), each the mean over
the seeds of a method and domain with the std across seeds as error bars (none with one seed: a search curve
has no test-window spread).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ttfsnet_nas.emotion.paper.inputs import PaperInputs, RunFolder, run_methods
from ttfsnet_nas.emotion.paper.output import MISSING, write_table
from ttfsnet_nas.errors import InputError
from ttfsnet_nas.plots import axis_label, fitness_axis, plot_curves

__all__ = ["SEARCH_PRODUCER", "SearchCurve", "build_fig4", "fig4_curves", "fitness_scale"]

SEARCH_PRODUCER = "the search stage writes it (every recipe; search.domain: ann | snn picks the domain)"
"""Which stage writes ``search/search.json``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchCurve:
    """The search curve of one method in one domain, over its seeds.

    Attributes:
        method: method name.
        domain: ``ann`` or ``snn``.
        rounds: round numbers.
        best: per round, mean over seeds of the best fitness so far (scaled, e.g. percent).
        best_std: per round, std across seeds of it (NaN with one seed).
        mean: per round, mean over seeds of the round's mean fitness.
        mean_std: per round, std across seeds of it.
        seeds: per round, seeds that reached the round.
        synthetic: whether the data is synthetic.
    """

    method: str
    domain: str
    rounds: tuple[int, ...]
    best: tuple[float, ...]
    best_std: tuple[float, ...]
    mean: tuple[float, ...]
    mean_std: tuple[float, ...]
    seeds: tuple[int, ...]
    synthetic: bool


def fitness_scale(recipe_fitness: Any) -> tuple[float, str]:
    """Scale and axis label of a recipe's ``search.fitness`` section (see
    [`fitness_axis`][ttfsnet_nas.plots.fitness_axis]); a shorthand string is one weighted objective."""
    if isinstance(recipe_fitness, str):
        return fitness_axis("weighted", [recipe_fitness], {recipe_fitness: 1.0})
    if isinstance(recipe_fitness, Mapping):
        mode = str(recipe_fitness.get("mode", "weighted"))
        if mode == "weighted":
            weights = {str(k): float(v) for k, v in dict(recipe_fitness.get("weights") or {}).items()}
            return fitness_axis(mode, list(weights), weights)
        if mode == "pareto":
            return fitness_axis(mode, [str(o) for o in recipe_fitness.get("objectives") or []])
        return fitness_axis(mode, [str(recipe_fitness.get("accuracy", "accuracy")),
                                   str(recipe_fitness.get("cost", "spikes"))])
    return 1.0, axis_label("fitness")


def _rounds(run: RunFolder) -> list[Mapping[str, Any]]:
    path = run.path / "search" / "search.json"
    data = run.json("search/search.json", SEARCH_PRODUCER)
    rounds = data.get("rounds") if isinstance(data, dict) else None
    if not isinstance(rounds, list) or not rounds:
        raise InputError(f"{path}: expected a non-empty 'rounds' list")
    for r in rounds:
        if not isinstance(r, dict) or not all(k in r for k in ("round", "best_so_far", "mean")):
            raise InputError(f"{path}: rounds: expected round, best_so_far and mean in every entry")
    return rounds


def _stat(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) >= 2 else math.nan


def fig4_curves(inputs: PaperInputs) -> tuple[list[SearchCurve], str]:
    """The curves of every method and domain, and the y-axis label.

    Raises:
        InputError: an input is not a run folder or has no ``search/search.json``, or the runs' fitness
            definitions differ in scale (percent and another unit cannot share an axis).
    """
    curves: list[SearchCurve] = []
    scales: dict[tuple[float, str], Path] = {}
    for m in run_methods(inputs, "fig4"):
        by_domain: dict[str, list[RunFolder]] = {}
        for run in m.runs:
            by_domain.setdefault(str(run.get("search.domain", "ann")), []).append(run)
            scales.setdefault(fitness_scale(run.get("search.fitness", "war_uar")), run.path)
        for domain, runs in by_domain.items():
            scale, _ = fitness_scale(runs[0].get("search.fitness", "war_uar"))
            per_round: dict[int, tuple[list[float], list[float]]] = {}
            for run in runs:
                for r in _rounds(run):
                    best, mean = per_round.setdefault(int(r["round"]), ([], []))
                    best.append(scale * float(r["best_so_far"]))
                    mean.append(scale * float(r["mean"]))
            order = sorted(per_round)
            best_stats = [_stat(per_round[i][0]) for i in order]
            mean_stats = [_stat(per_round[i][1]) for i in order]
            curves.append(SearchCurve(
                method=m.name, domain=domain, rounds=tuple(order),
                best=tuple(b for b, _ in best_stats), best_std=tuple(s for _, s in best_stats),
                mean=tuple(b for b, _ in mean_stats), mean_std=tuple(s for _, s in mean_stats),
                seeds=tuple(len(per_round[i][0]) for i in order), synthetic=m.synthetic,
            ))
    if len(scales) > 1:
        ((_, label_a), first), ((_, label_b), second) = list(scales.items())[:2]
        raise InputError(
            f"{second / 'resolved_recipe.yaml'}: search.fitness ({label_b}) cannot share an axis with "
            f"that of {first} ({label_a}); plot them separately"
        )
    return curves, next(iter(scales))[1]


def _num(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else MISSING


def build_fig4(inputs: PaperInputs, out: Path) -> list[Path]:
    """Fig. 4: ``fig4.md``, ``fig4.csv`` and ``fig4.png``."""
    curves, ylabel = fig4_curves(inputs)
    synthetic = any(c.synthetic for c in curves)
    methods = list(dict.fromkeys(c.method for c in curves))
    domains = {c.domain for c in curves}
    unit = " (%)" if "%" in ylabel else ""
    header = ["Method", "Domain", "Round", f"Best so far{unit}", "Best so far std across seeds",
              f"Round mean{unit}", "Round mean std across seeds", "Seeds"]
    csv_header = ["method", "domain", "round", "best_so_far", "best_so_far_seed_std", "round_mean",
                  "round_mean_seed_std", "seeds"]
    rows: list[list[str]] = []
    csv_rows: list[list[object]] = []
    for c in curves:
        for i, rnd in enumerate(c.rounds):
            rows.append([c.method, c.domain.upper(), str(rnd), _num(c.best[i]), _num(c.best_std[i]),
                         _num(c.mean[i]), _num(c.mean_std[i]), str(c.seeds[i])])
            csv_rows.append([c.method, c.domain, rnd, c.best[i], c.best_std[i], c.mean[i], c.mean_std[i],
                             c.seeds[i]])
    notes = [
        f"Fitness: {ylabel}, on the search split (the held-out part of the training data), per search round; "
        "mean over seeds, std across seeds where two or more seeds reached the round.",
    ]
    if "snn" not in domains:
        notes.append("No SNN-domain run among the inputs (recipe key search.domain: snn).")
    if "ann" not in domains:
        notes.append("No ANN-domain run among the inputs (recipe key search.domain: ann, the default).")
    if synthetic:
        notes.append("Synthetic data: not SEE/DSEE results.")
    paths = write_table(out, "fig4", title="Fig. 4 layout: search curves, ANN and SNN domain",
                        synthetic=synthetic, header=header, rows=rows, csv_header=csv_header,
                        csv_rows=csv_rows, notes=notes)
    lines: dict[str, tuple[list[float], list[float], list[float] | None]] = {}
    for c in curves:
        name = f"{c.domain.upper()} domain" if len(methods) == 1 else f"{c.method}, {c.domain.upper()} domain"
        several = max(c.seeds) >= 2
        lines[f"{name}: best so far"] = ([float(r) for r in c.rounds], list(c.best),
                                         list(c.best_std) if several else None)
        lines[f"{name}: round mean"] = ([float(r) for r in c.rounds], list(c.mean),
                                        list(c.mean_std) if several else None)
    seeds = sorted({s for c in curves for s in c.seeds})
    caption = ("Error bars: std across training seeds." if seeds[-1] >= 2
               else "One seed per curve: no error bars (a search curve has no test-window spread).")
    paths.append(plot_curves(
        lines, out / "fig4.png", xlabel=axis_label("round"), ylabel=ylabel,
        title="Search fitness per round" + (" (SYNTHETIC data)" if synthetic else ""),
        caption=caption, percent="%" in ylabel,
    ))
    return paths
