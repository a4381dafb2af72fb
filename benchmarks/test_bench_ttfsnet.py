"""ttfsnet cost benchmarks on the paper-sized backbone (90x90x4 input, batch 96, float32).

Run: ``OMP_NUM_THREADS=1 pytest benchmarks/test_bench_ttfsnet.py --benchmark-only`` (not part of the
test suite). Rounds are small because the reference machine is slow and shared; the ratios recorded in
``benchmark.extra_info`` are measured inside each benchmark with the same timer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache

import pytest
import torch
from torch import nn

import ttfsnet

BATCH = 96
SIZE = 90
CALIBRATION = 256
STEPPED_BATCH = 8
STEPPED_DT = 0.2


def backbone() -> nn.Sequential:
    """Stem 2×conv3x3 4→32, then 2×conv at 64 and 2×conv at 128, 2×2 max pools between, head → 7."""

    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]

    torch.manual_seed(0)
    model = nn.Sequential(
        *block(4, 32),
        *block(32, 32),
        nn.MaxPool2d(2),
        *block(32, 64),
        *block(64, 64),
        nn.MaxPool2d(2),
        *block(64, 128),
        *block(128, 128),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(128 * 11 * 11, 7),
    )
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model.eval()


@cache
def fixture_data() -> tuple[nn.Sequential, torch.Tensor, ttfsnet.TTFSNetwork]:
    torch.set_num_threads(1)
    model = backbone()
    x = torch.rand(max(BATCH, CALIBRATION), 4, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    net = ttfsnet.convert(model, x[:CALIBRATION])
    return model, x[:BATCH].contiguous(), net


def best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak_cpu_memory(fn: Callable[[], object]) -> int:
    """Peak bytes held by torch tensors during ``fn``.

    Walks the profiler's allocation timeline: each event's *self* memory (allocations minus frees not
    attributed to a child op) in start-time order. Workspaces allocated and freed inside one op are
    not visible, so this is the tensor high-water mark, not the process RSS.
    """
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True
    ) as prof:
        fn()
    events = sorted((e for e in prof.events() if e.self_cpu_memory_usage), key=lambda e: e.time_range.start)
    level = peak = 0
    for e in events:
        level += e.self_cpu_memory_usage
        peak = max(peak, level)
    return peak


@pytest.mark.benchmark(group="ttfsnet-ann-forward-90x90-b96")
def test_bench_ann_forward(benchmark) -> None:  # type: ignore[no-untyped-def]
    model, x, net = fixture_data()
    fused = ttfsnet.to_ann(net)
    with torch.no_grad():
        benchmark.pedantic(lambda: model(x), rounds=3, iterations=1, warmup_rounds=1)
        benchmark.extra_info["fused_ann_s"] = best_time(lambda: fused(x))
        benchmark.extra_info["peak_bytes"] = peak_cpu_memory(lambda: model(x))


@pytest.mark.benchmark(group="ttfsnet-closed-forward-90x90-b96")
def test_bench_ttfs_closed_forward(benchmark) -> None:  # type: ignore[no-untyped-def]
    model, x, net = fixture_data()
    fused = ttfsnet.to_ann(net)
    with torch.no_grad():
        benchmark.pedantic(lambda: net(x), rounds=3, iterations=1, warmup_rounds=1)
        t_snn = best_time(lambda: net(x))
        t_ann = best_time(lambda: model(x))
        t_fused = best_time(lambda: fused(x))
        t_run = best_time(lambda: net.run(x), repeat=1)
        benchmark.extra_info.update(
            ratio_vs_ann=t_snn / t_ann,
            ratio_vs_fused_ann=t_snn / t_fused,
            run_over_forward=t_run / t_snn,
            peak_bytes=peak_cpu_memory(lambda: net(x)),
            peak_bytes_ann=peak_cpu_memory(lambda: model(x)),
            peak_bytes_run=peak_cpu_memory(lambda: net.run(x)),
        )


@pytest.mark.benchmark(group="ttfsnet-convert-calibrate-256")
def test_bench_convert(benchmark) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = fixture_data()
    calib = torch.rand(CALIBRATION, 4, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    batches = list(calib.split(64))
    benchmark.pedantic(lambda: ttfsnet.convert(model, batches), rounds=2, iterations=1)
    t_convert = best_time(lambda: ttfsnet.convert(model, batches), repeat=1)
    with torch.no_grad():
        t_forward = best_time(lambda: [model(b) for b in batches], repeat=1)
    t_fuse_only = best_time(lambda: ttfsnet.convert(model, calib[:1]))
    benchmark.extra_info.update(
        calibration_samples=CALIBRATION,
        ann_forward_on_calibration_s=t_forward,
        convert_over_ann_forward=t_convert / t_forward,
        fusion_overhead_s=t_fuse_only,
    )


@pytest.mark.benchmark(group="ttfsnet-stepped-per-step-b8")
def test_bench_stepped(benchmark) -> None:  # type: ignore[no-untyped-def]
    _, x, net = fixture_data()
    xs = x[:STEPPED_BATCH].contiguous()
    benchmark.pedantic(lambda: net.run(xs, mode="stepped", dt=STEPPED_DT), rounds=2, iterations=1)
    steps = round(1 / STEPPED_DT)
    t_step = best_time(lambda: net.run(xs, mode="stepped", dt=STEPPED_DT), repeat=1)
    t_closed = best_time(lambda: net.run(xs))
    benchmark.extra_info.update(
        dt=STEPPED_DT,
        steps_per_window=steps,
        stepped_over_closed_run=t_step / t_closed,
        per_step_over_closed_run=t_step / t_closed / steps,
        peak_bytes=peak_cpu_memory(lambda: net.run(xs, mode="stepped", dt=STEPPED_DT)),
        peak_bytes_closed_run=peak_cpu_memory(lambda: net.run(xs)),
    )
