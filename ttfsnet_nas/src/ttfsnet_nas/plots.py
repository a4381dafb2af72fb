"""Plots a reader can trust: fitness per round (TNAS-ER Fig. 4 style), grouped bars with error bars
(Fig. 5/7 style), curves with error bars, and op frequencies per block.

Every figure follows the same rules: the y-axis is zoomed to the data and its error bars with a margin
([`zoomed_limits`][ttfsnet_nas.plots.zoomed_limits]) instead of starting at 0, the legend stands outside
the axes, axis labels are human-readable ([`axis_label`][ttfsnet_nas.plots.axis_label]: ``war_uar`` →
"Fitness (WAR+UAR)/2, %"), and accuracy-like values are shown in percent
([`fitness_axis`][ttfsnet_nas.plots.fitness_axis]).

matplotlib is imported lazily with the non-interactive Agg backend, so the core imports without it and
plots work on headless machines.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ttfsnet_nas.journal import atomic_write_bytes
from ttfsnet_nas.search import RoundStats

__all__ = [
    "AXIS_LABELS",
    "PERCENT_METRICS",
    "axis_label",
    "fitness_axis",
    "new_figure",
    "plot_bars",
    "plot_curves",
    "plot_fitness",
    "plot_op_counts",
    "save_figure",
    "zoomed_limits",
]

AXIS_LABELS: dict[str, str] = {
    "war_uar": "Fitness (WAR+UAR)/2, %",
    "war": "WAR (%)",
    "uar": "UAR (%)",
    "accuracy": "Accuracy (%)",
    "fitness": "Fitness",
    "loss": "Cross-entropy loss",
    "energy_mj": "Energy (mJ)",
    "latency_ms": "Latency (ms)",
    "pe_count": "Processing elements",
    "params": "Parameters",
    "macs": "MACs per sample",
    "spikes": "Spikes per sample",
    "synops": "SynOPs per sample",
    "spikes_per_neuron": "Spikes per neuron",
    "depth": "Spiking layers",
    "round": "Search round",
}
"""Metric or objective name → axis label; [`axis_label`][ttfsnet_nas.plots.axis_label] falls back to the
name with spaces for anything else."""

PERCENT_METRICS = frozenset({"war_uar", "war", "uar", "accuracy"})
"""Metrics stored as fractions in [0, 1] and shown in percent."""


def axis_label(name: str) -> str:
    """Human-readable axis label of a metric or objective name (``energy_mj`` → ``Energy (mJ)``)."""
    if name in AXIS_LABELS:
        return AXIS_LABELS[name]
    return name.replace("_", " ").capitalize()


def fitness_axis(
    mode: str, objectives: Sequence[str], weights: Mapping[str, float] | None = None
) -> tuple[float, str]:
    """Scale factor and y-axis label of a search's fitness values.

    The fitness is shown in percent (scale 100) when it is itself a fraction: a ``weighted`` fitness of
    percent metrics ([`PERCENT_METRICS`][ttfsnet_nas.plots.PERCENT_METRICS]) whose weights sum to 1, or a
    ``pareto`` fitness whose first objective is one. Anything else (a ``power`` fitness, a sum with energy)
    keeps its own scale.

    Args:
        mode: the fitness mode (``weighted``, ``power`` or ``pareto``).
        objectives: the objective names (``weighted``: the weights' keys; ``pareto``: the objectives).
        weights: objective → weight in ``weighted`` mode.
    """
    names = list(objectives)
    if mode == "weighted" and names and all(n in PERCENT_METRICS for n in names):
        total = sum((weights or {}).get(n, 1.0) for n in names)
        if math.isclose(total, 1.0):
            if len(names) == 1:
                return 100.0, axis_label(names[0])
            return 100.0, "Fitness (" + " + ".join(f"{(weights or {}).get(n, 1.0):g}·{n.upper()}"
                                                   for n in names) + "), %"
    if mode == "pareto" and names and names[0] in PERCENT_METRICS:
        return 100.0, axis_label(names[0])
    if mode == "weighted" and len(names) == 1:
        return 1.0, axis_label(names[0])
    return 1.0, f"Fitness ({mode}: {', '.join(names)})" if names else "Fitness"


def zoomed_limits(
    values: Sequence[float],
    errors: Sequence[float] | None = None,
    *,
    margin: float = 0.15,
    lower: float | None = None,
    upper: float | None = None,
) -> tuple[float, float]:
    """Y-axis limits that show the data, not the distance to 0: from the lowest ``value − error`` to the
    highest ``value + error``, widened by ``margin`` of that range on each side (or by 1 % of the value,
    at least 0.5, when every value is the same), clipped to ``lower``/``upper`` (e.g. 0 and 100 for
    percent). NaN values and errors are ignored.

    Raises:
        ValueError: if no value is finite.
    """
    errs = list(errors) if errors is not None else [0.0] * len(values)
    lows: list[float] = []
    highs: list[float] = []
    for v, e in zip(values, errs, strict=True):
        if v is None or not math.isfinite(v):
            continue
        e = 0.0 if e is None or not math.isfinite(e) else abs(e)
        lows.append(v - e)
        highs.append(v + e)
    if not lows:
        raise ValueError("zoomed_limits: no finite value to show")
    lo, hi = min(lows), max(highs)
    pad = margin * (hi - lo) if hi > lo else max(0.5, 0.01 * abs(hi))
    lo, hi = lo - pad, hi + pad
    if lower is not None:
        lo = max(lo, lower)
    if upper is not None:
        hi = min(hi, upper)
    return lo, hi


def _caption(ax: Any, caption: str) -> None:
    # anchored to the x-axis label's box, so it sits below the tick labels however long they are
    width = int(ax.figure.get_figwidth() * 15)  # characters of x-small text across the figure
    ax.annotate(textwrap.fill(caption, width), xy=(0.0, 0.0), xycoords=("axes fraction", ax.xaxis.label),
                xytext=(0, -6), textcoords="offset points", ha="left", va="top", fontsize="x-small")


def _integer_ticks(ax: Any, xs: Sequence[float]) -> None:
    if xs and all(float(x).is_integer() for x in xs):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _legend_outside(ax: Any) -> None:
    # right of the axes: a legend inside covers bars or curve ends
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize="small")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("plots need matplotlib: pip install matplotlib (or ttfsnet-nas[torch])") from exc

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def new_figure(figsize: tuple[float, float]) -> tuple[Any, Any]:
    """A figure with one axes on the Agg backend; pass it to [`save_figure`][ttfsnet_nas.plots.save_figure]
    ."""
    return _pyplot().subplots(figsize=figsize)


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as PNG atomically (readers never see a partial image) and close it."""
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
        return atomic_write_bytes(path, buffer.getvalue())
    finally:
        _pyplot().close(fig)


def plot_fitness(
    stats: Sequence[RoundStats],
    path: str | os.PathLike[str],
    *,
    label: str = "fitness",
    extra: Mapping[str, Sequence[RoundStats]] | None = None,
    scale: float = 1.0,
    title: str | None = None,
) -> Path:
    """Best-so-far and mean fitness per round.

    Args:
        stats: Output of [`SearchResult.round_stats`][ttfsnet_nas.SearchResult.round_stats].
        path: PNG path (written atomically).
        label: Y-axis label (see [`fitness_axis`][ttfsnet_nas.plots.fitness_axis]).
        extra: More runs to overlay (e.g. ``{"SNN": stats_snn}`` to compare search domains as in Fig. 4).
        scale: Factor applied to every fitness value (100 shows fractions in percent).
        title: Figure title.
    """
    fig, ax = new_figure((6, 3.5))
    runs = {"": stats, **(dict(extra) if extra else {})}
    shown: list[float] = []
    for name, st in runs.items():
        rounds = [s.round for s in st]
        prefix = f"{name} " if name else ""
        best = [scale * s.best_so_far for s in st]
        mean = [scale * s.mean for s in st]
        shown += best + mean
        ax.plot(rounds, best, marker="o", label=f"{prefix}best so far")
        ax.plot(rounds, mean, linestyle="--", marker=".", label=f"{prefix}round mean")
    if shown:
        ax.set_ylim(*zoomed_limits(shown, upper=100.0 if scale == 100.0 else None))
    ax.set_xlabel(axis_label("round"))
    _integer_ticks(ax, [float(s.round) for st in runs.values() for s in st])
    ax.set_ylabel(label)
    if title:
        ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return save_figure(fig, path)


def plot_bars(
    groups: Sequence[str],
    series: Mapping[str, tuple[Sequence[float], Sequence[float] | None]],
    path: str | os.PathLike[str],
    *,
    ylabel: str,
    xlabel: str = "",
    title: str = "",
    caption: str = "",
    percent: bool = False,
) -> Path:
    """Grouped bars with error bars, the y-axis zoomed to the bars and their error bars.

    Args:
        groups: x-axis categories (e.g. methods).
        series: bar series name (e.g. ``"WAR"``) → (values, errors or ``None``), one value per group;
            NaN values draw no bar, NaN errors no error bar.
        path: PNG path (written atomically).
        ylabel: y-axis label.
        xlabel: x-axis label.
        title: figure title.
        caption: text under the axes, e.g. what the error bars measure.
        percent: values are percent: the limits stay inside 0–100.
    """
    fig, ax = new_figure((max(5.0, 1.2 + 1.1 * len(groups)), 3.6))
    width = 0.8 / max(1, len(series))
    shown: list[float] = []
    shown_err: list[float] = []
    for j, (name, (values, errors)) in enumerate(series.items()):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(groups))]
        errs = [math.nan] * len(values) if errors is None else list(errors)
        yerr = [0.0 if not math.isfinite(e) else e for e in errs]
        ax.bar(xs, values, width=width, label=name, yerr=yerr if errors is not None else None, capsize=3)
        shown += list(values)
        shown_err += errs
    ax.set_ylim(*zoomed_limits(shown, shown_err, lower=0.0 if percent else None,
                               upper=100.0 if percent else None))
    ax.set_xticks(range(len(groups)), list(groups), rotation=20, ha="right", fontsize="small")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="medium")
    if caption:
        _caption(ax, caption)
    ax.grid(axis="y", alpha=0.3)
    _legend_outside(ax)
    return save_figure(fig, path)


def plot_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float] | None]],
    path: str | os.PathLike[str],
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    caption: str = "",
    percent: bool = False,
) -> Path:
    """Lines with optional error bars, the y-axis zoomed to the data.

    Args:
        curves: label → (x values, y values, y errors or ``None``).
        path: PNG path (written atomically).
        xlabel: x-axis label.
        ylabel: y-axis label.
        title: figure title.
        caption: text under the axes, e.g. what the error bars measure.
        percent: values are percent: the limits stay inside 0–100.
    """
    fig, ax = new_figure((6.5, 3.6))
    shown: list[float] = []
    shown_err: list[float] = []
    for i, (name, (xs, ys, errs)) in enumerate(curves.items()):
        style = "--" if "mean" in name else "-"
        if errs is not None:
            yerr = [0.0 if not math.isfinite(e) else e for e in errs]
            ax.errorbar(xs, ys, yerr=yerr, marker="o", linestyle=style, capsize=3, label=name, color=f"C{i}")
        else:
            ax.plot(xs, ys, marker="o", linestyle=style, label=name, color=f"C{i}")
        shown += list(ys)
        shown_err += list(errs) if errs is not None else [0.0] * len(ys)
    ax.set_ylim(*zoomed_limits(shown, shown_err, lower=0.0 if percent else None,
                               upper=100.0 if percent else None))
    ax.set_xlabel(xlabel)
    _integer_ticks(ax, [float(x) for xs, _, _ in curves.values() for x in xs])
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="medium")
    if caption:
        _caption(ax, caption)
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return save_figure(fig, path)


def plot_op_counts(
    counts: Mapping[str, Mapping[str, int]], path: str | os.PathLike[str], *, title: str = "op counts"
) -> Path:
    """Grouped bars: how often each op was trained (or evaluated) in each block.

    Args:
        counts: Gene → op → count (e.g. supernet sampling counts, or
            [`SearchResult.op_counts`][ttfsnet_nas.SearchResult.op_counts]).
        path: PNG path (written atomically).
        title: Figure title.
    """
    genes = list(counts)
    ops = list(dict.fromkeys(op for g in genes for op in counts[g]))
    fig, ax = new_figure((max(4.0, 1.0 + 0.9 * len(genes)), 3.5))
    width = 0.8 / max(1, len(ops))
    for j, op in enumerate(ops):
        xs = [i + (j - (len(ops) - 1) / 2) * width for i in range(len(genes))]
        ax.bar(xs, [counts[g].get(op, 0) for g in genes], width=width, label=op)
    ax.set_xticks(range(len(genes)), genes)
    ax.set_xlabel("Searchable block")
    # counts start at 0 on purpose: the bars compare how often, not how much an accuracy moved
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("Count")
    ax.set_title(title)
    _legend_outside(ax)
    return save_figure(fig, path)
