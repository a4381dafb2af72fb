"""Search plots: fitness per round (TNAS-ER Fig. 4 style) and op frequencies per block.

matplotlib is imported lazily with the non-interactive Agg backend, so the core imports without it and
plots work on headless machines.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ttfsnet_nas.journal import atomic_write_bytes
from ttfsnet_nas.search import RoundStats

__all__ = ["new_figure", "plot_fitness", "plot_op_counts", "save_figure"]


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
) -> Path:
    """Best-so-far and mean fitness per round.

    Args:
        stats: Output of [`SearchResult.round_stats`][ttfsnet_nas.SearchResult.round_stats].
        path: PNG path (written atomically).
        label: Y-axis label.
        extra: More runs to overlay (e.g. ``{"SNN": stats_snn}`` to compare search domains as in Fig. 4).
    """
    fig, ax = new_figure((6, 3.5))
    runs = {"": stats, **(dict(extra) if extra else {})}
    for name, st in runs.items():
        rounds = [s.round for s in st]
        prefix = f"{name} " if name else ""
        ax.plot(rounds, [s.best_so_far for s in st], marker="o", label=f"{prefix}best")
        ax.plot(rounds, [s.mean for s in st], linestyle="--", marker=".", label=f"{prefix}mean")
    ax.set_xlabel("round")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    ax.legend()
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
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return save_figure(fig, path)
