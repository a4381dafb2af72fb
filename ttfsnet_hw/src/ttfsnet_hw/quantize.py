"""Post-training per-layer quantisation of a TTFS network to a profile's bit widths (torch-free).

The quantised network is defined so that the integer datapath ([`ttfsnet_hw.intsim`][ttfsnet_hw.intsim]) and
the float closed form on the quantised values agree bit for bit:

* **Time.** A window has ``L = 2**time_bits`` steps. Each layer's step ``Δ_l = T_l / L`` is rounded *up* to a
  power of two, so the window grows to ``T'_l = L·Δ_l ∈ [T_l, 2 T_l)`` (no new saturation). The input window
  [0, 1] has ``Δ_0 = 1/L``. A neuron fires at the first step boundary at or after its continuous firing
  time (a time-stepped neuron checks its threshold once per step): ``k = ⌈t̂/Δ⌉``, i.e. the activation
  ``a = ⌊x/Δ⌋ ∈ [0, L]`` in steps, ``a = 0`` silent.
* **Weights.** ``W = q · 2^{-s}`` with integer ``|q| ≤ 2^{b_w-1} − 1`` and the largest per-layer shift ``s``
  that keeps the layer's largest weight in range (calibrated on the layer's own weights).
* **Bias / threshold.** The ANN bias ``b = T − ϑ`` is rounded to the membrane unit ``u = 2^{-s} Δ_{l-1}``:
  ``b' = q_b u``, ``ϑ' = T' − b'`` (readout: ``b' = q_b u``).
* **Floor-bias correction (optional).** A spike at the first step boundary at or after the crossing
  under-reports every firing input by ``Δ/2`` on average, and the error adds up over the fan-in. With
  ``bias_correction=True`` each weighted layer's bias gets ``(Δ_in/2)·Σ_j W_ij f_j`` before rounding, where
  ``f_j`` is how often input ``j`` fires in the *float* network on the calibration data (a neuron whose
  activation is below one step goes silent and loses its whole value, also ≈ Δ/2 on average; per output
  channel, averaged over positions, for convolutions with per-channel thresholds). It is an ordinary bias,
  so the integer datapath and the closed form still agree exactly.
* **Membrane.** ``acc = Σ q a + q_b`` is an integer; ``x = u·acc`` exactly, so
  ``a_out = clip(⌊acc·u/Δ_l⌋, 0, L)`` is a shift. Calibration data check that ``|acc|`` fits
  ``membrane_bits`` (signed); layers that overflow are reported, and their weight shift is lowered until
  they fit.

All scales are powers of two, so float64 arithmetic on the quantised values is exact (up to 2^53).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ttfsnet_hw.closedform import run
from ttfsnet_hw.datapath import ceil_log2, conv2d
from ttfsnet_hw.errors import QuantizationError
from ttfsnet_hw.intsim import max_accumulators
from ttfsnet_hw.profile import HardwareProfile
from ttfsnet_hw.types import LayerIR, NetworkIR, PrecisionSpec, QLayer, QuantizedNetwork

__all__ = ["floor_corrections", "precision_of", "quantize"]


def _weight_shift(w: np.ndarray, bits: int, where: str) -> int:
    qmax = 2 ** (bits - 1) - 1
    m = float(np.abs(w).max(initial=0.0))
    if not math.isfinite(m):
        raise QuantizationError(f"{where}: weights are not finite")
    if m == 0.0:
        return 0
    return math.floor(math.log2(qmax / m))


def precision_of(precision: PrecisionSpec | HardwareProfile) -> PrecisionSpec:
    """The ``PrecisionSpec`` of a spec or a ``HardwareProfile``."""
    return precision.precision if isinstance(precision, HardwareProfile) else precision


def quantize(
    ir: NetworkIR,
    precision: PrecisionSpec | HardwareProfile,
    calibration: np.ndarray | None = None,
    *,
    bias_correction: bool = False,
) -> QuantizedNetwork:
    """Post-training quantisation of ``ir`` (see the module docstring for the exact scheme).

    Args:
        ir: float network with parameters.
        precision: widths, or a profile whose ``precision`` is used.
        calibration: raw calibration inputs; used to check (and fix) membrane overflow per layer.
        bias_correction: compensate the mean floor error of the spike times (needs ``calibration``).

    Returns:
        The quantised network.

    Raises:
        QuantizationError: cost-only IR, non-finite parameters, or an average pool whose kernel area is not a
            power of two (its fixed weight 1/area would not be exact).
    """
    prec = precision_of(precision)
    if not ir.has_parameters:
        raise QuantizationError(f"network {ir.name}: cost-only IR (no weights) cannot be quantised")
    steps = 2**prec.time_bits
    shifts: dict[str, int] = {}
    for layer in ir.layers:
        if layer.weighted:
            shifts[layer.name] = _weight_shift(
                np.asarray(layer.weight), prec.weight_bits, f"layer {layer.name}"
            )
    overflow: list[str] = []
    corrections: dict[str, np.ndarray] = {}
    qnet = _build(ir, prec, steps, shifts)
    if bias_correction:
        if calibration is None:
            raise QuantizationError(f"network {ir.name}: bias_correction needs calibration inputs")
        # the corrections use float firing fractions and step sizes, neither of which they change: one rebuild
        corrections = floor_corrections(qnet, calibration, ir)
        qnet = _build(ir, prec, steps, shifts, corrections)
    if calibration is not None:
        for _ in range(prec.weight_bits):
            peaks = max_accumulators(qnet, calibration)
            bad = [name for name, peak in peaks.items() if peak > qnet.membrane_limit]
            if not bad:
                break
            for name in bad:
                if name not in overflow:
                    overflow.append(name)
                shifts[name] -= 1
            qnet = _build(ir, prec, steps, shifts, corrections)
        else:
            raise QuantizationError(
                f"network {ir.name}: layers {bad} overflow a {prec.membrane_bits}-bit membrane even with "
                f"{prec.weight_bits} fewer weight bits; increase precision.membrane_bits"
            )
    return replace(qnet, overflow_layers=tuple(overflow))


def _float_input_fractions(ir: NetworkIR, x: np.ndarray) -> dict[str, np.ndarray]:
    """Per weighted layer, how often each of its input neurons fires in the float network."""
    _, times = run(ir, x)
    fired = dict(zip(ir.emitters, (np.isfinite(t).mean(axis=0) for t in times), strict=True))
    return {
        layer.name: fired[ir.source_of(layer)].reshape(layer.in_shape)
        for layer in ir.layers
        if layer.weighted
    }


def floor_corrections(
    qnet: QuantizedNetwork, calibration: np.ndarray, float_ir: NetworkIR
) -> dict[str, np.ndarray]:
    """Per weighted layer, the floor-bias correction ``(Δ_in/2)·W f`` in the layer's bias shape.

    Args:
        qnet: the quantisation: each layer's input step ``Δ_in`` and the quantised weights ``W`` the
            datapath applies.
        calibration: raw inputs on which the firing frequencies ``f`` of the float network are measured.
        float_ir: the unquantised network whose firing frequencies the correction uses.

    Returns:
        Layer name → correction to add to the layer's bias before rounding (see the module docstring).
    """
    fractions = _float_input_fractions(float_ir, calibration)
    out: dict[str, np.ndarray] = {}
    for layer, ql in zip(qnet.ir.layers, qnet.layers, strict=True):
        if layer.name not in fractions:
            continue
        half_step = 0.5 * 2.0 ** (ql.unit_exp + ql.weight_shift)  # Δ_in/2, as u = 2^-s·Δ_in
        w = np.asarray(layer.weight, dtype=np.float64)
        f = fractions[layer.name]
        if layer.kind == "conv":
            fw = conv2d(f[None], w, layer.stride, layer.padding, layer.groups)[0]
            thr_ndim = np.asarray(layer.threshold).ndim
            out[layer.name] = half_step * (fw if thr_ndim == 3 else fw.mean(axis=(1, 2)))
        else:
            out[layer.name] = half_step * (w @ f.reshape(-1))
    return out


def _build(
    ir: NetworkIR,
    prec: PrecisionSpec,
    steps: int,
    shifts: dict[str, int],
    corrections: dict[str, np.ndarray] | None = None,
) -> QuantizedNetwork:
    qmax = 2 ** (prec.weight_bits - 1) - 1
    new_layers: list[LayerIR] = []
    qlayers: list[QLayer] = []
    errors: dict[str, float] = {}
    prev_exp = -int(math.log2(steps))  # Δ_0 = 1/L
    for layer in ir.layers:
        where = f"layer {layer.name}"
        if layer.kind in ("flatten", "maxpool"):
            new_layers.append(layer)
            qlayers.append(QLayer(name=layer.name, kind=layer.kind))
            continue
        if layer.kind == "avgpool":
            area = layer.kernel[0] * layer.kernel[1]
            if area & (area - 1):
                raise QuantizationError(
                    f"{where}: average-pool kernel area {area} is not a power of two; 1/{area} has no exact "
                    "fixed-point weight"
                )
            s = int(math.log2(area))
            qw = np.ones((layer.in_shape[0], 1, *layer.kernel), dtype=np.int64)
            q_bias = np.zeros(layer.out_shape[0], dtype=np.int64)
        else:
            s = shifts[layer.name]
            w = np.asarray(layer.weight, dtype=np.float64)
            qw = np.clip(np.rint(w * 2.0**s), -qmax, qmax).astype(np.int64)
            scale = float(np.abs(w).max(initial=0.0))
            errors[layer.name] = (
                float(np.abs(w - qw * 2.0**-s).max(initial=0.0) / scale) if scale > 0 else 0.0
            )
        unit_exp = prev_exp - s
        unit = 2.0**unit_exp
        shift_b = (corrections or {}).get(layer.name, 0.0)
        if layer.kind == "readout":
            q_bias = np.rint((np.asarray(layer.bias, dtype=np.float64) + shift_b) / unit).astype(np.int64)
            new_layers.append(replace(layer, weight=qw * 2.0**-s, bias=q_bias * unit))
            qlayers.append(
                QLayer(
                    name=layer.name,
                    kind=layer.kind,
                    q_weight=qw,
                    weight_shift=s,
                    q_bias=q_bias,
                    unit_exp=unit_exp,
                )
            )
            break
        assert layer.window is not None
        t_exp = ceil_log2(float(layer.window) / steps)
        window = steps * 2.0**t_exp
        if layer.kind != "avgpool":
            bias = float(layer.window) - np.asarray(layer.threshold, dtype=np.float64)
            q_bias = np.rint((bias + shift_b) / unit).astype(np.int64)
            threshold = window - q_bias * unit
            new_layers.append(replace(layer, weight=qw * 2.0**-s, threshold=threshold, window=window))
        else:
            new_layers.append(replace(layer, window=window))
        qlayers.append(
            QLayer(
                name=layer.name,
                kind=layer.kind,
                q_weight=qw,
                weight_shift=s,
                q_bias=q_bias,
                time_exp=t_exp,
                out_shift=t_exp - unit_exp,
                unit_exp=unit_exp,
            )
        )
        prev_exp = t_exp
    qir = NetworkIR(
        name=f"{ir.name}-q", input_shape=ir.input_shape, layers=tuple(new_layers), input_range=ir.input_range
    )
    return QuantizedNetwork(ir=qir, layers=tuple(qlayers), precision=prec, steps=steps, weight_errors=errors)
