"""The emotion commands' help and ``--format``, ``report`` on a run's baselines, the note under the tables
of a synthetic run, and the ``baselines`` progress task."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import ttfsnet_nas.emotion.baselines as baselines_module
from ttfsnet_nas.cli import main
from ttfsnet_nas.emotion.pipeline import synthetic_note
from ttfsnet_nas.emotion.report import load_baselines, load_results, results_table
from ttfsnet_nas.emotion.see import LIGHTINGS, PAPER_EMOTION_ORDER
from ttfsnet_nas.emotion.seen_format import write_run
from ttfsnet_nas.pipelines import load_recipe, resolve_recipe
from ttfsnet_nas.space import Architecture


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.mark.parametrize("args", [["data"], ["data", "synth"], ["data", "info"], ["report"]])
def test_help_shows_no_bool_placeholder(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*args, "--help"], capsys)
    assert code == 0 and "<bool>" not in out and "--help" in out
    assert "--install-completion" not in out  # plugin commands get no completion options either


def test_report_help_is_truthful(capsys: pytest.CaptureFixture[str]) -> None:
    _, top, _ = run(["--help"], capsys)
    report_row = next(line for line in top.splitlines() if "report" in line)
    assert "baselines" in report_row and "plot" not in top.lower()
    _, text, _ = run(["report", "--help"], capsys)
    assert "RUN_DIR/baselines" in text and "markdown|csv" in text and "plot" not in text.lower()


@pytest.mark.parametrize(
    ("args", "accepted", "given"),
    [(["data", "info", "."], "table or json", "csv"), (["report", "."], "markdown or csv", "table")],
)
def test_format_outside_the_command_subset_is_one_usage_line(
    capsys: pytest.CaptureFixture[str], args: list[str], accepted: str, given: str
) -> None:
    code, out, err = run([*args, "-f", given], capsys)
    assert (code, out) == (2, "")
    assert err == f"error: Invalid value for '--format' / '-f': expected {accepted}, got '{given}'\n"


def _summary(war: float, runs: int = 3) -> dict[str, Any]:
    """A test summary as ``EmotionStages.test`` writes it (the SNN part matters here)."""
    mean: dict[str, float | None] = {"war": war, "uar": war - 0.1}
    mean.update({f"emotion/{e}": war for e in PAPER_EMOTION_ORDER})
    mean.update({f"lighting/{lt}": war for lt in LIGHTINGS})
    mean["emotion/neutral"] = None  # absent from the test split: JSON null
    std = {k: 0.01 for k in mean}
    return {"runs": runs, "snn": {"mean": mean, "std": std}}


def _write_baselines(folder: Path) -> None:
    rows = [
        {"group": "random sampling", "name": "random_sampling_01", "architecture": "a",
         "summary": _summary(0.5)},
        {"group": "fixed conv3x3", "name": "fixed_conv3x3", "architecture": "b", "summary": _summary(0.625)},
    ]
    folder.mkdir(parents=True)
    (folder / "baselines.json").write_text(json.dumps(rows))
    (folder / "fixed_conv3x3").mkdir()  # per-baseline folders hold no SEEN files: ignored
    (folder / "fixed_conv3x3" / "summary.json").write_text(json.dumps(rows[1]))


def test_report_tabulates_a_baselines_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_baselines(tmp_path / "run" / "baselines")
    results = load_baselines(tmp_path / "run" / "baselines" / "baselines.json")
    assert list(results) == ["random_sampling_01", "fixed_conv3x3"]
    assert results["fixed_conv3x3"].runs == 3 and math.isnan(results["fixed_conv3x3"].mean["emotion/neutral"])
    code, out, err = run(["report", str(tmp_path / "run" / "baselines")], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("| Method | Ha |") and len(lines) == 4
    assert lines[3] == (
        "| fixed_conv3x3 | 62.5 ± 1.0 | 62.5 ± 1.0 | 62.5 ± 1.0 | 62.5 ± 1.0 | 62.5 ± 1.0 | 62.5 ± 1.0 | - "
        "| 62.5 ± 1.0 | 62.5 ± 1.0 | 62.5 ± 1.0 | 62.5 ± 1.0 | 62.5 ± 1.0 | 52.5 ± 1.0 |"
    )
    code, out, _ = run(["report", str(tmp_path / "run" / "baselines"), "--format", "csv", "--no-std"], capsys)
    assert code == 0 and out.splitlines()[1].startswith("random_sampling_01,3,50.0,")


def test_report_on_a_run_folder_has_the_test_and_the_baselines(tmp_path: Path) -> None:
    names = ["1_001_man_24_Master_normal_angry_45_take000", "2_002_man_24_Master_HDR_fear_45_take000"]
    write_run(tmp_path / "run" / "test" / "test_epoch_0_1.json", names, np.eye(7)[[0, 0]])
    _write_baselines(tmp_path / "run" / "baselines")
    # a real run also holds the stage runner's record stages/baselines.json (a dict, not results)
    (tmp_path / "run" / "stages").mkdir()
    record = {"stage": "baselines", "fingerprint": "0" * 16, "seconds": 1.0, "summary": {"baselines": 2}}
    (tmp_path / "run" / "stages" / "baselines.json").write_text(json.dumps(record))
    results = load_results(tmp_path / "run")
    assert list(results) == ["baselines/random_sampling_01", "baselines/fixed_conv3x3", "test"]
    assert results["test"].mean["war"] == pytest.approx(0.5)
    assert "| baselines/fixed_conv3x3 | 62.5 |" in results_table(results)


def test_malformed_baselines_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "baselines"
    folder.mkdir()
    (folder / "baselines.json").write_text(json.dumps([{"name": "x", "summary": {"runs": 2}}]))
    code, out, err = run(["report", str(folder)], capsys)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1
    assert err.startswith(f"error: {folder / 'baselines.json'}: entry 0: expected name and summary.runs")


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        ("tiny", "note: synthetic 'tiny' data at smoke-test size (chance 14.3 %): these figures show that "
                 "the pipeline runs and learns, they are not SEE/DSEE results"),
        ("demo", "note: synthetic 'wide' data at demo size (chance 14.3 %): these figures show that the "
                 "pipeline runs and learns, they are not SEE/DSEE results"),
        ("see-synthetic", "note: synthetic 'full' data (chance 14.3 %): these figures describe the synthetic "
                          "generator, they are not SEE/DSEE results"),
    ],
)
def test_synthetic_note(recipe: str, expected: str) -> None:
    _, rec = load_recipe(resolve_recipe(recipe))
    result = {"test": _summary(0.9)}
    assert synthetic_note(rec, result) == expected


def test_no_note_on_real_data() -> None:
    _, rec = load_recipe(resolve_recipe("see"))
    assert synthetic_note(rec, {"test": _summary(0.9)}) is None


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def start(self, task: str, total: int | None = None, *, completed: int = 0) -> None:
        self.calls.append(("start", task, total, completed))

    def advance(self, task: str, n: int = 1, **info: Any) -> None:
        self.calls.append(("advance", task, n))

    def finish(self, task: str) -> None:
        self.calls.append(("finish", task))

    def log(self, message: str) -> None:
        pass


def test_baselines_stage_reports_progress(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The ``baselines`` task counts the architectures; one finished before a resume starts as done."""
    archs = [("fixed conv3x3", f"fixed_{i}", Architecture({"g0b0": "conv3x3"})) for i in range(3)]
    monkeypatch.setattr(baselines_module, "baseline_archs", lambda stages: archs)
    (tmp_path / "baselines" / "fixed_0").mkdir(parents=True)
    (tmp_path / "baselines" / "fixed_0" / "summary.json").write_text(json.dumps({"name": "fixed_0"}))
    recorder = _Recorder()
    stages = SimpleNamespace(
        out=tmp_path,
        progress=recorder,
        resuming=lambda stage: True,
        retrain=lambda *a: None,
        transfer=lambda *a: None,
        test=lambda *a: _summary(0.5),
        hardware=lambda snn_path: {"latency_ms": 1.5, "snn": snn_path.parent.name},
    )
    assert baselines_module.run_baselines(stages) == {"baselines": 3}  # type: ignore[arg-type]
    # every baseline is costed like the searched network (Table 3's latency/energy columns)
    written = json.loads((tmp_path / "baselines" / "fixed_2" / "summary.json").read_text())
    assert written["summary"]["hardware"] == {"latency_ms": 1.5, "snn": "fixed_2"}
    assert recorder.calls == [
        ("start", "baselines", 3, 1), ("advance", "baselines", 1), ("advance", "baselines", 1),
        ("finish", "baselines"),
    ]
