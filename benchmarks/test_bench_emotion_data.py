"""Eye-emotion data layer: synthetic ``small`` generation time and data-loading throughput (samples/s).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m pytest benchmarks/test_bench_emotion_data.py --benchmark-only
-p no:cacheprovider``. All data here is synthetic.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from ttfsnet_nas.emotion.dataset import EventEmotionDataset
from ttfsnet_nas.emotion.see import load_see
from ttfsnet_nas.emotion.synth import generate

pytestmark = pytest.mark.benchmark(group="emotion-data")


@pytest.fixture(scope="module")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small")
    generate(root, preset="small", seed=0, workers=2)
    return root


def test_bench_generate_small(benchmark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One full generation of the ``small`` preset with 2 worker processes (budget: ~60 s)."""
    counter = iter(range(100))

    def run() -> float:
        start = time.perf_counter()
        summary = generate(tmp_path / f"g{next(counter)}", preset="small", seed=0, workers=2)
        assert summary.sequences == 588
        return time.perf_counter() - start

    seconds = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(seconds=round(seconds, 2), sequences=588)


def test_bench_cache_fill_small(benchmark, small_root: Path) -> None:  # type: ignore[no-untyped-def]
    """Decode + map + resize every event frame of ``small`` into the in-memory cache (size 32)."""
    seqs = load_see(small_root).sequences
    frames = sum(s.length for s in seqs)
    start = time.perf_counter()
    ds = benchmark.pedantic(EventEmotionDataset, args=(seqs,), kwargs={"size": 32}, rounds=1, iterations=1)
    seconds = time.perf_counter() - start
    benchmark.extra_info.update(frames=frames, frames_per_s=round(frames / seconds))
    assert len(ds) == len(seqs)


def _bench_epoch(benchmark, ds: EventEmotionDataset) -> None:  # type: ignore[no-untyped-def]
    """Time one pass over every item of ``ds``; report samples per second."""

    def epoch() -> int:
        for i in range(len(ds)):
            ds[i]
        return len(ds)

    n = benchmark.pedantic(epoch, rounds=3, iterations=1)
    benchmark.extra_info.update(samples=n, samples_per_s=round(n / benchmark.stats.stats.median))


def test_bench_items_cached(benchmark, small_root: Path) -> None:  # type: ignore[no-untyped-def]
    """Throughput of ``dataset[i]`` from the cache (E4-S3, 4 × 32 × 32)."""
    torch.set_num_threads(1)
    _bench_epoch(benchmark, EventEmotionDataset(load_see(small_root).subset("training"), size=32))


def test_bench_items_uncached(benchmark, small_root: Path) -> None:  # type: ignore[no-untyped-def]
    """Throughput of ``dataset[i]`` decoding the 4 JPGs per item (no cache)."""
    items = load_see(small_root).subset("training")[:150]
    _bench_epoch(benchmark, EventEmotionDataset(items, size=32, cache=False))
    benchmark.extra_info["reference"] = "test_bench_items_cached"
