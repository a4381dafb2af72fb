"""Minimal data plumbing shared by training, evaluation and the distributed runners.

A *labelled data set* is either a pair of tensors ``(inputs, labels)`` with the same first dimension or any
map-style ``torch.utils.data.Dataset`` whose items are ``(input, label)`` pairs. Batches are gathered by
index, so an ordering fixed by a seeded permutation is reproducible across processes and machines (what
the DDP trainer and the Ray evaluators rely on).
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import TypeAlias

import torch
from torch.utils.data import Dataset, TensorDataset

__all__ = ["LabelledData", "gather", "iter_batches", "num_samples", "start_epoch"]

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


def gather(data: LabelledData, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and labels of the samples at ``index`` (a 1-D int64 tensor), stacked."""
    if isinstance(data, tuple):
        return data[0][index], data[1][index]
    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        return data.tensors[0][index], data.tensors[1][index]
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
