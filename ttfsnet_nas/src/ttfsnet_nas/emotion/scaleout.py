"""Scale-out of the TNAS-ER stages: the supernet on several ``torchrun`` processes, and candidate scoring on
Ray workers (``search.workers``).

Both are optional and imported only when used; docs/tnas-er.md, "GPUs and several processes", has the
commands.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ttfsnet_nas.config import RecipeError
from ttfsnet_nas.errors import PipelineError
from ttfsnet_nas.search import SearchResult, run_search
from ttfsnet_nas.space import Architecture
from ttfsnet_nas.strategies import Strategy
from ttfsnet_nas.torch import MacroSupernet, StepInfo, TrainConfig, TrainResult
from ttfsnet_nas.torch.files import read_tensors
from ttfsnet_nas.torch.rng import rng_hooks

if TYPE_CHECKING:
    from ttfsnet_nas.emotion.stages import EmotionStages
    from ttfsnet_nas.torch.distributed import TorchrunGroup

__all__ = [
    "check_world_size",
    "follow_supernet",
    "search_on_ray",
    "torchrun_ranks",
    "train_supernet_distributed",
]


def torchrun_ranks(stages: Sequence[str] | None, device: torch.device) -> TorchrunGroup | None:
    """The process group when ``torchrun`` started this process among several (``None`` otherwise), for a
    run of the supernet stage alone: its ranks train it together (DDP; NCCL with SyncBatchNorm on CUDA,
    gloo on the CPU) and rank 0 writes the outputs. The later stages then run in one process.

    Raises:
        RecipeError: other stages than ``supernet`` selected under ``torchrun``.
    """
    from ttfsnet_nas.torch.device import torchrun_world

    world = torchrun_world()[1]
    if world <= 1:
        return None
    if list(stages or ()) != ["supernet"]:
        raise RecipeError(
            f"under torchrun (WORLD_SIZE={world}) only the supernet stage trains on several processes: pass "
            "--stages supernet, then run the other stages in one process with --resume",
            key="--stages",
        )
    from ttfsnet_nas.torch.distributed import TorchrunGroup

    return TorchrunGroup(device)


def check_world_size(checkpoint: Path, world: int) -> None:
    """Refuse to continue a supernet checkpoint that another number of processes wrote (nothing to check
    when there is none).

    The ranks of a run each normalise their own shard of every batch and keep their own BatchNorm
    statistics, so training on after a change of the world size would match no uninterrupted run.

    Raises:
        PipelineError: one line naming the checkpoint, the saved and the current world size.
    """
    if not checkpoint.is_file():
        return
    saved = int(read_tensors(checkpoint, what="training checkpoint").get("world_size", 1))
    if saved != world:
        how = (
            f"with torchrun --nproc-per-node {saved} ... --stages supernet --resume"
            if saved > 1 else "in one process, without torchrun"
        )
        raise PipelineError(
            f"{checkpoint}: cannot resume the supernet stage: its checkpoint was written with world size "
            f"{saved}, this run has world size {world}; resume it {how}, or rerun the stage without "
            "--resume to start it over"
        )


def train_supernet_distributed(
    model: MacroSupernet, dataset: Any, config: TrainConfig, *, progress: Callable[[StepInfo], None],
    checkpoint: Path | None, device: torch.device,
) -> TrainResult:
    """[`train_supernet_ddp`][ttfsnet_nas.torch.distributed.train_supernet_ddp] in the shape `train` calls:
    rank 0 passes the stage's checkpoint (written after every epoch and continued on every rank), the other
    ranks ``None``."""
    from ttfsnet_nas.torch.distributed import train_supernet_ddp

    return train_supernet_ddp(model, dataset, config, progress=progress, device=device, checkpoint=checkpoint)


def search_on_ray(
    stages: EmotionStages,
    strategy: Strategy,
    supernet: MacroSupernet,
    search_xy: tuple[torch.Tensor, torch.Tensor],
    kwargs: Mapping[str, Any],
    with_extras: Callable[[Mapping[str, float], nn.Module], dict[str, Any]],
    *,
    journal: Path,
    header: Mapping[str, Any],
    resume: bool,
) -> SearchResult:
    """The journaled search of ``stages`` with the candidates of each round scored on ``search.workers``
    Ray actors ([`RayEvaluator`][ttfsnet_nas.torch.distributed.RayEvaluator]; GPUs when
    ``search.gpus_per_worker`` > 0).

    ``kwargs`` are the [`Evaluator`][ttfsnet_nas.torch.Evaluator] arguments of
    [`evaluator_inputs`][ttfsnet_nas.emotion.stages.EmotionStages.evaluator_inputs], the scoring domain
    (``search.domain``) and its calibration inputs included, so the workers score exactly as this process
    would.

    Ray is started locally unless it runs already, and stopped again if it was started here. Objectives
    that read extras ``model`` get the candidate's subnet with its inherited weights, taken here (not
    BN-recalibrated: the hardware objectives read its shapes only).
    """
    from ttfsnet_nas.torch.distributed import RayEvaluator, ensure_ray

    s = stages.recipe.search
    # Ray gives a GPU actor its own CUDA_VISIBLE_DEVICES, so "cuda" is that actor's GPU.
    worker_kwargs = {**kwargs, "device": "cuda" if s.gpus_per_worker > 0 else "cpu"}
    factory = functools.partial(MacroSupernet, supernet.config)
    with (
        ensure_ray(num_workers=s.workers, gpus_per_worker=s.gpus_per_worker),
        RayEvaluator(
            factory, supernet, search_xy, num_workers=s.workers, num_gpus_per_worker=s.gpus_per_worker,
            evaluator_kwargs=worker_kwargs,
        ) as remote,
    ):

        def evaluate_many(archs: list[Architecture]) -> list[dict[str, Any]]:
            scores = remote.evaluate_many(archs)
            return [with_extras(m, supernet.subnet(a)) for a, m in zip(archs, scores, strict=True)]

        return run_search(
            strategy, lambda arch: evaluate_many([arch])[0], journal=journal, header=header,
            resume=resume, progress=stages.progress, rng_hooks=rng_hooks(), evaluate_many=evaluate_many,
        )


def follow_supernet(stages: EmotionStages) -> None:
    """A ``torchrun`` rank other than 0: train the supernet alongside rank 0 when it trains it now (the
    same data, seed and steps; the weights stay equal on every rank and rank 0 alone writes files). Under
    ``--resume`` it continues from rank 0's checkpoint, whose bytes rank 0 sends."""
    assert stages.ranks is not None and stages.ranks.rank > 0
    if not stages.ranks.wait():
        return
    r = stages.recipe
    data = stages.search_data()
    assert data.supernet is not None
    supernet = stages.build_supernet(len(data.classes))
    stages.train(
        train_supernet_distributed, supernet, data.supernet, r.supernet, seed=r.seed, checkpoint=None,
        task="supernet",
    )
