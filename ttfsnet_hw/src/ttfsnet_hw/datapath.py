"""The datapath kernels shared by the simulators, the quantiser and the torch adapters (numpy only).

Float kernels (closed form, ``docs/ttfs-model.md`` §1): [`encode_times`][ttfsnet_hw.datapath.encode_times],
[`conv2d`][ttfsnet_hw.datapath.conv2d], [`affine`][ttfsnet_hw.datapath.affine],
[`preactivation`][ttfsnet_hw.datapath.preactivation], [`maxpool_times`][ttfsnet_hw.datapath.maxpool_times].
Integer kernels (the YOSO-style datapath of [`ttfsnet_hw.intsim`][ttfsnet_hw.intsim]):
[`encode_steps`][ttfsnet_hw.datapath.encode_steps], [`affine_int`][ttfsnet_hw.datapath.affine_int],
[`bias_int`][ttfsnet_hw.datapath.bias_int], [`shift`][ttfsnet_hw.datapath.shift],
[`fire`][ttfsnet_hw.datapath.fire], [`maxpool_steps`][ttfsnet_hw.datapath.maxpool_steps], and the literal
time-stepped phases [`phase1_stepped`][ttfsnet_hw.datapath.phase1_stepped] and
[`phase2_stepped`][ttfsnet_hw.datapath.phase2_stepped]. Time grid:
[`ceil_log2`][ttfsnet_hw.datapath.ceil_log2] and [`quantized_window`][ttfsnet_hw.datapath.quantized_window].

Integer activations count time steps: a neuron that spikes at step ``k`` of a window of ``L`` steps has
activation ``a = L − k`` (``0`` = silent).
"""

from __future__ import annotations

import math

import numpy as np

from ttfsnet_hw.errors import DatapathOverflowError, IRError
from ttfsnet_hw.types import LayerIR, NetworkIR, QLayer

__all__ = [
    "affine",
    "affine_int",
    "bias_int",
    "ceil_log2",
    "conv2d",
    "encode_steps",
    "encode_times",
    "fire",
    "layer_threshold",
    "maxpool_steps",
    "maxpool_times",
    "phase1_stepped",
    "phase2_stepped",
    "preactivation",
    "quantized_window",
    "shift",
]


# --------------------------------------------------------------------------------------------- input
def encode_times(ir: NetworkIR, x: np.ndarray) -> np.ndarray:
    """Raw inputs → input spike times in [0, 1] (inf where x̃ = 0).

    Args:
        ir: the network (for its declared ``input_range``).
        x: ``(B, *input_shape)`` values inside ``input_range``.

    Returns:
        ``(B, *input_shape)`` spike times.

    Raises:
        IRError: NaN/Inf or values outside the declared range.
    """
    p, q = ir.input_range
    x = np.asarray(x, dtype=np.float64)
    tol = 1e-6 * (q - p)
    if not np.all(np.isfinite(x)) or x.min(initial=p) < p - tol or x.max(initial=q) > q + tol:
        raise IRError(f"network {ir.name}: inputs must be finite and inside input_range {ir.input_range}")
    xt = np.clip((x - p) / (q - p), 0.0, 1.0)
    return np.where(xt > 0, 1.0 - xt, np.inf)


def encode_steps(ir: NetworkIR, x: np.ndarray, steps: int) -> np.ndarray:
    """Raw inputs → input activations in steps ``a0 = ⌊x̃·L⌋ ∈ [0, L]`` (0 = no spike).

    Args:
        ir: network (for the input range).
        x: raw inputs ``(B, *input_shape)``.
        steps: ``L``.

    Returns:
        int64 array.
    """
    t0 = encode_times(ir, x)
    xt = np.where(np.isfinite(t0), 1.0 - t0, 0.0)
    return np.clip(np.floor(xt * steps), 0, steps).astype(np.int64)


# ---------------------------------------------------------------------------------------------- float
def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    stride: tuple[int, int],
    padding: tuple[int, int],
    groups: int = 1,
) -> np.ndarray:
    """Cross-correlation ``(B, C, H, W) * (O, C/g, kh, kw) → (B, O, H_out, W_out)`` in numpy (im2col).

    Args:
        x: input activations.
        w: kernel.
        stride: stride.
        padding: zero padding.
        groups: groups.

    Returns:
        The output (same dtype as the inputs' common type).
    """
    b = x.shape[0]
    o, cg, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if (ph or pw) else x
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    ho, wo = win.shape[2], win.shape[3]
    og = o // groups
    outs = []
    for g in range(groups):
        cols = win[:, g * cg : (g + 1) * cg]  # (B, cg, Ho, Wo, kh, kw)
        cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(b * ho * wo, cg * kh * kw)
        kern = w[g * og : (g + 1) * og].reshape(og, cg * kh * kw)
        outs.append((cols @ kern.T).reshape(b, ho, wo, og))
    out = outs[0] if groups == 1 else np.concatenate(outs, axis=3)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def affine(x: np.ndarray, layer: LayerIR) -> np.ndarray:
    """``W x`` of a conv, linear, readout or average-pool layer (a pool's weights are ``1/area``).

    Raises:
        IRError: a layer kind without an affine map (max pool, flatten).
    """
    if layer.kind == "conv":
        return conv2d(x, np.asarray(layer.weight, dtype=x.dtype), layer.stride, layer.padding, layer.groups)
    if layer.kind in ("linear", "readout"):
        return x @ np.asarray(layer.weight, dtype=x.dtype).T
    if layer.kind == "avgpool":
        c = layer.in_shape[0]
        kh, kw = layer.kernel
        w = np.full((c, 1, kh, kw), 1.0 / (kh * kw), dtype=x.dtype)
        return conv2d(x, w, layer.stride, layer.padding, groups=c)
    raise IRError(f"layer {layer.name}: no affine map for kind {layer.kind}")


def layer_threshold(layer: LayerIR) -> np.ndarray | float:
    """ϑ of a spiking layer, broadcastable to its output (an average pool fires at ϑ = T)."""
    if layer.kind == "avgpool":
        return float(layer.window)  # type: ignore[arg-type]
    thr = np.asarray(layer.threshold, dtype=np.float64)
    if layer.kind == "conv" and thr.ndim == 1:
        return thr[:, None, None]
    return thr


def preactivation(x: np.ndarray, layer: LayerIR) -> np.ndarray:
    """The ANN pre-activation of a layer from input activations: ``W x + b`` with ``b = T − ϑ`` (readout:
    its bias). A spiking layer's activation is this clipped to ``[0, T]``; a readout's logits are this."""
    pre = affine(x, layer)
    if layer.kind == "readout":
        return pre + np.asarray(layer.bias, dtype=np.float64)
    return pre + (float(layer.window) - layer_threshold(layer))  # type: ignore[arg-type]


def maxpool_times(t: np.ndarray, layer: LayerIR, silent: float = np.inf) -> np.ndarray:
    """Earliest spike per pool window; padding holds ``silent`` (no spike: ``inf``, or ``L`` in steps)."""
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel, layer.stride, layer.padding
    tp = np.pad(t, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=silent) if (ph or pw) else t
    win = np.lib.stride_tricks.sliding_window_view(tp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return win.min(axis=(4, 5))


# -------------------------------------------------------------------------------------------- integer
def maxpool_steps(a: np.ndarray, layer: LayerIR, steps: int) -> np.ndarray:
    """Max pool on integer activations: the earliest spike step of each pool (padding is silent)."""
    return steps - maxpool_times(steps - a, layer, steps)


def affine_int(a: np.ndarray, layer: LayerIR, q: QLayer) -> np.ndarray:
    """``Σ q·a`` exactly (float64 matmul on integers below 2^53, then back to int64).

    Raises:
        DatapathOverflowError: an accumulator reaches 2^52, where float64 would stop being exact.
    """
    af = a.astype(np.float64)
    w = np.asarray(q.q_weight, dtype=np.float64)
    if layer.kind in ("linear", "readout"):
        out = af @ w.T
    else:
        groups = layer.groups if layer.kind == "conv" else layer.in_shape[0]
        out = conv2d(af, w, layer.stride, layer.padding, groups)
    if np.abs(out).max(initial=0.0) >= 2.0**52:
        raise DatapathOverflowError(
            f"layer {layer.name}: integer accumulator beyond 2^52 cannot be simulated exactly"
        )
    return np.rint(out).astype(np.int64)


def bias_int(q: QLayer, layer: LayerIR) -> np.ndarray:
    """The integer bias in the layer's output layout (average pools have none)."""
    b = np.asarray(q.q_bias, dtype=np.int64)
    if layer.kind == "conv" and b.ndim == 1:
        return b[:, None, None]
    if layer.kind == "avgpool":
        return np.zeros((layer.out_shape[0], 1, 1), dtype=np.int64)
    return b


def shift(acc: np.ndarray, r: int) -> np.ndarray:
    """``⌊acc / 2^r⌋`` (arithmetic shift = floor); a negative ``r`` shifts left."""
    return acc >> r if r >= 0 else acc << (-r)


def fire(acc: np.ndarray, r: int, steps: int) -> np.ndarray:
    """Activation in steps of a membrane ``acc``: ``clip(⌊acc / 2^r⌋, 0, L)`` (event mode, closed form)."""
    return np.clip(shift(acc, r), 0, steps)


def phase1_stepped(
    a_prev: np.ndarray, layer: LayerIR, q: QLayer, steps: int, lim: int
) -> tuple[np.ndarray, int]:
    """Literal phase-1 integration over ``L`` steps with saturating adds; returns (V, saturation events).

    An input spike at step ``k`` switches on its synaptic current ``q`` (B1: constant current after the
    spike); each step the membrane adds the summed current, so without saturation ``V = Σ q·(L − k)``.
    """
    k_prev = steps - a_prev  # spike step, L = silent
    v = None
    current = None
    events = 0
    for s in range(steps):
        arrived = (k_prev == s).astype(np.int64)
        if arrived.any() or current is None:
            inc = affine_int(arrived, layer, q)
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


def phase2_stepped(acc: np.ndarray, r: int, steps: int) -> np.ndarray:
    """Literal phase 2: the membrane ramps by ``R = 2^max(r, 0)`` per step and the neuron fires once, at the
    first step with ``V' + k·R ≥ L·R`` (``V' = acc·2^max(−r, 0)``).

    Returns:
        Activations ``L − k`` (0: silent).
    """
    ramp = 2 ** max(r, 0)
    v2 = acc * 2 ** max(-r, 0)
    theta = steps * ramp
    k = np.full(acc.shape, steps, dtype=np.int64)
    for s in range(steps):
        firing = (k == steps) & (v2 + s * ramp >= theta)
        k[firing] = s
    return steps - k


# ------------------------------------------------------------------------------------------ time grid
def ceil_log2(value: float) -> int:
    """``⌈log2 value⌉``: the exponent of the smallest power of two ≥ ``value``."""
    return math.ceil(math.log2(value))


def quantized_window(window: float, steps: int) -> float:
    """The window the quantiser gives a layer: ``L`` steps of the power-of-two step ``2^⌈log2(T/L)⌉``
    (``T' ∈ [T, 2T)``, so no neuron saturates that did not before)."""
    return steps * 2.0 ** ceil_log2(window / steps)
