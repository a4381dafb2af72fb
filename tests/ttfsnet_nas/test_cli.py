"""`ttfsnet-nas` CLI end to end on the torch-free toy pipeline; exit codes; lazy sub-apps."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ttfsnet_nas import cli
from ttfsnet_nas.artifact import read_artifact
from ttfsnet_nas.journal import read_journal
from ttfsnet_nas.pipelines import get_pipeline, list_pipelines
from ttfsnet_nas.toy import Landscape, toy_space

RECIPE = """\
type: toy
space: {genes: 5, ops: 3}
landscape: {seed: 2, noise: 0.3}
search:
  strategy: evolution
  seed: 1
  pool_size: 6
  elite_size: 6
  rounds: 6
  fitness:
    weights: {war_uar: 1.0}
    constraints: [{objective: params, max: 1.1e6}]
baselines: [random_search]
plots: true
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    p = tmp_path / "toy.yaml"
    p.write_text(RECIPE)
    return p


def test_search_show_evaluate_export(
    recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code, stdout, err = run(["--quiet", "search", str(recipe), "--out", str(out)], capsys)
    assert code == 0, err
    assert stdout.strip() == str(out / "artifact")
    for name in ("journal.jsonl", "resolved_recipe.yaml", "result.json", "fitness.png", "ops.png"):
        assert (out / name).is_file(), name
    assert len(read_journal(out / "journal.jsonl").records) == 36
    summary = json.loads((out / "result.json").read_text())
    assert [r["round"] for r in summary["rounds"]] == list(range(6))
    assert summary["evaluations"] == 36 and summary["best_metrics"]["params"] <= 1.1e6
    assert all(r["best_so_far"] <= summary["best_values"]["war_uar"] for r in summary["rounds"])
    # the baseline went through the same interface, with its own journal: best of 100 random candidates
    rs = summary["baselines"]["random_search"]
    assert rs["evaluations"] == 100 == len(read_journal(out / "baselines" / "random_search.jsonl").records)
    rs_records = read_journal(out / "baselines" / "random_search.jsonl").records
    feasible = [r["values"]["war_uar"] for r in rs_records if r["values"]["params"] <= 1.1e6]
    assert len(feasible) < 100 and rs["best_values"]["war_uar"] == max(feasible)
    assert yaml.safe_load((out / "resolved_recipe.yaml").read_text())["baselines"] == ["random_search"]

    art = read_artifact(out / "artifact")
    land = Landscape(toy_space(5, 3), seed=2)
    assert art.architecture.to_dict() == summary["best"]
    assert art.metrics["search"]["params"] <= 1.1e6
    assert art.recipe is not None and art.recipe["type"] == "toy"

    code, stdout, _ = run(["show", str(out / "artifact"), "--format", "json"], capsys)
    shown = json.loads(stdout)
    assert code == 0 and shown["architecture"] == art.architecture.to_dict()
    assert shown["metrics"]["evaluations"] == 36

    code, stdout, _ = run(["show", str(out / "artifact")], capsys)
    assert code == 0 and "architecture" in stdout and "search.war_uar" in stdout

    code, stdout, _ = run(["--quiet", "evaluate", str(recipe), str(out / "artifact"), "-f", "json"], capsys)
    metrics = json.loads(stdout)
    assert code == 0
    assert metrics["landscape_value"] == pytest.approx(land.value(art.architecture))

    code, stdout, _ = run(["--quiet", "export", str(out), "--out", str(tmp_path / "art2")], capsys)
    assert code == 0 and read_artifact(tmp_path / "art2").architecture == art.architecture


def test_resume_after_crash_matches_uninterrupted(
    recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, crashed = tmp_path / "ref", tmp_path / "crashed"
    assert run(["-q", "search", str(recipe), "--out", str(ref), "--stages", "search"], capsys)[0] == 0
    assert not (ref / "artifact").exists()
    # simulate a crash: keep the header and 13 records plus half of the 14th
    lines = (ref / "journal.jsonl").read_bytes().split(b"\n")
    crashed.mkdir()
    (crashed / "journal.jsonl").write_bytes(b"\n".join(lines[:14]) + b"\n" + lines[14][:40])
    code, _, err = run(["-q", "search", str(recipe), "--out", str(crashed)], capsys)
    assert code == 2 and "already exists; resume it (--resume)" in err
    assert run(["-q", "search", str(recipe), "--out", str(crashed), "--resume"], capsys)[0] == 0
    a = [(r["key"], r["values"]) for r in read_journal(ref / "journal.jsonl").records]
    b = [(r["key"], r["values"]) for r in read_journal(crashed / "journal.jsonl").records]
    assert a == b
    assert json.loads((crashed / "result.json").read_text())["resumed"] == 13
    # a different seed is a different run: resuming it is refused
    code, _, err = run(
        ["-q", "search", str(recipe), "--out", str(crashed), "--resume", "--seed", "9"], capsys
    )
    assert code == 2 and "stage 'search' was produced with a different recipe" in err
    assert "(changed: search.seed)" in err
    assert yaml.safe_load((crashed / "resolved_recipe.yaml").read_text())["search"]["seed"] == 1  # left alone


def test_same_seed_same_noisy_history(
    recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the toy evaluator draws noise from the global numpy RNG: the pipeline must seed it from search.seed
    def history(name: str, *extra: str) -> list[tuple[str, dict[str, float]]]:
        argv = ["-q", "search", str(recipe), "--out", str(tmp_path / name), "--stages", "search", *extra]
        assert run(argv, capsys)[0] == 0
        return [(r["key"], r["values"]) for r in read_journal(tmp_path / name / "journal.jsonl").records]

    a = history("a")
    assert history("b") == a
    assert history("c", "--seed", "2") != a


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("type: toy\nsearch: {pool_size: twelve}\n", 'search.pool_size: expected int ≥ 2, got "twelve"'),
        ("type: nope\n", "type: expected one of"),
        ("space: {genes: 2}\n", "missing key 'type'"),
        ("type: toy\nspace: {genes: 2, colour: red}\n", 'space.colour: unknown key "colour"'),
        ("type: toy\nbaselines: [random_serch]\n", "baselines: expected registered strategy names"),
        # only known once the space is built: still a recipe error, keyed by the YAML path
        ("type: toy\nspace: {genes: 7, ops: 4}\nsearch: {strategy: exhaustive}\n",
         "search.strategy: exhaustive: space has 16384 architectures, more than the limit 10000"),
    ],
)
def test_recipe_errors_exit_2_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    code, _, err = run(["search", str(p), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    # the error is one line, the last; before it only the run's progress log lines (standard error is no
    # terminal here, so progress is logged there)
    *progress, error = err.strip().splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO ", line) for line in progress), err
    assert error.startswith("error: ") and message in error and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nosuchcommand"], "No such command 'nosuchcommand'"),
        (["search"], "Missing argument 'recipe'"),
        (["search", "{tmp}/missing.yaml"], "missing.yaml: no such recipe file"),
        (["search", "{recipe}", "--bogus"], "No such option: --bogus"),
        (["search", "{recipe}", "--out", "{tmp}/o", "--stages", "bogus"],
         "unknown stage 'bogus'; stages of this pipeline: search, export"),
        (["search", "{recipe}", "--out", "{tmp}/o", "--seed", "x"], "Invalid value for '--seed'"),
        (["evaluate", "{tmp}/missing.yaml", "{tmp}"], "file '{tmp}/missing.yaml' does not exist"),
        (["evaluate", "{recipe}", "{tmp}/nothing"], "dir '{tmp}/nothing' does not exist"),
        (["show"], "Missing argument"),
        (["show", "{tmp}/nothing"], "dir '{tmp}/nothing' does not exist"),
    ],
)
def test_usage_errors_exit_2_one_line(
    argv: list[str], message: str, tmp_path: Path, recipe: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every usage error is one ``error: ...`` line and exit status 2: no usage banner, no traceback."""
    fill = {"tmp": str(tmp_path), "recipe": str(recipe)}
    code, out, err = run([a.format(**fill) for a in argv], capsys)
    assert code == 2
    assert err.splitlines() == [err.strip()] and err.startswith("error: ")
    assert message.format(**fill) in err and "Traceback" not in err + out


def test_global_flags_after_the_subcommand(
    recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["search", str(recipe), "--out", str(tmp_path / "r"), "--stages", "search", "--quiet"]
    code, stdout, err = run(argv, capsys)
    assert code == 0, err
    assert stdout.strip() == str(tmp_path / "r") and "search: done (36 steps" in err  # log lines, no bars
    art = tmp_path / "not_an_artifact"
    art.mkdir()
    code, _, err = run(["show", str(art), "--debug"], capsys)
    assert code == 2 and "Traceback" in err


def test_input_error_exit_2_traceback_only_with_debug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    art = tmp_path / "not_an_artifact"
    art.mkdir()
    code, _, err = run(["show", str(art)], capsys)
    assert code == 2 and err.startswith("error: artifact") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(["--debug", "show", str(art)], capsys)
    assert code == 2 and "Traceback" in err


def test_runtime_error_exit_1_traceback_only_with_debug(
    recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # export needs the search stage's journal, which this run folder lacks
    argv = ["search", str(recipe), "--out", str(tmp_path / "r"), "--stages", "export"]
    code, _, err = run(argv, capsys)
    assert code == 1 and "stage 'search' has no complete outputs" in err and "Traceback" not in err
    code, _, err = run(["--debug", *argv, "--resume"], capsys)
    assert code == 1 and "Traceback" in err


def test_tampered_artifact_is_refused(
    recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert run(["-q", "search", str(recipe), "--out", str(out)], capsys)[0] == 0
    metrics = out / "artifact" / "metrics.json"
    metrics.write_text(metrics.read_text().replace("36", "35"))
    code, _, err = run(["show", str(out / "artifact")], capsys)
    assert code == 2 and "metrics.json does not match its sha256" in err


def test_callback_keeps_subcommands_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    result = CliRunner().invoke(cli.app, ["--help"])
    assert result.exit_code == 0
    for name in ("search", "evaluate", "export", "show", "data", "report"):
        assert name in result.output


def test_lazy_mount_of_emotion_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["data", "--help"], capsys)
    assert code == 0 and "Usage: ttfsnet-nas data" in out
    code, out, _ = run(["report", "--help"], capsys)
    assert code == 0 and "Usage: ttfsnet-nas report" in out


def test_lazy_command_with_missing_module(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_plugin_commands", lambda: {"ghost": "no_such_module_abc:app"})
    code, _, err = run(["ghost"], capsys)
    assert code == 2 and "'ghost' needs no_such_module_abc:app, which could not be imported" in err


def test_pipeline_registry() -> None:
    assert {"toy", "emotion"} <= set(list_pipelines())
    assert get_pipeline("toy").type_name == "toy"


def test_console_script_smoke(recipe: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("ttfsnet-nas")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    probe = (
        "import sys, ttfsnet_nas.cli; "
        "print(any(m.startswith(('torch', 'ttfsnet_nas.emotion')) for m in sys.modules))"
    )
    assert (
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env).stdout.strip()
        == "False"
    )
    help_run = subprocess.run([str(exe), "--help"], capture_output=True, text=True, env=env)
    assert help_run.returncode == 0 and "search" in help_run.stdout
    done = subprocess.run(
        [sys.executable, "-m", "ttfsnet_nas", "-q", "search", str(recipe), "--out", str(tmp_path / "r")],
        capture_output=True, text=True, env=env,
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == tmp_path / "r" / "artifact"


def test_rich_progress_path(recipe: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli.app, ["search", str(recipe), "--out", str(tmp_path / "r"), "--stages", "search"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(str(tmp_path / "r"))
    assert len(read_journal(tmp_path / "r" / "journal.jsonl").records) == 36


def test_plots_write_pngs(tmp_path: Path) -> None:
    from ttfsnet_nas.plots import plot_fitness, plot_op_counts
    from ttfsnet_nas.search import RoundStats

    stats = [RoundStats(r, 4, 50.0 + r, 40.0 + r, 50.0 + r) for r in range(3)]
    p = plot_fitness(stats, tmp_path / "f.png", extra={"SNN": stats})
    q = plot_op_counts({"b0": {"k3": 3, "skip": 1}, "b1": {"k5": 4}}, tmp_path / "o.png")
    for path in (p, q):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["f.png", "o.png"]  # no temp files left


def test_run_folder_is_resolved_locked_and_reported(
    recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A relative or ``..`` run folder is resolved to an absolute path and logged; the lock file is there and
    empty after a clean exit; a resume logs the recipe keys changed since the run started."""
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    code, _, err = run(["-q", "search", str(recipe), "--out", "../../up", "--stages", "search"], capsys)
    assert code == 0, err
    target = (tmp_path / "up").resolve()
    assert f"run folder: {target}" in err
    assert (target / ".lock").read_text() == ""
    changed = recipe.read_text().replace("rounds: 6", "rounds: 7")
    recipe.write_text(changed)
    code, _, err = run(["-q", "search", str(recipe), "--out", str(target), "--resume"], capsys)
    assert code == 2 and "recipe changed since the run started: search.rounds" in err
    (line,) = [x for x in err.splitlines() if x.startswith("error")]
    assert "stage 'search'" in line and "(changed: search.rounds)" in line and "--force-stage search" in line
    code, _, err = run(
        ["-q", "search", str(recipe), "--out", str(target), "--resume", "--force-stage", "search"], capsys
    )
    assert code == 0 and "stage search: --force-stage discards its outputs" in err, err


@pytest.mark.parametrize(
    "torchrun, world, teardown", [(True, "1", True), (True, "2", False), (False, "2", True)]
)
@pytest.mark.parametrize("args, code", [(["--help"], 0), (["show", "no/such/folder"], 2)])
def test_under_multi_process_torchrun_the_cli_skips_interpreter_teardown(
    torchrun: bool, world: str, teardown: bool, args: list[str], code: int
) -> None:
    """Under torchrun with several processes the CLI leaves by ``os._exit`` (gloo may abort in teardown):
    the exit code and the flushed output stay; atexit handlers, which run only in teardown, do not."""
    script = (
        "import atexit, sys\n"
        "from ttfsnet_nas.cli import main\n"
        "atexit.register(lambda: print('TEARDOWN', flush=True))\n"
        f"main({args!r})\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHELASTIC_")}
    env["WORLD_SIZE"] = world
    if torchrun:  # what torchrun sets for its workers; WORLD_SIZE alone is not enough
        env["TORCHELASTIC_RUN_ID"] = "test"
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == code, proc.stderr
    assert ("TEARDOWN" in proc.stdout) is teardown
    assert ("Usage" in proc.stdout) is (code == 0) and ("error" in proc.stderr) is (code != 0)
