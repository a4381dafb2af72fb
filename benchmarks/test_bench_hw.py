"""ttfsnet_hw benchmarks: estimate on the paper-sized network (256 samples) and integer-simulation throughput.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m pytest benchmarks/test_bench_hw.py --benchmark-only -p no:cacheprovider``.
"""

from __future__ import annotations

import numpy as np
import pytest

from ttfsnet_hw.estimate import estimate
from ttfsnet_hw.intsim import simulate
from ttfsnet_hw.ir import SpikeRecorder
from ttfsnet_hw.paper import paper_network, reference_architecture
from ttfsnet_hw.profile import load_profile
from ttfsnet_hw.quantize import quantize

pytestmark = pytest.mark.benchmark(group="hw")

N_CAL = 256


@pytest.fixture(scope="module")
def reference():  # type: ignore[no-untyped-def]
    return paper_network(reference_architecture(), rng=np.random.default_rng(0))


@pytest.fixture(scope="module")
def record_256(reference):  # type: ignore[no-untyped-def]
    """256 synthetic samples: every neuron fires independently with probability 0.05 (input 0.2)."""
    rng = np.random.default_rng(1)
    rec = SpikeRecorder(reference, "assumed")
    for _ in range(N_CAL // 32):
        rec.add([rng.random((32, *reference.emitter_shape(e)), dtype=np.float32) < (0.2 if e == "input" else 0.05)
                 for e in reference.emitters])
    return rec.finish()


def test_bench_estimate_paper_256(benchmark, reference, record_256) -> None:  # type: ignore[no-untyped-def]
    prof = load_profile("yoso")
    est = benchmark.pedantic(estimate, args=(reference, record_256, prof), rounds=3, iterations=1)
    assert est.n_samples == N_CAL
    benchmark.extra_info.update(latency_ms=est.latency_ms.mean, energy_mj=est.energy_mj.mean, pes=est.pes_used)


def test_bench_snn_record_and_estimate_paper_256(benchmark, reference) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    from ttfsnet_hw.adapters.torch import record_snn, ttfs_from_ir

    torch.set_num_threads(1)
    net = ttfs_from_ir(reference, torch.float32)
    x = torch.rand(N_CAL, *reference.input_shape, generator=torch.Generator().manual_seed(2))
    prof = load_profile("yoso")

    def run():  # type: ignore[no-untyped-def]
        return estimate(reference, record_snn(net, reference, x, batch_size=32), prof)

    est = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(latency_ms=est.latency_ms.mean, energy_mj=est.energy_mj.mean,
                                synops=est.synops.mean)


@pytest.mark.parametrize("mode", ["event", "stepped"])
def test_bench_intsim_throughput(benchmark, mode: str) -> None:  # type: ignore[no-untyped-def]
    size, n = (32, 64) if mode == "event" else (16, 4)
    ir = paper_network(reference_architecture(groups=2), groups=2, image_size=size, rng=np.random.default_rng(3))
    x = np.random.default_rng(4).uniform(0, 1, (n, 4, size, size))
    q = quantize(ir, load_profile("yoso"), x)
    res = benchmark.pedantic(simulate, args=(q, x), kwargs={"mode": mode}, rounds=2, iterations=1)
    assert res.predictions.shape == (n,)
    benchmark.extra_info.update(samples=n, image_size=size,
                                samples_per_s=n / benchmark.stats.stats.mean if benchmark.stats else None)
