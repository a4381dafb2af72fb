"""Run folders under stress, with real processes: two writers at once, SIGKILL at random moments, and
received files that carry code (a pickle that would create a marker file if it were ever unpickled)."""

from __future__ import annotations

import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from ttfsnet_nas.cli import main
from ttfsnet_nas.journal import sha256_file

TIMING_KEYS = {"stage_seconds"}
TINY = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes" / "tiny.yaml"


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["--quiet", *args])
    return int(info.value.code or 0), capsys.readouterr().err.strip()


def _spawn(args: list[str], data: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TTFSNET_DATA": str(data), "PYTHONHASHSEED": "0"}
    return subprocess.Popen(
        [sys.executable, "-c", "from ttfsnet_nas.cli import main; main()", "--quiet", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _result(out: Path) -> dict[str, Any]:
    doc = json.loads((out / "result.json").read_text())
    return {k: v for k, v in doc.items() if k not in TIMING_KEYS | {"out"}}


def _journal_keys(out: Path) -> list[str]:
    lines = (out / "search" / "journal.jsonl").read_text().splitlines()[1:]
    return [json.dumps(json.loads(line), sort_keys=True) for line in lines]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(autouse=True)
def _data_env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("TTFSNET_DATA", str(data_dir))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """One uninterrupted ``tiny`` run in a subprocess (the same process setup as the runs under test)."""
    out = tmp_path_factory.mktemp("ref") / "tiny"
    proc = _spawn(["search", "tiny", "--out", str(out)], data_dir)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return out


def _errors(err: str) -> list[str]:
    """The error lines of a CLI's stderr (``--quiet`` log lines may precede them); no traceback allowed."""
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error")]


HOLD = """
import sys, time
from ttfsnet_nas.runlock import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_held_folder_refuses_other_writers_until_its_holder_dies(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "held"
    data = Path(os.environ["TTFSNET_DATA"])
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        argv = ["search", "tiny", "--out", str(out)]
        writers = [_spawn([*argv, *extra], data) for extra in ([], ["--resume"])]
        for writer in writers:
            _, err = writer.communicate(timeout=300)
            assert writer.returncode == 2, err
            (line,) = _errors(err)
            assert f"in use by pid {holder.pid} on " in line and "choose another --out" in line
        assert not (out / "resolved_recipe.yaml").exists()  # refused before touching anything
    finally:
        holder.kill()
        holder.communicate()
    # SIGKILL leaves the lock file naming the dead holder; the kernel released the lock itself
    assert f"pid {holder.pid} " in (out / ".lock").read_text()
    proc = _spawn(["search", "tiny", "--out", str(out)], data)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert f"the run of pid {holder.pid} " in err and "taken over" in err
    assert _result(out) == _result(reference)
    assert (out / ".lock").read_text() == ""  # a clean exit leaves the lock free and empty


def test_two_writers_racing_leave_a_valid_folder(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "race"
    data = Path(os.environ["TTFSNET_DATA"])
    procs = [_spawn(["search", "tiny", "--out", str(out), *extra], data) for extra in ([], ["--resume"])]
    codes = []
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        codes.append(proc.returncode)
        if proc.returncode == 2:  # the loser is told who holds the folder, or that the run exists
            (line,) = _errors(err)
            assert "in use by pid" in line or "already holds a run" in line
        else:
            assert proc.returncode == 0, err
    assert 0 in codes
    assert _result(out) == _result(reference)
    keys = _journal_keys(out)
    assert len(keys) == len(set(keys)) == len(_journal_keys(reference))  # no record written twice
    proc = _spawn(["search", "tiny", "--out", str(out), "--resume"], data)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0 and "stage test: complete" in err, err


def _kill_after_line(args: list[str], data: Path, line: int, pause: float) -> bool:
    """Run the CLI, SIGKILL it ``pause`` seconds after its ``line``-th log line; whether it was still running.

    Log lines (one per tenth of each task under ``--quiet``) mark real progress, so the kill point does not
    depend on how fast a loaded machine happens to be; the pause moves it off the line's own instant.
    """
    proc = _spawn(args, data)
    assert proc.stderr is not None
    reached = False
    for n, _ in enumerate(proc.stderr, start=1):
        if n == line:
            reached = True
            time.sleep(pause)
            break
    if reached and proc.poll() is None:  # not reached: the run ended (end of its output) before that line
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=120)
        return True
    proc.communicate(timeout=120)
    return False


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_reproduces_the_run(reference: Path, tmp_path: Path) -> None:
    """Fault injection: 5 runs, each SIGKILLed at a pseudo-random point of its progress and its resume killed
    again at another, then resumed to the end; every one must reproduce the uninterrupted run.

    The seed changes per run (set ``TTFSNET_KILL_SEED`` to replay one; it is in every failure message).
    A killed run leaves its lock behind (the kernel releases it) and the next resume takes it over.
    """
    seed = int(os.environ.get("TTFSNET_KILL_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    data = Path(os.environ["TTFSNET_DATA"])
    counted = _spawn(["search", "tiny", "--out", str(tmp_path / "counted")], data)
    _, err = counted.communicate(timeout=600)
    lines = len(err.splitlines())  # log lines of a whole run: the kill points are drawn among them
    assert lines >= 20, err
    kills = 0
    for i in range(5):
        out = tmp_path / f"killed-{i}"
        args = ["search", "tiny", "--out", str(out)]
        first = rng.randint(2, lines - 3)
        kills += _kill_after_line(args, data, first, rng.uniform(0.0, 0.2))
        # the resume logs about the lines the killed run did not reach; kill it within the first half of them
        second = rng.randint(1, max(1, (lines - first) // 2))
        kills += _kill_after_line([*args, "--resume"], data, second, rng.uniform(0.0, 0.2))
        proc = _spawn([*args, "--resume"], data)
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"seed {seed}, run {i}: {err}"
        assert _result(out) == _result(reference), f"seed {seed}, run {i}"
        keys = _journal_keys(out)
        assert len(keys) == len(set(keys)) == len(_journal_keys(reference)), f"seed {seed}, run {i}"
        assert not list(out.rglob("*.tmp")), f"seed {seed}, run {i}: a temporary file was left"
    assert kills >= 5, f"seed {seed}: only {kills} of 10 runs were still running when killed"
    print(f"fault injection, seed {seed}: {kills} SIGKILLs in 5 runs, every resumed run identical")


KILL_RECIPE = {
    # ``tiny`` with every stage long enough to be killed inside, and the baselines stage switched on
    "supernet": {"epochs": 12},
    "search": {"rounds": 10, "pool_size": 6, "elite_size": 3},
    "retrain": {"epochs": 12},
    "snn": {"finetune_epochs": 6},
    "test": {"runs": 16},
    "baselines": {"random_sampling": 1, "fixed": ["conv3x3"]},
}


@pytest.fixture(scope="module")
def kill_recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    recipe = yaml.safe_load(TINY.read_text())
    for section, values in KILL_RECIPE.items():
        recipe.setdefault(section, {}).update(values)
    path = tmp_path_factory.mktemp("kill") / "kill.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture(scope="module")
def kill_reference(kill_recipe: Path, data_dir: Path) -> Path:
    out = kill_recipe.parent / "reference"
    proc = _spawn(["search", str(kill_recipe), "--out", str(out)], data_dir)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    return out


# evidence that a stage is under way and has written some of its partial outputs
PROGRESS: dict[str, Callable[[Path], bool]] = {
    "supernet": lambda out: any((out / "supernet").glob("train-*.ckpt")),
    "search": lambda out: len((out / "search" / "journal.jsonl").read_bytes().splitlines()) >= 3,
    "retrain": lambda out: any((out / "retrain").glob("train-*.ckpt")),
    "snn": lambda out: (out / "snn.partial").is_dir(),
    "test": lambda out: any((out / "test").glob("test_epoch_0_*.json")),
    "baselines": lambda out: any((out / "baselines").rglob("train-*.ckpt")),
}


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(PROGRESS))
def test_sigkill_inside_every_stage_then_resume(
    kill_recipe: Path, kill_reference: Path, tmp_path: Path, stage: str
) -> None:
    """SIGKILL once the stage has written some of its partial outputs and before it finished, then
    ``--resume``: the result equals the uninterrupted run's, timings aside."""
    data = Path(os.environ["TTFSNET_DATA"])
    out = tmp_path / "run"
    proc = _spawn(["search", str(kill_recipe), "--out", str(out)], data)
    started, done = out / "stages" / f"{stage}.started.json", out / "stages" / f"{stage}.json"
    deadline = time.monotonic() + 600
    while not (started.is_file() and _quietly(PROGRESS[stage], out)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    assert not done.is_file(), f"stage {stage} finished before the kill: lengthen it in KILL_RECIPE"
    resumed = _spawn(["search", str(kill_recipe), "--out", str(out), "--resume"], data)
    _, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, err
    assert _result(out) == _result(kill_reference)
    assert not list(out.rglob("*.tmp")) and not (out / "stages" / f"{stage}.started.json").exists()


def _quietly(check: Callable[[Path], bool], out: Path) -> bool:
    try:
        return check(out)
    except OSError:  # a file the run is replacing this instant
        return False


# -- received files that carry code ---------------------------------------------------------------------


class _Armed:
    """Unpickling this runs ``Path(marker).touch()``: the marker appears if any loader ever unpickles it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (pathlib.Path.touch, (self.marker,))


def _arm(path: Path, marker: Path) -> None:
    torch.save({"format": "ttfsnet.network", "version": 1, "state_dict": _Armed(marker)}, path)


def _reseal(artifact: Path) -> None:
    """Rewrite the manifest to match the planted files, as an attacker who ships the whole folder would."""
    manifest = json.loads((artifact / "manifest.json").read_text())
    for rel in manifest["files"]:
        f = artifact / rel
        manifest["files"][rel] = {"sha256": sha256_file(f), "bytes": f.stat().st_size}
    (artifact / "manifest.json").write_text(json.dumps(manifest))


def _arm_weights(folder: Path, marker: Path) -> None:
    """Plant a pickle as the ANN's ``weights.pt`` and make ``model.json``'s checksum agree with it."""
    _arm(folder / "weights.pt", marker)
    doc = json.loads((folder / "model.json").read_text())
    doc["weights_sha256"] = sha256_file(folder / "weights.pt")
    (folder / "model.json").write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def run_copy(reference: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    def copy() -> Path:
        target = tmp_path_factory.mktemp("received") / "run"
        shutil.copytree(reference, target)
        return target

    return copy


@pytest.mark.parametrize(
    ("plant", "argv", "unmark"),
    [
        ("snn/snn.pt", ["--stages", "test"], ()),
        ("snn/snn.pt", ["--resume"], ("test",)),  # the resume redoes the test stage from the received SNN
        ("retrain/ann/weights.pt", ["--stages", "snn"], ()),
        ("supernet/supernet.pt", ["--stages", "search"], ()),
    ],
)
def test_search_never_runs_code_from_a_received_run_folder(
    run_copy: Any, plant: str, argv: list[str], unmark: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    out: Path = run_copy()
    marker = out.parent / "code-ran"
    if plant.endswith("weights.pt"):
        _arm_weights(out / Path(plant).parent, marker)
    else:
        _arm(out / plant, marker)
    for stage in unmark:
        (out / "stages" / f"{stage}.json").unlink()
    code, err = _cli(["search", "tiny", "--out", str(out), *argv], capsys)
    assert code == 2, err
    (line,) = _errors(err)
    assert "pickled objects" in line and Path(plant).name in line
    assert not marker.exists()


@pytest.mark.parametrize("reseal", [False, True])
def test_evaluate_never_runs_code_from_a_received_artifact(
    run_copy: Any, reseal: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    art = run_copy() / "artifact"
    marker = art.parent / "code-ran"
    _arm(art / "snn.pt", marker)
    if reseal:
        _reseal(art)
    code, err = _cli(["evaluate", str(TINY), str(art)], capsys)
    assert code == 2, err
    (line,) = _errors(err)
    assert "snn.pt" in line and ("pickled objects" if reseal else "does not match its sha256") in line
    assert not marker.exists()
