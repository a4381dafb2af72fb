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

# Runs on every rank under torchrun. One process group for three trainings: uninterrupted; a crash on every
# rank at the second step of epoch 2 (the sampler raises before that step's first collective, so no rank
# waits for another); a restart from other initial weights that continues the checkpoint of epoch 1.
RANKS = r'''
import dataclasses
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from ttfsnet_nas.torch import MacroConfig, MacroSupernet, TrainConfig
from ttfsnet_nas.torch.distributed import train_supernet_ddp

folder = Path(sys.argv[1])
torch.set_num_threads(1)
dist.init_process_group("gloo")
rank = dist.get_rank()
payload = torch.load(folder / "data.pt", weights_only=True)
data = (payload["inputs"], payload["labels"])
cfg = MacroConfig(in_channels=3, num_classes=4, input_size=(8, 8), stem_channels=(4,), stage_blocks=(1, 2))
config = TrainConfig(epochs=3, batch_size=36, lr=1e-2, weight_decay=1e-3, seed=4)


def fresh(seed):
    torch.manual_seed(seed)
    return MacroSupernet(cfg)


class Crash(Exception):
    pass


straight = fresh(0)
done = train_supernet_ddp(straight, data, config)

crashed = fresh(0)
calls = [0]


def crash_at_step_6(rng):
    calls[0] += 1
    if calls[0] == 6:  # 4 steps per epoch: the second step of epoch 2
        raise Crash
    return crashed.sample(rng)


try:
    train_supernet_ddp(crashed, data, config, sampler=crash_at_step_6, checkpoint=folder / "ckpt.pt")
    raise AssertionError("the run did not crash")
except Crash:
    pass
dist.barrier()  # rank 0 has written epoch 1's checkpoint long before
epochs_seen = []
resumed = fresh(123 + rank)  # a restart has other weights, even on each rank
again = train_supernet_ddp(
    resumed, data, config, checkpoint=folder / "ckpt.pt", progress=lambda i: epochs_seen.append(i.epoch)
)
if rank == 0:
    torch.save(
        {
            "straight": straight.state_dict(), "resumed": resumed.state_dict(),
            "losses": [list(done.epoch_losses), list(again.epoch_losses)], "steps": [done.steps, again.steps],
            "epochs_seen": sorted(set(epochs_seen)),
        },
        folder / "result.pt",
    )
dist.barrier()
dist.destroy_process_group()
'''


# Marked slow: under load about 1 run in 6 aborts rank 1 with "terminate called without an active exception"
# (gloo, while the simulated crash unwinds inside the process group; cause not found yet). The behaviour is
# also covered by the real-SIGTERM torchrun test in tests/ttfsnet_nas/emotion/test_distributed_resume.py.
@pytest.mark.slow
def test_interrupted_ddp_training_resumes_bit_identically(
    tmp_path: Path, tiny_config: MacroConfig, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    torch.save({"inputs": data[0], "labels": data[1]}, tmp_path / "data.pt")
    script = tmp_path / "ranks.py"
    script.write_text(RANKS)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{proc.stderr[:3000]}\n...\n{proc.stderr[-1500:]}"
    result = torch.load(tmp_path / "result.pt", weights_only=True)
    assert result["epochs_seen"] == [1, 2]  # only the epochs after the checkpoint ran again
    assert result["losses"][0] == result["losses"][1] and result["steps"] == [12, 12]
    straight, resumed = result["straight"], result["resumed"]
    assert straight.keys() == resumed.keys()
    for key in straight:  # weights, op counts and the BatchNorm statistics averaged over the ranks
        assert torch.equal(straight[key], resumed[key]), key

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
