"""The supernet stage under ``torchrun`` checkpoints every epoch: two gloo ranks stopped in the middle of the
stage and restarted with ``--resume`` give the same supernet as an uninterrupted two-rank run, and one
process refuses to continue what two began."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ttfsnet_nas.cli import main
from ttfsnet_nas.torch.files import read_tensors

TINY = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes" / "tiny.yaml"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TTFSNET_DATA", str(tmp_path / "data"))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def _torchrun(recipe: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "ttfsnet_nas", "--quiet", "search", str(recipe), "--stages", "supernet", "--device", "cpu",
        "--out", str(out), *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str]) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"{err[:3000]}\n...\n{err[-1500:]}"


def _training(out: Path) -> dict[str, Any]:
    return json.loads((out / "supernet" / "training.json").read_text())


@pytest.mark.slow
def test_interrupted_torchrun_supernet_stage_resumes_bit_identically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = yaml.safe_load(TINY.read_text())
    recipe["supernet"]["epochs"] = 6  # about 0.7 s each here: time to stop the ranks after the first ones
    path = tmp_path / "tiny6.yaml"
    path.write_text(yaml.safe_dump(recipe))

    reference = tmp_path / "straight"
    _finish(_torchrun(path, reference))

    out = tmp_path / "stopped"
    proc = _torchrun(path, out)
    deadline = time.monotonic() + 240
    while not list((out / "supernet").glob("train-*.ckpt")) and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)  # what a scheduler sends: torchrun stops both ranks at once
    proc.communicate(timeout=120)
    assert proc.returncode != 0, "the stage finished before it was stopped"
    (checkpoint,) = (out / "supernet").glob("train-*.ckpt")
    saved = read_tensors(checkpoint, what="checkpoint")
    done = len(saved["epoch_losses"])
    assert saved["world_size"] == 2 and 1 <= done < 6
    assert not (out / "supernet" / "supernet.pt").exists() and not (out / "stages" / "supernet.json").exists()

    # One process cannot continue two ranks' checkpoint: refused in one line, the checkpoint kept.
    before = checkpoint.read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["--quiet", "search", str(path), "--out", str(out), "--stages", "supernet", "--resume",
              "--device", "cpu"])
    assert info.value.code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "its checkpoint was written with world size 2, this run has world size 1" in (
        errors[0]
    )
    assert checkpoint.read_bytes() == before

    _finish(_torchrun(path, out, "--resume"))
    training, straight = _training(out), _training(reference)
    assert training["resumed_from_epoch"] == done
    assert training["sha256"] == straight["sha256"]  # the same supernet as the uninterrupted two ranks
    assert training["epoch_losses"] == straight["epoch_losses"] and training["world_size"] == 2
    assert not list((out / "supernet").glob("train-*.ckpt"))  # removed once the stage is complete
