"""Tables 1 (SEE) and 2 (DSEE) of TNAS-ER: one row per method, accuracy per emotion and per lighting, WAR and
UAR, in percent.

Each input is a run folder (its final SNN's ``test/summary.json``) or a SEEN-format result folder (one
method per folder of result JSONs, as ``ttfsnet-nas report`` reads it). Inputs with the same method name are
the seeds of that method (see [`group_methods`][ttfsnet_nas.emotion.paper.inputs.group_methods]). A cell is
the mean over seeds of each seed's mean over its test runs, ± the sample std across seeds when there are two
or more; the test-window spread (mean over seeds of the std over one network's test runs) has its own columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ttfsnet_nas.emotion.paper.inputs import (
    PaperInputs,
    RunFolder,
    group_methods,
    is_run_folder,
    read_run_folder,
    seen_methods,
    snn_sample,
)
from ttfsnet_nas.emotion.paper.output import data_kind, pct, pct_pm, write_table
from ttfsnet_nas.emotion.report import RESULT_COLUMNS
from ttfsnet_nas.emotion.seed_stats import SeedSample, SeedStats, seed_stats_from_summaries

__all__ = ["MethodResult", "build_table1", "build_table2", "method_results", "results_artefact"]


@dataclass(frozen=True, kw_only=True, slots=True)
class MethodResult:
    """One method's test result over its seeds.

    Attributes:
        name: method name.
        network: ``SNN`` for a run folder's final network, ``—`` for a SEEN folder (not recorded).
        stats: statistics over its seeds.
        synthetic: whether its data is synthetic (``None``: unknown, a SEEN folder outside a run folder).
        runs: its run folders (empty for SEEN folders).
    """

    name: str
    network: str
    stats: SeedStats
    synthetic: bool | None
    runs: tuple[RunFolder, ...] = ()


def method_results(inputs: PaperInputs) -> list[MethodResult]:
    """Every method of the inputs with its statistics over seeds, in the order of first appearance.

    Raises:
        InputError: a missing or malformed input, or one method name over runs that differ in more than the
            seed.
    """
    order: list[str] = []
    samples: dict[str, list[SeedSample]] = {}
    synthetic: dict[str, list[bool | None]] = {}
    runs: dict[str, list[RunFolder]] = {}
    for path in inputs.paths:
        if is_run_folder(path):
            run = read_run_folder(path, inputs.label(path))
            found = [(run.name, snn_sample(run), run.synthetic)]
            runs.setdefault(run.name, []).append(run)
        else:
            found = seen_methods(path, inputs.label(path))
        for name, sample, synth in found:
            if name not in samples:
                order.append(name)
            samples.setdefault(name, []).append(sample)
            synthetic.setdefault(name, []).append(synth)
    # raises when one name covers runs that differ in more than the seed
    group_methods([r for name in order for r in runs.get(name, [])])
    out = []
    for name in order:
        kinds = synthetic[name]
        synth = True if any(k is True for k in kinds) else (None if any(k is None for k in kinds) else False)
        out.append(MethodResult(
            name=name,
            network="SNN" if name in runs else "—",
            stats=seed_stats_from_summaries(samples[name]),
            synthetic=synth,
            runs=tuple(runs.get(name, ())),
        ))
    return out


def _runs_text(stats: SeedStats) -> str:
    return "/".join(str(r) for r in stats.runs)


def results_artefact(inputs: PaperInputs, out: Path, *, stem: str, title: str) -> list[Path]:
    """Write ``<stem>.md``/``<stem>.csv`` in the Table 1/2 layout; returns the paths written."""
    methods = method_results(inputs)
    synthetic = any(m.synthetic for m in methods)
    heads = [h for h, _ in RESULT_COLUMNS]
    header = ["Method", "Network", "Input region", *heads, "WAR test-window std", "UAR test-window std",
              "Seeds", "Test runs", "Data"]
    rows = []
    csv_header = ["method", "network", "input_region", "seeds", "test_runs", "data"]
    for h in heads:
        csv_header += [f"{h}", f"{h}_seed_std", f"{h}_window_std"]
    csv_rows: list[list[object]] = []
    for m in methods:
        s = m.stats
        cells = [pct_pm(s.mean.get(k), s.std.get(k)) for _, k in RESULT_COLUMNS]
        region = "Eye" if m.runs else "—"
        rows.append([m.name, m.network, region, *cells, pct(s.window_std.get("war")),
                     pct(s.window_std.get("uar")), str(s.seeds), _runs_text(s), data_kind(m.synthetic)])
        row: list[object] = [m.name, m.network, region, s.seeds, _runs_text(s), data_kind(m.synthetic)]
        for _, k in RESULT_COLUMNS:
            row += [100.0 * s.mean.get(k, math.nan), 100.0 * s.std.get(k, math.nan),
                    100.0 * s.window_std.get(k, math.nan)]
        csv_rows.append(row)
    notes = [
        "Percent. A cell is the mean over training seeds of each seed's mean over its test runs; ± is the "
        "sample std across seeds (shown only with two or more seeds: with one seed the spread over "
        "retraining is unknown).",
        "Test-window std: the mean over seeds of the std over one trained network's test runs, each with "
        "fresh random temporal windows; it does not measure retraining and cannot separate methods.",
        "Test runs: runs per seed. Network and input region '—': not recorded in a SEEN result folder "
        "(a run folder is this pipeline's SNN on single-eye event data).",
    ]
    if synthetic:
        notes.append("Rows with Data 'synthetic' come from the synthetic generator: not SEE/DSEE results.")
    return write_table(out, stem, title=title, synthetic=synthetic, header=header, rows=rows,
                       csv_header=csv_header, csv_rows=csv_rows, notes=notes)


def build_table1(inputs: PaperInputs, out: Path) -> list[Path]:
    """Table 1 (SEE): ``table1.md``/``table1.csv``."""
    return results_artefact(inputs, out, stem="table1", title="Table 1 layout (SEE): test accuracy (%)")


def build_table2(inputs: PaperInputs, out: Path) -> list[Path]:
    """Table 2 (DSEE): ``table2.md``/``table2.csv``."""
    return results_artefact(inputs, out, stem="table2", title="Table 2 layout (DSEE): test accuracy (%)")
