"""torch adapter: ttfsnet networks/ANNs → IR and spikes; integer simulation vs ttfsnet's closed form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
ttfsnet = pytest.importorskip("ttfsnet")

from torch import nn  # noqa: E402

from ttfsnet_hw.adapters.torch import ir_from_ann, ir_from_ttfs, record_ann, record_snn, ttfs_from_ir  # noqa: E402
from ttfsnet_hw.adapters.torch_quant import (  # noqa: E402
    apply_quantization,
    qat_finetune,
    quantization_accuracy,
    ttfs_quantized_reference,
)
from ttfsnet_hw.closedform import run  # noqa: E402
from ttfsnet_hw.estimate import estimate  # noqa: E402
from ttfsnet_hw.intsim import compare, simulate  # noqa: E402
from ttfsnet_hw.ir import IRBuilder  # noqa: E402
from ttfsnet_hw.profile import PrecisionSpec, load_profile  # noqa: E402
from ttfsnet_hw.quantize import quantize  # noqa: E402


def _ann() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(24, 10),
        nn.ReLU(),
        nn.Linear(10, 3),
    )


@pytest.fixture
def converted() -> tuple[nn.Module, nn.Module, torch.Tensor]:
    ann = _ann()
    x = torch.rand(16, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    return ann, ttfsnet.convert(ann, x), x


def test_ir_closed_form_equals_ttfsnet(converted) -> None:  # type: ignore[no-untyped-def]
    _, net, x = converted
    ir = ir_from_ttfs(net, (2, 8, 8))
    logits, times = run(ir, x.double().numpy())
    ref = net.double().run(x.double())
    # two float64 implementations of the closed form: ≲ eps·Σfan_in·|preact| ≈ 2.2e-16·(18+36+24+10)·~2
    # ≈ 4e-14 (measured 6e-17). 1e-13.
    np.testing.assert_allclose(logits, ref.logits.numpy(), rtol=0, atol=1e-13)
    assert list(ir.emitters) == list(ref.layer_names)
    for t_ir, t_ref in zip(times, ref.spike_times, strict=True):
        np.testing.assert_array_equal(np.isfinite(t_ir), torch.isfinite(t_ref).numpy())


def test_snn_record_matches_run_result(converted) -> None:  # type: ignore[no-untyped-def]
    _, net, x = converted
    ir = ir_from_ttfs(net, (2, 8, 8))
    rec = record_snn(net, ir, x, batch_size=5)
    res = net.run(x)
    assert rec.n_samples == 16
    np.testing.assert_array_equal(rec.per_sample_spikes.sum(axis=0), res.spike_counts)
    # ttfsnet counts spikes into a max pool as routing only (0 synops); elsewhere the counts agree
    ours = dict(zip([ir.source_of(c) for c in ir.consumers], rec.per_sample_synops.sum(axis=0), strict=True))
    for name, syn, kind_next in zip(
        res.layer_names, res.synops, [ir.consumer_of(e) for e in ir.emitters], strict=True
    ):
        if kind_next is not None and kind_next.kind != "maxpool":
            assert ours[name] == syn


def test_ann_record_equals_snn_record_without_saturation(converted) -> None:  # type: ignore[no-untyped-def]
    ann, net, x = converted
    assert sum(net.run(x).saturation_counts) == 0
    ir_s, ir_a = ir_from_ttfs(net, (2, 8, 8)), ir_from_ann(ann, (2, 8, 8))
    rs, ra = record_snn(net, ir_s, x), record_ann(ann, ir_a, x)
    np.testing.assert_array_equal(rs.per_sample_spikes, ra.per_sample_spikes)
    np.testing.assert_array_equal(rs.per_sample_synops, ra.per_sample_synops)
    assert ir_a.macs == ir_s.macs and not ir_a.has_parameters
    # integer counts averaged over 16 samples: a few ulp
    synops = estimate(ir_a, ra, load_profile("yoso")).synops.mean
    assert synops == pytest.approx(rs.mean_synops().sum(), rel=1e-14)


def test_ttfs_from_ir_roundtrip() -> None:
    ir = (
        IRBuilder("r", (2, 6, 6), rng=np.random.default_rng(2))
        .conv(3, 3)
        .avgpool(2)
        .flatten()
        .linear(5)
        .readout(2)
    )
    net = ttfs_from_ir(ir)
    back = ir_from_ttfs(net, (2, 6, 6))
    x = np.random.default_rng(3).uniform(0, 1, (4, 2, 6, 6))
    # float64, fan-in ≤ 18+12+5: ≲ 2.2e-16·35·~2 ≈ 2e-14 (measured ≤ 3e-16); rtol=0 (the default 1e-7 was
    # the loosest term)
    np.testing.assert_allclose(run(back, x)[0], run(ir, x)[0], rtol=0, atol=1e-13)
    np.testing.assert_allclose(net(torch.from_numpy(x)).detach().numpy(), run(ir, x)[0], rtol=0, atol=1e-13)


@st.composite
def quantised_cases(draw):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    c = draw(st.integers(1, 3))
    b = IRBuilder("h", (c, 6, 6), rng=rng).conv(draw(st.integers(1, 4)), draw(st.sampled_from([1, 3])))
    if draw(st.booleans()):
        b.maxpool(2)
    b.flatten()
    if draw(st.booleans()):
        b.linear(draw(st.integers(2, 6)))
    ir = b.readout(3)
    prec = PrecisionSpec(
        weight_bits=draw(st.integers(3, 8)), membrane_bits=32, time_bits=draw(st.integers(2, 6))
    )
    return ir, prec, rng.uniform(0, 1, (3, c, 6, 6))


@settings(max_examples=25, deadline=None, derandomize=True)  # fixed draws: a failure reproduces
@given(quantised_cases())
def test_intsim_matches_ttfsnet_closed_form_exactly(case) -> None:  # type: ignore[no-untyped-def]
    ir, prec, x = case
    net = ttfs_from_ir(ir)
    q = quantize(ir_from_ttfs(net, ir.input_shape), prec, x)
    ref = ttfs_quantized_reference(apply_quantization(net, q), q, x)
    agreement = compare(simulate(q, x), ref)
    assert agreement.exact, agreement


def test_qat_finetune_reports_before_and_after(converted) -> None:  # type: ignore[no-untyped-def]
    _, net, x = converted
    y = net(x).argmax(dim=1)
    batches = [(x[:8], y[:8]), (x[8:], y[8:])]
    out = qat_finetune(
        net,
        batches,
        batches,
        PrecisionSpec(weight_bits=4, membrane_bits=24, time_bits=3),
        input_shape=(2, 8, 8),
        epochs=1,
        lr=1e-4,
        calibration=x.double().numpy(),
    )
    for key in ("float_before", "int_before", "float_after", "int_after"):
        assert 0.0 <= out[key] <= 1.0
    assert out["float_before"] == 1.0
    assert out["qnet"].precision.weight_bits == 4


def test_nir_roundtrip_to_ir(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("nir")
    from ttfsnet_hw.nir import export_nir, import_nir_ir

    ir = (
        IRBuilder("n", (2, 8, 8), rng=np.random.default_rng(0))
        .conv(4, 3)
        .maxpool(2)
        .flatten()
        .linear(5)
        .readout(3)
    )
    path = export_nir(ttfs_from_ir(ir), tmp_path / "m.nir", input_shape=(2, 8, 8))
    back = import_nir_ir(path, (2, 8, 8))
    x = np.random.default_rng(1).uniform(0, 1, (3, 2, 8, 8))
    np.testing.assert_array_equal(run(back, x)[0], run(ir, x)[0])
    assert [layer.kind for layer in back.layers] == [layer.kind for layer in ir.layers]


def test_quantization_accuracy_of_a_trained_network() -> None:
    """sklearn digits: a trained TTFS network loses (almost) nothing at yoso widths, more at 2 time bits."""
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    torch.manual_seed(0)
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target)
    ann = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(ann.parameters(), 1e-2)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(ann(x[:1200]), y[:1200]).backward()
        opt.step()
    net = ttfsnet.convert(ann.eval(), x[:256])
    yoso = quantization_accuracy(
        net, x[1200:], y[1200:], load_profile("yoso"), calibration=x[:256].double().numpy()
    )
    assert yoso["float_accuracy"] > 0.9 and yoso["samples"] == len(y) - 1200
    assert yoso["accuracy_drop"] <= 0.01
    coarse = quantization_accuracy(
        net,
        x[1200:],
        y[1200:],
        PrecisionSpec(weight_bits=8, membrane_bits=24, time_bits=2),
        calibration=x[:256].double().numpy(),
    )
    assert coarse["prediction_disagreement"] > yoso["prediction_disagreement"]
    assert coarse["float_accuracy"] == yoso["float_accuracy"]
    corrected = quantization_accuracy(
        net,
        x[1200:],
        y[1200:],
        PrecisionSpec(weight_bits=8, membrane_bits=24, time_bits=2),
        calibration=x[:256].double().numpy(),
        bias_correction=True,
    )
    assert corrected["quantized_accuracy"] > coarse["quantized_accuracy"]
