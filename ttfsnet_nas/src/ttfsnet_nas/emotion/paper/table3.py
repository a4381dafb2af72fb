"""Table 3 of TNAS-ER: accuracy and efficiency (WAR, UAR, OPs, parameters, latency) per method, with the
baselines of every run folder that has a ``baselines/baselines.json`` as rows of their own.

OPs are the SNN's synaptic operations per test sample (G), parameters those of the retrained network (M),
latency the ``ttfsnet-hw`` estimate on the recipe's hardware profile (ms; recorded for the searched network
and every baseline when ttfsnet-hw is installed) and the TTFS latency in time units, spikes per neuron the
mean over the test samples. Every figure is the mean over seeds; WAR and UAR carry ± the std across seeds
(two or more seeds). A figure a run did not record is ``—``.
"""

from __future__ import annotations

import math
from pathlib import Path

from ttfsnet_nas.emotion.paper.inputs import PaperInputs, baseline_samples
from ttfsnet_nas.emotion.paper.output import MISSING, data_kind, pct_pm, write_table
from ttfsnet_nas.emotion.paper.table12 import MethodResult, method_results
from ttfsnet_nas.emotion.seed_stats import SeedSample, seed_stats_from_summaries

__all__ = ["build_table3", "efficiency_rows"]

# (column, csv name, metric key, scale, digits)
_COLUMNS: tuple[tuple[str, str, str, float, int], ...] = (
    ("OPs (G SynOPs)", "ops_g", "synops_per_sample", 1e-9, 6),
    ("Params (M)", "params_m", "params", 1e-6, 4),
    ("Latency (ms, est.)", "latency_ms", "hardware/latency_ms", 1.0, 3),
    ("Energy (mJ, est.)", "energy_mj", "hardware/energy_mj", 1.0, 4),
    ("Latency (TTFS time units)", "latency_time_units", "latency", 1.0, 2),
    ("Spikes/neuron", "spikes_per_neuron", "spikes_per_neuron", 1.0, 3),
)


def _num(value: float | None, scale: float, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value * scale:.{digits}f}"


def efficiency_rows(inputs: PaperInputs) -> list[MethodResult]:
    """Every method (see [`method_results`][ttfsnet_nas.emotion.paper.table12.method_results]) followed by
    its baseline groups (``<method>: <group>``) where its run folders have baselines; a group missing from
    some seeds is averaged over the seeds that have it."""
    out: list[MethodResult] = []
    for m in method_results(inputs):
        out.append(m)
        per_group: dict[str, list[SeedSample]] = {}
        for run in m.runs:
            if not (run.path / "baselines" / "baselines.json").is_file():
                continue
            for group, (sample, _) in baseline_samples(run).items():
                per_group.setdefault(group, []).append(sample)
        for group, samples in per_group.items():
            out.append(MethodResult(name=f"{m.name}: {group}", network="SNN",
                                    stats=seed_stats_from_summaries(samples), synthetic=m.synthetic))
    return out


def build_table3(inputs: PaperInputs, out: Path) -> list[Path]:
    """Table 3: ``table3.md``/``table3.csv``."""
    rows_in = efficiency_rows(inputs)
    synthetic = any(m.synthetic for m in rows_in)
    header = ["Method", "WAR (%)", "UAR (%)", *(c[0] for c in _COLUMNS), "Seeds", "Data"]
    csv_header = ["method", "war_pct", "war_seed_std", "war_window_std", "uar_pct", "uar_seed_std",
                  "uar_window_std", *(c[1] for c in _COLUMNS), "seeds", "data"]
    rows: list[list[str]] = []
    csv_rows: list[list[object]] = []
    for m in rows_in:
        s = m.stats
        rows.append([
            m.name, pct_pm(s.mean.get("war"), s.std.get("war")), pct_pm(s.mean.get("uar"), s.std.get("uar")),
            *(_num(s.mean.get(key), scale, digits) for _, _, key, scale, digits in _COLUMNS),
            str(s.seeds), data_kind(m.synthetic),
        ])
        csv_rows.append([
            m.name,
            *(100.0 * v for v in (s.mean.get("war", math.nan), s.std.get("war", math.nan),
                                  s.window_std.get("war", math.nan), s.mean.get("uar", math.nan),
                                  s.std.get("uar", math.nan), s.window_std.get("uar", math.nan))),
            *(s.mean.get(key, math.nan) * scale for _, _, key, scale, _ in _COLUMNS),
            s.seeds, data_kind(m.synthetic),
        ])
    notes = [
        "WAR/UAR: mean over seeds of each seed's mean over its test runs, ± std across seeds (two or more "
        "seeds). Baseline groups of several architectures (random sampling) are their mean.",
        "OPs: SNN synaptic operations per test sample. Latency (ms) and energy: ttfsnet-hw estimate on the "
        "recipe's hardware profile (recorded when ttfsnet-hw is installed). '—': not recorded, never "
        "filled in.",
    ]
    return write_table(out, "table3", title="Table 3 layout: accuracy and efficiency", synthetic=synthetic,
                       header=header, rows=rows, csv_header=csv_header, csv_rows=csv_rows, notes=notes)
