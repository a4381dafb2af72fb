"""Reports: JSON of a quantisation (how the integer datapath agrees with its references), and the text forms
of an estimate.

[`quantization_report`][ttfsnet_hw.reports.quantization_report] is what ``ttfsnet-hw quantize`` writes to
``report.json`` (next to the network itself,
[`ttfsnet_hw.quantized_file.save_quantized`][ttfsnet_hw.quantized_file.save_quantized]).
[`estimate_table`][ttfsnet_hw.reports.estimate_table],
[`estimate_layers_csv`][ttfsnet_hw.reports.estimate_layers_csv] and
[`estimate_totals_csv`][ttfsnet_hw.reports.estimate_totals_csv] are what ``ttfsnet-hw estimate`` prints with
``--format table`` and ``--format csv`` and writes with ``--totals``: the CSV has one row per layer and no
total row; the totals are a separate one-row CSV.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from ttfsnet_hw.closedform import run
from ttfsnet_hw.estimate import Estimate
from ttfsnet_hw.intsim import closed_form_quantized, compare, float_disagreement, simulate
from ttfsnet_hw.profile import HardwareProfile
from ttfsnet_hw.types import Agreement, NetworkIR, QuantizedNetwork

__all__ = [
    "agreement_dict",
    "estimate_layers_csv",
    "estimate_table",
    "estimate_totals_csv",
    "quantization_report",
]


def agreement_dict(agree: Agreement) -> dict[str, Any]:
    """The JSON form of an [`Agreement`][ttfsnet_hw.types.Agreement] (without the logit difference)."""
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
        ([`float_disagreement`][ttfsnet_hw.intsim.float_disagreement]), and ``accuracy`` /
        ``intsim_vs_ttfsnet`` when asked.
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


def estimate_table(est: Estimate) -> str:
    """The ``--format table`` text of an estimate: one row per layer, then the network totals."""
    from rich.console import Console
    from rich.table import Table

    t = Table(
        title=f"{est.network} on {est.profile} ({est.n_samples} samples, spikes from {est.spike_source})"
    )
    for col in ("layer", "kind", "PEs", "split", "SynOPs", "spikes out", "packets", "cycles", "energy mJ"):
        t.add_column(col, justify="right" if col not in ("layer", "kind") else "left")
    for layer in est.layers:
        e = layer.energy_synaptic_mj + layer.energy_neuron_mj + layer.energy_noc_mj
        t.add_row(
            layer.name,
            layer.kind,
            str(layer.pes),
            layer.partition,
            f"{layer.synops:.4g}",
            f"{layer.spikes_out:.4g}",
            f"{layer.packets:.4g}",
            f"{layer.cycles:.4g}",
            f"{e:.3g}",
        )
    buf = io.StringIO()
    console = Console(file=buf, width=130, color_system=None)
    console.print(t)
    split = ", ".join(f"{k} {v:.4g}" for k, v in est.energy_split_mj.items())
    console.print(
        f"latency {est.latency_ms.mean:.4g} ms [{est.latency_ms.min:.4g}, {est.latency_ms.max:.4g}]  "
        f"energy {est.energy_mj.mean:.4g} mJ [{est.energy_mj.min:.4g}, {est.energy_mj.max:.4g}] ({split})\n"
        f"SynOPs {est.synops.mean:.4g}  spikes {est.spikes.mean:.4g}  MACs {est.macs}  params {est.params}  "
        f"PEs {est.pes_used}/{est.pes_available} (needs {est.pes_required})  neuron util "
        f"{est.neuron_utilisation:.1%}  "
        f"memory util {est.memory_utilisation:.1%}"
    )
    return buf.getvalue()


def estimate_layers_csv(est: Estimate) -> str:
    """The ``--format csv`` text of an estimate: a header and one row per layer, nothing else (the network
    totals are in [`estimate_totals_csv`][ttfsnet_hw.reports.estimate_totals_csv] and the JSON)."""
    buf = io.StringIO()
    rows = [layer.__class__.__dataclass_fields__ for layer in est.layers[:1]]
    fields = list(rows[0]) if rows else []
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(fields)
    for layer in est.layers:
        w.writerow([getattr(layer, f) for f in fields])
    return buf.getvalue()


def estimate_totals_csv(est: Estimate) -> str:
    """The network totals of an estimate (``--totals FILE``) as a header and one row: the JSON's top-level
    fields, with ``energy_split_mj`` spread over ``energy_<part>_mj`` columns."""
    doc = {k: v for k, v in est.to_dict().items() if k != "layers"}
    split = doc.pop("energy_split_mj")
    assert isinstance(split, dict)
    doc.update({f"energy_{part}_mj": value for part, value in split.items()})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(doc))
    w.writerow(list(doc.values()))
    return buf.getvalue()
