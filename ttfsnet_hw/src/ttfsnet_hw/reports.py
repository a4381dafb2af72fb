"""JSON-ready reports of a quantisation: how the integer datapath agrees with its references.

:func:`quantization_report` is what ``ttfsnet-hw quantize`` writes to ``report.json`` (next to the network
itself, :func:`ttfsnet_hw.quantized_file.save_quantized`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ttfsnet_hw.closedform import run
from ttfsnet_hw.intsim import closed_form_quantized, compare, float_disagreement, simulate
from ttfsnet_hw.profile import HardwareProfile
from ttfsnet_hw.types import Agreement, NetworkIR, QuantizedNetwork

__all__ = ["agreement_dict", "quantization_report"]


def agreement_dict(agree: Agreement) -> dict[str, Any]:
    """The JSON form of an :class:`~ttfsnet_hw.types.Agreement` (without the logit difference)."""
    return {
        "exact": agree.exact,
        "step_mismatches": agree.step_mismatches,
        "prediction_mismatches": agree.prediction_mismatches,
    }


def quantization_report(
    float_ir: NetworkIR,
    qnet: QuantizedNetwork,
    x: np.ndarray,
    *,
    profile: HardwareProfile,
    bias_correction: bool,
    labels: np.ndarray | None = None,
    torch_model: Any = None,
) -> dict[str, Any]:
    """Check a quantisation on inputs ``x`` and describe it.

    Args:
        float_ir: the unquantised network (with parameters).
        qnet: its quantisation.
        x: raw inputs (the calibration inputs, usually).
        profile: the profile whose widths were used (reported).
        bias_correction: whether the floor-bias correction was applied (reported).
        labels: integer labels of ``x``: adds float vs quantised ``accuracy``.
        torch_model: the ``TTFSNetwork`` behind ``float_ir``: adds ``intsim_vs_ttfsnet``, the agreement with
            ``ttfsnet``'s own closed form on the quantised values (needs torch).

    Returns:
        ``profile``, ``precision``, ``samples``, ``bias_correction``, ``weight_errors``, ``overflow_layers``,
        ``windows``, ``intsim_vs_closed_form`` (must be exact), ``vs_float_snn``
        (:func:`~ttfsnet_hw.intsim.float_disagreement`), and ``accuracy`` / ``intsim_vs_ttfsnet`` when asked.
    """
    ints = simulate(qnet, x)
    report: dict[str, Any] = {
        "profile": profile.name,
        "precision": {
            "weight_bits": profile.precision.weight_bits,
            "membrane_bits": profile.precision.membrane_bits,
            "time_bits": profile.precision.time_bits,
        },
        "samples": int(x.shape[0]),
        "bias_correction": bias_correction,
        "weight_errors": qnet.weight_errors,
        "overflow_layers": list(qnet.overflow_layers),
        "windows": qnet.ir.windows(),
        "intsim_vs_closed_form": agreement_dict(compare(ints, closed_form_quantized(qnet, x))),
        "vs_float_snn": float_disagreement(float_ir, qnet, x),
    }
    if labels is not None:
        float_pred = np.argmax(run(float_ir, x)[0], axis=1)
        acc_f, acc_q = float(np.mean(float_pred == labels)), float(np.mean(ints.predictions == labels))
        report["accuracy"] = {
            "float": acc_f,
            "quantized": acc_q,
            "drop": acc_f - acc_q,
            "samples": int(labels.size),
        }
    if torch_model is not None:
        from ttfsnet_hw.adapters.torch_quant import apply_quantization, ttfs_quantized_reference

        ref = ttfs_quantized_reference(apply_quantization(torch_model, qnet), qnet, x)
        report["intsim_vs_ttfsnet"] = agreement_dict(compare(ints, ref))
    return report
