"""Result tables in the layout of the TNAS-ER paper (Tables 1–3), from SEEN-format result files.

* [`load_results`][ttfsnet_nas.emotion.report.load_results] reads a folder of per-run JSONs (one method), a
  folder of method sub-folders, or the ``baselines`` folder of a pipeline run (its ``baselines.json``: one
  method per baseline architecture), or a run folder holding both.
* [`results_table`][ttfsnet_nas.emotion.report.results_table] renders Ha Sa An Di Su Fe Ne | Nor Over Low HDR
  | WAR UAR in percent (mean over the runs, optionally ± sample std) as Markdown or CSV.
* [`efficiency_table`][ttfsnet_nas.emotion.report.efficiency_table] renders WAR, UAR, OPs (SNN SynOPs, G),
  params (M), latency (ms) and spikes per neuron from numbers the caller measured elsewhere (nothing is
  computed or assumed here).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ttfsnet_nas.emotion.metrics import AggregateMetrics, aggregate_runs
from ttfsnet_nas.emotion.see import (
    EMOTION_ABBREV,
    LIGHTING_ABBREV,
    LIGHTINGS,
    PAPER_EMOTION_ORDER,
    SEE_SCHEMA,
    NameSchema,
)
from ttfsnet_nas.emotion.seen_format import SEEN_FILENAME, metrics_from_run, read_run
from ttfsnet_nas.journal import atomic_write_text

__all__ = [
    "BASELINES_FILE",
    "EfficiencyRow",
    "efficiency_table",
    "load_baselines",
    "load_method_results",
    "load_results",
    "report",
    "results_table",
    "run_files",
]


RESULT_COLUMNS: tuple[tuple[str, str], ...] = (
    *((EMOTION_ABBREV[e], f"emotion/{e}") for e in PAPER_EMOTION_ORDER),
    *((LIGHTING_ABBREV[name], f"lighting/{name}") for name in LIGHTINGS),
    ("WAR", "war"),
    ("UAR", "uar"),
)


def _is_seen_file(path: Path) -> bool:
    """A JSON whose top level has a ``results`` mapping (other JSONs, e.g. summaries, are ignored)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and isinstance(data.get("results"), dict)


def run_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The per-run result files of ``folder``: files named like SEEN's ``<subset>_epoch_<e>_<run>.json``,
    or, when there are none, every ``*.json`` with a top-level ``results`` mapping."""
    files = sorted(Path(folder).glob("*.json"))
    named = [f for f in files if SEEN_FILENAME.match(f.name)]
    return named if named else [f for f in files if _is_seen_file(f)]


def load_method_results(
    folder: str | os.PathLike[str], *, schema: NameSchema = SEE_SCHEMA
) -> AggregateMetrics:
    """Score every run file in ``folder`` (see [`run_files`][ttfsnet_nas.emotion.report.run_files]) and
    aggregate over the runs.

    Raises:
        ValueError: if the folder has no result file or a file is malformed.
    """
    base = Path(folder)
    files = run_files(base)
    if not files:
        raise ValueError(f"{base}: no SEEN result JSON found (expected files like test_epoch_<e>_<run>.json)")
    return aggregate_runs([metrics_from_run(read_run(f), schema=schema) for f in files])


BASELINES_FILE = "baselines.json"
"""What the ``baselines`` stage writes in ``RUN_DIR/baselines``: a JSON list with one entry per baseline
architecture, ``{"group", "name", "architecture", "summary"}``, where ``summary`` is the test summary of
that architecture (``summary["runs"]``, and ``summary["snn"]["mean"|"std"]`` of every metric)."""


def load_baselines(path: str | os.PathLike[str]) -> dict[str, AggregateMetrics]:
    """Baseline name → the SNN's test metrics (mean and std over its runs), from a ``baselines.json``.

    Raises:
        ValueError: a file that is not such a list; the message names the file and the entry.
    """
    path = Path(path)
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the baselines ({exc})") from None
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: expected a non-empty JSON list of baselines (baselines stage output)")
    methods: dict[str, AggregateMetrics] = {}
    for i, row in enumerate(rows):
        try:
            snn = row["summary"]["snn"]
            methods[str(row["name"])] = AggregateMetrics(
                mean={k: math.nan if v is None else float(v) for k, v in snn["mean"].items()},
                std={k: math.nan if v is None else float(v) for k, v in snn["std"].items()},
                runs=int(row["summary"]["runs"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"{path}: entry {i}: expected name and summary.runs, summary.snn.mean and summary.snn.std "
                f"({type(exc).__name__}: {exc})"
            ) from None
    return methods


def load_results(
    folder: str | os.PathLike[str], *, schema: NameSchema = SEE_SCHEMA
) -> dict[str, AggregateMetrics]:
    """Method name → aggregated metrics.

    A folder holding result files is one method (named after the folder). Otherwise every folder below it
    that holds result files is a method, named by its path relative to ``folder`` (sorted), so a pipeline
    run directory or a folder of per-method folders both work. A
    [`BASELINES_FILE`][ttfsnet_nas.emotion.report.BASELINES_FILE] in the folder or in a ``baselines``
    folder below it adds one method per baseline architecture (``baselines/<name>`` below the folder,
    ``<name>`` in it), so ``RUN_DIR/baselines`` and ``RUN_DIR`` tabulate the baselines too.

    Raises:
        ValueError: if neither a result file nor a baselines file is found.
    """
    base = Path(folder)
    if not base.is_dir():
        raise ValueError(f"{base}: results folder not found")
    if run_files(base):
        return {base.name: load_method_results(base, schema=schema)}
    folders = sorted(p for p in [base, *base.rglob("*")] if p.is_dir())
    methods: dict[str, AggregateMetrics] = {}
    for sub in folders:
        prefix = "" if sub == base else sub.relative_to(base).as_posix()
        if sub != base and run_files(sub):
            methods[prefix] = load_method_results(sub, schema=schema)
        # below the folder, only the baselines stage's own folder: stages/baselines.json is the stage
        # runner's record of that stage, not its results
        if (sub == base or sub.name == "baselines") and (sub / BASELINES_FILE).is_file():
            for name, agg in load_baselines(sub / BASELINES_FILE).items():
                methods[f"{prefix}/{name}" if prefix else name] = agg
    if not methods:
        raise ValueError(
            f"{base}: no SEEN result files (*.json with 'results') and no {BASELINES_FILE} in the folder or "
            "below it"
        )
    return methods


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100.0 * value:.1f}"


def results_table(
    results: Mapping[str, AggregateMetrics],
    *,
    fmt: str = "markdown",
    with_std: bool = False,
) -> str:
    """Table 1/2 layout: Method | Ha Sa An Di Su Fe Ne | Nor Over Low HDR | WAR UAR (percent).

    Args:
        results: method → aggregated metrics (e.g. from
            [`load_results`][ttfsnet_nas.emotion.report.load_results]).
        fmt: ``"markdown"`` or ``"csv"`` (CSV: unrounded percent values and a ``runs`` column; std columns
            ``<col>_std`` with ``with_std``).
        with_std: append ``± std`` (Markdown) or std columns (CSV).
    """
    heads = [h for h, _ in RESULT_COLUMNS]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        header = ["method", "runs", *heads]
        if with_std:
            header += [f"{h}_std" for h in heads]
        writer.writerow(header)
        for method, agg in results.items():
            row: list[str | int | float] = [method, agg.runs]
            row += [100.0 * agg.mean.get(k, math.nan) for _, k in RESULT_COLUMNS]
            if with_std:
                row += [100.0 * agg.std.get(k, math.nan) for _, k in RESULT_COLUMNS]
            writer.writerow(row)
        return buf.getvalue()
    if fmt != "markdown":
        raise ValueError(f"fmt: expected 'markdown' or 'csv', got {fmt!r}")
    lines = [
        "| Method | " + " | ".join(heads) + " |",
        "|---|" + "---:|" * len(heads),
    ]
    for method, agg in results.items():
        cells = []
        for _, key in RESULT_COLUMNS:
            cell = _pct(agg.mean.get(key, math.nan))
            if with_std and cell != "-":
                cell += f" ± {_pct(agg.std.get(key, math.nan))}"
            cells.append(cell)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, kw_only=True, slots=True)
class EfficiencyRow:
    """One row of the Table 3 layout; every number is measured by the caller.

    Attributes:
        method: method name.
        war: WAR as a fraction.
        uar: UAR as a fraction.
        ops_g: operations in G (SNN: synaptic operations per sample; ANN: MACs).
        params_m: parameters in millions.
        latency_ms: latency in milliseconds (``None`` = not measured).
        spikes_per_neuron: average spikes per neuron per sample (``None`` for non-spiking methods).
    """

    method: str
    war: float
    uar: float
    ops_g: float
    params_m: float
    latency_ms: float | None = None
    spikes_per_neuron: float | None = None


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def efficiency_table(rows: Sequence[EfficiencyRow], *, fmt: str = "markdown") -> str:
    """Table 3 layout: Method | WAR (%) | UAR (%) | OPs (G) | Params (M) | Latency (ms) | Spikes/neuron."""
    heads = ["Method", "WAR (%)", "UAR (%)", "OPs (G)", "Params (M)", "Latency (ms)", "Spikes/neuron"]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(
            ["method", "war_pct", "uar_pct", "ops_g", "params_m", "latency_ms", "spikes_per_neuron"]
        )
        for r in rows:
            writer.writerow(
                [
                    r.method,
                    100.0 * r.war,
                    100.0 * r.uar,
                    r.ops_g,
                    r.params_m,
                    r.latency_ms,
                    r.spikes_per_neuron,
                ]
            )
        return buf.getvalue()
    if fmt != "markdown":
        raise ValueError(f"fmt: expected 'markdown' or 'csv', got {fmt!r}")
    lines = ["| " + " | ".join(heads) + " |", "|---|" + "---:|" * (len(heads) - 1)]
    for r in rows:
        cells = [
            _pct(r.war),
            _pct(r.uar),
            _num(r.ops_g, 3),
            _num(r.params_m, 2),
            _num(r.latency_ms, 2),
            _num(r.spikes_per_neuron, 3),
        ]
        lines.append(f"| {r.method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report(
    folder: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    with_std: bool = True,
    schema: NameSchema = SEE_SCHEMA,
) -> tuple[str, str]:
    """Build the results table from a folder of SEEN JSONs or baselines (see
    [`load_results`][ttfsnet_nas.emotion.report.load_results]); optionally write ``results.md`` /
    ``results.csv``.

    Returns:
        ``(markdown, csv)``.
    """
    results = load_results(folder, schema=schema)
    md = results_table(results, fmt="markdown", with_std=with_std)
    text = results_table(results, fmt="csv", with_std=with_std)
    if out is not None:
        target = Path(out)
        target.mkdir(parents=True, exist_ok=True)
        for name, content in (("results.md", md), ("results.csv", text)):
            atomic_write_text(target / name, content)
    return md, text
