"""Training-batch loader throughput from the memory-mapped frame cache: the paper's input (E4-S3, 4 × 90 × 90)
in batches of 96, on the CPU cores this machine has (2 on the shared development machine).

Run: ``pytest benchmarks/test_bench_loader.py --benchmark-only --benchmark-json=loader.json`` then
``python benchmarks/ratios.py loader.json``. The target is absolute, as the issue states it: at least
4,000 samples/s, the measured supernet training rate on one GPU, so that the GPU never waits for data.
``ratios.py`` prints each figure against it. The data is a synthetic ``tiny`` set at 90 × 90, generated in a
temporary folder; the frame cache is built once and then opened from the memory map, as a second run would.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from ttfsnet_nas.emotion.dataset import EventEmotionDataset
from ttfsnet_nas.emotion.frame_cache import default_cache_dir
from ttfsnet_nas.emotion.see import load_see
from ttfsnet_nas.emotion.synth import generate
from ttfsnet_nas.torch.data import BatchLoader

pytestmark = pytest.mark.benchmark(group="loader")

TARGET_SAMPLES_PER_S = 4000
BATCH = 96
BATCHES_PER_ROUND = 30


@pytest.fixture(scope="module")
def cached_set(tmp_path_factory: pytest.TempPathFactory) -> EventEmotionDataset:
    """The training part of a synthetic ``tiny`` set stored at 90 × 90 (about 4 s to generate), reopened
    from its frame cache."""
    root = tmp_path_factory.mktemp("loader")
    generate(root, preset="tiny", seed=0, workers=2, size=90)
    seqs = load_see(root).subset("training")
    EventEmotionDataset(seqs, size=90, cache_dir=default_cache_dir(root))  # builds the cache
    ds = EventEmotionDataset(seqs, size=90, cache_dir=default_cache_dir(root))
    assert ds.cache_path is not None and ds.channels == 4
    return ds


def _bench_loader(benchmark, ds: EventEmotionDataset, workers: int) -> None:  # type: ignore[no-untyped-def]
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, len(ds), (BATCH,), generator=g) for _ in range(BATCHES_PER_ROUND)]
    epochs = itertools.count()
    with BatchLoader(ds, device="cpu", workers=workers) as loader:
        list(loader(batches[:2]))  # start the workers and touch the pages outside the timing

        def one_round() -> int:
            ds.set_epoch(next(epochs))  # fresh windows every round, as every training epoch draws
            n = 0
            for x, _ in loader(batches):
                assert x.shape == (BATCH, 4, 90, 90)
                n += x.shape[0]
            return n

        n = benchmark.pedantic(one_round, rounds=5, iterations=1)
    rate = n / benchmark.stats.stats.median
    benchmark.extra_info.update(
        samples=n,
        samples_per_s=round(rate),
        min_samples_per_s=TARGET_SAMPLES_PER_S,
        input="E4-S3 4x90x90",
        batch=BATCH,
        loader_workers=workers,
        torch_threads=torch.get_num_threads(),
    )


def test_bench_loader_main_process(benchmark, cached_set: EventEmotionDataset) -> None:  # type: ignore[no-untyped-def]
    """``data.loader_workers: 0`` (the default): each batch gathered in the training process."""
    _bench_loader(benchmark, cached_set, workers=0)


def test_bench_loader_two_workers(benchmark, cached_set: EventEmotionDataset) -> None:  # type: ignore[no-untyped-def]
    """``data.loader_workers: 2``: batches gathered ahead by two worker processes."""
    _bench_loader(benchmark, cached_set, workers=2)
