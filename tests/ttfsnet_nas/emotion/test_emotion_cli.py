"""``data synth`` / ``data info`` and the ``report`` command (typer CliRunner on the emotion sub-app)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from ttfsnet_nas.emotion.cli import data_app, report
from ttfsnet_nas.emotion.seen_format import write_run
from ttfsnet_nas.errors import InputError

runner = CliRunner()


def test_synth_then_info(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    result = runner.invoke(
        data_app, ["synth", "--preset", "tiny", "--out", str(out), "--seed", "2", "--split", "official"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 168 synthetic sequences" in result.output
    info = runner.invoke(data_app, ["info", str(out)])
    assert info.exit_code == 0, info.output
    assert info.output.startswith("SYNTHETIC") and "subjects: 12" in info.output
    assert "emotion: angry 24, disgust 24" in info.output
    as_json = runner.invoke(data_app, ["info", str(out), "--format", "json"])
    payload = json.loads(as_json.output)
    assert payload["synthetic"] is True and payload["sequences"] == 168
    assert sum(payload["counts"]["subset"].values()) == 168
    again = runner.invoke(data_app, ["synth", "--preset", "tiny", "--out", str(out)])
    # the one InputError, which the main CLI turns into exit status 2 (checked through main() below)
    assert isinstance(again.exception, InputError)


def test_bad_input_through_the_main_cli_is_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ttfsnet_nas.cli import main

    (tmp_path / "empty").mkdir()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "test_epoch_0_1.json").write_text('{"results": {"x": [{"label": "joy"}]}}')
    cases = [
        (["data", "info", str(tmp_path / "absent")], "absent: dataset root not found"),
        (["data", "info", str(tmp_path / "empty")], "empty: no split JSON found"),
        (["data", "synth", "--preset", "huge", "--out", str(tmp_path / "o")], "unknown synthetic preset"),
        (
            ["data", "synth", "--preset", "tiny", "--out", str(tmp_path / "runs")],
            "runs: output folder is not",
        ),
        (["report", str(tmp_path / "empty")], "empty: no SEEN result files"),
        (["report", str(tmp_path / "runs")], "test_epoch_0_1.json: results['x'][0]: unknown emotion 'joy'"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2, (argv, err)
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_report_command(tmp_path: Path) -> None:
    names = ["1_001_man_24_Master_normal_angry_45_take000", "2_002_man_24_Master_HDR_fear_45_take000"]
    for run in (1, 2):
        write_run(tmp_path / "runs" / f"test_epoch_0_{run}.json", names, np.eye(7)[[0, 0]])
    app = typer.Typer()
    app.command()(report)
    result = runner.invoke(app, [str(tmp_path / "runs"), "--out", str(tmp_path / "tables")])
    assert result.exit_code == 0, result.output
    # The method is named after the folder; angry right, fear wrong (predicted angry) in both runs.
    row = (
        "| runs | - | - | 100.0 ± 0.0 | - | - | 0.0 ± 0.0 | - "
        "| 100.0 ± 0.0 | - | - | 0.0 ± 0.0 | 50.0 ± 0.0 | 50.0 ± 0.0 |"
    )
    assert row in result.output
    assert (tmp_path / "tables" / "results.csv").is_file()
    csv_out = runner.invoke(app, [str(tmp_path / "runs"), "--format", "csv"])
    assert csv_out.output.startswith("method,runs,Ha,")


def test_info_lenient_counts_bad_entries(make_see_tree) -> None:
    good, gone = "1_001_man_24_Master_normal_angry_45_take000", "2_001_man_24_Master_normal_angry_50_take001"
    root = make_see_tree({good: ("angry", "training", 3, 3), gone: ("angry", "testing", 3, 3)})
    for path in (root / "event" / "angry" / gone).iterdir():
        path.unlink()
    (root / "event" / "angry" / gone).rmdir()
    assert isinstance(runner.invoke(data_app, ["info", str(root)]).exception, InputError)
    result = runner.invoke(data_app, ["info", str(root), "--lenient", "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["sequences"] == 1 and payload["skipped"] == {"missing folder": 1}
