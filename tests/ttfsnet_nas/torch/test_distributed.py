"""Scale-out: Ray evaluation equals in-process evaluation bit for bit; DDP equals one process with shards."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ttfsnet_nas.fitness import Fitness
from ttfsnet_nas.space import SearchSpace
from ttfsnet_nas.strategies import Evolution
from ttfsnet_nas.testing import local_ray
from ttfsnet_nas.torch import (
    Evaluator,
    MacroConfig,
    MacroSupernet,
    Supernet,
    TrainConfig,
    train_supernet,
)
from ttfsnet_nas.torch.distributed import drive_ask_tell


def test_importing_torch_package_does_not_import_ray() -> None:
    code = "import sys, ttfsnet_nas.torch; sys.exit(3 if 'ray' in sys.modules else 0)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _evolution(supernet: Supernet) -> Evolution:
    return Evolution(
        space=SearchSpace(supernet.genes),
        fitness=Fitness(weights={"uar": 1.0}),
        seed=5,
        pool_size=4,
        elite_size=2,
        rounds=3,
    )


def test_drive_ask_tell_in_process(supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    evaluator = Evaluator(data)
    strategy = _evolution(supernet)
    seen: list[str] = []
    done = drive_ask_tell(
        strategy,
        lambda archs: [evaluator.evaluate(supernet, a) for a in archs],
        on_result=lambda arch, _values: seen.append(",".join(arch.values())),
    )
    assert done == 12 == len(strategy.history) == len(seen) and strategy.finished
    assert (
        drive_ask_tell(
            _evolution(supernet), lambda archs: [evaluator(supernet, a) for a in archs], max_evaluations=5
        )
        == 5
    )


@pytest.fixture
def ray_local() -> Iterator[object]:
    with local_ray(num_cpus=2) as ray:
        yield ray


def test_ray_workers_match_in_process_bit_for_bit(
    ray_local: object, tiny_config: MacroConfig, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    from ttfsnet_nas.torch import RayEvaluator

    torch.manual_seed(0)
    supernet = MacroSupernet(tiny_config)
    train_supernet(supernet, data, TrainConfig(epochs=1, batch_size=40, seed=2))
    kwargs = {"batch_size": 32, "recalibrate_bn": True, "calibration_data": (data[0][:64], data[1][:64])}
    local = Evaluator(data, **kwargs)
    archs = [supernet.sample(np.random.default_rng(i)) for i in range(5)]
    expected = [local.evaluate(supernet, a) for a in archs]

    factory = functools.partial(MacroSupernet, tiny_config)
    with RayEvaluator(factory, supernet, data, num_workers=2, evaluator_kwargs=kwargs) as remote:
        assert remote.num_workers == 2
        assert remote.evaluate_many(archs) == expected  # same order, identical floats
        strategy_local, strategy_ray = _evolution(supernet), _evolution(supernet)
        drive_ask_tell(strategy_local, lambda batch: [local.evaluate(supernet, a) for a in batch])
        assert remote.drive(strategy_ray) == 12
        assert [(t.architecture, t.values) for t in strategy_ray.history] == [
            (t.architecture, t.values) for t in strategy_local.history
        ]
        supernet.layers[-1].weight.data.mul_(0.5)  # new weights reach the workers
        remote.update_weights(supernet)
        assert remote.evaluate(archs[0]) == local.evaluate(supernet, archs[0])


def test_ray_evaluator_requires_init(supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    ray = pytest.importorskip("ray")
    from ttfsnet_nas.torch import RayEvaluator

    assert not ray.is_initialized()
    with pytest.raises(RuntimeError, match=r"call ray\.init"):
        RayEvaluator(lambda: supernet, supernet, data)


def test_torchrun_ddp_matches_single_process(
    tmp_path: Path, tiny_config: MacroConfig, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    torch.manual_seed(0)
    reference = MacroSupernet(tiny_config)
    torch.save(reference.state_dict(), tmp_path / "init.pt")
    torch.save({"inputs": data[0], "labels": data[1]}, tmp_path / "data.pt")
    fields = {
        "in_channels": 3,
        "num_classes": 4,
        "input_size": [8, 8],
        "stem_channels": [4],
        "stage_blocks": [1, 2],
    }
    (tmp_path / "macro.json").write_text(json.dumps(fields))
    # 120 samples, global batch 36: three full batches and a short one of 12 (split 6 + 6).
    config = TrainConfig(epochs=2, batch_size=36, lr=1e-2, weight_decay=1e-3, seed=4, shards=2)
    result = train_supernet(reference, data, config)

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "ttfsnet_nas.torch.ddp_train",
        "--data",
        str(tmp_path / "data.pt"),
        "--macro-config",
        str(tmp_path / "macro.json"),
        "--init",
        str(tmp_path / "init.pt"),
        "--out",
        str(tmp_path / "ddp.pt"),
        "--epochs",
        "2",
        "--batch-size",
        "36",
        "--lr",
        "1e-2",
        "--weight-decay",
        "1e-3",
        "--seed",
        "4",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    # a failing rank's own traceback comes before torchrun's summary at the end: show both
    assert proc.returncode == 0, f"{proc.stderr[:3000]}\n...\n{proc.stderr[-1500:]}"
    out = torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert out["world_size"] == 2 and out["steps"] == result.steps == 8
    assert out["op_counts"] == result.op_counts
    # DDP all-reduces float32 gradients in another order: a few eps32 (≈ 4e-7) relative per step, over 8
    # steps ≲ 3e-6 (measured 0); rtol 1e-5 (atol 1e-6 for weights near 0). Losses: ≈ 4e-7, rel 1e-6.
    for name, param in reference.named_parameters():
        torch.testing.assert_close(out["state_dict"][name], param.detach(), rtol=1e-5, atol=1e-6, msg=name)
    assert out["epoch_losses"] == pytest.approx(list(result.epoch_losses), rel=1e-6)
    # The ranks shared one path per step: every op count sums to the number of steps.
    assert all(sum(c.values()) == 8 for c in out["op_counts"].values())


def test_drive_search_session_matches_run_search(
    supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    """Batched driving through a journaling SearchSession gives the same search as the sequential driver."""
    from ttfsnet_nas.search import SearchSession, run_search

    evaluator = Evaluator(data)
    sequential = run_search(_evolution(supernet), lambda arch: evaluator.evaluate(supernet, arch))
    with SearchSession(_evolution(supernet), journal=tmp_path / "search.jsonl") as session:
        assert drive_ask_tell(session, lambda archs: [evaluator.evaluate(supernet, a) for a in archs]) == 12
        batched = session.result()
    assert [(t.architecture, t.values) for t in batched.history] == [
        (t.architecture, t.values) for t in sequential.history
    ]
    assert len((tmp_path / "search.jsonl").read_text().splitlines()) == 13  # header + one line per candidate
