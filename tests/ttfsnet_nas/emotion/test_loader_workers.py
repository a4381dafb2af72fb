"""Training batches of the emotion data through BatchLoader: worker processes reading the memory-mapped frame
cache give exactly the batches of the main-process path, in the same order, epoch after epoch."""

from __future__ import annotations

from pathlib import Path

import torch

from ttfsnet_nas.emotion.data import EpochBatches, load_data
from ttfsnet_nas.emotion.dataset import EventEmotionDataset
from ttfsnet_nas.emotion.recipe import DataConfig
from ttfsnet_nas.progress import NullProgress
from ttfsnet_nas.torch.data import BatchLoader, start_epoch
from ttfsnet_nas.torch.train import TrainConfig, epoch_batches


def _training_batches(data: EventEmotionDataset, workers: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Three epochs of batches in the training loop's order (seeded permutation, fresh windows per epoch)."""
    config = TrainConfig(batch_size=16, seed=7)
    generator = torch.Generator().manual_seed(config.seed)
    out = []
    with BatchLoader(data, workers=workers) as loader:
        for epoch in range(3):
            start_epoch(data, epoch)
            out.extend(loader(epoch_batches(len(data), config, generator)))
    return out


def test_worker_processes_give_the_main_process_batches(tiny_see_root: Path) -> None:
    cfg = DataConfig(root=str(tiny_see_root), image_size=16)
    data = load_data(cfg, seed=0, with_search_split=True, progress=NullProgress(), where="data")
    assert data.supernet is not None and data.supernet.cache_path is not None
    main = _training_batches(data.supernet, workers=0)
    pooled = _training_batches(data.supernet, workers=2)
    assert len(main) == len(pooled) == 3 * -(-len(data.supernet) // 16)
    for (x, y), (px, py) in zip(main, pooled, strict=True):
        assert torch.equal(x, px) and torch.equal(y, py)
    assert x.shape[1:] == (4, 16, 16) and x.dtype == torch.float32


def test_fine_tuning_batches_with_loader_workers(tiny_see_root: Path) -> None:
    passes = {}
    for workers in (0, 2):
        cfg = DataConfig(root=str(tiny_see_root), image_size=16, loader_workers=workers)
        data = load_data(cfg, seed=0, with_search_split=False, progress=NullProgress(), where="data")
        batches = EpochBatches(data.test, batch_size=20, seed=3)
        assert batches.loader.workers == workers
        passes[workers] = [list(batches) for _ in range(2)]
        batches.loader.close()
    for one, other in zip(passes[0], passes[2], strict=True):
        assert len(one) == len(other) == 3
        for (x, y), (px, py) in zip(one, other, strict=True):
            assert torch.equal(x, px) and torch.equal(y, py)
    assert not torch.equal(passes[0][0][0][0], passes[0][1][0][0])  # a new pass draws new windows
