"""Fig. 7 of TNAS-ER: the searched architecture against random sampling, random search and fixed backbones
(TNAS-ER §4.5), SNN test WAR and UAR with error bars.

Inputs are run folders whose recipe enables baselines (``baselines/baselines.json``). A bar is the mean over
seeds; for a group of several architectures (random sampling) a seed's value is the mean over them, as in the
paper. Error bars are the sample std across seeds; with one seed (per bar) they are the test-window std and
the caption says so. The spread across the random architectures themselves is a column of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ttfsnet_nas.emotion.paper.inputs import PaperInputs, baseline_samples, run_methods, snn_sample
from ttfsnet_nas.emotion.paper.output import MISSING, data_kind, error_note, pct, pct_pm, write_table
from ttfsnet_nas.emotion.seed_stats import SeedSample, SeedStats, seed_stats_from_summaries
from ttfsnet_nas.plots import plot_bars

__all__ = ["Fig7Bar", "build_fig7", "fig7_bars"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Fig7Bar:
    """One bar pair (WAR, UAR) of Fig. 7.

    Attributes:
        label: x-axis label (``TNAS-ER``, a baseline group, prefixed by the method name when several methods
            are given).
        stats: statistics over seeds.
        architectures: architectures per seed (1 except for random sampling).
        synthetic: whether the data is synthetic.
    """

    label: str
    stats: SeedStats
    architectures: int
    synthetic: bool


def fig7_bars(inputs: PaperInputs) -> list[Fig7Bar]:
    """The bars of every method: its searched network, then each baseline group.

    Raises:
        InputError: an input is not a run folder or has no ``baselines/baselines.json`` (naming the recipe
            keys that produce it).
    """
    methods = run_methods(inputs, "fig7")
    bars: list[Fig7Bar] = []
    for m in methods:
        prefix = f"{m.name}: " if len(methods) > 1 else ""
        groups: dict[str, list[SeedSample]] = {}
        sizes: dict[str, int] = {}
        for run in m.runs:
            for group, (sample, n) in baseline_samples(run).items():
                groups.setdefault(group, []).append(sample)
                sizes[group] = n
        bars.append(Fig7Bar(label=f"{prefix}TNAS-ER", architectures=1, synthetic=m.synthetic,
                            stats=seed_stats_from_summaries([snn_sample(r) for r in m.runs])))
        for group, samples in groups.items():
            bars.append(Fig7Bar(label=f"{prefix}{group}", architectures=sizes[group], synthetic=m.synthetic,
                                stats=seed_stats_from_summaries(samples)))
    return bars


def build_fig7(inputs: PaperInputs, out: Path) -> list[Path]:
    """Fig. 7: ``fig7.md``, ``fig7.csv`` and ``fig7.png``."""
    bars = fig7_bars(inputs)
    synthetic = any(b.synthetic for b in bars)
    note = error_note([b.stats for b in bars])
    header = ["Method", "Architectures", "WAR (%)", "UAR (%)", "WAR error bar", "UAR error bar",
              "Error bars show", "WAR spread across architectures", "WAR test-window std",
              "UAR test-window std", "Seeds", "Data"]
    csv_header = ["method", "architectures", "war", "uar", "war_error", "uar_error", "error_kind",
                  "war_seed_std", "uar_seed_std", "war_arch_std", "war_window_std", "uar_window_std", "seeds",
                  "data"]
    rows: list[list[str]] = []
    csv_rows: list[list[object]] = []
    for b in bars:
        s = b.stats
        war_err, kind = s.error("war")
        uar_err, _ = s.error("uar")
        arch = s.mean.get("arch_std/war")
        rows.append([
            b.label, str(b.architectures), pct_pm(s.mean.get("war"), s.std.get("war")),
            pct_pm(s.mean.get("uar"), s.std.get("uar")), pct(war_err), pct(uar_err), kind,
            pct(arch) if arch is not None else MISSING, pct(s.window_std.get("war")),
            pct(s.window_std.get("uar")), str(s.seeds), data_kind(b.synthetic),
        ])
        csv_rows.append([
            b.label, b.architectures, *(100.0 * v for v in (
                s.mean.get("war", math.nan), s.mean.get("uar", math.nan), war_err, uar_err)),
            kind, *(100.0 * v for v in (
                s.std.get("war", math.nan), s.std.get("uar", math.nan),
                arch if arch is not None else math.nan,
                s.window_std.get("war", math.nan), s.window_std.get("uar", math.nan))),
            s.seeds, data_kind(b.synthetic),
        ])
    notes = [
        "SNN test accuracy in percent; a bar is the mean over training seeds of each seed's mean over its "
        "test runs (random sampling: also over its architectures, as in TNAS-ER §4.5).",
        note[0].upper() + note[1:] + ".",
        "Spread across architectures: std of the random architectures' WAR within a seed (mean over seeds).",
    ]
    paths = write_table(out, "fig7", title="Fig. 7 layout: searched architecture vs baselines",
                        synthetic=synthetic, header=header, rows=rows, csv_header=csv_header,
                        csv_rows=csv_rows, notes=notes)
    title = "Searched architecture vs baselines" + (" (SYNTHETIC data)" if synthetic else "")
    paths.append(plot_bars(
        [b.label for b in bars],
        {
            "WAR": ([100.0 * b.stats.mean.get("war", math.nan) for b in bars],
                    [100.0 * b.stats.error("war")[0] for b in bars]),
            "UAR": ([100.0 * b.stats.mean.get("uar", math.nan) for b in bars],
                    [100.0 * b.stats.error("uar")[0] for b in bars]),
        },
        out / "fig7.png",
        ylabel="SNN test accuracy (%)",
        xlabel="Method",
        title=title,
        caption=note[0].upper() + note[1:] + ".",
        percent=True,
    ))
    return paths
