"""An integer reference for :func:`ttfsnet_hw.intsim.simulate` that shares no helper with it.

``test_intsim.py`` compares the simulator with :func:`~ttfsnet_hw.intsim.closed_form_quantized`, which runs
through the same walk and the same kernels (``maxpool_times``, ``conv2d``, ``encode_steps``, ...), so a bug in
a shared kernel moves both sides alike. The reference below is written from the documented integer
semantics only (``docs/hardware.md``, "Quantisation and the integer datapath"), in plain Python integers
with explicit loops (slow, tiny sizes):

* input: ``a0 = ⌊x̃·L⌋`` steps of activation, ``x̃ = (x − p)/(q − p)``, 0 = no spike (``a = L − k`` for a
  spike at step ``k``);
* spiking layer: membrane ``V = Σ q·a + q_b`` (signed ``membrane_bits``, saturating), then phase 2 ramps by
  ``R = 2^max(r, 0)`` per step from ``V' = V·2^max(−r, 0)`` and the neuron fires once, at the first step ``k``
  with ``V' + k·R ≥ L·R`` (silent if none before ``L``);
* max pool: the earliest spike of each window (the largest activation);
* flatten: channel-first; readout: the integer membrane ``V``, logits ``V·2^unit_exp``.

It reads only data from the :class:`~ttfsnet_hw.types.QuantizedNetwork` (integer weights, biases, shifts,
layer shapes). Comparisons are exact: everything is integer (logits are integers times a power of two).
"""

from __future__ import annotations

import numpy as np
import pytest

from ttfsnet_hw.intsim import simulate
from ttfsnet_hw.ir import IRBuilder
from ttfsnet_hw.quantize import quantize
from ttfsnet_hw.types import LayerIR, NetworkIR, PrecisionSpec, QLayer, QuantizedNetwork

Nested = list  # nested Python lists of int, shaped like the layer's (C, H, W) or (N,) output


class ReferenceRun:
    """Result of the reference on one sample: activations per emitter, readout membrane, and counters that
    show which cases the sample exercised."""

    def __init__(self) -> None:
        self.activations: list[np.ndarray] = []
        self.readout: list[int] = []
        self.saturated = 0  # membranes clipped to the accumulator range
        self.pools_deciding = 0  # pool windows with spikes at two or more different steps


def _saturate(v: int, bits: int) -> tuple[int, bool]:
    hi = 2 ** (bits - 1) - 1
    lo = -(2 ** (bits - 1))
    return min(max(v, lo), hi), not lo <= v <= hi


def _phase2(v: int, r: int, steps: int) -> int:
    """Literal ramp: activation ``L − k`` of the first step ``k`` with ``V' + k·R ≥ L·R``, 0 if none."""
    ramp = 2 ** max(r, 0)
    v2 = v * 2 ** max(-r, 0)
    for k in range(steps):
        if v2 + k * ramp >= steps * ramp:
            return steps - k
    return 0


def _conv_sums(a: Nested, layer: LayerIR, q: QLayer) -> Nested:
    """``Σ q·a`` of a (groups = 1) convolution with zero padding (padding = no spike)."""
    assert layer.groups == 1, "the reference covers ungrouped convolutions only"
    c_in, h_in, w_in = layer.in_shape
    c_out, h_out, w_out = layer.out_shape
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel, layer.stride, layer.padding
    w = np.asarray(q.q_weight)
    out = []
    for o in range(c_out):
        plane = []
        for y in range(h_out):
            row = []
            for x in range(w_out):
                total = 0
                for c in range(c_in):
                    for dy in range(kh):
                        for dx in range(kw):
                            iy, ix = y * sh - ph + dy, x * sw - pw + dx
                            if 0 <= iy < h_in and 0 <= ix < w_in:
                                total += int(w[o, c, dy, dx]) * a[c][iy][ix]
                row.append(total)
            plane.append(row)
        out.append(plane)
    return out


def _dense_sums(a: Nested, layer: LayerIR, q: QLayer) -> Nested:
    w = np.asarray(q.q_weight)
    return [sum(int(w[i, j]) * a[j] for j in range(layer.in_shape[0])) for i in range(layer.out_shape[0])]


def _bias(q: QLayer, layer: LayerIR, index: tuple[int, ...]) -> int:
    b = np.asarray(q.q_bias)
    if layer.kind == "conv" and b.ndim == 1:
        return int(b[index[0]])  # one threshold per channel
    return int(b[index])


def _map(values: Nested, fn, index: tuple[int, ...] = ()) -> Nested:  # type: ignore[no-untyped-def]
    if isinstance(values, list):
        return [_map(v, fn, (*index, i)) for i, v in enumerate(values)]
    return fn(values, index)


def _max_pool(a: Nested, layer: LayerIR, run: ReferenceRun) -> Nested:
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    assert layer.padding == (0, 0)
    c, h_out, w_out = layer.out_shape
    out = []
    for ch in range(c):
        plane = []
        for y in range(h_out):
            row = []
            for x in range(w_out):
                window = [a[ch][y * sh + dy][x * sw + dx] for dy in range(kh) for dx in range(kw)]
                if len({v for v in window if v > 0}) >= 2:
                    run.pools_deciding += 1
                row.append(max(window))  # earliest spike = largest activation L − k; silent = 0
            plane.append(row)
        out.append(plane)
    return out


def _flatten(a: Nested) -> Nested:
    if not isinstance(a, list) or not a or not isinstance(a[0], list):
        return a
    return [v for part in a for v in _flatten(part)]


def reference(qnet: QuantizedNetwork, x: np.ndarray) -> ReferenceRun:
    """The documented integer semantics on one raw sample ``x`` (shape ``input_shape``)."""
    steps = qnet.steps
    bits = qnet.precision.membrane_bits
    p, q_hi = qnet.ir.input_range
    run = ReferenceRun()

    def encode(value: float, _: tuple[int, ...]) -> int:
        xt = (value - p) / (q_hi - p)
        return min(max(int(np.floor(xt * steps)), 0), steps)

    a: Nested = _map(np.asarray(x, dtype=np.float64).tolist(), encode)
    run.activations.append(np.array(a))
    for layer, ql in zip(qnet.ir.layers, qnet.layers, strict=True):
        if layer.kind == "flatten":
            a = _flatten(a)
            continue
        if layer.kind == "maxpool":
            a = _max_pool(a, layer, run)
            run.activations.append(np.array(a))
            continue
        assert layer.kind in ("conv", "linear", "readout"), f"reference does not cover {layer.kind}"
        sums = _conv_sums(a, layer, ql) if layer.kind == "conv" else _dense_sums(a, layer, ql)

        def membrane(s: int, index: tuple[int, ...], layer: LayerIR = layer, ql: QLayer = ql) -> int:
            v, clipped = _saturate(s + _bias(ql, layer, index), bits)
            run.saturated += clipped
            return v

        v = _map(sums, membrane)
        if layer.kind == "readout":
            run.readout = v
            return run
        a = _map(v, lambda value, _, r=ql.out_shift: _phase2(value, r, steps))
        run.activations.append(np.array(a))
    raise AssertionError("network without a readout")


def conv_pool_dense(seed: int, variant: str) -> NetworkIR:
    """conv → max pool → flatten → linear → readout with random parameters (two layouts)."""
    rng = np.random.default_rng(seed)
    if variant == "same":  # 3x3 conv with padding 1, non-overlapping 2x2 pools
        b = IRBuilder("oracle", (2, 6, 6), rng=rng).conv(3, 3).maxpool(2)
    else:  # strided padded conv, overlapping pools (stride 1)
        b = IRBuilder("oracle", (2, 7, 7), rng=rng).conv(3, 3, stride=2, padding=1).maxpool(2, stride=1)
    return b.flatten().linear(5).readout(3)


@pytest.mark.parametrize("variant", ["same", "strided"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_intsim_matches_an_independent_integer_reference(seed: int, variant: str) -> None:
    ir = conv_pool_dense(seed, variant)
    qnet = quantize(ir, PrecisionSpec(weight_bits=6, membrane_bits=32, time_bits=4))
    steps = qnet.steps
    rng = np.random.default_rng(100 + seed)
    # dyadic inputs k/(2L): x̃·L is an exact integer or half-integer, so ⌊x̃·L⌋ has no rounding ambiguity;
    # they include 0 (no spike) and 1 (a spike at step 0)
    x = rng.integers(0, 2 * steps + 1, size=(4, *ir.input_shape)) / (2 * steps)
    runs = [reference(qnet, sample) for sample in x]

    # the samples must exercise what is compared: pools that decide between spikes, firing and silent
    # neurons in every hidden layer, and no saturation (the event and stepped modes agree only without it)
    assert sum(r.pools_deciding for r in runs) > 0
    assert sum(r.saturated for r in runs) == 0
    for e in range(1, len(runs[0].activations)):
        acts = np.stack([r.activations[e] for r in runs])
        assert (acts > 0).any() and (acts == 0).any(), f"emitter {qnet.ir.emitters[e]} is degenerate"

    want_v = np.array([r.readout for r in runs], dtype=np.int64)
    unit_exp = qnet.layers[-1].unit_exp
    for mode in ("event", "stepped"):
        res = simulate(qnet, x, mode=mode)
        for e, name in enumerate(qnet.ir.emitters):
            want_k = steps - np.stack([r.activations[e] for r in runs])  # spike step, L = silent
            np.testing.assert_array_equal(res.steps[e], want_k, err_msg=f"{mode}: emitter {name}")
        np.testing.assert_array_equal(res.logits_int, want_v, err_msg=mode)
        np.testing.assert_array_equal(res.logits, want_v * 2.0**unit_exp, err_msg=mode)
        np.testing.assert_array_equal(res.predictions, np.argmax(want_v * 2.0**unit_exp, axis=1))
