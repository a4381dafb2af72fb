"""``data synth``: every available CPU by default (the bytes do not depend on the process count) and a
progress display with an ETA: a rich bar on a terminal, one log line per tenth done otherwise (the shared
[`cli_progress`][ttfsnet_nas.progress.cli_progress] display, without source locations)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import ttfsnet_nas.emotion.cli as emotion_cli
import ttfsnet_nas.emotion.synth as synth_module
import ttfsnet_nas.progress as progress_module
from ttfsnet_nas.cli import main
from ttfsnet_nas.emotion.cli import data_app
from ttfsnet_nas.emotion.synth import SynthSummary

runner = CliRunner()


@pytest.fixture
def fake_generate(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace the generator by one that reports 40 sequences to the progress callback and writes nothing."""
    seen: dict[str, Any] = {}

    def fake(out: Path, **kwargs: Any) -> SynthSummary:
        seen.update(kwargs)
        for done in range(1, 41):
            kwargs["progress"](done, 40)
        counts = {"subset": {"training": 40}, "emotion": {"happy": 40}, "lighting": {"normal": 40}}
        return SynthSummary(root=Path(out), sequences=40, frames=800, counts=counts, seconds=0.5)

    monkeypatch.setattr(synth_module, "generate", fake)
    return seen


def test_default_workers_and_log_lines_with_eta(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_generate: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(emotion_cli, "_cpu_count", lambda: 5)
    with pytest.raises(SystemExit) as info:
        main(["data", "synth", "--preset", "full", "--out", str(tmp_path / "f")])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    assert fake_generate["workers"] == 5 and fake_generate["preset"] == "full"
    assert out.startswith("wrote 40 synthetic sequences") and "generate" not in out  # results only
    lines = [line for line in err.splitlines() if "generate: " in line and "elapsed" in line]
    assert [int(line.split("generate: ")[1].split("/")[0]) for line in lines] == list(range(4, 41, 4))
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO "
    shape = stamp + r"generate: (\d+)/40 \((\d+)%\), \d+:\d\d:\d\d elapsed, eta \d+:\d\d:\d\d"
    assert all(re.fullmatch(shape, line) for line in lines), lines
    assert lines[-1].endswith("40/40 (100%), 0:00:00 elapsed, eta 0:00:00")
    assert ".py:" not in err  # no source locations
    with pytest.raises(SystemExit):
        main(["data", "synth", "--out", str(tmp_path / "g"), "--workers", "1"])
    assert fake_generate["workers"] == 1


def test_quiet_gives_log_lines_on_a_terminal_too(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_generate: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(progress_module, "_is_terminal", lambda: True)
    with pytest.raises(SystemExit) as info:
        main(["data", "synth", "--out", str(tmp_path / "q"), "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert info.value.code == 0, err
    assert "generate: 40/40 (100%)" in err and "━" not in err


def test_terminal_gets_a_rich_bar_with_eta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_generate: dict[str, Any]
) -> None:
    monkeypatch.setattr(progress_module, "_is_terminal", lambda: True)
    result = runner.invoke(data_app, ["synth", "--out", str(tmp_path / "t"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    bar = next(line for line in result.output.splitlines() if line.startswith("generate"))
    assert "40/40" in bar and "eta" in bar
    assert "elapsed" not in result.output  # no log lines next to the bar
    assert "wrote 40 synthetic sequences" in result.output


def test_workers_must_be_positive(tmp_path: Path) -> None:
    out = tmp_path / "x"
    result = runner.invoke(data_app, ["synth", "--preset", "tiny", "--out", str(out), "--workers", "0"])
    assert result.exit_code == 2 and not out.exists()


def _digest(root: Path) -> str:
    """Hash of the generator's outputs (a frame cache that other tests wrote is left out)."""
    h = hashlib.sha256()
    for p in sorted([*(root / "event").rglob("*.jpg"), root / "emotion.json"]):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@pytest.mark.slow
def test_two_processes_write_the_bytes_of_one(
    tiny_see_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emotion_cli, "_cpu_count", lambda: 2)
    out = tmp_path / "two"
    result = runner.invoke(data_app, ["synth", "--preset", "tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert _digest(out) == _digest(tiny_see_root)  # the session's set: seed 0, one process
