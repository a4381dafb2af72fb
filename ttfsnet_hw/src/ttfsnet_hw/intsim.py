"""Integer, time-stepped simulation of the YOSO-style TTFS datapath on a :class:`QuantizedNetwork`.

Per spiking layer with ``L`` steps per window:

* **Phase 1** (the previous layer's window, ``L`` steps): an input spike at step ``k`` switches on its
  synaptic current ``q`` (B1: constant current after the spike); each step the membrane adds the current,
  so at the end ``V = Σ q·(L − k) = Σ q·a``. Then the integer bias ``q_b`` is added.
* **Phase 2** (own window): the membrane rises by ``R = 2^{max(r,0)}`` per step (unit slope in membrane
  units) and the neuron fires at the first step ``k`` with ``V' + k·R ≥ L·R`` (``V' = V·2^{max(-r,0)}``),
  at most once; no crossing by step ``L − 1`` means no spike.

Every addition saturates at the signed ``membrane_bits`` range; saturation events are counted. Max pooling
takes the earliest step; the readout is the integer membrane at the end of phase 1 (``logits = u·V``).

``mode="stepped"`` runs the steps literally (slow; for tests and small networks). ``mode="event"`` computes
the same integers per spike (``q·(L − k)``) with one matrix product per layer, which equals the stepped
result whenever no intermediate sum saturates (reported as ``overflow``).

:func:`closed_form_quantized` is the float closed form (``ttfs-math.md`` §0) on the quantised values, with
the same step quantisation of spike times between layers; :func:`compare` checks exact agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ttfsnet_hw.ir import LayerIR, NetworkIR, _affine, _maxpool_times, _threshold, conv2d
from ttfsnet_hw.quantize import QLayer, QuantizedNetwork, encode_steps

__all__ = [
    "Agreement",
    "IntSimResult",
    "closed_form_quantized",
    "compare",
    "float_disagreement",
    "max_accumulators",
    "simulate",
]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class IntSimResult:
    """Result of an integer (or quantised closed-form) run.

    Attributes:
        logits: ``(B, classes)`` float logits (``u·V``).
        logits_int: integer readout membrane (``None`` for the float reference).
        predictions: argmax of the logits.
        steps: per emitter, spike step ``k ∈ [0, L)`` relative to its window, ``L`` = no spike (int64).
        saturated: per spiking layer, neurons that fired at step 0 because ``x ≥ T``.
        overflow: per layer, membrane values clipped to the accumulator range.
    """

    logits: np.ndarray
    logits_int: np.ndarray | None
    predictions: np.ndarray
    steps: list[np.ndarray]
    saturated: dict[str, int]
    overflow: dict[str, int]


def _affine_int(a: np.ndarray, layer: LayerIR, q: QLayer) -> np.ndarray:
    """Σ q·a exactly (float64 matmul on integers below 2^53, then back to int64)."""
    af = a.astype(np.float64)
    w = np.asarray(q.q_weight, dtype=np.float64)
    if layer.kind in ("linear", "readout"):
        out = af @ w.T
    else:
        groups = layer.groups if layer.kind == "conv" else layer.in_shape[0]
        out = conv2d(af, w, layer.stride, layer.padding, groups)
    if np.abs(out).max(initial=0.0) >= 2.0**52:
        raise OverflowError(
            f"layer {layer.name}: integer accumulator beyond 2^52 cannot be simulated exactly"
        )
    return np.rint(out).astype(np.int64)


def _bias_int(q: QLayer, layer: LayerIR) -> np.ndarray:
    b = np.asarray(q.q_bias, dtype=np.int64)
    if layer.kind == "conv" and b.ndim == 1:
        return b[:, None, None]
    if layer.kind == "avgpool":
        return np.zeros((layer.out_shape[0], 1, 1), dtype=np.int64)
    return b


def _shift(acc: np.ndarray, r: int) -> np.ndarray:
    """``⌊acc / 2^r⌋`` (arithmetic shift = floor); a negative ``r`` shifts left."""
    return acc >> r if r >= 0 else acc << (-r)


def _fire_closed(acc: np.ndarray, r: int, steps: int) -> np.ndarray:
    """Activation in steps ``clip(⌊acc / 2^r⌋, 0, L)``."""
    return np.clip(_shift(acc, r), 0, steps)


def _phase1_stepped(
    a_prev: np.ndarray, layer: LayerIR, q: QLayer, steps: int, lim: int
) -> tuple[np.ndarray, int]:
    """Literal phase-1 integration over ``L`` steps with saturating adds; returns (V, saturation events)."""
    k_prev = steps - a_prev  # spike step, L = silent
    v = None
    current = None
    events = 0
    for s in range(steps):
        arrived = (k_prev == s).astype(np.int64)
        if arrived.any() or current is None:
            inc = _affine_int(arrived, layer, q)
            current = inc if current is None else current + inc
            hi = np.abs(current) > lim
            events += int(hi.sum())
            current = np.clip(current, -lim - 1, lim)
        v = current.copy() if v is None else v + current
        hi = (v > lim) | (v < -lim - 1)
        events += int(hi.sum())
        v = np.clip(v, -lim - 1, lim)
    assert v is not None
    return v, events


def simulate(
    qnet: QuantizedNetwork,
    x: np.ndarray | None = None,
    *,
    a0: np.ndarray | None = None,
    mode: Literal["event", "stepped"] = "event",
) -> IntSimResult:
    """Run the integer datapath.

    Args:
        qnet: quantised network.
        x: raw inputs ``(B, *input_shape)`` (or give ``a0``).
        a0: input activations in steps (``encode_steps``).
        mode: ``event`` (fast) or ``stepped`` (literal time steps).

    Returns:
        The result; ``steps[0]`` are the input spike steps.
    """
    if mode not in ("event", "stepped"):
        raise ValueError(f"simulate: mode must be 'event' or 'stepped', got {mode!r}")
    ir = qnet.ir
    L = qnet.steps
    lim = qnet.membrane_limit
    a = encode_steps(ir, x, L) if a0 is None else np.asarray(a0, dtype=np.int64)
    steps_out = [L - a]
    saturated: dict[str, int] = {}
    overflow: dict[str, int] = {}
    for layer, q in zip(ir.layers, qnet.layers, strict=True):
        if layer.kind == "flatten":
            a = a.reshape(a.shape[0], -1)
            continue
        if layer.kind == "maxpool":
            k = _maxpool_times(L - a, layer, L)
            a = L - k
            steps_out.append(k)
            continue
        if mode == "stepped":
            v, events = _phase1_stepped(a, layer, q, L, lim)
            v = v + _bias_int(q, layer)
            events += int(((v > lim) | (v < -lim - 1)).sum())
            acc = np.clip(v, -lim - 1, lim)
        else:
            raw = _affine_int(a, layer, q) + _bias_int(q, layer)
            events = int(((raw > lim) | (raw < -lim - 1)).sum())
            acc = np.clip(raw, -lim - 1, lim)
        overflow[layer.name] = events
        if layer.kind == "readout":
            logits = acc.astype(np.float64) * 2.0**q.unit_exp
            return IntSimResult(
                logits=logits,
                logits_int=acc,
                predictions=np.argmax(logits, axis=1),
                steps=steps_out,
                saturated=saturated,
                overflow=overflow,
            )
        r = q.out_shift
        shifted = _shift(acc, r)
        saturated[layer.name] = int((shifted > L).sum())
        if mode == "stepped":
            ramp = 2 ** max(r, 0)
            v2 = acc * 2 ** max(-r, 0)
            theta = L * ramp
            k = np.full(acc.shape, L, dtype=np.int64)
            for s in range(L):
                fire = (k == L) & (v2 + s * ramp >= theta)
                k[fire] = s
            a = L - k
        else:
            a = np.clip(shifted, 0, L)
        steps_out.append(L - a)
    raise AssertionError("unreachable: the IR ends with a readout")


def closed_form_quantized(
    qnet: QuantizedNetwork, x: np.ndarray | None = None, *, a0: np.ndarray | None = None
) -> IntSimResult:
    """Float closed form on the quantised values with step quantisation of spike times between layers.

    Args:
        qnet: quantised network.
        x: raw inputs (or ``a0``).
        a0: input activations in steps.

    Returns:
        A result comparable with :func:`simulate` (``logits_int`` is ``None``).
    """
    ir = qnet.ir
    L = qnet.steps
    a = encode_steps(ir, x, L) if a0 is None else np.asarray(a0, dtype=np.int64)
    steps_out = [L - a]
    delta_prev = 1.0 / L
    saturated: dict[str, int] = {}
    xact = a.astype(np.float64) * delta_prev
    for layer in ir.layers:
        if layer.kind == "flatten":
            xact = xact.reshape(xact.shape[0], -1)
            continue
        if layer.kind == "maxpool":
            t = np.where(xact > 0, L * delta_prev - xact, np.inf)
            t = _maxpool_times(t, layer)
            xact = np.where(np.isfinite(t), L * delta_prev - t, 0.0)
            steps_out.append(L - np.rint(xact / delta_prev).astype(np.int64))
            continue
        pre = _float_pre(xact, layer)
        if layer.kind == "readout":
            logits = pre
            return IntSimResult(
                logits=logits,
                logits_int=None,
                predictions=np.argmax(logits, axis=1),
                steps=steps_out,
                saturated=saturated,
                overflow={},
            )
        big_t = float(layer.window)  # type: ignore[arg-type]
        delta = big_t / L
        saturated[layer.name] = int((pre > big_t).sum())
        x_cont = np.clip(pre, 0.0, big_t)
        a_out = np.floor(x_cont / delta).astype(np.int64)
        steps_out.append(L - a_out)
        xact = a_out.astype(np.float64) * delta
        delta_prev = delta
    raise AssertionError("unreachable: the IR ends with a readout")


def _float_pre(x: np.ndarray, layer: LayerIR) -> np.ndarray:
    pre = _affine(x, layer)
    if layer.kind == "readout":
        return pre + np.asarray(layer.bias, dtype=np.float64)
    return pre + (float(layer.window) - _threshold(layer))  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True, slots=True)
class Agreement:
    """Exact agreement of two runs.

    Attributes:
        exact: all spike steps and predictions equal.
        step_mismatches: per emitter, neurons whose spike step differs.
        prediction_mismatches: samples whose prediction differs.
        max_logit_diff: largest |Δ logit|.
    """

    exact: bool
    step_mismatches: list[int]
    prediction_mismatches: int
    max_logit_diff: float


def compare(a: IntSimResult, b: IntSimResult) -> Agreement:
    """Compare two runs (spike steps per emitter, predictions and logits)."""
    mism = [int((x != y).sum()) for x, y in zip(a.steps, b.steps, strict=True)]
    pm = int((a.predictions != b.predictions).sum())
    diff = float(np.abs(a.logits - b.logits).max(initial=0.0))
    return Agreement(
        exact=sum(mism) == 0 and pm == 0 and diff == 0.0,
        step_mismatches=mism,
        prediction_mismatches=pm,
        max_logit_diff=diff,
    )


def float_disagreement(float_ir: NetworkIR, qnet: QuantizedNetwork, x: np.ndarray) -> dict[str, float]:
    """Disagreement of the integer datapath with the float (unquantised) SNN.

    Args:
        float_ir: original network.
        qnet: its quantisation.
        x: raw inputs.

    Returns:
        ``prediction_disagreement`` (fraction of samples), ``spike_disagreement`` (fraction of neurons whose
        fired/silent state differs), ``mean_abs_time_error`` (over neurons that fire in both: error of the
        spike's lead time before its window end, i.e. of the activation, in units of the float window),
        ``max_abs_logit_error``.
    """
    logits_f, times_f = float_ir.run(x)
    res = simulate(qnet, x)
    pred_f = np.argmax(logits_f, axis=1)
    ems_windows = [1.0] + [float(l.window) if l.spiking else np.nan for l in float_ir.layers if l.emits]  # noqa: E741
    q_windows = [1.0] + [float(l.window) if l.spiking else np.nan for l in qnet.ir.layers if l.emits]  # noqa: E741
    # max pools live in the window of the layer before them
    for i in range(1, len(ems_windows)):
        if np.isnan(ems_windows[i]):
            ems_windows[i], q_windows[i] = ems_windows[i - 1], q_windows[i - 1]
    fired_mis = 0
    total = 0
    errs = []
    for i, (tf, kq) in enumerate(zip(times_f, res.steps, strict=True)):
        fired_f = np.isfinite(tf)
        fired_q = kq < qnet.steps
        fired_mis += int((fired_f != fired_q).sum())
        total += fired_f.size
        both = fired_f & fired_q
        if both.any():
            # time from the spike to the window end (= the activation): comparable across the quantiser's
            # enlarged windows, unlike the spike time itself
            to_end_q = (qnet.steps - kq[both]) * (q_windows[i] / qnet.steps)
            to_end_f = ems_windows[i] - tf[both]
            errs.append(np.abs(to_end_q - to_end_f) / ems_windows[i])
    return {
        "prediction_disagreement": float((pred_f != res.predictions).mean()),
        "spike_disagreement": fired_mis / max(total, 1),
        "mean_abs_time_error": float(np.concatenate(errs).mean()) if errs else 0.0,
        "max_abs_logit_error": float(np.abs(logits_f - res.logits).max(initial=0.0)),
    }


def max_accumulators(qnet: QuantizedNetwork, x: np.ndarray) -> dict[str, int]:
    """Largest |membrane| per weighted/spiking layer on inputs ``x`` (event mode, before clipping)."""
    ir = qnet.ir
    L = qnet.steps
    a = encode_steps(ir, x, L)
    peaks: dict[str, int] = {}
    for layer, q in zip(ir.layers, qnet.layers, strict=True):
        if layer.kind == "flatten":
            a = a.reshape(a.shape[0], -1)
            continue
        if layer.kind == "maxpool":
            a = L - _maxpool_times(L - a, layer, L)
            continue
        raw = _affine_int(a, layer, q) + _bias_int(q, layer)
        peaks[layer.name] = int(np.abs(raw).max(initial=0))
        if layer.kind == "readout":
            break
        a = _fire_closed(raw, q.out_shift, L)
    return peaks
