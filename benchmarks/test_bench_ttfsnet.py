"""ttfsnet cost benchmarks on the paper-sized backbone (90x90x4 input, batch 96, float32).

Run (not part of the test suite)::

    pytest benchmarks/test_bench_ttfsnet.py --benchmark-only --benchmark-json=bench.json
    python benchmarks/ratios.py bench.json

Speed targets are ratios against a reference benchmark of the same run (``extra_info["reference"]``,
``extra_info["target"]``; see ``benchmarks/ratios.py``). Rounds are few because the reference machine is
slow and shared; ``inline_*`` ratios are measured back to back inside one benchmark as a cross-check.
``peak_bytes`` is the tensor high-water mark of one call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache

import torch
from torch import nn

import ttfsnet
from ttfsnet.models import MacroConfig, macro_genes, macro_network

BATCH = 96
SIZE = 90
CALIBRATION = 256
STEPPED_BATCH = 8
STEPPED_DT = 0.2


# The one TNAS-ER backbone definition at the paper's input size, every block the 3x3 conv block (the
# "fixed 3x3" backbone of TNAS-ER Fig. 7): stem 2×conv3x3 4→32, then 4 convs at 32, 64 and 128 channels.
PAPER = MacroConfig(
    in_channels=4, input_size=(SIZE, SIZE), stem_channels=(32, 32), stage_blocks=(2, 2, 2),
    gene_names="g{stage}b{block}"
)


def backbone() -> nn.Sequential:
    """The paper-sized backbone with non-trivial BN statistics (so BN fusion is part of the cost)."""
    torch.manual_seed(0)
    model = macro_network(PAPER, dict.fromkeys(macro_genes(PAPER), "conv3x3"))
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


@cache
def calibration_batches() -> list[torch.Tensor]:
    calib = torch.rand(CALIBRATION, 4, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    return list(calib.split(64))


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


def _bench(benchmark, fn: Callable[[], object], rounds: int = 3, **info: object) -> None:  # type: ignore[no-untyped-def]
    """Time ``fn`` without autograd and record ``info`` plus the tensor peak memory of one call."""
    with torch.no_grad():
        benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
        benchmark.extra_info.update(info)
        benchmark.extra_info["peak_bytes"] = peak_cpu_memory(fn)


def test_bench_ann_forward(benchmark) -> None:  # type: ignore[no-untyped-def]
    """Reference: the ReLU ANN (with its BatchNorms) on one batch of 96."""
    model, x, _ = fixture_data()
    _bench(benchmark, lambda: model(x))


def test_bench_ttfs_closed_forward(benchmark) -> None:  # type: ignore[no-untyped-def]
    """Issue target: closed-form TTFS forward <= 1.1x the ReLU ANN forward (batch 96, float32)."""
    model, x, net = fixture_data()
    fused = ttfsnet.to_ann(net)
    with torch.no_grad():
        # Measured here back to back as well, because ratios of separate benchmarks drift with the load.
        t_snn, t_ann, t_fused = (
            best_time(lambda: net(x)),
            best_time(lambda: model(x)),
            best_time(lambda: fused(x)),
        )
    _bench(
        benchmark,
        lambda: net(x),
        reference="test_bench_ann_forward",
        target=1.1,
        label=f"closed-form / ANN forward at batch {BATCH}",
        inline_ratio_vs_ann=t_snn / t_ann,
        inline_ratio_vs_fused_ann=t_snn / t_fused,
    )


def test_bench_ttfs_run_stats(benchmark) -> None:  # type: ignore[no-untyped-def]
    """Issue target: ``net.run`` with its statistics (spike counts, SynOPs, saturation) <= 1.5x the ReLU ANN
    forward (batch 96, float32).

    ``run`` converts activations to spike times only when ``spike_times`` is read, so the conversion is not
    part of the target; ``inline_ratio_with_spike_times_vs_ann`` reports the cost with it.
    """
    model, x, net = fixture_data()
    with torch.no_grad():
        t_run, t_ann, t_times = (
            best_time(lambda: net.run(x)),
            best_time(lambda: model(x)),
            best_time(lambda: net.run(x).spike_times),
        )
    _bench(
        benchmark,
        lambda: net.run(x),
        reference="test_bench_ann_forward",
        target=1.5,
        label=f"run() stats / ANN forward at batch {BATCH}",
        inline_ratio_vs_ann=t_run / t_ann,
        inline_ratio_with_spike_times_vs_ann=t_times / t_ann,
    )


def test_bench_ann_forward_calibration(benchmark) -> None:  # type: ignore[no-untyped-def]
    """Reference for conversion: one ANN forward over the 256 calibration samples, in the same batches."""
    model, _, _ = fixture_data()
    batches = calibration_batches()
    _bench(benchmark, lambda: [model(b) for b in batches], calibration_samples=CALIBRATION)


def test_bench_convert(benchmark) -> None:  # type: ignore[no-untyped-def]
    """Issue target "conversion <= 2 s including calibration on 256 samples", as a ratio.

    Calibration needs one forward pass over the calibration data, so conversion should cost no more
    than that pass with the ANN itself (target 1.0). On one loaded CPU thread that pass alone takes
    3-5 s, so the absolute 2 s holds only on faster or multi-threaded hardware.
    """
    model, _, _ = fixture_data()
    batches = calibration_batches()
    fuse_only = best_time(lambda: ttfsnet.convert(model, batches[0][:1]))
    _bench(
        benchmark,
        lambda: ttfsnet.convert(model, batches),
        reference="test_bench_ann_forward_calibration",
        target=1.0,
        calibration_samples=CALIBRATION,
        fusion_only_s=fuse_only,
    )


def test_bench_ttfs_closed_run_small_batch(benchmark) -> None:  # type: ignore[no-untyped-def]
    """Reference for the stepped simulator: ``net.run`` (closed form, all statistics) on 8 samples."""
    _, x, net = fixture_data()
    xs = x[:STEPPED_BATCH].contiguous()
    _bench(benchmark, lambda: net.run(xs))


def test_bench_stepped(benchmark) -> None:  # type: ignore[no-untyped-def]
    """Stepped simulator cost; ``per_step_over_closed`` is the cost of one dt step per window."""
    _, x, net = fixture_data()
    xs = x[:STEPPED_BATCH].contiguous()
    steps = round(1 / STEPPED_DT)
    with torch.no_grad():
        ratio = best_time(lambda: net.run(xs, mode="stepped", dt=STEPPED_DT), repeat=1) / best_time(
            lambda: net.run(xs)
        )
    _bench(
        benchmark,
        lambda: net.run(xs, mode="stepped", dt=STEPPED_DT),
        rounds=2,
        reference="test_bench_ttfs_closed_run_small_batch",
        dt=STEPPED_DT,
        steps_per_window=steps,
        inline_stepped_over_closed=ratio,
        per_step_over_closed=ratio / steps,
    )
