"""`ttfsnet-nas` help, errors, ``--format`` and progress display: no ``<bool>`` on flags, one ``error: ...``
line for every failure, one format vocabulary, a hint for a run folder given as an artifact, and progress
lines with an ETA and no source locations."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ttfsnet_nas import cli
from ttfsnet_nas import progress as progress_module
from ttfsnet_nas.progress import LogProgress, RichProgress, cli_progress

runner = CliRunner()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.mark.parametrize("args", [[], ["search"], ["show"], ["evaluate"], ["export"]])
def test_help_shows_no_bool_placeholder(args: list[str]) -> None:
    result = runner.invoke(cli.app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output and "--help" in result.output


def test_flag_rows_have_no_placeholder_but_options_keep_theirs() -> None:
    output = runner.invoke(cli.app, ["search", "--help"]).output
    resume = next(line for line in output.splitlines() if "--resume" in line)
    assert "<" not in resume
    seed = next(line for line in output.splitlines() if "--seed" in line)
    assert "<int>" in seed


def test_format_vocabulary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert [f.value for f in cli.OutputFormat] == ["table", "json", "csv", "markdown"]
    help_text = runner.invoke(cli.app, ["show", "--help"]).output
    assert "table|json" in help_text and "Output: table or json." in help_text
    code, out, err = run(["show", str(tmp_path), "--format", "markdown"], capsys)
    assert (code, out) == (2, "")
    assert err == "error: Invalid value for '--format' / '-f': expected table or json, got 'markdown'\n"


def test_show_on_a_run_folder_names_the_artifact(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "x"
    (run_dir / "artifact").mkdir(parents=True)
    (run_dir / "artifact" / "manifest.json").write_text("{}")
    (run_dir / "journal.jsonl").write_text("")
    code, out, err = run(["show", str(run_dir)], capsys)
    assert (code, out) == (2, "")
    hint = f"did you mean {run_dir / 'artifact'}?"
    assert err == f"error: artifact {run_dir}: not an artifact (no manifest.json); {hint}\n"
    # a folder with nothing like an artifact below it keeps the plain message
    code, _, err = run(["show", str(tmp_path)], capsys)
    assert code == 2 and err == f"error: artifact {tmp_path}: manifest.json is missing\n"


def test_runtime_error_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated failure\nwith a second line")

    monkeypatch.setattr(cli, "read_artifact", boom)
    assert run(["show", str(tmp_path)], capsys) == (1, "", "error: simulated failure\n")


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_log_progress_lines_have_an_eta_per_tenth(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter(float(t) for t in range(1000))
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    caplog.set_level(logging.INFO, logger="ttfsnet_nas")
    prog = LogProgress()
    prog.start("supernet", 40)  # t = 0
    for _ in range(40):  # one step per second
        prog.advance("supernet", loss="1.5")
    prog.finish("supernet")
    lines = _lines(caplog)
    assert lines[0] == "supernet: start (0/40)"
    assert lines[1] == "supernet: 4/40 (10%), 0:00:04 elapsed, eta 0:00:36 loss=1.5"
    assert lines[-2] == "supernet: 40/40 (100%), 0:00:40 elapsed, eta 0:00:00 loss=1.5"
    assert len(lines) == 1 + 10 + 1 and lines[-1].startswith("supernet: done (40 steps, 0:00:")


def test_log_progress_eta_counts_only_new_steps_on_resume(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter(float(t) for t in range(1000))
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    caplog.set_level(logging.INFO, logger="ttfsnet_nas")
    prog = LogProgress()
    prog.start("search", 100, completed=50)
    for _ in range(10):
        prog.advance("search")
    # 10 steps in 10 s since the resume: 40 to go take 40 s (not 8 s, as counting the 50 restored would say)
    assert _lines(caplog)[1:] == ["search: 60/100 (60%), 0:00:10 elapsed, eta 0:00:40"]


def test_log_progress_without_total(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ttfsnet_nas")
    prog = LogProgress(every=5)
    for _ in range(10):
        prog.advance("load")
    assert [re.sub(r"\d+:\d\d:\d\d", "T", line) for line in _lines(caplog)] == [
        "load: start (0/?)", "load: 5/?, T elapsed", "load: 10/?, T elapsed",
    ]


def test_rich_progress_messages_have_no_source_location(capsys: pytest.CaptureFixture[str]) -> None:
    with RichProgress() as prog:
        prog.start("search", 2)
        prog.log("stage search: running")
        prog.advance("search", 2)
    out, err = capsys.readouterr()
    assert out == ""  # bars and messages go to standard error, results alone to standard output
    line = next(line for line in err.splitlines() if "stage search: running" in line)
    assert ".py:" not in line and line.rstrip().endswith("stage search: running")


@pytest.mark.parametrize(("quiet", "terminal", "kind"), [
    (False, True, RichProgress), (True, True, LogProgress), (False, False, LogProgress),
])
def test_cli_progress_picks_bars_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, quiet: bool, terminal: bool, kind: type
) -> None:
    monkeypatch.setattr(progress_module, "_is_terminal", lambda: terminal)
    with cli_progress(quiet=quiet) as prog:
        assert isinstance(prog, kind)
