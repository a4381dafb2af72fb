"""How every ``paper`` artefact writes: a Markdown file (title, table, notes) and a CSV with the same rows,
each atomically, and the same rules for numbers and for the word "synthetic".

A title says ``SYNTHETIC data, not SEE/DSEE results`` when any input used synthetic data, and every row has a
``Data`` column (``synthetic``, ``dataset`` or ``unknown`` for a SEEN folder outside a run folder).
Missing figures are shown as ``—``; nothing is filled in.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from ttfsnet_nas.emotion.seed_stats import SeedStats
from ttfsnet_nas.journal import atomic_write_text

__all__ = [
    "MISSING",
    "SYNTHETIC_NOTE",
    "data_kind",
    "error_note",
    "pct",
    "pct_pm",
    "title_line",
    "write_table",
]

MISSING = "—"
"""What a cell shows when the input has no such figure."""

SYNTHETIC_NOTE = "SYNTHETIC data, not SEE/DSEE results"
"""Appended to the title of every artefact with synthetic input."""


def data_kind(synthetic: bool | None) -> str:
    """The ``Data`` column: ``synthetic``, ``dataset`` or ``unknown``."""
    if synthetic is None:
        return "unknown"
    return "synthetic" if synthetic else "dataset"


def title_line(title: str, synthetic: bool) -> str:
    """``title`` with [`SYNTHETIC_NOTE`][ttfsnet_nas.emotion.paper.output.SYNTHETIC_NOTE] when synthetic."""
    return f"{title} — {SYNTHETIC_NOTE}" if synthetic else title


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def pct(value: float | None, digits: int = 1) -> str:
    """A fraction as percent text, [`MISSING`][ttfsnet_nas.emotion.paper.output.MISSING] when undefined."""
    return f"{100.0 * value:.{digits}f}" if value is not None and _finite(value) else MISSING


def pct_pm(value: float | None, std: float | None, digits: int = 1) -> str:
    """``mean ± std`` in percent; the mean alone when the std is undefined (e.g. one seed)."""
    text = pct(value, digits)
    if text == MISSING or std is None or not _finite(std):
        return text
    return f"{text} ± {100.0 * std:.{digits}f}"


def error_note(stats: Sequence[SeedStats]) -> str:
    """What the error bars of a figure over these methods measure, for its caption and notes."""
    seeds = sorted({s.seeds for s in stats})
    if seeds and seeds[0] >= 2:
        counts = ", ".join(str(n) for n in seeds)
        return f"error bars: sample std across training seeds ({counts} seeds per bar)"
    if seeds == [1]:
        return ("one training seed: error bars are the test-window std (fresh test windows for one trained "
                "network), not a spread over training seeds")
    return ("error bars: std across seeds for bars with ≥ 2 seeds, the test-window std for bars with one "
            "seed (column error_kind of the CSV)")


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if isinstance(v, float) and not math.isfinite(v) else v for v in row])
    return buffer.getvalue()


def write_table(
    out: Path,
    stem: str,
    *,
    title: str,
    synthetic: bool,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    csv_header: Sequence[str],
    csv_rows: Sequence[Sequence[object]],
    notes: Sequence[str] = (),
) -> list[Path]:
    """Write ``<stem>.md`` (title, table, notes) and ``<stem>.csv`` (unrounded values; empty cells for
    undefined ones) into ``out``, each atomically; returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# {title_line(title, synthetic)}", "", "| " + " | ".join(header) + " |",
          "|---|" + "---:|" * (len(header) - 1)]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    if notes:
        md += [""] + [f"- {n}" for n in notes]
    md_path = atomic_write_text(out / f"{stem}.md", "\n".join(md) + "\n")
    csv_path = atomic_write_text(out / f"{stem}.csv", _csv(csv_header, csv_rows))
    return [md_path, csv_path]
