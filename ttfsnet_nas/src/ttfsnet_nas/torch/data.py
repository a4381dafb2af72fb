"""Minimal data plumbing shared by training, evaluation and the distributed runners.

A *labelled data set* is either a pair of tensors ``(inputs, labels)`` with the same first dimension or any
map-style ``torch.utils.data.Dataset`` whose items are ``(input, label)`` pairs. Batches are gathered by
index, so an ordering fixed by a seeded permutation is reproducible across processes and machines (what
the DDP trainer and the Ray evaluators rely on). A data set with a ``gather_batch(index)`` method
([`BatchGatherer`][ttfsnet_nas.torch.data.BatchGatherer]) builds a whole batch at once instead of item by
item.

[`BatchLoader`][ttfsnet_nas.torch.data.BatchLoader] delivers the batches of a list of index tensors on a
device: gathered in this process or ahead of time by worker processes (the same batches in the same order
    either way), pinned and copied
without blocking when the device is a GPU.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import Any, Protocol, TypeAlias, runtime_checkable

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

__all__ = [
    "BatchGatherer",
    "BatchLoader",
    "LabelledData",
    "gather",
    "iter_batches",
    "num_samples",
    "start_epoch",
]

LabelledData: TypeAlias = tuple[torch.Tensor, torch.Tensor] | Dataset


def start_epoch(data: LabelledData, epoch: int) -> None:
    """Tell a data set with a ``set_epoch(epoch)`` method (the PyTorch convention, e.g. fresh random
    windows or augmentations per epoch) which epoch the training loops start; others are left alone."""
    set_epoch = getattr(data, "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch)


def num_samples(data: LabelledData) -> int:
    """Number of samples in ``data``.

    Raises:
        TypeError: If ``data`` is neither a tensor pair nor a sized dataset.
        ValueError: If a tensor pair has mismatched lengths.
    """
    if isinstance(data, tuple):
        if len(data) != 2 or not all(isinstance(t, torch.Tensor) for t in data):
            raise TypeError("data: expected a (inputs, labels) tensor pair or a map-style Dataset")
        if data[0].shape[0] != data[1].shape[0]:
            raise ValueError(
                f"data: inputs have {data[0].shape[0]} samples but labels have {data[1].shape[0]}"
            )
        return int(data[0].shape[0])
    if isinstance(data, Sized):
        return len(data)
    raise TypeError(
        f"data: expected a (inputs, labels) tensor pair or a sized Dataset, got {type(data).__name__}"
    )


@runtime_checkable
class BatchGatherer(Protocol):
    """A data set that builds a batch in one go (e.g. one gather from a frame cache)."""

    def gather_batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and int64 labels of the samples at ``index``, equal to stacking the items one by one."""
        ...


def gather(data: LabelledData, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and labels of the samples at ``index`` (a 1-D int64 tensor), stacked."""
    if isinstance(data, tuple):
        return data[0][index], data[1][index]
    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        return data.tensors[0][index], data.tensors[1][index]
    if isinstance(data, BatchGatherer):
        return data.gather_batch(index)
    items = [data[int(i)] for i in index]
    inputs = torch.stack([torch.as_tensor(x) for x, _ in items])
    labels = torch.as_tensor([int(y) for _, y in items], dtype=torch.int64)
    return inputs, labels


def iter_batches(data: LabelledData, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive batches in data-set order (the last one may be smaller)."""
    if batch_size < 1:
        raise ValueError(f"iter_batches: batch_size must be >= 1, got {batch_size}")
    n = num_samples(data)
    for start in range(0, n, batch_size):
        yield gather(data, torch.arange(start, min(start + batch_size, n)))


class _Tasks:
    """The batches of the current pass, as (epoch, index) tasks; the loader's sampler, refilled per pass."""

    def __init__(self) -> None:
        self.items: list[tuple[int | None, list[int]]] = []

    def __iter__(self) -> Iterator[tuple[int | None, list[int]]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class _GatherTasks(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Runs in the worker processes: gathers the batch of one task at the task's epoch."""

    def __init__(self, data: LabelledData) -> None:
        self.data = data

    def __getitem__(self, task: Any) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = task
        if epoch is not None:
            start_epoch(self.data, epoch)
        return gather(self.data, torch.tensor(index, dtype=torch.int64))


class BatchLoader:
    """Delivers the batches of ``data`` at given index tensors, in order, on ``device``.

    With ``workers = 0`` each batch is gathered in this process when it is needed. With ``workers > 0`` the
    worker processes of a ``torch.utils.data.DataLoader``, alive as long as this loader, gather up to
    ``prefetch`` batches each ahead of time. Either way the batches are the same, in the same order: a worker
    gathers each batch at the epoch the data set had (its ``epoch`` attribute, see
    [`start_epoch`][ttfsnet_nas.torch.data.start_epoch]) when the pass began, and a data set whose batches
    depend only on (epoch, index), such as
    [`EventEmotionDataset`][ttfsnet_nas.emotion.dataset.EventEmotionDataset], gives identical tensors. When
    ``device`` is a CUDA device and CUDA is available, batches are pinned (in the workers' pin thread, or
    here) and copied with ``non_blocking=True``, so the copy overlaps the gathering of the next batch.

    Use it as a context manager (or call `close`) to stop the workers::

        with BatchLoader(data, device="cuda", workers=2) as loader:
            for epoch in range(epochs):
                start_epoch(data, epoch)
                for x, y in loader(epoch_batches(...)):
                    ...

    Args:
        data: labelled data set (see [`LabelledData`][ttfsnet_nas.torch.data.LabelledData]); with workers it
            must be picklable.
        device: where the batches go.
        workers: worker processes; ``None`` takes the data set's ``loader_workers`` attribute (0 without).
        prefetch: batches each worker prepares ahead.
    """

    def __init__(
        self,
        data: LabelledData,
        *,
        device: torch.device | str = "cpu",
        workers: int | None = None,
        prefetch: int = 2,
    ) -> None:
        count = int(getattr(data, "loader_workers", 0)) if workers is None else workers
        if count < 0:
            raise ValueError(f"BatchLoader: workers must be >= 0, got {count}")
        if prefetch < 1:
            raise ValueError(f"BatchLoader: prefetch must be >= 1, got {prefetch}")
        self.data = data
        self.device = torch.device(device)
        self.workers = count
        # Pinned host memory only pays off for (and only exists with) a CUDA device.
        self.pin = self.device.type == "cuda" and torch.cuda.is_available()
        self._tasks = _Tasks()
        self._loader: DataLoader[Any] | None = None
        if count > 0:
            self._loader = DataLoader(
                _GatherTasks(data),
                batch_size=None,
                sampler=self._tasks,
                num_workers=count,
                pin_memory=self.pin,
                persistent_workers=True,
                prefetch_factor=prefetch,
            )

    def __call__(self, batches: Iterable[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches at each index tensor of ``batches``, in order, on the device (one pass at a time)."""
        if self._loader is None:
            for index in batches:
                yield self._deliver(*gather(self.data, index))
            return
        epoch = getattr(self.data, "epoch", None)
        self._tasks.items = [(epoch, torch.as_tensor(index).tolist()) for index in batches]
        for x, y in self._loader:
            yield self._deliver(x, y)

    def _deliver(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pin and not x.is_pinned():
            x, y = x.pin_memory(), y.pin_memory()
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def close(self) -> None:
        """Stop the worker processes; later passes gather in this process."""
        self._loader = None

    def __enter__(self) -> BatchLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
