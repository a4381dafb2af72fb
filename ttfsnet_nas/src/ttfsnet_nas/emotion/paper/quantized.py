"""The quantised result of TNAS-ER §4.6: the float SNN next to the SNN quantised to a hardware profile's
widths (YOSO by default), WAR and UAR over the test runs (the paper reports 20-run WAR/UAR after
quantisation).

Inputs are run folders whose recipe enables the ``quantize`` stage (``quantized/summary.json``). A cell is
the mean over seeds of each seed's mean over its test runs, ± the std across seeds (two or more seeds); the
test-window std and the share of test samples on which both networks predict the same class have columns of
their own. The paper has no figure for this result, so only Markdown and CSV are written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ttfsnet_nas.emotion.paper.inputs import PaperInputs, RunFolder, run_methods
from ttfsnet_nas.emotion.paper.output import data_kind, pct, pct_pm, write_table
from ttfsnet_nas.emotion.seed_stats import SeedSample, SeedStats, seed_stats_from_summaries
from ttfsnet_nas.errors import InputError

__all__ = ["QUANTIZE_PRODUCER", "QuantizedRow", "build_quantized", "quantized_rows"]

QUANTIZE_PRODUCER = "the quantize stage writes it when the recipe sets quantize.enabled: true"
"""Which recipe key makes a run write ``quantized/summary.json``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class QuantizedRow:
    """The float or the quantised SNN of one method.

    Attributes:
        method: method name.
        network: ``float SNN`` or ``quantised SNN``.
        profile: hardware profile(s) of the quantisation.
        widths: the widths, as ``name=bits`` text (one per distinct set).
        stats: statistics over seeds (``agreement`` is a metric of the quantised row).
        synthetic: whether the data is synthetic.
    """

    method: str
    network: str
    profile: str
    widths: str
    stats: SeedStats
    synthetic: bool


def _part(run: RunFolder, data: dict[str, object], key: str) -> SeedSample:
    part = data.get(key)
    runs = data.get("runs")
    if not (isinstance(part, dict) and isinstance(part.get("mean"), dict)
            and isinstance(part.get("std"), dict) and isinstance(runs, int)):
        raise InputError(
            f"{run.path / 'quantized' / 'summary.json'}: expected runs and {key}.mean / {key}.std"
        )
    mean = {str(k): math.nan if v is None else float(v) for k, v in part["mean"].items()}
    std = {str(k): math.nan if v is None else float(v) for k, v in part["std"].items()}
    return SeedSample(mean=mean, std=std, runs=runs)


def quantized_rows(inputs: PaperInputs) -> list[QuantizedRow]:
    """Float and quantised rows of every method.

    Raises:
        InputError: an input is not a run folder or has no (or a malformed) ``quantized/summary.json``.
    """
    rows: list[QuantizedRow] = []
    for m in run_methods(inputs, "quantized"):
        floats: list[SeedSample] = []
        quants: list[SeedSample] = []
        profiles: list[str] = []
        widths: list[str] = []
        for run in m.runs:
            data = run.json("quantized/summary.json", QUANTIZE_PRODUCER)
            if not isinstance(data, dict):
                raise InputError(f"{run.path / 'quantized' / 'summary.json'}: expected a JSON object")
            floats.append(_part(run, data, "float"))
            q = _part(run, data, "quantized")
            agreement = data.get("agreement")
            q_mean = dict(q.mean)
            q_mean["agreement"] = float(agreement) if isinstance(agreement, (int, float)) else math.nan
            quants.append(SeedSample(mean=q_mean, std=q.std, runs=q.runs))
            profiles.append(str(data.get("profile", "?")))
            w = data.get("widths")
            widths.append(", ".join(f"{k}={v}" for k, v in w.items()) if isinstance(w, dict) else "?")
        profile = "; ".join(dict.fromkeys(profiles))
        width = "; ".join(dict.fromkeys(widths))
        rows.append(QuantizedRow(method=m.name, network="float SNN", profile="—", widths="—",
                                 stats=seed_stats_from_summaries(floats), synthetic=m.synthetic))
        rows.append(QuantizedRow(method=m.name, network="quantised SNN", profile=profile, widths=width,
                                 stats=seed_stats_from_summaries(quants), synthetic=m.synthetic))
    return rows


def build_quantized(inputs: PaperInputs, out: Path) -> list[Path]:
    """The quantised result: ``quantized.md`` and ``quantized.csv``."""
    rows_in = quantized_rows(inputs)
    synthetic = any(r.synthetic for r in rows_in)
    header = ["Method", "Network", "Profile", "WAR (%)", "UAR (%)", "WAR test-window std",
              "UAR test-window std", "Agreement with float (%)", "Seeds", "Test runs", "Widths (bits)",
              "Data"]
    csv_header = ["method", "network", "profile", "war", "war_seed_std", "war_window_std", "uar",
                  "uar_seed_std", "uar_window_std", "agreement", "seeds", "test_runs", "widths", "data"]
    rows: list[list[str]] = []
    csv_rows: list[list[object]] = []
    for r in rows_in:
        s = r.stats
        runs = "/".join(str(n) for n in s.runs)
        rows.append([r.method, r.network, r.profile, pct_pm(s.mean.get("war"), s.std.get("war")),
                     pct_pm(s.mean.get("uar"), s.std.get("uar")), pct(s.window_std.get("war")),
                     pct(s.window_std.get("uar")), pct(s.mean.get("agreement")), str(s.seeds), runs, r.widths,
                     data_kind(r.synthetic)])
        csv_rows.append([
            r.method, r.network, r.profile,
            *(100.0 * v for v in (s.mean.get("war", math.nan), s.std.get("war", math.nan),
                                  s.window_std.get("war", math.nan), s.mean.get("uar", math.nan),
                                  s.std.get("uar", math.nan), s.window_std.get("uar", math.nan),
                                  s.mean.get("agreement", math.nan))),
            s.seeds, runs, r.widths, data_kind(r.synthetic),
        ])
    notes = [
        "SNN test accuracy in percent: mean over training seeds of each seed's mean over its test runs, "
        "± std across seeds (two or more seeds). Test-window std: the spread over one network's test runs.",
        "Agreement: share of test samples on which the quantised and the float SNN predict the same class.",
    ]
    return write_table(out, "quantized", title="Quantised SNN vs float SNN (TNAS-ER §4.6)",
                       synthetic=synthetic, header=header, rows=rows, csv_header=csv_header,
                       csv_rows=csv_rows, notes=notes)
