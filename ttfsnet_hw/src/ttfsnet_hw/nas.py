"""Hardware objectives for neural-architecture search (entry-point group ``ttfsnet_nas.objectives``).

[`objectives`][ttfsnet_hw.nas.objectives] returns ``latency_ms``, ``energy_mj`` and ``pe_count`` (all
minimised) as plain specs: mappings with ``name``, ``direction``, ``compute``, ``description``, ``unit`` and
``example``, which the NAS package turns into its own objective objects, so this module imports nothing of it.
``compute`` takes an evaluation context (any object with ``metrics`` and ``extras`` mappings); ``example``
returns a representative context as a mapping (numbers are metrics, everything else extras).

Each objective computes one [`ttfsnet_hw.estimate.estimate`][ttfsnet_hw.estimate.estimate] per context
(cached), from the first source available:

1. ``extras["snn"]`` (a ``ttfsnet.TTFSNetwork``) with calibration inputs in ``extras["data"]``: recorded SNN
   spikes (input shape from ``extras["input_shape"]`` or the data);
2. ``extras["model"]`` (a ReLU ANN) with ``extras["data"]``: per-layer ANN spikes (positive ReLU = spike);
3. during search, no data: ``extras["model"]`` is the candidate subnet (a plain ReLU ``nn.Sequential``) and
   ``extras["input_shape"]`` its ``(C, H, W)``. Its cost-only IR comes from
   [`ttfsnet_hw.adapters.torch.ir_from_ann`][ttfsnet_hw.adapters.torch.ir_from_ann], whatever the task or
   search space, and the evaluator's ANN totals ``metrics["spikes"]`` (hidden spikes per sample) and
   ``metrics["input_spikes"]`` are spread uniformly over the layers
   ([`ttfsnet_hw.records.uniform_spike_record`][ttfsnet_hw.records.uniform_spike_record]; a max pool of k
   inputs fires with probability 1 − (1 − ρ)^k), so SynOPs are ρ·MAC per layer. When the evaluator also
   reports ``metrics["neurons"]`` (ReLU outputs per sample) it must equal the IR's hidden neurons, so a
   context whose model is not the evaluated network is an error, not a wrong estimate.

Models and data may be on any device (a search's candidates are on the run's device, a GPU say): the torch
adapter runs the model where it is, moving the data there, and hands the estimator CPU arrays.

The profile is ``extras["hw_profile"]``, else the ``TTFSNET_HW_PROFILE`` environment variable, else ``yoso``.
Estimates are cached per (model, data, numbers, profile) while the model and data objects live: an entry is
dropped when either is garbage-collected, so a new object that happens to get the same ``id()`` never sees
a stale estimate.
"""

from __future__ import annotations

import functools
import math
import os
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ttfsnet_hw.errors import HardwareObjectiveError
from ttfsnet_hw.estimate import Estimate, estimate
from ttfsnet_hw.profile import load_profile
from ttfsnet_hw.records import uniform_spike_record
from ttfsnet_hw.types import NetworkIR, SpikeRecord

__all__ = ["estimate_from_context", "objectives"]

# profiles are frozen; parsing the YAML again for every candidate was a visible share of its cost
_load_profile = functools.lru_cache(maxsize=8)(load_profile)

_CACHE_SIZE = 64


@dataclass(eq=False)
class _Entry:
    estimate: Estimate
    finalizers: list[weakref.finalize] = field(default_factory=list)


_CACHE: OrderedDict[Hashable, _Entry] = OrderedDict()


def _evict(key: Hashable) -> None:
    _CACHE.pop(key, None)


def _cached(key: Hashable, owners: tuple[object, ...], compute: Callable[[], Estimate]) -> Estimate:
    """``compute()``, cached under ``key`` (holding the ``id()`` s of ``owners``) while all owners live."""
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit.estimate
    est = compute()
    finalizers: list[weakref.finalize] = []
    try:
        for owner in owners:
            finalizers.append(weakref.finalize(owner, _evict, key))
    except TypeError:
        # an owner that cannot be weakly referenced (e.g. a list of batches) could die unnoticed and its id
        # be reused: such contexts are not cached
        for fin in finalizers:
            fin.detach()
        return est
    _CACHE[key] = _Entry(est, finalizers)
    if len(_CACHE) > _CACHE_SIZE:
        _, oldest = _CACHE.popitem(last=False)
        for fin in oldest.finalizers:
            fin.detach()
    return est


def _profile_name(extras: Mapping[str, Any]) -> Any:
    return extras.get("hw_profile") or os.environ.get("TTFSNET_HW_PROFILE", "yoso")


def _shape(value: Any) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(v) for v in value)


def _subnet_estimate(
    model: Any, shape: tuple[int, ...], metrics: Mapping[str, Any], profile: Any
) -> Estimate:
    from ttfsnet_hw.adapters.torch import ir_from_ann

    ir = ir_from_ann(model, shape, name="candidate")
    return estimate(ir, _uniform_record(ir, metrics), _load_profile(profile))


def _uniform_record(ir: NetworkIR, metrics: Mapping[str, Any]) -> SpikeRecord:
    """The evaluator's spike totals spread uniformly over ``ir``, after checking that they describe it."""
    hidden = ir.hidden_neurons
    if "neurons" in metrics and int(round(float(metrics["neurons"]))) != hidden:
        raise HardwareObjectiveError(
            f"hardware objectives: the candidate subnet in extras 'model' has {hidden} hidden neurons at "
            f"input shape {ir.input_shape}, but the evaluator reports metric 'neurons'="
            f"{float(metrics['neurons']):.0f}; extras 'model' and 'input_shape' must be the evaluated network"
        )
    rho = min(1.0, max(0.0, float(metrics["spikes"]) / hidden)) if hidden else 0.0
    spikes_in = metrics.get("input_spikes")
    in_size = math.prod(ir.input_shape)
    rho_in = 1.0 if spikes_in is None else min(1.0, max(0.0, float(spikes_in) / in_size))
    return uniform_spike_record(ir, rho, rho_in)


def _recorded_estimate(
    kind: str, model: Any, data: Any, shape: tuple[int, ...] | None, profile: Any
) -> Estimate:
    from ttfsnet_hw.adapters.torch import ir_from_ann, ir_from_ttfs, record_ann, record_snn

    shape = shape or tuple(data.shape[1:])
    if kind == "snn":
        ir = ir_from_ttfs(model, shape, name="snn")
        record = record_snn(model, ir, data)
    else:
        ir = ir_from_ann(model, shape, name="ann")
        record = record_ann(model, ir, data)
    return estimate(ir, record, _load_profile(profile))


def estimate_from_context(ctx: Any) -> Estimate:
    """The (cached) estimate for an evaluation context; see the module docstring for the sources.

    Args:
        ctx: any object with ``metrics`` and ``extras`` mappings (e.g. ``ttfsnet_nas``'s ``EvalContext``).

    Raises:
        HardwareObjectiveError: the context carries none of the sources, or its numbers contradict its model.
    """
    extras: Mapping[str, Any] = getattr(ctx, "extras", None) or {}
    metrics: Mapping[str, Any] = getattr(ctx, "metrics", None) or {}
    profile = _profile_name(extras)
    data = extras.get("data")
    shape = _shape(extras.get("input_shape"))
    if data is not None:
        kind = "snn" if extras.get("snn") is not None else "model"
        net = extras.get(kind)
        if net is not None:
            key = (kind, id(net), id(data), shape, profile)
            return _cached(key, (net, data), lambda: _recorded_estimate(kind, net, data, shape, profile))
    model = extras.get("model")
    if model is not None and shape is not None and "spikes" in metrics:
        numbers = tuple(
            None if metrics.get(k) is None else float(metrics[k])
            for k in ("spikes", "input_spikes", "neurons")
        )
        key = ("subnet", id(model), shape, numbers, profile)
        return _cached(key, (model,), lambda: _subnet_estimate(model, shape, metrics, profile))
    raise HardwareObjectiveError(
        "hardware objectives need extras 'snn' or 'model' with calibration inputs in extras 'data', or "
        "(during search) the candidate subnet in extras 'model' with extras 'input_shape' and the ANN "
        "metric 'spikes'"
    )


def _example() -> dict[str, Any]:
    """A small TNAS-ER candidate as the search evaluates it: subnet, input shape and ANN spike totals."""
    from ttfsnet.models import MacroConfig, macro_network

    config = MacroConfig(
        in_channels=4,
        input_size=(32, 32),
        stem_channels=(8, 8),
        stage_blocks=(2, 2),
        gene_names="g{stage}b{block}",
    )
    subnet = macro_network(config, {"g0b0": "conv3x3", "g0b1": "skip", "g1b0": "conv5x5", "g1b1": "skip"})
    return {"spikes": 20000.0, "input_spikes": 2000.0, "model": subnet.eval(), "input_shape": (4, 32, 32)}


def _latency(ctx: Any) -> float:
    return estimate_from_context(ctx).latency_ms.mean


def _energy(ctx: Any) -> float:
    return estimate_from_context(ctx).energy_mj.mean


def _pe_count(ctx: Any) -> float:
    # the footprint, not pes_used: with mapping.spread every network fills the whole mesh
    return float(estimate_from_context(ctx).pes_required)


def objectives() -> list[dict[str, Any]]:
    """Entry point: the hardware objectives as plain specs (see the module docstring)."""
    specs = [
        (
            "latency_ms",
            _latency,
            "Per-inference latency on the hardware profile (ttfsnet_hw estimate).",
            "ms",
        ),
        ("energy_mj", _energy, "Per-inference energy on the hardware profile (ttfsnet_hw estimate).", "mJ"),
        (
            "pe_count",
            _pe_count,
            "Processing elements the network needs (minimal all-resident mapping, ttfsnet_hw).",
            "PEs",
        ),
    ]
    return [
        {
            "name": name,
            "direction": "min",
            "compute": fn,
            "description": desc,
            "unit": unit,
            "example": _example,
        }
        for name, fn, desc, unit in specs
    ]
