"""Scale-out: candidate evaluation on Ray actors, and supernet training with DDP (gloo or NCCL).

Neither Ray nor ``torch.distributed`` is imported at module import time of
[`ttfsnet_nas.torch`][ttfsnet_nas.torch]; Ray is imported when a
[`RayEvaluator`][ttfsnet_nas.torch.distributed.RayEvaluator] is created.

**Ray.** The supernet's ``state_dict`` and the evaluation data are put into the object store once; each of
``N`` actors builds the supernet from a picklable factory, loads the weights and keeps an
[`Evaluator`][ttfsnet_nas.torch.evaluate.Evaluator]. Candidates are dispatched to idle actors and the results
come back in submission order, so a strategy driven through ask/tell sees exactly the sequence the
in-process evaluator would produce (bit-identical values when both run with the same torch build and
thread count: workers use ``torch.set_num_threads(num_cpus_per_worker)``).

**DDP.** [`train_supernet_ddp`][ttfsnet_nas.torch.distributed.train_supernet_ddp] runs inside each process
started by ``torchrun``. All ranks draw the same sample order and path from the shared seed (rank 0's path is
broadcast as a safeguard); each rank forwards its contiguous shard of the global batch, with the loss scaled
so that DDP's gradient average equals the gradient of the global-batch mean. The run therefore reproduces
[`train_supernet`][ttfsnet_nas.torch.train.train_supernet] with ``shards = world size`` on one process
(BatchNorm normalises each shard separately in both). BN running statistics are averaged over ranks at the
end; recalibrate subnets ([`recalibrate_bn`][ttfsnet_nas.torch.supernet.recalibrate_bn]) where they must be
exact.

With a ``checkpoint``, rank 0 writes the state of every epoch atomically in the format of the single-process
trainer (plus the world size and every rank's BatchNorm statistics), and a restarted run with the same world
size continues it bit-identically on the CPU; the other ranks get the file's bytes from rank 0.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ttfsnet_nas.errors import InputError
from ttfsnet_nas.torch.data import LabelledData, gather, num_samples, start_epoch
from ttfsnet_nas.torch.device import torchrun_world
from ttfsnet_nas.torch.evaluate import Evaluator
from ttfsnet_nas.torch.files import read_tensors
from ttfsnet_nas.torch.supernet import Supernet
from ttfsnet_nas.torch.train import (
    ArchSampler,
    StepInfo,
    TrainConfig,
    TrainResult,
    _checkpoint_state,
    _restore_checkpoint,
    epoch_batches,
    make_optimizer,
    save_torch_atomic,
    supernet_train_step,
)

if TYPE_CHECKING:
    from torch.nn.parallel import DistributedDataParallel

__all__ = [
    "AskTellStrategy",
    "RayEvaluator",
    "TorchrunGroup",
    "drive_ask_tell",
    "ensure_ray",
    "train_supernet_ddp",
]


class AskTellStrategy(Protocol):
    """What [`drive_ask_tell`][ttfsnet_nas.torch.distributed.drive_ask_tell] needs:
    ``ttfsnet_nas.strategies.Strategy`` and ``ttfsnet_nas.search.SearchSession`` (which also journals every
    result) both fit."""

    def ask(self) -> Mapping[str, str] | None: ...

    def tell(self, candidate: Any, values: Any) -> object: ...


def drive_ask_tell(
    strategy: AskTellStrategy,
    evaluate_many: Callable[[Sequence[Mapping[str, str]]], list[dict[str, float]]],
    *,
    max_evaluations: int | None = None,
    on_result: Callable[[Mapping[str, str], dict[str, float]], None] | None = None,
) -> int:
    """Run a strategy to completion: ask every candidate it can hand out, evaluate them together, tell.

    Candidates are told in the order they were asked, so the strategy's history does not depend on which
    worker finished first. The loop ends when ``ask()`` has nothing to hand out right after a complete
    batch was told (the strategy is finished).

    Args:
        strategy: A strategy, or a ``SearchSession`` wrapping one (then every result is journaled and
            scored through the session's fitness).
        evaluate_many: Evaluates a list of candidates, results in the same order.
        max_evaluations: Stop after this many evaluations (``None``: until the strategy finishes).
        on_result: Called after each tell.

    Returns:
        Number of candidates evaluated.
    """
    done = 0
    while max_evaluations is None or done < max_evaluations:
        batch: list[Mapping[str, str]] = []
        while max_evaluations is None or done + len(batch) < max_evaluations:
            arch = strategy.ask()
            if arch is None:
                break
            batch.append(arch)
        if not batch:
            break
        for arch, values in zip(batch, evaluate_many(batch), strict=True):
            strategy.tell(arch, values)
            if on_result is not None:
                on_result(arch, values)
        done += len(batch)
    return done


class _EvalWorker:
    """Ray actor body: one supernet replica and one evaluator."""

    def __init__(
        self,
        factory: Callable[[], Supernet],
        state: Mapping[str, torch.Tensor],
        data: LabelledData,
        evaluator_kwargs: Mapping[str, Any],
        num_threads: int,
    ) -> None:
        torch.set_num_threads(num_threads)
        self.supernet = factory()
        self.supernet.load_state_dict(state)
        self.supernet.eval()
        self.evaluator = Evaluator(data, **evaluator_kwargs)

    def evaluate(self, arch: dict[str, str]) -> dict[str, float]:
        return self.evaluator.evaluate(self.supernet, arch)

    def load_state(self, state: Mapping[str, torch.Tensor]) -> bool:
        self.supernet.load_state_dict(state)
        self.supernet.eval()
        return True


class RayEvaluator:
    """Evaluates candidates on ``num_workers`` Ray actors sharing one copy of the supernet weights.

    Ray must be initialised by the caller (``ray.init(...)`` locally, or ``ray.init(address="auto")``
    on a cluster, see ``docs/distributed.md``).

    Args:
        supernet_factory: Picklable zero-argument callable building an untrained supernet of the same
            structure, e.g. ``functools.partial(MacroSupernet, config)``.
        supernet: The trained supernet (its ``state_dict`` goes to the object store once) or a state dict.
        data: Evaluation data (also put into the object store once).
        num_workers: Number of actors.
        num_cpus_per_worker: CPUs reserved per actor (and its torch thread count).
        num_gpus_per_worker: GPUs per actor (fractions pack several actors on one GPU).
        evaluator_kwargs: Keyword arguments of [`Evaluator`][ttfsnet_nas.torch.distributed.Evaluator]
            (``batch_size``, ``recalibrate_bn``, ...; give ``device="cuda"`` with GPUs).

    Example:
        >>> ev = RayEvaluator(partial(MacroSupernet, cfg), net, (x, y), num_workers=2)  # doctest: +SKIP
        >>> ev.evaluate_many([arch_a, arch_b])  # doctest: +SKIP
    """

    def __init__(
        self,
        supernet_factory: Callable[[], Supernet],
        supernet: Supernet | Mapping[str, torch.Tensor],
        data: LabelledData,
        *,
        num_workers: int = 2,
        num_cpus_per_worker: int = 1,
        num_gpus_per_worker: float = 0.0,
        evaluator_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            import ray
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("RayEvaluator needs ray: pip install 'ttfsnet-nas[ray]'") from err
        if not ray.is_initialized():
            raise RuntimeError("RayEvaluator: call ray.init(...) first (see docs/distributed.md)")
        if num_workers < 1:
            raise ValueError(f"RayEvaluator: num_workers must be >= 1, got {num_workers}")
        self._ray = ray
        state = supernet.state_dict() if isinstance(supernet, nn.Module) else supernet
        self._state_ref = ray.put({k: v.detach().cpu() for k, v in state.items()})
        self._data_ref = ray.put(data)
        actor = ray.remote(num_cpus=num_cpus_per_worker, num_gpus=num_gpus_per_worker)(_EvalWorker)
        self.workers = [
            actor.remote(
                supernet_factory,
                self._state_ref,
                self._data_ref,
                dict(evaluator_kwargs or {}),
                num_cpus_per_worker,
            )
            for _ in range(num_workers)
        ]

    @property
    def num_workers(self) -> int:
        """Number of actors."""
        return len(self.workers)

    def evaluate_many(self, archs: Sequence[Mapping[str, str]]) -> list[dict[str, float]]:
        """Evaluate candidates in parallel; results in the order of ``archs``.

        Each actor has at most one candidate in flight and gets the next one as soon as it is idle.
        """
        ray = self._ray
        results: list[dict[str, float] | None] = [None] * len(archs)
        todo = list(enumerate(archs))[::-1]
        in_flight: dict[Any, tuple[int, Any]] = {}
        idle = list(self.workers)
        while todo or in_flight:
            while todo and idle:
                index, arch = todo.pop()
                worker = idle.pop()
                in_flight[worker.evaluate.remote(dict(arch))] = (index, worker)
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            index, worker = in_flight.pop(ready[0])
            results[index] = ray.get(ready[0])
            idle.append(worker)
        return [r for r in results if r is not None]

    def evaluate(self, arch: Mapping[str, str]) -> dict[str, float]:
        """Evaluate one candidate on an actor."""
        return self.evaluate_many([arch])[0]

    def drive(
        self,
        strategy: AskTellStrategy,
        *,
        max_evaluations: int | None = None,
        on_result: Callable[[Mapping[str, str], dict[str, float]], None] | None = None,
    ) -> int:
        """Run ``strategy`` through ask/tell with evaluations on the actors (see
        [`drive_ask_tell`][ttfsnet_nas.torch.distributed.drive_ask_tell])."""
        return drive_ask_tell(
            strategy, self.evaluate_many, max_evaluations=max_evaluations, on_result=on_result
        )

    def update_weights(self, supernet: Supernet | Mapping[str, torch.Tensor]) -> None:
        """Replace the weights on every actor (one new object-store copy)."""
        state = supernet.state_dict() if isinstance(supernet, nn.Module) else supernet
        self._state_ref = self._ray.put({k: v.detach().cpu() for k, v in state.items()})
        self._ray.get([w.load_state.remote(self._state_ref) for w in self.workers])

    def shutdown(self) -> None:
        """Stop the actors (Ray itself keeps running)."""
        for worker in self.workers:
            self._ray.kill(worker)  # pyright: ignore[reportArgumentType]  # ray's stubs: ActorProxy is a handle
        self.workers = []

    def __enter__(self) -> RayEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _to_sync_batchnorm(module: nn.Module) -> dict[str, type[nn.Module]]:
    """Replace every BatchNorm layer of ``module`` in place by a ``SyncBatchNorm`` with the same parameters
    and buffers; returns the original classes by module name (for `_from_sync_batchnorm`)."""
    originals: dict[str, type[nn.Module]] = {
        name: type(m) for name, m in module.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
    }
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    assert converted is module, "a supernet is never a BatchNorm layer itself"
    return originals


def _from_sync_batchnorm(module: nn.Module, originals: Mapping[str, type[nn.Module]]) -> None:
    """Undo `_to_sync_batchnorm`: plain BatchNorm layers again (which ``ttfsnet.convert`` and the
    subnets expect), holding the trained parameters and running statistics."""
    for name, cls in originals.items():
        sync = module.get_submodule(name)
        assert isinstance(sync, nn.SyncBatchNorm)
        state = sync.state_dict()
        plain = cls(  # type: ignore[call-arg]
            sync.num_features, eps=sync.eps, momentum=sync.momentum, affine=sync.affine,
            track_running_stats=sync.track_running_stats,
        )
        plain.load_state_dict(state)
        if state:
            plain.to(next(iter(state.values())).device)
        plain.train(sync.training)
        parent_name, _, child = name.rpartition(".")
        setattr(module.get_submodule(parent_name), child, plain)


def _rank_stats(module: nn.Module) -> dict[str, torch.Tensor]:
    """The buffers that differ between ranks without SyncBatchNorm: BatchNorm running means and variances."""
    return {
        name: buf
        for name, buf in module.named_buffers()
        if buf.is_floating_point() and name.rsplit(".", 1)[-1] in ("running_mean", "running_var")
    }


def _average_bn_stats(module: nn.Module, world: int) -> None:
    for buf in _rank_stats(module).values():
        dist.all_reduce(buf, op=dist.ReduceOp.SUM)
        buf.div_(world)


def _gather_rank_stats(module: nn.Module, world: int) -> list[dict[str, torch.Tensor]]:
    """Every rank's `_rank_stats` in rank order, on the CPU (a collective: every rank calls it)."""
    gathered: list[dict[str, torch.Tensor]] = [{} for _ in range(world)]
    for name, buf in _rank_stats(module).items():
        parts = [torch.empty_like(buf) for _ in range(world)]
        dist.all_gather(parts, buf.contiguous())
        for stats, part in zip(gathered, parts, strict=True):
            stats[name] = part.cpu()
    return gathered


def _load_rank_stats(
    module: nn.Module, saved: Sequence[Mapping[str, torch.Tensor]], rank: int, sync: bool
) -> None:
    """Set this rank's BatchNorm statistics from a checkpoint's per-rank ones: its own, or, with
    SyncBatchNorm (where every rank holds the same), their mean (a run continued on GPUs after CPUs)."""
    with torch.no_grad():
        for name, buf in _rank_stats(module).items():
            value = torch.stack([s[name] for s in saved]).mean(0) if sync else saved[rank][name]
            buf.copy_(value)


def _share_checkpoint(
    checkpoint: str | os.PathLike[str] | None, rank: int, device: torch.device
) -> tuple[bool, Any | None]:
    """Rank 0's checkpoint, on every rank (a collective): whether rank 0 writes one, and the one it holds
    already, read as data (``None`` when there is none). The other ranks receive the file's bytes, so they
    need no access to rank 0's file system."""
    payload = b""
    path = Path(checkpoint) if rank == 0 and checkpoint is not None else None
    if path is not None and path.exists():
        payload = path.read_bytes()
    head = torch.tensor([int(path is not None), len(payload)], dtype=torch.int64, device=device)
    dist.broadcast(head, src=0)
    keep, size = (int(v) for v in head.tolist())
    if size == 0:
        return bool(keep), None
    buffer = torch.empty(size, dtype=torch.uint8, device=device)
    if rank == 0:
        buffer.copy_(torch.frombuffer(bytearray(payload), dtype=torch.uint8))
    dist.broadcast(buffer, src=0)
    data = payload if rank == 0 else buffer.cpu().numpy().tobytes()
    name = str(checkpoint) if checkpoint is not None else "rank 0's checkpoint"
    return bool(keep), read_tensors(data, what="training checkpoint", name=name)


def train_supernet_ddp(
    supernet: Supernet,
    data: LabelledData,
    config: TrainConfig,
    *,
    sampler: ArchSampler | None = None,
    progress: Callable[[StepInfo], None] | None = None,
    device: torch.device | str = "cpu",
    sync_bn: bool | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train ``supernet`` in a DDP process group (call on every rank; ``torchrun`` sets the environment).

    Initialises the default process group from the environment if needed (``gloo`` on CPU, ``nccl`` on
    CUDA). ``config.batch_size`` is the *global* batch; ``config.shards`` is ignored (the world size plays
    its role); ``config.precision`` applies as in [`train_supernet`][ttfsnet_nas.torch.train.train_supernet].
    Every rank must pass identical data, config and sampler.

    With ``sync_bn`` the BatchNorm layers normalise with the statistics of the whole global batch
    (``SyncBatchNorm``, CUDA only) during training and are plain BatchNorm layers again afterwards; the run
    then matches one process with ``shards=1`` instead of ``shards = world size``.

    Args:
        supernet: The supernet on every rank (rank 0's initial weights are broadcast).
        data: Labelled training data (the same on every rank).
        config: Hyper-parameters; ``seed`` must be equal on all ranks.
        sampler: Path sampler (default: uniform, [`Supernet.sample`][ttfsnet_nas.torch.Supernet.sample]).
        progress: Called after every step on rank 0 only.
        device: This rank's device.
        sync_bn: Synchronise BatchNorm over the ranks (default: on with CUDA, where ``SyncBatchNorm``
            runs; off on the CPU, where it does not).
        checkpoint: Rank 0's checkpoint file (the value on the other ranks is ignored). Rank 0 writes it
            atomically after every epoch, as [`train_supernet`][ttfsnet_nas.torch.train.train_supernet] does
            (weights, op counts, optimizer, both RNG states, losses), plus the world size and, without
            SyncBatchNorm, every rank's BatchNorm running statistics. If it exists when training starts,
            rank 0 reads it and sends its bytes to the other ranks, and all of them continue after its last
            epoch; the run then ends exactly where an uninterrupted one with the same world size would
            (bit-identical on the CPU with gloo). Raising ``config.epochs`` extends a finished run.

    Returns:
        The result as on one process; the weights are identical on all ranks.

    Raises:
        ValueError: ``sync_bn`` on a CPU device, or a global batch smaller than the world size.
        CheckpointError: ``checkpoint`` was written with another world size (the ranks' shards and
            BatchNorm statistics would not carry over), another configuration or another model.
    """
    from torch.nn.parallel import DistributedDataParallel

    dev = torch.device(device)
    sync = dev.type == "cuda" if sync_bn is None else sync_bn
    if sync and dev.type != "cuda":
        raise ValueError(f"train_supernet_ddp: sync_bn needs CUDA devices, got {dev}")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if config.batch_size < world:
        raise ValueError(
            f"train_supernet_ddp: batch_size {config.batch_size} is smaller than world size {world}"
        )
    supernet.to(dev).train()
    originals = _to_sync_batchnorm(supernet) if sync else {}
    # Paths change every step, so DDP must look for unused parameters; buffers are averaged at the end
    # instead of broadcast every step.
    # torch >= 2.13 renamed broadcast_buffers (which now warns) to forward_sync_buffers.
    sync_kw = (
        "forward_sync_buffers"
        if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
        else "broadcast_buffers"
    )
    options: dict[str, Any] = {sync_kw: False}
    if dev.type == "cuda":  # one GPU per process, as SyncBatchNorm requires
        options["device_ids"] = [dev.index if dev.index is not None else torch.cuda.current_device()]
    ddp: DistributedDataParallel = DistributedDataParallel(supernet, find_unused_parameters=True, **options)
    draw: ArchSampler = sampler or supernet.sample
    opt = make_optimizer(supernet, config)
    # Batches are split as a single process with shards=world would, so short batches drop alike.
    shard_config = dataclasses.replace(config, shards=world)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    genes = supernet.genes
    n = num_samples(data)
    losses: list[float] = []
    steps = 0
    # After the DDP wrapper, which copies rank 0's weights and buffers to every rank at construction.
    keep, saved = _share_checkpoint(checkpoint, rank, dev)
    if saved is not None:
        where = checkpoint if checkpoint is not None else "rank 0's checkpoint"
        losses, steps = _restore_checkpoint(
            saved, where, "supernet", shard_config, supernet, opt, generator, rng, world_size=world
        )
        if "rank_stats" in saved:
            _load_rank_stats(supernet, saved["rank_stats"], rank, sync)
    for epoch in range(len(losses), config.epochs):
        start_epoch(data, epoch)
        batches = epoch_batches(n, shard_config, generator)
        epoch_loss = 0.0
        for step, index in enumerate(batches):
            arch = supernet.check_arch(draw(rng))
            # collectives take tensors on the backend's device (NCCL: CUDA only)
            choice = torch.tensor(
                [genes[g].index(op) for g, op in arch.items()], dtype=torch.int64, device=dev
            )
            dist.broadcast(choice, src=0)
            arch = {g: genes[g][int(i)] for g, i in zip(genes, choice.tolist(), strict=True)}
            x, y = gather(data, torch.tensor_split(index, world)[rank])
            share = supernet_train_step(
                supernet,
                opt,
                x.to(dev),
                y.to(dev),
                arch,
                module=ddp,
                global_n=len(index),
                scale=float(world),
                precision=config.precision,
            )
            loss = torch.tensor([share], dtype=torch.float64, device=dev)
            dist.all_reduce(loss)
            epoch_loss += float(loss)
            steps += 1
            if progress is not None and rank == 0:
                progress(StepInfo(epoch, step, len(batches), float(loss), arch))
        losses.append(epoch_loss / max(len(batches), 1))
        if keep:
            stats = None if sync else _gather_rank_stats(supernet, world)
            if rank == 0:
                assert checkpoint is not None
                state = _checkpoint_state(
                    "supernet", shard_config, supernet, opt, generator, rng, losses, steps
                )
                state["world_size"] = world
                if stats is not None:
                    state["rank_stats"] = stats
                save_torch_atomic(state, checkpoint)
    if sync:
        _from_sync_batchnorm(supernet, originals)  # the statistics are global already, equal on every rank
    else:
        _average_bn_stats(supernet, world)
    return TrainResult(tuple(losses), steps, opt, supernet.op_counts())


def local_rank() -> int:
    """``LOCAL_RANK`` set by torchrun (0 outside torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


@contextlib.contextmanager
def ensure_ray(*, num_workers: int, gpus_per_worker: float = 0.0) -> Iterator[Any]:
    """Ray for ``num_workers`` actors: the running instance, or one started now and shut down on exit.

    Started here, Ray joins the cluster at ``RAY_ADDRESS`` when that variable is set; otherwise it starts a
    local instance with at least ``num_workers`` logical CPUs (each actor reserves one), which finds the GPUs
    itself. Yields the ``ray`` module.

    Raises:
        InputError: Ray is not installed, or the instance has fewer GPUs than one worker reserves (its
            actors would wait forever).
    """
    try:
        import ray
    except ImportError:
        raise InputError("search.workers > 0 needs ray: pip install 'ttfsnet-nas[ray]'") from None
    started = not ray.is_initialized()
    if started:
        with warnings.catch_warnings():
            # Ray's startup may emit its own deprecation notices; nothing else is silenced.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray\..*")
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"ray\..*")
            # a cluster brings its own resources; Ray refuses resource counts when joining one
            local = {} if os.environ.get("RAY_ADDRESS") else {
                "num_cpus": max(os.cpu_count() or 1, num_workers), "include_dashboard": False
            }
            ray.init(log_to_driver=False, configure_logging=False, **local)
    try:
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        if gpus_per_worker > gpus:
            raise InputError(
                f"search.gpus_per_worker: {gpus_per_worker} GPU(s) per worker asked for, but Ray sees "
                f"{gpus:g}"
            )
        yield ray
    finally:
        if started:
            ray.shutdown()


class TorchrunGroup:
    """The process group of a ``torchrun`` launch in which rank 0 runs a pipeline and decides whether the
    other ranks join it in training (they write nothing).

    Rank 0 calls `announce` once: ``True`` right before the distributed training (the other ranks
    then train alongside), ``False`` when it trains nothing (a complete stage, an error); `close`
    announces ``False`` if rank 0 has not announced yet, so the other ranks never wait forever. The other
    ranks call `wait`.

    Args:
        device: the device every rank was asked for; with CUDA each rank takes the GPU of its
            ``LOCAL_RANK`` and the backend is NCCL, otherwise gloo on the CPU.
    """

    def __init__(self, device: torch.device) -> None:
        rank, world, local = torchrun_world()
        if device.type == "cuda":
            if local >= torch.cuda.device_count():
                raise InputError(
                    f"torchrun: LOCAL_RANK {local}, but this node has {torch.cuda.device_count()} CUDA "
                    "device(s)"
                )
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        self.device = device
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        self.rank = dist.get_rank()
        self.world = dist.get_world_size()
        assert (self.rank, self.world) == (rank, world), "process group and torchrun's variables differ"
        self._announced = False

    @classmethod
    def from_env(cls, device: torch.device) -> TorchrunGroup | None:
        """The group when this process is one of several started by ``torchrun``, else ``None``."""
        return cls(device) if torchrun_world()[1] > 1 else None

    def announce(self, train: bool) -> None:
        """Rank 0: tell the other ranks whether to train now (only the first call counts)."""
        if self.rank != 0 or self._announced:
            return
        self._announced = True
        dist.broadcast(torch.tensor([int(train)], device=self.device), src=0)

    def wait(self) -> bool:
        """Ranks > 0: whether rank 0 trains now (blocks until it has announced)."""
        flag = torch.zeros(1, dtype=torch.int64, device=self.device)
        dist.broadcast(flag, src=0)
        return bool(flag.item())

    def close(self) -> None:
        """Release the other ranks if rank 0 never announced, then leave the process group."""
        # No barrier: after an error on one rank the others may still sit in a training collective.
        if not self._announced:
            self.announce(False)
        if dist.is_initialized():
            dist.destroy_process_group()
