"""DDP supernet training with a per-epoch checkpoint: two gloo ranks that crash in the middle of an epoch and
restart continue bit-identically; another world size is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ttfsnet_nas.torch import CheckpointError, MacroConfig, MacroSupernet, TrainConfig, train_supernet

# Runs on every rank under torchrun, in one of three modes (argv[2]):
#   straight: an uninterrupted training (rank 0 saves its weights and losses);
#   crash:    the same training, killed on every rank at the second step of epoch 2: the processes exit on
#             the spot (os._exit, as a SIGKILL would), so no destructor or exception handler runs;
#   resume:   a restart from other initial weights, which continues the checkpoint of epoch 1.
# The crash is a real process death in its own launch: raising an exception inside the process group and
# reusing the group made gloo abort now and then under load ("terminate called without an active exception").
RANKS = r'''
import faulthandler
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from ttfsnet_nas.torch import MacroConfig, MacroSupernet, TrainConfig
from ttfsnet_nas.torch.distributed import train_supernet_ddp

faulthandler.enable()  # an abort inside gloo shows where each thread was
folder, mode = Path(sys.argv[1]), sys.argv[2]
torch.set_num_threads(1)
dist.init_process_group("gloo")
rank = dist.get_rank()
payload = torch.load(folder / "data.pt", weights_only=True)
data = (payload["inputs"], payload["labels"])
cfg = MacroConfig(in_channels=3, num_classes=4, input_size=(8, 8), stem_channels=(4,), stage_blocks=(1, 2))
config = TrainConfig(epochs=3, batch_size=36, lr=1e-2, weight_decay=1e-3, seed=4)
# A restart has other weights, even on each rank; rank 0's are broadcast, then the checkpoint's replace them.
torch.manual_seed(0 if mode != "resume" else 123 + rank)
net = MacroSupernet(cfg)
calls = [0]


def die_at_step_6(rng):
    calls[0] += 1
    if calls[0] == 6:  # 4 steps per epoch: the second step of epoch 2
        dist.barrier()  # both ranks are past step 5, so rank 0 has written epoch 1's checkpoint
        os._exit(17)
    return net.sample(rng)


epochs_seen = []
result = train_supernet_ddp(
    net, data, config,
    sampler=die_at_step_6 if mode == "crash" else None,
    checkpoint=None if mode == "straight" else folder / "ckpt.pt",
    progress=lambda i: epochs_seen.append(i.epoch),
)
if rank == 0:
    torch.save(
        {"model": net.state_dict(), "losses": list(result.epoch_losses), "steps": result.steps,
         "epochs_seen": sorted(set(epochs_seen))},
        folder / f"{mode}.pt",
    )
dist.barrier()
dist.destroy_process_group()
# Leave without interpreter teardown, as the CLI does under torchrun: torch's gloo backend sometimes aborts
# there ("terminate called without an active exception"), after all of the above is done.
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
'''


def _launch(folder: Path, mode: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(folder / "ranks.py"), str(folder), mode,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{proc.stderr[:3000]}\n...\n{proc.stderr[-1500:]}"


def test_killed_ddp_training_resumes_bit_identically(
    tmp_path: Path, tiny_config: MacroConfig, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    torch.save({"inputs": data[0], "labels": data[1]}, tmp_path / "data.pt")
    (tmp_path / "ranks.py").write_text(RANKS)
    straight = _launch(tmp_path, "straight")
    assert straight.returncode == 0, _ok(straight)
    crash = _launch(tmp_path, "crash")
    assert crash.returncode != 0 and not (tmp_path / "crash.pt").exists(), "the run did not die"
    resume = _launch(tmp_path, "resume")
    assert resume.returncode == 0, _ok(resume)

    done = torch.load(tmp_path / "straight.pt", weights_only=True)
    again = torch.load(tmp_path / "resume.pt", weights_only=True)
    assert again["epochs_seen"] == [1, 2]  # only the epochs after the checkpoint ran again
    assert done["losses"] == again["losses"] and done["steps"] == again["steps"] == 12
    assert done["model"].keys() == again["model"].keys()
    for key in done["model"]:  # weights, op counts and the BatchNorm statistics averaged over the ranks
        assert torch.equal(done["model"][key], again["model"][key]), key
    assert not list(tmp_path.glob(".*.tmp"))  # the kill left no half-written checkpoint behind

    # The checkpoint is the single-process format plus the world size and each rank's own BN statistics.
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert ckpt["kind"] == "supernet" and ckpt["world_size"] == 2 and len(ckpt["epoch_losses"]) == 3
    assert set(ckpt) >= {"model", "optimizer", "generator", "rng", "steps", "config", "rank_stats"}
    first, second = ckpt["rank_stats"]
    assert first.keys() == second.keys() and first
    assert any(not torch.equal(first[k], second[k]) for k in first)  # each rank normalised its own shard

    # one process cannot continue what two began: each rank's shard and statistics would not carry over
    torch.manual_seed(0)
    with pytest.raises(CheckpointError, match=r"written by a run on 2 process\(es\), this run has 1"):
        train_supernet(
            MacroSupernet(tiny_config), data,
            TrainConfig(epochs=4, batch_size=36, lr=1e-2, weight_decay=1e-3, seed=4, shards=2),
            checkpoint=tmp_path / "ckpt.pt",
        )
