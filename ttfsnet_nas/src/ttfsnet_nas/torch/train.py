"""Supernet training with single-path uniform sampling, and plain training of standalone subnets.

Both loops use Adam and cross-entropy (TNAS-ER §3.2, §4.2) and are fully determined by
[`TrainConfig.seed`][ttfsnet_nas.torch.train.TrainConfig.seed]: a ``torch.Generator`` orders the samples of
each epoch and a ``numpy.random.Generator`` draws one path per step. The distributed trainer
([`ttfsnet_nas.torch.distributed.train_supernet_ddp`][ttfsnet_nas.torch.distributed.train_supernet_ddp])
reuses the same step so that ``W`` ranks reproduce a single process run with ``shards=W``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ttfsnet_nas.errors import NASError
from ttfsnet_nas.journal import atomic_write_bytes
from ttfsnet_nas.torch.data import BatchLoader, LabelledData, num_samples, start_epoch
from ttfsnet_nas.torch.device import PRECISIONS, Precision, training_autocast
from ttfsnet_nas.torch.files import read_tensors
from ttfsnet_nas.torch.supernet import Supernet

__all__ = [
    "CheckpointError",
    "StepInfo",
    "TrainConfig",
    "TrainResult",
    "epoch_batches",
    "make_optimizer",
    "supernet_train_step",
    "train_model",
    "train_step",
    "train_supernet",
]

ArchSampler = Callable[[np.random.Generator], Mapping[str, str]]


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainConfig:
    """Training hyper-parameters.

    Attributes:
        epochs: Passes over the training data (TNAS-ER: 600 for supernet and subnet).
        batch_size: Global batch size (TNAS-ER: 96).
        lr: Adam learning rate (TNAS-ER: 5e-3 supernet, 5e-4 retraining).
        weight_decay: Adam weight decay (L2 added to the gradient; never applied to unsampled paths).
        seed: Seeds the sample order and the path sampling.
        shards: Each global batch is split into this many near-equal shards that go through the network
            separately (BatchNorm normalises each shard with its own statistics) and whose gradients are
            summed. ``shards=W`` on one process reproduces a ``W``-rank DDP run; 1 is the usual training.
        drop_last: Drop the last, incomplete batch of each epoch. Batches with fewer samples than
            ``shards`` are always dropped.
        precision: ``fp32``, or ``bf16`` to run the forward passes under bfloat16 autocast
            ([`training_autocast`][ttfsnet_nas.torch.device.training_autocast]; weights, gradients and the
            optimizer stay float32).
    """

    epochs: int = 1
    batch_size: int = 96
    lr: float = 5e-3
    weight_decay: float = 0.0
    seed: int = 0
    shards: int = 1
    drop_last: bool = False
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "shards"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name}: must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr: must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"TrainConfig.weight_decay: must be >= 0, got {self.weight_decay}")
        if self.shards > self.batch_size:
            raise ValueError(f"TrainConfig.shards: {self.shards} exceeds batch_size {self.batch_size}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"TrainConfig.precision: expected one of {list(PRECISIONS)}, got {self.precision!r}"
            )


@dataclass(frozen=True, slots=True)
class StepInfo:
    """Passed to the progress callback after every optimizer step.

    Attributes:
        epoch: Zero-based epoch.
        step: Zero-based step within the epoch.
        steps_per_epoch: Steps in each epoch.
        loss: Mean cross-entropy over the global batch.
        arch: The path trained in this step (``None`` for standalone training).
    """

    epoch: int
    step: int
    steps_per_epoch: int
    loss: float
    arch: Mapping[str, str] | None


@dataclass(frozen=True, slots=True)
class TrainResult:
    """Outcome of a training run.

    Attributes:
        epoch_losses: Mean training loss of each epoch (averaged over steps).
        steps: Optimizer steps taken.
        optimizer: The optimizer (its state allows continuing the run).
        op_counts: For supernets, gene → op → steps trained so far (see
            [`Supernet.op_counts`][ttfsnet_nas.torch.Supernet.op_counts]).
    """

    epoch_losses: tuple[float, ...]
    steps: int
    optimizer: torch.optim.Optimizer
    op_counts: dict[str, dict[str, int]] = field(default_factory=dict)


def epoch_batches(n: int, config: TrainConfig, generator: torch.Generator) -> list[torch.Tensor]:
    """Global batches (index tensors) of one epoch, in a permutation drawn from ``generator``."""
    order = torch.randperm(n, generator=generator)
    batches = list(torch.split(order, config.batch_size))
    last_short = bool(batches) and len(batches[-1]) < config.batch_size
    if last_short and (config.drop_last or len(batches[-1]) < config.shards):
        batches.pop()
    return batches


def _sharded_backward(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    shards: int,
    global_n: int,
    scale: float,
    precision: str = "fp32",
) -> float:
    """Backward over ``shards`` slices of ``x``; returns their share of the mean loss over ``global_n``."""
    total = 0.0
    for xs, ys in zip(torch.tensor_split(x, shards), torch.tensor_split(y, shards), strict=True):
        # Summed loss over the shard divided by the *global* batch size: shard gradients then add up to the
        # gradient of the global mean, whatever the shard sizes. `scale` undoes DDP's averaging over ranks.
        # Autocast covers the forward pass only; backward runs in the dtypes the forward pass chose.
        with training_autocast(xs.device, precision):
            loss = F.cross_entropy(forward(xs), ys, reduction="sum") * (scale / global_n)
        loss.backward()
        total += float(loss.detach()) / scale
    return total


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    shards: int = 1,
    precision: str = "fp32",
) -> float:
    """One optimizer step of a standalone model on a global batch (``precision``: see
    [`TrainConfig`][ttfsnet_nas.torch.train.TrainConfig]).

    Returns:
        Mean cross-entropy over the batch.
    """
    optimizer.zero_grad(set_to_none=True)
    total = _sharded_backward(model, x, y, shards, x.shape[0], 1.0, precision)
    optimizer.step()
    return total


def supernet_train_step(
    supernet: Supernet,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    arch: Mapping[str, str],
    *,
    shards: int = 1,
    module: nn.Module | None = None,
    global_n: int | None = None,
    scale: float = 1.0,
    precision: str = "fp32",
) -> float:
    """One single-path step: forward/backward along ``arch``, drop unsampled gradients, step, count.

    Args:
        supernet: The supernet.
        optimizer: Optimizer over ``supernet.parameters()``.
        x: Inputs (the global batch, or this rank's shard under DDP).
        y: Labels.
        arch: The path to train.
        shards: Split ``x`` into this many separately normalised shards (see
            [`TrainConfig`][ttfsnet_nas.torch.train.TrainConfig]).
        module: What to call instead of ``supernet`` (a DDP wrapper around it).
        global_n: Global batch size when ``x`` is a DDP shard; defaults to ``len(x)``.
        scale: Loss multiplier (the world size under DDP, which averages gradients over ranks).
        precision: ``fp32`` or ``bf16`` (autocast forward passes, see
            [`TrainConfig`][ttfsnet_nas.torch.train.TrainConfig]).

    Returns:
        This process's share of the mean cross-entropy over the global batch.
    """
    chosen = supernet.check_arch(arch)
    net = module if module is not None else supernet
    n = global_n if global_n is not None else x.shape[0]
    optimizer.zero_grad(set_to_none=True)
    total = _sharded_backward(lambda inp: net(inp, chosen), x, y, shards, n, scale, precision)
    supernet.drop_unsampled_grads(chosen)
    optimizer.step()
    supernet.record(chosen)
    return total


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser of every training loop here (TNAS-ER: Adam with the configured lr and weight decay)."""
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


class CheckpointError(NASError, ValueError):
    """A training checkpoint cannot continue this run (different configuration or model)."""


_RESUMABLE = ("batch_size", "lr", "weight_decay", "seed", "shards", "drop_last", "precision")


def _to_cpu(obj: Any) -> Any:
    """``obj`` with every tensor (nested in dicts, lists and tuples) copied to the CPU: files written on a
    GPU load anywhere, and an optimizer's state follows its parameters' device again on loading."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def save_torch_atomic(obj: object, path: str | os.PathLike[str]) -> bytes:
    """``torch.save`` that leaves either the old or the new file, never a torn one after a crash.

    Returns:
        The bytes written (e.g. to hash them).
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    atomic_write_bytes(path, payload)
    return payload


def _checkpoint_state(
    kind: str,
    config: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    rng: np.random.Generator,
    losses: list[float],
    steps: int,
) -> dict[str, Any]:
    """The content of a per-epoch training checkpoint (CPU tensors and plain data only), shared by both loops
    here and the DDP trainer (which adds its world size and every rank's BatchNorm statistics)."""
    return {
        "kind": kind,
        "config": dataclasses.asdict(config),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": _to_cpu(optimizer.state_dict()),
        "generator": generator.get_state(),
        # JSON keeps the 128-bit PCG64 state loadable with torch.load(weights_only=True).
        "rng": json.dumps(rng.bit_generator.state),
        "epoch_losses": losses,
        "steps": steps,
    }


def _restore_checkpoint(
    saved: Mapping[str, Any],
    ckpt: str | os.PathLike[str],
    kind: str,
    config: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    rng: np.random.Generator,
    *,
    world_size: int = 1,
) -> tuple[list[float], int]:
    """Load a checkpoint of `_checkpoint_state` (read as data) into the training state; returns the losses
    of its epochs and its step count.

    Raises:
        CheckpointError: a checkpoint of another kind of run, another configuration, another model, or
            another number of processes (``world_size``; checkpoints without one come from one process).
    """
    saved_world = int(saved.get("world_size", 1))
    if saved_world != world_size:
        raise CheckpointError(
            f"{ckpt}: cannot resume: the checkpoint was written by a run on {saved_world} process(es), "
            f"this run has {world_size}"
        )
    # checkpoints written before precision existed trained in fp32
    was = {"precision": "fp32", **saved.get("config", {})}
    changed = [k for k in _RESUMABLE if was.get(k) != getattr(config, k)]
    if saved.get("kind") != kind or changed:
        raise CheckpointError(
            f"{ckpt}: cannot resume: checkpoint of a {saved.get('kind')!r} run with different {changed}"
        )
    try:
        model.load_state_dict(saved["model"])
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise CheckpointError(f"{ckpt}: model does not match the checkpoint: {first}") from None
    optimizer.load_state_dict(saved["optimizer"])
    generator.set_state(saved["generator"])
    rng.bit_generator.state = json.loads(saved["rng"])
    return list(saved["epoch_losses"]), int(saved["steps"])


def _run_epochs(
    model: nn.Module,
    data: LabelledData,
    config: TrainConfig,
    step: Callable[
        [torch.Tensor, torch.Tensor, np.random.Generator, torch.optim.Optimizer], tuple[float, Any]
    ],
    *,
    optimizer: torch.optim.Optimizer | None,
    progress: Callable[[StepInfo], None] | None,
    checkpoint: str | os.PathLike[str] | None,
    kind: str,
    device: torch.device | str,
) -> tuple[list[float], int, torch.optim.Optimizer]:
    opt = optimizer or make_optimizer(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    losses: list[float] = []
    steps = 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        saved = read_tensors(ckpt, what="training checkpoint")
        losses, steps = _restore_checkpoint(saved, ckpt, kind, config, model, opt, generator, rng)
    n = num_samples(data)
    # the data set's ``loader_workers`` gather batches ahead; pinned, non-blocking copies on a GPU
    with BatchLoader(data, device=device) as loader:
        for epoch in range(len(losses), config.epochs):
            start_epoch(data, epoch)
            batches = epoch_batches(n, config, generator)
            losses.append(_epoch(loader(batches), len(batches), epoch, step, rng, opt, progress))
            steps += len(batches)
            if ckpt is not None:
                state = _checkpoint_state(kind, config, model, opt, generator, rng, losses, steps)
                save_torch_atomic(state, ckpt)
    return losses, steps, opt


def _epoch(
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    count: int,
    epoch: int,
    step: Callable[
        [torch.Tensor, torch.Tensor, np.random.Generator, torch.optim.Optimizer], tuple[float, Any]
    ],
    rng: np.random.Generator,
    opt: torch.optim.Optimizer,
    progress: Callable[[StepInfo], None] | None,
) -> float:
    """One pass over ``batches``; the mean step loss."""
    epoch_loss = 0.0
    for index_in_epoch, (x, y) in enumerate(batches):
        loss, arch = step(x, y, rng, opt)
        epoch_loss += loss
        if progress is not None:
            progress(StepInfo(epoch, index_in_epoch, count, loss, arch))
    return epoch_loss / max(count, 1)



def train_supernet(
    supernet: Supernet,
    data: LabelledData,
    config: TrainConfig,
    *,
    sampler: ArchSampler | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    progress: Callable[[StepInfo], None] | None = None,
    device: torch.device | str = "cpu",
    checkpoint: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train a supernet with one uniformly sampled path per step.

    Args:
        supernet: The supernet (trained in place, moved to ``device``).
        data: Labelled training data.
        config: Hyper-parameters.
        sampler: Draws the path of each step from the seeded generator; defaults to
            [`Supernet.sample`][ttfsnet_nas.torch.Supernet.sample] (uniform per gene). Pass e.g.
            ``space.sample`` to respect constraints.
        optimizer: Optimizer to continue with; defaults to a fresh Adam.
        progress: Called after every step.
        device: Where to train.
        checkpoint: File written atomically after every epoch (weights, op counts, optimizer, both RNG
            states, losses). If it exists, training resumes after its last epoch and ends exactly where an
            uninterrupted run would; raising ``config.epochs`` extends a finished run.

    Returns:
        Losses, step count, optimizer and op counts.

    Raises:
        CheckpointError: If ``checkpoint`` belongs to a run with another configuration or model, or to a
            DDP run on several processes
            ([`train_supernet_ddp`][ttfsnet_nas.torch.distributed.train_supernet_ddp]).
    """
    supernet.to(device).train()
    draw: ArchSampler = sampler or supernet.sample

    def step(
        x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator, opt: torch.optim.Optimizer
    ) -> tuple[float, Mapping[str, str]]:
        arch = supernet.check_arch(draw(rng))
        loss = supernet_train_step(
            supernet, opt, x.to(device), y.to(device), arch, shards=config.shards, precision=config.precision
        )
        return loss, arch

    losses, steps, opt = _run_epochs(
        supernet,
        data,
        config,
        step,
        optimizer=optimizer,
        progress=progress,
        checkpoint=checkpoint,
        kind="supernet",
        device=device,
    )
    return TrainResult(tuple(losses), steps, opt, supernet.op_counts())


def train_model(
    model: nn.Module,
    data: LabelledData,
    config: TrainConfig,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    progress: Callable[[StepInfo], None] | None = None,
    device: torch.device | str = "cpu",
    checkpoint: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train a standalone model (e.g. a retrained [`Supernet.subnet`][ttfsnet_nas.torch.Supernet.subnet]) with
    Adam and cross-entropy.

    Args:
        model: The model (trained in place, moved to ``device``).
        data: Labelled training data.
        config: Hyper-parameters (TNAS-ER retraining: ``lr=5e-4``).
        optimizer: Optimizer to continue with; defaults to a fresh Adam.
        progress: Called after every step (``arch`` is ``None``).
        device: Where to train.
        checkpoint: Per-epoch checkpoint file for resuming, as in
            [`train_supernet`][ttfsnet_nas.torch.train.train_supernet].
    """
    model.to(device).train()

    def step(
        x: torch.Tensor, y: torch.Tensor, _rng: np.random.Generator, opt: torch.optim.Optimizer
    ) -> tuple[float, None]:
        loss = train_step(
            model, opt, x.to(device), y.to(device), shards=config.shards, precision=config.precision
        )
        return loss, None

    losses, steps, opt = _run_epochs(
        model, data, config, step, optimizer=optimizer, progress=progress, checkpoint=checkpoint,
        kind="model", device=device,
    )
    return TrainResult(tuple(losses), steps, opt)
