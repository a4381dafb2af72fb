"""Hardware objectives for ``ttfsnet_nas`` (entry-point group ``ttfsnet_nas.objectives``).

:func:`objectives` returns ``latency_ms``, ``energy_mj`` and ``pe_count`` (all minimised). Each computes one
:func:`ttfsnet_hw.estimate.estimate` per evaluation context (cached), from the first source available:

1. ``extras["snn"]`` (a ``ttfsnet.TTFSNetwork``) with calibration inputs in ``extras["data"]``: recorded SNN
   spikes (input shape from ``extras["input_shape"]`` or the data);
2. ``extras["model"]`` (a ReLU ANN) with ``extras["data"]``: per-layer ANN spikes (positive ReLU = spike);
3. during search, only numbers: the candidate ``architecture`` of the TNAS-ER family
   (:func:`ttfsnet_hw.paper.paper_network` with the geometry in ``metrics["image_size"]``,
   ``["in_channels"]``, ``["width"]``, ``["num_classes"]``, defaults 90/4/32/7 = SEE input size) and the
   evaluator's ANN totals ``metrics["spikes"]`` (hidden spikes per sample) and ``metrics["input_spikes"]``.
   Spikes are spread uniformly over the hidden layers (a max pool of k inputs fires with probability
   1 − (1 − ρ)^k), so SynOPs are ρ·MAC per layer. When the evaluator also reports ``metrics["neurons"]``
   (ReLU outputs per sample) it must equal the built network's hidden neurons, so a geometry mismatch is an
   error, not a wrong estimate.

The profile is ``extras["hw_profile"]``, else the ``TTFSNET_HW_PROFILE`` environment variable, else ``yoso``.
"""

from __future__ import annotations

import functools
import math
import os
from collections import OrderedDict
from typing import Any

from ttfsnet_hw.estimate import Estimate, estimate, uniform_spike_record
from ttfsnet_hw.ir import NetworkIR
from ttfsnet_hw.paper import groups_of, paper_network
from ttfsnet_hw.profile import load_profile

# profiles are frozen; parsing the YAML again for every candidate was a visible share of its cost
_load_profile = functools.lru_cache(maxsize=8)(load_profile)

__all__ = ["estimate_from_context", "objectives"]

_CACHE: OrderedDict[Any, Estimate] = OrderedDict()
_CACHE_SIZE = 64
_GEOMETRY = ("image_size", "in_channels", "width", "num_classes")


class HardwareObjectiveError(KeyError):
    """The context carries nothing the hardware objectives can use."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _profile_name(extras: Any) -> Any:
    return extras.get("hw_profile") or os.environ.get("TTFSNET_HW_PROFILE", "yoso")


def _arch_ir(arch: Any, metrics: Any) -> NetworkIR:
    genes = list(arch)
    groups = groups_of(genes)
    if groups < 1:
        raise HardwareObjectiveError(
            f"hardware objectives: architecture genes {genes} are not of the TNAS-ER family (g<i>b<j>)"
        )
    ir = paper_network(
        dict(arch),
        groups=groups,
        image_size=int(metrics.get("image_size", 90)),
        in_channels=int(metrics.get("in_channels", 4)),
        width=int(metrics.get("width", 32)),
        num_classes=int(metrics.get("num_classes", 7)),
        name="candidate",
    )
    hidden = _hidden_neurons(ir)
    if "neurons" in metrics and int(round(float(metrics["neurons"]))) != hidden:
        geometry = {k: metrics.get(k, d) for k, d in (("image_size", 90), ("in_channels", 4), ("width", 32))}
        raise HardwareObjectiveError(
            f"hardware objectives: the TNAS-ER family member for {geometry} has {hidden} hidden "
            "neurons but the "
            f"evaluator reports metric 'neurons'={metrics['neurons']:.0f}; report the candidate's "
            "geometry as "
            "metrics 'image_size', 'in_channels' and 'width'"
        )
    return ir


def _hidden_neurons(ir: NetworkIR) -> int:
    return sum(layer.neurons for layer in ir.layers if layer.spiking)


def estimate_from_context(ctx: Any) -> Estimate:
    """The (cached) estimate for an evaluation context; see the module docstring for the sources."""
    extras = getattr(ctx, "extras", {}) or {}
    metrics = getattr(ctx, "metrics", {}) or {}
    arch = getattr(ctx, "architecture", None)
    prof = _profile_name(extras)
    data = extras.get("data")
    if "snn" in extras and data is not None:
        key: Any = ("snn", id(extras["snn"]), id(data), prof)
    elif "model" in extras and data is not None:
        key = ("ann", id(extras["model"]), id(data), prof)
    elif arch is not None and "spikes" in metrics:
        key = (
            "arch",
            tuple(arch.items()),
            float(metrics["spikes"]),
            metrics.get("input_spikes"),
            metrics.get("neurons"),
            *(metrics.get(k) for k in _GEOMETRY),
            prof,
        )
    else:
        raise HardwareObjectiveError(
            "hardware objectives need extras 'snn' or 'model' with calibration inputs in extras 'data', "
            "or an architecture with the ANN metric 'spikes'"
        )
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    profile = _load_profile(prof)
    if key[0] == "arch":
        ir = _arch_ir(arch, metrics)
        spikes_in = metrics.get("input_spikes")
        hidden = _hidden_neurons(ir)
        rho = min(1.0, max(0.0, float(metrics["spikes"]) / hidden)) if hidden else 0.0
        in_size = math.prod(ir.input_shape)
        rho_in = 1.0 if spikes_in is None else min(1.0, max(0.0, float(spikes_in) / in_size))
        record = uniform_spike_record(ir, rho, rho_in)
    else:
        from ttfsnet_hw.adapters.torch import ir_from_ann, ir_from_ttfs, record_ann, record_snn

        shape = extras.get("input_shape") or tuple(data.shape[1:])
        if key[0] == "snn":
            ir = ir_from_ttfs(extras["snn"], shape, name="snn")
            record = record_snn(extras["snn"], ir, data)
        else:
            ir = ir_from_ann(extras["model"], shape, name="ann")
            record = record_ann(extras["model"], ir, data)
    est = estimate(ir, record, profile)
    _CACHE[key] = est
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return est


def _example() -> Any:
    from ttfsnet_nas.objectives import EvalContext
    from ttfsnet_nas.space import Architecture

    arch = Architecture([("g0b0", "conv3x3"), ("g0b1", "skip"), ("g1b0", "conv5x5"), ("g1b1", "skip")])
    return EvalContext(
        metrics={"spikes": 20000.0, "input_spikes": 8000.0, "image_size": 32.0}, architecture=arch
    )


def objectives() -> list[Any]:
    """Entry point: the hardware objectives (imports ``ttfsnet_nas`` only when called)."""
    from ttfsnet_nas.objectives import Objective

    def latency(ctx: Any) -> float:
        return estimate_from_context(ctx).latency_ms.mean

    def energy(ctx: Any) -> float:
        return estimate_from_context(ctx).energy_mj.mean

    def pes(ctx: Any) -> float:
        # the footprint, not pes_used: with mapping.spread every network fills the whole mesh
        return float(estimate_from_context(ctx).pes_required)

    specs = [
        ("latency_ms", latency, "Per-inference latency on the hardware profile (ttfsnet_hw estimate).", "ms"),
        ("energy_mj", energy, "Per-inference energy on the hardware profile (ttfsnet_hw estimate).", "mJ"),
        (
            "pe_count",
            pes,
            "Processing elements the network needs (minimal all-resident mapping, ttfsnet_hw).",
            "PEs",
        ),
    ]
    return [
        Objective(name=name, direction="min", compute=fn, description=desc, unit=unit, example=_example)
        for name, fn, desc, unit in specs
    ]
