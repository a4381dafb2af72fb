"""Integer, time-stepped simulation of the YOSO-style TTFS datapath on a
[`QuantizedNetwork`][ttfsnet_hw.intsim.QuantizedNetwork].

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

[`closed_form_quantized`][ttfsnet_hw.intsim.closed_form_quantized] is the float closed form
(``docs/ttfs-model.md`` §1) on the quantised values, with the same step quantisation of spike times between
layers; [`compare`][ttfsnet_hw.intsim.compare] checks exact agreement. All simulators here carry integer
activations ``a = L − k`` between layers and share the walk of [`ttfsnet_hw.walk`][ttfsnet_hw.walk] and the
kernels of [`ttfsnet_hw.datapath`][ttfsnet_hw.datapath].
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ttfsnet_hw.closedform import run
from ttfsnet_hw.datapath import (
    affine_int,
    bias_int,
    encode_steps,
    fire,
    maxpool_steps,
    maxpool_times,
    phase1_stepped,
    phase2_stepped,
    preactivation,
    shift,
)
from ttfsnet_hw.errors import HardwareValueError
from ttfsnet_hw.types import Agreement, IntSimResult, NetworkIR, QuantizedNetwork
from ttfsnet_hw.walk import Step, emitter_windows, walk

__all__ = [
    "closed_form_quantized",
    "compare",
    "float_disagreement",
    "max_accumulators",
    "simulate",
]


def _inputs(qnet: QuantizedNetwork, x: np.ndarray | None, a0: np.ndarray | None) -> np.ndarray:
    return encode_steps(qnet.ir, x, qnet.steps) if a0 is None else np.asarray(a0, dtype=np.int64)  # type: ignore[arg-type]


def _result(
    qnet: QuantizedNetwork,
    emitted: list[np.ndarray],
    logits: np.ndarray,
    logits_int: np.ndarray | None,
    saturated: dict[str, int],
    overflow: dict[str, int],
) -> IntSimResult:
    return IntSimResult(
        logits=logits,
        logits_int=logits_int,
        predictions=np.argmax(logits, axis=1),
        steps=[qnet.steps - a for a in emitted],
        saturated=saturated,
        overflow=overflow,
    )


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

    Raises:
        HardwareValueError: an unknown mode.
        DatapathOverflowError: an accumulator too large to simulate exactly.
    """
    if mode not in ("event", "stepped"):
        raise HardwareValueError(f"simulate: mode must be 'event' or 'stepped', got {mode!r}")
    L = qnet.steps
    lim = qnet.membrane_limit
    saturated: dict[str, int] = {}
    overflow: dict[str, int] = {}

    def membrane(step: Step, a: np.ndarray) -> np.ndarray:
        layer, q = step.layer, qnet.layers[step.index]
        if mode == "stepped":
            v, events = phase1_stepped(a, layer, q, L, lim)
            v = v + bias_int(q, layer)
            events += int(((v > lim) | (v < -lim - 1)).sum())
        else:
            v = affine_int(a, layer, q) + bias_int(q, layer)
            events = int(((v > lim) | (v < -lim - 1)).sum())
        overflow[layer.name] = events
        return np.clip(v, -lim - 1, lim)

    def spiking(step: Step, a: np.ndarray) -> np.ndarray:
        acc = membrane(step, a)
        r = qnet.layers[step.index].out_shift
        shifted = shift(acc, r)
        saturated[step.layer.name] = int((shifted > L).sum())
        return phase2_stepped(acc, r, L) if mode == "stepped" else np.clip(shifted, 0, L)

    def readout(step: Step, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        acc = membrane(step, a)
        return acc.astype(np.float64) * 2.0 ** qnet.layers[step.index].unit_exp, acc

    emitted, (logits, acc) = walk(
        qnet.ir,
        _inputs(qnet, x, a0),
        spiking=spiking,
        maxpool=lambda step, a: maxpool_steps(a, step.layer, L),
        readout=readout,
    )
    return _result(qnet, emitted, logits, acc, saturated, overflow)


def closed_form_quantized(
    qnet: QuantizedNetwork, x: np.ndarray | None = None, *, a0: np.ndarray | None = None
) -> IntSimResult:
    """Float closed form on the quantised values with step quantisation of spike times between layers.

    Args:
        qnet: quantised network.
        x: raw inputs (or ``a0``).
        a0: input activations in steps.

    Returns:
        A result comparable with [`simulate`][ttfsnet_hw.intsim.simulate] (``logits_int`` is ``None``).
    """
    L = qnet.steps
    saturated: dict[str, int] = {}

    def activations(step: Step, a: np.ndarray) -> np.ndarray:
        # the step of every window is a power of two, so these products are exact
        return a.astype(np.float64) * (step.in_window / L)

    def spiking(step: Step, a: np.ndarray) -> np.ndarray:
        pre = preactivation(activations(step, a), step.layer)
        big_t = float(step.layer.window)  # type: ignore[arg-type]
        saturated[step.layer.name] = int((pre > big_t).sum())
        return np.floor(np.clip(pre, 0.0, big_t) / (big_t / L)).astype(np.int64)

    def maxpool(step: Step, a: np.ndarray) -> np.ndarray:
        delta = step.in_window / L
        xact = activations(step, a)
        t = maxpool_times(np.where(xact > 0, L * delta - xact, np.inf), step.layer)
        return np.rint(np.where(np.isfinite(t), L * delta - t, 0.0) / delta).astype(np.int64)

    emitted, logits = walk(
        qnet.ir,
        _inputs(qnet, x, a0),
        spiking=spiking,
        maxpool=maxpool,
        readout=lambda step, a: preactivation(activations(step, a), step.layer),
    )
    return _result(qnet, emitted, logits, None, saturated, {})


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
    logits_f, times_f = run(float_ir, x)
    res = simulate(qnet, x)
    pred_f = np.argmax(logits_f, axis=1)
    windows_f, windows_q = emitter_windows(float_ir), emitter_windows(qnet.ir)
    fired_mis = 0
    total = 0
    errs = []
    for tf, kq, wf, wq in zip(times_f, res.steps, windows_f, windows_q, strict=True):
        fired_f = np.isfinite(tf)
        fired_q = kq < qnet.steps
        fired_mis += int((fired_f != fired_q).sum())
        total += fired_f.size
        both = fired_f & fired_q
        if both.any():
            # time from the spike to the window end (= the activation): comparable across the quantiser's
            # enlarged windows, unlike the spike time itself
            to_end_q = (qnet.steps - kq[both]) * (wq / qnet.steps)
            to_end_f = wf - tf[both]
            errs.append(np.abs(to_end_q - to_end_f) / wf)
    return {
        "prediction_disagreement": float((pred_f != res.predictions).mean()),
        "spike_disagreement": fired_mis / max(total, 1),
        "mean_abs_time_error": float(np.concatenate(errs).mean()) if errs else 0.0,
        "max_abs_logit_error": float(np.abs(logits_f - res.logits).max(initial=0.0)),
    }


def max_accumulators(qnet: QuantizedNetwork, x: np.ndarray) -> dict[str, int]:
    """Largest |membrane| per weighted/spiking layer on inputs ``x`` (event mode, before clipping)."""
    L = qnet.steps
    peaks: dict[str, int] = {}

    def membrane(step: Step, a: np.ndarray) -> np.ndarray:
        raw = affine_int(a, step.layer, qnet.layers[step.index]) + bias_int(
            qnet.layers[step.index], step.layer
        )
        peaks[step.layer.name] = int(np.abs(raw).max(initial=0))
        return raw

    walk(
        qnet.ir,
        encode_steps(qnet.ir, x, L),
        spiking=lambda step, a: fire(membrane(step, a), qnet.layers[step.index].out_shift, L),
        maxpool=lambda step, a: maxpool_steps(a, step.layer, L),
        readout=membrane,
    )
    return peaks
