"""Integer datapath vs the float closed form on quantised values: exact agreement (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttfsnet_hw.datapath import encode_steps
from ttfsnet_hw.errors import QuantizationError
from ttfsnet_hw.intsim import closed_form_quantized, compare, float_disagreement, max_accumulators, simulate
from ttfsnet_hw.ir import IRBuilder
from ttfsnet_hw.profile import PrecisionSpec
from ttfsnet_hw.quantize import floor_corrections, quantize


@st.composite
def networks(draw):  # type: ignore[no-untyped-def]
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    c = draw(st.integers(1, 3))
    size = draw(st.sampled_from([4, 6, 8]))
    b = IRBuilder("h", (c, size, size), rng=rng)
    b.conv(draw(st.integers(1, 4)), draw(st.sampled_from([1, 3])), stride=draw(st.sampled_from([1, 2])))
    if draw(st.booleans()):
        b.maxpool(2)
    elif draw(st.booleans()):
        b.avgpool(2)
    b.flatten()
    if draw(st.booleans()):
        b.linear(draw(st.integers(2, 8)))
    ir = b.readout(draw(st.integers(2, 4)))
    prec = PrecisionSpec(
        weight_bits=draw(st.integers(3, 8)), membrane_bits=32, time_bits=draw(st.integers(2, 5))
    )
    x = rng.uniform(0, 1, size=(draw(st.integers(1, 4)), c, size, size))
    return ir, prec, x


@settings(max_examples=40, deadline=None, derandomize=True)  # fixed draws: a failure reproduces
@given(networks(), st.booleans())
def test_intsim_matches_quantised_closed_form_exactly(case, bias_correction: bool) -> None:  # type: ignore[no-untyped-def]
    # Integer arithmetic (shifts, saturation) against float arithmetic on the same quantised values, over
    # many random networks. Both sides share the walk and the kernels of ttfsnet_hw.datapath (max pool,
    # conv2d, encode_steps), so a bug in a shared kernel passes here (a max pool taking the latest spike
    # does); test_intsim_oracle.py checks intsim against a reference that shares none of them.
    ir, prec, x = case
    q = quantize(ir, prec, x, bias_correction=bias_correction)
    ev = simulate(q, x)
    ref = closed_form_quantized(q, x)
    agreement = compare(ev, ref)
    assert agreement.exact, agreement
    np.testing.assert_array_equal(ev.predictions, ref.predictions)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(networks())
def test_stepped_equals_event_mode(case) -> None:  # type: ignore[no-untyped-def]
    ir, prec, x = case
    q = quantize(ir, prec, x)
    a, b = simulate(q, x), simulate(q, x, mode="stepped")
    assert compare(a, b).exact
    np.testing.assert_array_equal(a.logits_int, b.logits_int)


def test_at_most_one_spike_and_steps_in_range(net, inputs) -> None:  # type: ignore[no-untyped-def]
    q = quantize(net, PrecisionSpec(weight_bits=6, membrane_bits=24, time_bits=4), inputs)
    res = simulate(q, inputs)
    for k in res.steps:
        assert k.min() >= 0 and k.max() <= q.steps  # one spike step per neuron, L = silent


def test_quantised_values_are_dyadic_and_windows_grow(net, inputs) -> None:  # type: ignore[no-untyped-def]
    q = quantize(net, PrecisionSpec(weight_bits=8, membrane_bits=24, time_bits=6), inputs)
    for old, new in zip(net.windows(), q.ir.windows(), strict=True):
        assert old <= new < 2 * old
        assert np.log2(new / q.steps) == int(np.log2(new / q.steps))
    for layer, ql in zip(q.ir.layers, q.layers, strict=True):
        if ql.q_weight is not None and layer.weight is not None:
            np.testing.assert_array_equal(layer.weight, ql.q_weight * 2.0**-ql.weight_shift)
    assert max(q.weight_errors.values()) < 0.01


def test_saturating_membrane(net, inputs) -> None:  # type: ignore[no-untyped-def]
    q = quantize(net, PrecisionSpec(weight_bits=8, membrane_bits=32, time_bits=4))
    peak = max(max_accumulators(q, inputs).values())
    narrow = PrecisionSpec(weight_bits=8, membrane_bits=max(4, int(np.log2(peak))), time_bits=4)
    from dataclasses import replace

    qn = replace(q, precision=narrow)
    res = simulate(qn, inputs)
    assert sum(res.overflow.values()) > 0
    lim = qn.membrane_limit
    assert np.abs(res.logits_int).max() <= lim + 1
    # calibration lowers the weight precision of overflowing layers until they fit
    qc = quantize(net, narrow, inputs)
    assert qc.overflow_layers
    assert max(max_accumulators(qc, inputs).values()) <= qc.membrane_limit


def test_avgpool_with_non_power_of_two_area_is_rejected() -> None:
    ir = IRBuilder("a", (1, 6, 6), rng=np.random.default_rng(0)).avgpool(3).flatten().readout(2)
    with pytest.raises(QuantizationError, match="avgpool0"):
        quantize(ir, PrecisionSpec(weight_bits=8, membrane_bits=24, time_bits=4))


def test_input_encoding_steps(net) -> None:  # type: ignore[no-untyped-def]
    x = np.zeros((1, 3, 8, 8))
    x[0, 0, 0, 0] = 1.0
    x[0, 0, 0, 1] = 0.5
    a = encode_steps(net, x, 16)
    assert a[0, 0, 0, 0] == 16 and a[0, 0, 0, 1] == 8 and a.sum() == 24


def test_float_disagreement_shrinks_with_more_bits(make_net) -> None:  # type: ignore[no-untyped-def]
    ir = make_net(seed=4)
    x = np.random.default_rng(5).uniform(0, 1, (32, 3, 8, 8))
    coarse = float_disagreement(
        ir, quantize(ir, PrecisionSpec(weight_bits=3, membrane_bits=32, time_bits=2), x), x
    )
    fine = float_disagreement(
        ir, quantize(ir, PrecisionSpec(weight_bits=12, membrane_bits=40, time_bits=12), x), x
    )
    assert fine["mean_abs_time_error"] < coarse["mean_abs_time_error"]
    assert fine["max_abs_logit_error"] < coarse["max_abs_logit_error"]
    assert fine["prediction_disagreement"] <= coarse["prediction_disagreement"]


def test_bias_correction_needs_calibration_and_moves_only_biases(net, inputs) -> None:  # type: ignore[no-untyped-def]
    prec = PrecisionSpec(weight_bits=8, membrane_bits=24, time_bits=3)
    with pytest.raises(QuantizationError, match="bias_correction needs calibration"):
        quantize(net, prec, None, bias_correction=True)
    plain, corrected = quantize(net, prec, inputs), quantize(net, prec, inputs, bias_correction=True)
    for a, b in zip(plain.layers, corrected.layers, strict=True):
        if a.q_weight is not None:
            np.testing.assert_array_equal(a.q_weight, b.q_weight)
        if a.kind in ("conv", "linear", "readout"):
            assert b.q_bias.shape == a.q_bias.shape
    assert any(
        not np.array_equal(a.q_bias, b.q_bias)
        for a, b in zip(plain.layers, corrected.layers, strict=True)
        if a.kind in ("conv", "linear", "readout")
    )


def test_floor_correction_is_half_an_input_step_times_the_expected_input() -> None:
    # Oracle from the definition alone: (Δ_in/2)·W f, with f_j the fraction of calibration samples on which
    # input j fires in the float network. The input window is [0, 1] with L steps (Δ_0 = 1/L); the hidden
    # layer's step is T/L rounded up to a power of two. Nothing below calls the quantiser's helpers.
    rng = np.random.default_rng(3)
    time_bits, window = 3, 1.5
    steps = 2**time_bits
    ir = IRBuilder("fc", (1, 3, 4), rng=rng).flatten().linear(5, window=window).readout(3)
    x = rng.uniform(0.0, 1.0, size=(40, 1, 3, 4))
    x[rng.uniform(size=x.shape) < 0.4] = 0.0  # silent inputs, so f is a fraction and not all ones
    prec = PrecisionSpec(weight_bits=8, membrane_bits=32, time_bits=time_bits)
    qnet = quantize(ir, prec, x)
    corrections = floor_corrections(qnet, x, ir)

    hidden, readout = ir.layers[1], ir.layers[2]
    # The correction applies the weights the datapath will use: the quantised ones.
    w_hidden, w_readout = qnet.ir.layers[1].weight, qnet.ir.layers[2].weight
    assert hidden.weight is not None and hidden.threshold is not None
    assert w_hidden is not None and w_readout is not None
    flat = x.reshape(len(x), -1)
    f_in = (flat > 0).mean(axis=0)  # a TTFS input fires iff its value is positive
    # float64 products of a handful of terms: a few ulp of Σ|w·f| (measured 0). rtol 1e-12 also absorbs
    # another summation order unless an element cancels by > 10³.
    np.testing.assert_allclose(corrections[hidden.name], (0.5 / steps) * w_hidden @ f_in, rtol=1e-12)

    pre = flat @ hidden.weight.T + (window - hidden.threshold)  # ANN pre-activation, bias T - ϑ
    f_hidden = (pre > 0).mean(axis=0)
    hidden_step = 2.0 ** math.ceil(math.log2(window / steps))  # 1.5/8 → 0.25
    np.testing.assert_allclose(
        corrections[readout.name], (hidden_step / 2) * w_readout @ f_hidden, rtol=1e-12
    )
