"""ttfsnet_hw benchmarks: estimate on the paper-sized network (256 samples) and integer-simulation throughput.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m pytest benchmarks/test_bench_hw.py --benchmark-only
--benchmark-json=hw.json -p no:cacheprovider`` then ``python benchmarks/ratios.py hw.json``. The estimate
target (< 10 s) is absolute, as the issue states it, and asserted in the benchmark; the integer-simulation
targets are ratios to the float closed form measured in the same run.
"""

from __future__ import annotations

import numpy as np
import pytest

from ttfsnet_hw.closedform import run
from ttfsnet_hw.estimate import estimate
from ttfsnet_hw.intsim import simulate
from ttfsnet_hw.paper import paper_network, reference_architecture
from ttfsnet_hw.profile import load_profile
from ttfsnet_hw.quantize import quantize
from ttfsnet_hw.records import SpikeRecorder

pytestmark = pytest.mark.benchmark(group="hw")
pytest.importorskip("torch")  # the TNAS-ER family is built with ttfsnet.models

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
        rec.add(
            [
                rng.random((32, *reference.emitter_shape(e)), dtype=np.float32)
                < (0.2 if e == "input" else 0.05)
                for e in reference.emitters
            ]
        )
    return rec.finish()


ESTIMATE_TARGET_S = 10.0
"""Issue target, absolute by its wording: estimate on the paper-sized network over 256 samples, 2 cores."""


def test_bench_estimate_paper_256(benchmark, reference, record_256) -> None:  # type: ignore[no-untyped-def]
    prof = load_profile("yoso")
    est = benchmark.pedantic(estimate, args=(reference, record_256, prof), rounds=3, iterations=1)
    assert est.n_samples == N_CAL
    seconds = benchmark.stats.stats.max
    benchmark.extra_info.update(
        seconds_max=seconds,
        target_seconds=ESTIMATE_TARGET_S,
        latency_ms=est.latency_ms.mean,
        energy_mj=est.energy_mj.mean,
        pes=est.pes_used,
    )
    assert seconds < ESTIMATE_TARGET_S, f"estimate took {seconds:.2f} s, target < {ESTIMATE_TARGET_S} s"


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
    benchmark.extra_info.update(
        latency_ms=est.latency_ms.mean, energy_mj=est.energy_mj.mean, synops=est.synops.mean
    )


# (image size, samples) per integer-simulation mode: stepped mode runs 2^time_bits literal steps per layer
SIM_CASES = {"event": (32, 64), "stepped": (16, 4)}
# Integer simulation / float closed form (ttfsnet_hw.closedform.run) on the same network and inputs.
# Measured on the shared 2-core machine: event ≈ 0.8, stepped ≈ 350 (see docs/hardware.md); targets leave
# 2× headroom.
SIM_TARGETS = {"event": 2.0, "stepped": 700.0}


@pytest.fixture(scope="module", params=list(SIM_CASES))
def sim_case(request):  # type: ignore[no-untyped-def]
    size, n = SIM_CASES[request.param]
    ir = paper_network(
        reference_architecture(groups=2), groups=2, image_size=size, rng=np.random.default_rng(3)
    )
    x = np.random.default_rng(4).uniform(0, 1, (n, 4, size, size))
    return request.param, ir, quantize(ir, load_profile("yoso"), x), x


def test_bench_float_closed_form(benchmark, sim_case) -> None:  # type: ignore[no-untyped-def]
    """Reference of the integer-simulation ratios: the float closed form of the unquantised network."""
    mode, ir, _, x = sim_case
    logits, _ = benchmark.pedantic(run, args=(ir, x), rounds=3, iterations=1)
    assert logits.shape[0] == x.shape[0]
    benchmark.extra_info.update(samples=x.shape[0], image_size=x.shape[-1])


def test_bench_intsim_throughput(benchmark, sim_case) -> None:  # type: ignore[no-untyped-def]
    mode, _, q, x = sim_case
    res = benchmark.pedantic(simulate, args=(q, x), kwargs={"mode": mode}, rounds=2, iterations=1)
    assert res.predictions.shape == (x.shape[0],)
    benchmark.extra_info.update(
        reference=f"test_bench_float_closed_form[{mode}]",
        target=SIM_TARGETS[mode],
        samples=x.shape[0],
        image_size=x.shape[-1],
        samples_per_s=x.shape[0] / benchmark.stats.stats.mean,
    )
