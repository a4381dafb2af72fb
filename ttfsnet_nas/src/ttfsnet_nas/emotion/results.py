"""What a finished TNAS-ER run writes: tables in the paper's layout, plots, ``result.json`` and the artifact.

* ``results.md/.csv`` – Table 1/2 layout (per emotion, per lighting, WAR, UAR) for the SNN, its ANN
  counterpart and the retrained ANN, mean of the test runs;
* ``efficiency.md/.csv`` – Table 3 layout (WAR, UAR, SynOPs, parameters, latency, spikes per neuron);
* ``comparison.md/.csv/.png`` – the searched network against the baselines (Fig. 7 layout; one training
  seed, so the error bars are the test-window std: ``ttfsnet-nas paper fig7`` takes several seeds);
* ``fitness.png``, ``ops.png`` (Fig. 4 layout) and ``pareto.png`` for Pareto searches;
* ``result.json`` and ``artifact/`` (architecture, space, metrics, recipe, ANN and SNN files).

Titles say SYNTHETIC when the data came from the synthetic generator.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ttfsnet.io import FORMAT, FORMAT_VERSION
from ttfsnet_nas.artifact import write_artifact
from ttfsnet_nas.emotion.quantized import quantized_metrics
from ttfsnet_nas.emotion.recipe import EmotionRecipe, EmotionSearchConfig, recipe_to_dict
from ttfsnet_nas.emotion.see import EMOTION_ABBREV, LIGHTING_ABBREV, LIGHTINGS, PAPER_EMOTION_ORDER
from ttfsnet_nas.fitness import ConstraintSpec
from ttfsnet_nas.journal import atomic_write_json, atomic_write_text
from ttfsnet_nas.plots import (
    PERCENT_METRICS,
    axis_label,
    fitness_axis,
    new_figure,
    plot_bars,
    plot_fitness,
    plot_op_counts,
    save_figure,
)
from ttfsnet_nas.search import RoundStats, SearchResult
from ttfsnet_nas.space import Architecture, SearchSpace

__all__ = ["SNN_FILE", "export_artifact", "finalize", "search_summary"]

SNN_FILE = "snn.pt"
"""The fine-tuned TTFS network of a run (``snn/``) and of an artifact, in [`ttfsnet.save`][ttfsnet.save]'s
format."""


def _pct(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.1f}"


def _write_table(
    out: Path, stem: str, header: Sequence[str], rows: Sequence[Sequence[str]], title: str
) -> str:
    md = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join(md) + "\n"
    atomic_write_text(out / f"{stem}.md", text)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(out / f"{stem}.csv", buffer.getvalue())
    return text


def _results_table(out: Path, recipe: EmotionRecipe, test: Mapping[str, Any]) -> str:
    # the test metrics name every class (NaN when absent), so a finished run need not load its data again
    classes = [k.removeprefix("emotion/") for k in test["snn"]["mean"] if k.startswith("emotion/")]
    emotions = [e for e in PAPER_EMOTION_ORDER if e in classes]
    emotions += [e for e in classes if e not in PAPER_EMOTION_ORDER]
    header = ["Method", "Network"] + [EMOTION_ABBREV.get(e, e) for e in emotions]
    header += [LIGHTING_ABBREV[lt] for lt in LIGHTINGS] + ["WAR", "UAR"]
    label = f"TNAS-ER ({recipe.name})"
    rows = []
    for net, key in (
        ("SNN", "snn"), ("ANN counterpart", "ann_counterpart"), ("ANN before fine-tuning", "ann_retrained")
    ):
        mean = test[key]["mean"]
        row = [label, net] + [_pct(mean.get(f"emotion/{e}")) for e in emotions]
        row += [_pct(mean.get(f"lighting/{lt}")) for lt in LIGHTINGS] + [_pct(mean["war"]), _pct(mean["uar"])]
        rows.append(row)
    title = f"Test results, mean of {test['runs']} runs (%)"
    if recipe.eval_data.synthetic is not None:
        title += " — SYNTHETIC data, not SEE/DSEE results"
    return _write_table(out, "results", header, rows, title)


def _efficiency_table(out: Path, recipe: EmotionRecipe, test: Mapping[str, Any]) -> str:
    hw = test.get("hardware") or {}
    header = ["Method", "WAR (%)", "UAR (%)", "OPs (G SynOPs)", "Params (M)", "Latency (time units)",
              "Latency (ms, est.)", "Spikes/neuron"]
    ms = next((v for k, v in hw.items() if "latency" in k), None)
    row = [
        f"TNAS-ER ({recipe.name})",
        _pct(test["snn"]["mean"]["war"]),
        _pct(test["snn"]["mean"]["uar"]),
        f"{test['synops_per_sample'] / 1e9:.6f}",
        f"{test['params'] / 1e6:.4f}",
        f"{test['latency']:.3f}",
        "–" if ms is None else f"{ms:.3f}",
        f"{test['spikes_per_neuron']:.3f}",
    ]
    title = "Efficiency (Table 3 layout)"
    if recipe.eval_data.synthetic is not None:
        title += " — SYNTHETIC data"
    return _write_table(out, "efficiency", header, [row], title)


def _comparison(out: Path, test: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The searched network against its baselines, one training seed: every error bar is the test-window
    std (the spread of R test runs with fresh windows), which does not measure retraining; the ``paper fig7``
    command gives the spread across seeds from several runs."""
    rows_path = out / "baselines" / "baselines.json"
    if not rows_path.is_file():
        return "", []
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in json.loads(rows_path.read_text()):
        groups.setdefault(row["group"], []).append(row["summary"])
    snn = test["snn"]
    table = [{
        "method": "TNAS-ER", "war": snn["mean"]["war"], "uar": snn["mean"]["uar"], "n": 1,
        "war_window_std": snn["std"]["war"], "uar_window_std": snn["std"]["uar"],
    }]
    for group, summaries in groups.items():
        table.append({
            "method": group,
            "war": float(np.mean([s["snn"]["mean"]["war"] for s in summaries])),
            "uar": float(np.mean([s["snn"]["mean"]["uar"] for s in summaries])),
            "n": len(summaries),
            "war_window_std": float(np.mean([s["snn"]["std"]["war"] for s in summaries])),
            "uar_window_std": float(np.mean([s["snn"]["std"]["uar"] for s in summaries])),
        })
    runs = test["runs"]
    text = _write_table(
        out,
        "comparison",
        ["Method", "Architectures", "WAR (%)", "UAR (%)", "WAR test-window std", "UAR test-window std"],
        [[t["method"], str(t["n"]), _pct(t["war"]), _pct(t["uar"]), _pct(t["war_window_std"]),
          _pct(t["uar_window_std"])] for t in table],
        f"Searched architecture vs baselines (TNAS-ER Fig. 7 layout, SNN test metrics, one training seed; "
        f"test-window std over {runs} test runs, not a spread over seeds)",
    )
    plot_bars(
        [t["method"] for t in table],
        {
            "WAR": ([100 * t["war"] for t in table], [100 * t["war_window_std"] for t in table]),
            "UAR": ([100 * t["uar"] for t in table], [100 * t["uar_window_std"] for t in table]),
        },
        out / "comparison.png",
        ylabel="SNN test accuracy (%)",
        xlabel="Method",
        title="Searched architecture vs baselines",
        caption=f"One training seed: error bars are the test-window std over {runs} test runs "
                "(fresh windows), not a spread over training seeds.",
        percent=True,
    )
    return text, table


def _plot_front(
    path: Path, search: Mapping[str, Any], objectives: Sequence[str],
    constraints: Sequence[ConstraintSpec] = (),
) -> None:
    """Every evaluated candidate and the Pareto front: second objective (x, e.g. energy) vs first (y), with
    the recipe's budgets on either axis as dashed lines; accuracy-like objectives in percent."""
    y_name, x_name = objectives[0], objectives[1]
    sx = 100.0 if x_name in PERCENT_METRICS else 1.0
    sy = 100.0 if y_name in PERCENT_METRICS else 1.0

    def points(rows: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float]]:
        rows = [r for r in rows if x_name in r["values"] and y_name in r["values"]]
        rows = sorted(rows, key=lambda r: r["values"][x_name])
        return [sx * r["values"][x_name] for r in rows], [sy * r["values"][y_name] for r in rows]

    fig, ax = new_figure((5, 3.5))
    ax.scatter(*points(search["history"]), s=12, alpha=0.4, label="evaluated")
    ax.plot(*points(search["front"]), marker="o", color="C3", label="Pareto front")
    for c in constraints:
        for bound in (c.min, c.max):
            if bound is not None and c.objective == x_name:
                ax.axvline(sx * bound, color="grey", linestyle="--", label=f"{axis_label(x_name)} budget")
            elif bound is not None and c.objective == y_name:
                ax.axhline(sy * bound, color="grey", linestyle="--", label=f"{axis_label(y_name)} budget")
    ax.set_xlabel(axis_label(x_name))
    ax.set_ylabel(axis_label(y_name))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize="small")
    save_figure(fig, path)


def _plot_search(out: Path, search: Mapping[str, Any], s: EmotionSearchConfig) -> None:
    """``fitness.png`` and ``ops.png`` from ``search.json``'s content; ``pareto.png`` for Pareto searches."""
    rounds = [
        RoundStats(r["round"], r["evaluations"], r["best"], r["mean"], r["best_so_far"])
        for r in search["rounds"]
    ]
    f = s.fitness
    names = list(f.weights) if f.mode == "weighted" else list(f.objective_names())
    scale, label = fitness_axis(f.mode, names, f.weights if f.mode == "weighted" else None)
    plot_fitness(rounds, out / "fitness.png", label=label, scale=scale, title="Search fitness per round")
    plot_op_counts(search["op_counts"], out / "ops.png", title="Ops evaluated per block during the search")
    if s.fitness.mode == "pareto":
        _plot_front(out / "pareto.png", search, s.fitness.objectives, s.fitness.constraints)


def export_artifact(
    out: Path, recipe: EmotionRecipe, space: SearchSpace, arch: Architecture, metrics: Mapping[str, Any],
    target: Path,
) -> Path:
    """The core artifact (architecture, space, metrics, recipe, manifest) plus the ANN and SNN model files."""

    def add_models(stage: Path) -> None:
        for name in ("model.json", "weights.pt"):
            shutil.copy2(out / "retrain" / "ann" / name, stage / name)
        shutil.copy2(out / "snn" / SNN_FILE, stage / SNN_FILE)

    return write_artifact(
        target,
        architecture=arch,
        space=space,
        metrics=json.loads(json.dumps(metrics)),
        recipe={"type": "emotion", **recipe_to_dict(recipe)},
        hooks=[add_models],
        info={"pipeline": "emotion", "snn_format": f"{FORMAT}/{FORMAT_VERSION}"},
        overwrite=True,
    )


def finalize(
    out: Path, recipe: EmotionRecipe, space: SearchSpace, stage_seconds: Mapping[str, float]
) -> dict[str, Any]:
    """Tables, plots, ``result.json`` and the artifact of a run whose five stages are complete; returns
    ``result.json``'s content plus ``tables`` (the markdown tables)."""
    search = json.loads((out / "search" / "search.json").read_text())
    test = json.loads((out / "test" / "summary.json").read_text())
    transfer = json.loads((out / "snn" / "transfer.json").read_text())
    arch = Architecture(search["best"]["architecture"])
    results_md = _results_table(out, recipe, test)
    efficiency_md = _efficiency_table(out, recipe, test)
    comparison_md, comparison = _comparison(out, test)
    _plot_search(out, search, recipe.search)
    metrics = {
        "war": test["snn"]["mean"]["war"],
        "uar": test["snn"]["mean"]["uar"],
        "war_std": test["snn"]["std"]["war"],
        "uar_std": test["snn"]["std"]["uar"],
        "ann_war": test["ann_counterpart"]["mean"]["war"],
        "ann_uar": test["ann_counterpart"]["mean"]["uar"],
        "snn_ann_agreement": test["agreement"],
        "synops_per_sample": test["synops_per_sample"],
        "spikes_per_sample": test["spikes_per_sample"],
        "spikes_per_neuron": test["spikes_per_neuron"],
        "params": test["params"],
        "latency": test["latency"],
        "hardware": test.get("hardware"),
        "quantized": quantized_metrics(out, recipe),
    }
    result = {
        "name": recipe.name,
        "synthetic": recipe.data.synthetic is not None or recipe.eval_data.synthetic is not None,
        "best_architecture": arch.to_dict(),
        "best_key": arch.key,
        "search_fitness": search["best"]["fitness"],
        "fitness_history": search["rounds"],
        "evaluations": search["evaluations"],
        "metrics": metrics,
        "test": {k: test[k] for k in ("runs", "sequences", "snn", "ann_counterpart", "ann_retrained")},
        "transfer": transfer,
        "baselines": comparison or None,
        "stage_seconds": dict(stage_seconds),
    }
    atomic_write_json(out / "result.json", result)
    export_artifact(out, recipe, space, arch, metrics, out / "artifact")
    result["tables"] = {"results": results_md, "efficiency": efficiency_md, "comparison": comparison_md}
    return result


def search_summary(result: SearchResult) -> dict[str, Any]:
    """``search.json``: the best candidate, per-round statistics, op counts, the history and the front."""
    assert result.best is not None
    best = result.best
    history = [
        {"index": t.index, "round": t.round, "architecture": t.architecture.key, "values": t.values,
         "metrics": {k: v for k, v in m.items() if not k.startswith("recall/")}}
        for t, m in zip(result.history, result.metrics, strict=True)
    ]
    return {
        "best": {
            "architecture": best.architecture.to_dict(),
            "key": best.architecture.key,
            "values": best.values,
            "fitness": best.score.value,
        },
        "rounds": [
            {"round": s.round, "evaluations": s.evaluations, "best": s.best, "mean": s.mean,
             "best_so_far": s.best_so_far}
            for s in result.round_stats()
        ],
        "op_counts": result.op_counts(),
        "evaluations": len(result.history),
        "history": history,
        "front": [{"architecture": t.architecture.key, "values": t.values} for t in result.front],
    }
