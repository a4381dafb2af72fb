"""BatchLoader: the same batches in the same order with and without worker processes, pinning only for a
CUDA device that exists, workers stopped on close; gather's one-call path for BatchGatherer data sets."""

from __future__ import annotations

import multiprocessing

import pytest
import torch
from torch.utils.data import Dataset

from ttfsnet_nas.torch.data import BatchGatherer, BatchLoader, gather, start_epoch


class EpochItems(Dataset[tuple[torch.Tensor, int]]):
    """Items that depend on (epoch, index), like random temporal windows (module level: picklable)."""

    def __init__(self, n: int = 50, loader_workers: int = 0) -> None:
        self.n = n
        self.epoch = 0
        self.loader_workers = loader_workers

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        g = torch.Generator().manual_seed(1000 * self.epoch + index)
        return torch.rand(3, 4, 4, generator=g), index % 3


class WholeBatches(EpochItems):
    """The same items, built a batch at a time."""

    calls = 0

    def gather_batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        WholeBatches.calls += 1
        items = [self[int(i)] for i in index]
        return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


def _batches(n: int, size: int, seed: int) -> list[torch.Tensor]:
    return list(torch.split(torch.randperm(n, generator=torch.Generator().manual_seed(seed)), size))


def _passes(data: EpochItems, loader: BatchLoader, epochs: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for epoch in range(epochs):
        start_epoch(data, epoch)
        out.extend(loader(_batches(len(data), 8, epoch)))
    return out


def test_gather_uses_gather_batch() -> None:
    data = WholeBatches()
    assert isinstance(data, BatchGatherer) and not isinstance(EpochItems(), BatchGatherer)
    index = torch.tensor([4, 0, 9])
    WholeBatches.calls = 0
    x, y = gather(data, index)
    assert WholeBatches.calls == 1
    ref_x, ref_y = gather(EpochItems(), index)  # item by item
    assert torch.equal(x, ref_x) and torch.equal(y, ref_y) and y.dtype == torch.int64


@pytest.mark.parametrize("cls", [EpochItems, WholeBatches])
def test_workers_give_the_same_batches_in_the_same_order(cls: type[EpochItems]) -> None:
    data = cls()
    with BatchLoader(data, workers=0) as main:
        expected = _passes(data, main, 3)
    with BatchLoader(data, workers=2, prefetch=3) as pooled:
        got = _passes(data, pooled, 3)  # persistent workers follow the epoch of each pass
    assert len(got) == len(expected) == 3 * 7
    for (x, y), (ex, ey) in zip(got, expected, strict=True):
        assert torch.equal(x, ex) and torch.equal(y, ey)


def test_workers_from_the_data_set_and_an_abandoned_pass() -> None:
    data = EpochItems(loader_workers=2)
    with BatchLoader(data) as loader:
        assert loader.workers == 2
        batches = _batches(len(data), 8, 0)
        first = next(iter(loader(batches)))  # leave the pass after one batch
        again = list(loader(batches))
    assert torch.equal(first[0], again[0][0]) and len(again) == len(batches)
    with pytest.raises(ValueError, match="workers must be >= 0"):
        BatchLoader(data, workers=-1)


def test_close_stops_the_workers() -> None:
    before = {p.pid for p in multiprocessing.active_children()}
    data = EpochItems()
    loader = BatchLoader(data, workers=2)
    list(loader(_batches(len(data), 8, 0)))
    workers = {p.pid for p in multiprocessing.active_children()} - before
    assert len(workers) == 2
    loader.close()
    assert not workers & {p.pid for p in multiprocessing.active_children()}
    assert len(list(loader(_batches(len(data), 8, 0)))) == 7  # after close: gathered in this process


def test_cpu_batches_are_not_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        raise AssertionError("pin_memory called for a CPU device")

    monkeypatch.setattr(torch.Tensor, "pin_memory", refuse)
    data = EpochItems()
    for workers in (0, 2):
        with BatchLoader(data, device="cpu", workers=workers) as loader:
            assert loader.pin is False
            x, y = next(iter(loader(_batches(len(data), 8, 0))))
            assert x.device.type == "cpu" and x.is_contiguous() and not x.is_pinned()


def test_pinning_needs_a_cuda_device_that_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert BatchLoader(EpochItems(), device="cuda").pin is False
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert BatchLoader(EpochItems(), device="cuda:0").pin is True
    assert BatchLoader(EpochItems(), device="cpu").pin is False


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batches_are_copied_from_pinned_memory() -> None:
    data = EpochItems()
    batches = _batches(len(data), 8, 0)
    with BatchLoader(data, device="cpu") as cpu:
        expected = list(cpu(batches))
    for workers in (0, 2):
        with BatchLoader(data, device="cuda", workers=workers) as loader:
            assert loader.pin
            got = list(loader(batches))
        for (x, y), (ex, ey) in zip(got, expected, strict=True):
            assert x.is_cuda and torch.equal(x.cpu(), ex) and torch.equal(y.cpu(), ey)
