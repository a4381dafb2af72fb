"""Fig. 5 of TNAS-ER: the three retraining settings of one architecture (TNAS-ER §4.3): (1) ANN retraining
→ TTFS transfer, (2) (1) + SNN fine-tuning, (3) an SNN trained from scratch.

Inputs are run folders whose recipe enables the ``settings`` stage (``settings/settings.json``). A bar is
the SNN test WAR or UAR, mean over seeds of each seed's mean over its test runs; error bars are the std
across seeds, or with one seed the test-window std (the caption says which).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttfsnet_nas.emotion.paper.inputs import PaperInputs, RunFolder, run_methods
from ttfsnet_nas.emotion.paper.output import data_kind, error_note, pct, pct_pm, write_table
from ttfsnet_nas.emotion.seed_stats import SeedSample, SeedStats, seed_stats_from_summaries
from ttfsnet_nas.errors import InputError
from ttfsnet_nas.plots import plot_bars

__all__ = ["SETTINGS_PRODUCER", "SettingBar", "build_fig5", "fig5_bars"]

SETTINGS_PRODUCER = "the settings stage writes it when the recipe sets settings.enabled: true"
"""Which recipe key makes a run write ``settings/settings.json``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SettingBar:
    """One retraining setting of one method.

    Attributes:
        method: method name.
        name: setting name (``transfer``, ``transfer_finetune``, ``snn_scratch``).
        label: the setting's label as the stage wrote it.
        architectures: the architecture keys of the seeds (one per distinct key).
        stats: statistics over seeds.
        synthetic: whether the data is synthetic.
    """

    method: str
    name: str
    label: str
    architectures: tuple[str, ...]
    stats: SeedStats
    synthetic: bool


def _settings(run: RunFolder) -> tuple[str, list[tuple[str, str, SeedSample]]]:
    path = run.path / "settings" / "settings.json"
    data = run.json("settings/settings.json", SETTINGS_PRODUCER)
    try:
        arch = str(data["architecture"])
        rows = []
        for entry in data["settings"]:
            summary: Mapping[str, Any] = entry["summary"]
            snn = summary["snn"]
            rows.append((
                str(entry["name"]), str(entry["label"]),
                SeedSample(
                    mean={k: math.nan if v is None else float(v) for k, v in snn["mean"].items()},
                    std={k: math.nan if v is None else float(v) for k, v in snn["std"].items()},
                    runs=int(summary["runs"]),
                ),
            ))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(
            f"{path}: expected architecture and settings: [{{name, label, summary: {{runs, snn: "
            f"{{mean, std}}}}}}] ({type(exc).__name__}: {exc})"
        ) from None
    return arch, rows


def fig5_bars(inputs: PaperInputs) -> list[SettingBar]:
    """Every setting of every method, in the order the stage wrote them.

    Raises:
        InputError: an input is not a run folder or has no (or a malformed) ``settings/settings.json``.
    """
    bars: list[SettingBar] = []
    for m in run_methods(inputs, "fig5"):
        labels: dict[str, str] = {}
        samples: dict[str, list[SeedSample]] = {}
        archs: list[str] = []
        for run in m.runs:
            arch, rows = _settings(run)
            archs.append(arch)
            for name, label, sample in rows:
                labels.setdefault(name, label)
                samples.setdefault(name, []).append(sample)
        for name, label in labels.items():
            bars.append(SettingBar(method=m.name, name=name, label=label,
                                   architectures=tuple(dict.fromkeys(archs)),
                                   stats=seed_stats_from_summaries(samples[name]), synthetic=m.synthetic))
    return bars


def build_fig5(inputs: PaperInputs, out: Path) -> list[Path]:
    """Fig. 5: ``fig5.md``, ``fig5.csv`` and ``fig5.png``."""
    bars = fig5_bars(inputs)
    synthetic = any(b.synthetic for b in bars)
    methods = list(dict.fromkeys(b.method for b in bars))
    note = error_note([b.stats for b in bars])
    header = ["Method", "Setting", "WAR (%)", "UAR (%)", "Error bars show", "WAR test-window std",
              "UAR test-window std", "Seeds", "Architecture", "Data"]
    csv_header = ["method", "setting", "label", "war", "uar", "war_error", "uar_error", "error_kind",
                  "war_seed_std", "uar_seed_std", "war_window_std", "uar_window_std", "seeds", "architecture",
                  "data"]
    rows: list[list[str]] = []
    csv_rows: list[list[object]] = []
    for b in bars:
        s = b.stats
        war_err, kind = s.error("war")
        uar_err, _ = s.error("uar")
        rows.append([b.method, b.label, pct_pm(s.mean.get("war"), s.std.get("war")),
                     pct_pm(s.mean.get("uar"), s.std.get("uar")), kind, pct(s.window_std.get("war")),
                     pct(s.window_std.get("uar")), str(s.seeds), ", ".join(b.architectures),
                     data_kind(b.synthetic)])
        csv_rows.append([
            b.method, b.name, b.label,
            *(100.0 * v for v in (s.mean.get("war", math.nan), s.mean.get("uar", math.nan), war_err,
                                  uar_err)),
            kind,
            *(100.0 * v for v in (s.std.get("war", math.nan), s.std.get("uar", math.nan),
                                  s.window_std.get("war", math.nan), s.window_std.get("uar", math.nan))),
            s.seeds, ";".join(b.architectures), data_kind(b.synthetic),
        ])
    notes = [
        "SNN test accuracy in percent: mean over training seeds of each seed's mean over its test runs, "
        "± std across seeds (two or more seeds).",
        note[0].upper() + note[1:] + ".",
    ]
    paths = write_table(out, "fig5", title="Fig. 5 layout: retraining settings", synthetic=synthetic,
                        header=header, rows=rows, csv_header=csv_header, csv_rows=csv_rows, notes=notes)
    groups = [b.label if len(methods) == 1 else f"{b.method}: {b.label}" for b in bars]
    paths.append(plot_bars(
        groups,
        {
            "WAR": ([100.0 * b.stats.mean.get("war", math.nan) for b in bars],
                    [100.0 * b.stats.error("war")[0] for b in bars]),
            "UAR": ([100.0 * b.stats.mean.get("uar", math.nan) for b in bars],
                    [100.0 * b.stats.error("uar")[0] for b in bars]),
        },
        out / "fig5.png",
        ylabel="SNN test accuracy (%)",
        xlabel="Retraining setting",
        title="Retraining settings" + (" (SYNTHETIC data)" if synthetic else ""),
        caption=note[0].upper() + note[1:] + ".",
        percent=True,
    ))
    return paths
