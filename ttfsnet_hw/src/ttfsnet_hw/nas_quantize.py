"""The quantised network for the NAS pipeline's ``quantize`` stage (entry-point group
``ttfsnet_nas.quantizers``, name ``hardware``).

[`quantizer`][ttfsnet_hw.nas_quantize.quantizer] quantises a ``ttfsnet.TTFSNetwork`` to a hardware profile's
widths ([`ttfsnet_hw.quantize.quantize`][ttfsnet_hw.quantize.quantize], calibrated on given inputs) and
returns plain data: the profile name, its widths and a ``forward`` callable that maps an input batch to the
logits the chip computes. ``forward`` runs the integer datapath
([`ttfsnet_hw.intsim.simulate`][ttfsnet_hw.intsim.simulate], event mode): it is the hardware's arithmetic
(saturating signed membrane, shifts, integer spike steps) at the cost of one float64 matrix product per
layer. ``closed_form_quantized`` is as fast and equals it only while no membrane saturates, which the
integer simulation models and counts; the literal ``stepped`` mode gives the same integers but loops over
every time step. The NAS package reads the result without importing this package, and this module imports
nothing of it; torch is imported only when [`quantizer`][ttfsnet_hw.nas_quantize.quantizer] is called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ttfsnet_hw.errors import HardwareValueError
from ttfsnet_hw.intsim import simulate
from ttfsnet_hw.profile import load_profile
from ttfsnet_hw.quantize import quantize

__all__ = ["WIDTH_KEYS", "quantizer"]

WIDTH_KEYS = ("weight_bits", "membrane_bits", "time_bits")
"""The widths a profile gives the quantiser (its ``precision`` section)."""


def quantizer(
    net: Any,
    calibration: Any,
    profile: str | None = None,
    *,
    widths: Mapping[str, int] | None = None,
    bias_correction: bool = False,
) -> dict[str, Any]:
    """Entry point: quantise ``net`` to a profile's widths; return its widths and the quantised forward pass.

    Args:
        net: a ``ttfsnet.TTFSNetwork`` (on any device; it is read, not changed).
        calibration: raw inputs ``(N, *input_shape)`` (a torch tensor or an array) that check the membrane
            width (a layer that overflows loses weight bits) and, with ``bias_correction``, measure the
            float network's firing frequencies.
        profile: a profile name or YAML path; ``None``: ``$TTFSNET_HW_PROFILE``, else ``yoso``.
        widths: overrides of the profile's widths (keys of ``WIDTH_KEYS``), validated like a profile file.
        bias_correction: compensate the mean floor error of quantised spike times (``quantize``).

    Returns:
        A plain mapping: ``profile`` (name), ``widths`` (``weight_bits``, ``membrane_bits``, ``time_bits``),
        ``forward`` (input batch, a torch tensor on any device → float64 CPU logits of the integer
        datapath), ``overflow_layers`` (layers whose weight shift the calibration lowered),
        ``weight_errors`` (largest relative rounding error per layer) and ``overflow`` (membrane saturation
        events per layer, summed over every ``forward`` call so far: 0 means the event-mode integers equal
        the literal time-stepped ones).

    Raises:
        HardwareValueError: an unknown width key (ProfileError: a width out of the profile's range).
        IRError: a layer the hardware IR does not model, or calibration inputs outside the network's input
            range.
    """
    import torch

    from ttfsnet_hw.adapters.torch import ir_from_ttfs

    prof = load_profile(profile or os.environ.get("TTFSNET_HW_PROFILE", "yoso"))
    unknown = sorted(set(widths or {}) - set(WIDTH_KEYS))
    if unknown:
        raise HardwareValueError(f"quantizer: unknown widths {unknown}; expected some of {list(WIDTH_KEYS)}")
    if widths:
        prof = prof.replace(**{f"precision.{k}": int(v) for k, v in widths.items()})
    x_cal = _array(calibration)
    shape = tuple(int(v) for v in (net.input_shape or x_cal.shape[1:]))
    qnet = quantize(ir_from_ttfs(net, shape, name="snn"), prof, x_cal, bias_correction=bias_correction)
    overflow = {layer.name: 0 for layer in qnet.ir.layers if layer.weighted or layer.spiking}

    def forward(x: Any) -> Any:
        result = simulate(qnet, _array(x))
        for name, events in result.overflow.items():
            overflow[name] = overflow.get(name, 0) + events
        return torch.from_numpy(result.logits)

    return {
        "profile": prof.name,
        "widths": {k: int(getattr(prof.precision, k)) for k in WIDTH_KEYS},
        "forward": forward,
        "overflow_layers": list(qnet.overflow_layers),
        "weight_errors": dict(qnet.weight_errors),
        "overflow": overflow,
    }


def _array(x: Any) -> np.ndarray:
    """Raw inputs as a float64 CPU array (torch tensors are detached and moved)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)
