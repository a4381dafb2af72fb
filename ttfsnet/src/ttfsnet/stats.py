"""Spike, SynOP, MAC and parameter statistics of TTFS networks and of ReLU ANNs.

In the B1 model a neuron spikes iff its ReLU activation is positive, so ANN statistics (a positive
ReLU output counts as one spike) predict the SNN's spike counts without simulating it.
"""

# Public functions check argument types at run time for untyped callers.
# pyright: reportUnnecessaryIsInstance=false

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from ttfsnet.errors import TTFSValueError
from ttfsnet.nn import TTFSNetwork, fan_out_map
from ttfsnet.nn.base import pair

__all__ = ["LayerStats", "NetworkStats", "statistics", "ann_statistics", "network_macs"]


@dataclass(frozen=True, kw_only=True, slots=True)
class LayerStats:
    """Per-layer row of [`NetworkStats`][ttfsnet.stats.NetworkStats] (all per-sample values are averages over
    the data).

    Attributes:
        name: Entry/module name (``"input"``, ``"layers.<i>"`` or the ANN module path).
        kind: ``"input"``, ``"spiking"``, ``"pool"`` or ``"readout"`` (SNN); ``"relu"`` or
            ``"weighted"`` (ANN).
        neurons: Neurons per sample (0 for ANN weighted rows).
        spikes_per_sample: Spikes per sample.
        firing_fraction: Fraction of the neurons that spike.
        synops_per_sample: Synaptic operations per sample caused by this row's spikes (SNN) or
            arriving at this weighted layer (ANN).
        macs: Multiply-accumulates per sample of the layer's ANN form.
        params: Parameters of the layer.
        saturated: Saturated neurons summed over the data (SNN only).
    """

    name: str
    kind: str
    neurons: int
    spikes_per_sample: float
    firing_fraction: float
    synops_per_sample: float
    macs: int
    params: int
    saturated: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class NetworkStats:
    """Whole-network statistics.

    Attributes:
        params: Trainable parameters (SNN: weights, thresholds, readout bias).
        macs: Multiply-accumulates per sample of the equivalent ANN.
        spikes_per_sample: Spikes of hidden neurons per sample (input spikes excluded).
        synops_per_sample: Synaptic operations per sample (input spikes included).
        neurons: Hidden neurons per sample (SNN: spiking layers; ANN: ReLU outputs).
        spikes_per_neuron: ``spikes_per_sample / neurons``.
        firing_fraction: Fraction of spiking neurons per layer name.
        saturated: Saturated neuron count over the data (SNN; 0 for ANN).
        samples: Number of samples the statistics were computed on.
        per_layer: One row per entry.
    """

    params: int
    macs: int
    spikes_per_sample: float
    synops_per_sample: float
    neurons: int
    spikes_per_neuron: float
    firing_fraction: dict[str, float]
    saturated: int
    samples: int
    per_layer: tuple[LayerStats, ...]


def input_batches(data: Any, where: str, what: str = "data") -> Iterator[Tensor]:
    """Non-empty input batches of a tensor or an iterable of tensors or ``(x, y)`` tuples (labels ignored).

    Errors name ``where`` (the caller) and ``what`` (its argument).
    """
    items = [data] if isinstance(data, Tensor) else data
    try:
        iterator = iter(items)
    except TypeError:
        raise TTFSValueError(
            f"{where}: {what} must be a tensor or an iterable of tensors or (x, y) tuples, "
            f"got {type(data).__name__}"
        ) from None
    for k, item in enumerate(iterator):
        x = item[0] if isinstance(item, (tuple, list)) and item else item
        if not isinstance(x, Tensor):
            raise TTFSValueError(
                f"{where}: {what} item {k} is {type(x).__name__}; expected a tensor or an (x, y) tuple"
            )
        if x.numel():
            yield x


def network_macs(net: TTFSNetwork, sample_shape: tuple[int, ...]) -> list[int]:
    """MACs per sample of each layer of ``net`` for a per-sample input shape."""
    shape = tuple(sample_shape)
    out: list[int] = []
    for layer in net.ttfs_layers():
        out.append(layer.macs(shape))
        shape = layer.output_shape(shape)
    return out


@torch.no_grad()
def statistics(net: TTFSNetwork, data: Any) -> NetworkStats:
    """Statistics of a TTFS network from closed-form runs over ``data``.

    Args:
        net: The network.
        data: A tensor or an iterable of tensors or ``(x, y)`` tuples of raw inputs.

    Returns:
        [`NetworkStats`][ttfsnet.stats.NetworkStats].
    """
    acc: dict[str, list[float]] | None = None
    meta: list[tuple[str, str, int]] = []
    samples = 0
    sample_shape: tuple[int, ...] = ()
    for x in input_batches(data, "ttfsnet.statistics"):
        r = net.run(x)
        if acc is None:
            meta = list(zip(r.layer_names, r.entry_kinds, r.neuron_counts, strict=True))
            acc = {n: [0.0, 0.0, 0.0] for n in r.layer_names}
            sample_shape = tuple(x.shape[1:])
        for n, s, y, sat in zip(r.layer_names, r.spike_counts, r.synops, r.saturation_counts, strict=True):
            acc[n][0] += s
            acc[n][1] += y
            acc[n][2] += sat
        samples += r.batch_size
    if acc is None:
        raise TTFSValueError("ttfsnet.statistics: data is empty")
    macs = network_macs(net, sample_shape)
    names = net.layer_names()
    rows: list[LayerStats] = []
    for name, kind, neurons in meta:
        spikes, synops, sat = acc[name]
        idx = names.index(name) if name in names else -1
        layer = net.layers[idx] if idx >= 0 else None
        rows.append(
            LayerStats(
                name=name,
                kind=kind,
                neurons=neurons,
                spikes_per_sample=spikes / samples,
                firing_fraction=spikes / (neurons * samples) if neurons else 0.0,
                synops_per_sample=synops / samples,
                macs=macs[idx] if idx >= 0 else 0,
                params=sum(p.numel() for p in layer.parameters()) if layer is not None else 0,
                saturated=int(sat),
            )
        )
    head = net.layers[-1]
    rows.append(
        LayerStats(
            name=names[-1],
            kind="readout",
            neurons=0,
            spikes_per_sample=0.0,
            firing_fraction=0.0,
            synops_per_sample=0.0,
            macs=macs[-1],
            params=sum(p.numel() for p in head.parameters()),
        )
    )
    hidden = [r for r in rows if r.kind == "spiking"]
    neurons_total = sum(r.neurons for r in hidden)
    spikes = sum(r.spikes_per_sample for r in hidden)
    return NetworkStats(
        params=sum(p.numel() for p in net.parameters()),
        macs=sum(macs),
        spikes_per_sample=spikes,
        synops_per_sample=sum(r.synops_per_sample for r in rows),
        neurons=neurons_total,
        spikes_per_neuron=spikes / neurons_total if neurons_total else 0.0,
        firing_fraction={r.name: r.firing_fraction for r in rows if r.kind != "readout"},
        saturated=sum(r.saturated for r in rows),
        samples=samples,
        per_layer=tuple(rows),
    )


def _named_modules(model: nn.Module) -> dict[str, nn.Module]:
    """``dict(model.named_modules())``, in its order."""
    named: dict[str, nn.Module] = dict(model.named_modules())  # pyright: ignore[reportUnknownArgumentType] - torch's recursive generator is inferred partially unknown
    return named


def _ann_fan_out(module: nn.Module, x: Tensor, out: Tensor) -> Tensor:
    """Per-sample fan-out map of a weighted ANN module for input ``x`` (batch first)."""
    if isinstance(module, nn.Linear):
        return torch.full(x.shape[1:], float(module.out_features), dtype=torch.float64)
    if isinstance(module, nn.Conv2d) and isinstance(module.padding, tuple):
        return fan_out_map(
            tuple(x.shape[1:]),
            tuple(out.shape[1:]),
            torch.ones(module.weight.shape, dtype=torch.float64),
            pair(module.stride),
            pair(module.padding),
            pair(module.dilation),
            module.groups,
        )
    # Generic exact route (string padding, pooling): the gradient of Σ outputs w.r.t. each input of the
    # same op with all-ones weights counts the windows that contain it.
    probe = torch.zeros((1, *x.shape[1:]), dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        if isinstance(module, nn.Conv2d):
            y = F.conv2d(
                probe,
                torch.ones(module.weight.shape, dtype=torch.float64),
                None,
                module.stride,
                module.padding,
                module.dilation,
                module.groups,
            )
        else:
            assert isinstance(module, nn.AvgPool2d)
            y = F.avg_pool2d(
                probe,
                module.kernel_size,
                module.stride,
                module.padding,
                module.ceil_mode,
                module.count_include_pad,
                divisor_override=1,
            )
        (grad,) = torch.autograd.grad(y.sum(), probe)
    return grad[0]


@torch.no_grad()
def ann_statistics(model: nn.Module, data: Any) -> NetworkStats:
    """Statistics of a ReLU ANN with the B1 spike rule (a positive ReLU output is one spike).

    Spikes are counted with forward hooks on ``nn.ReLU`` modules (functional ``relu`` calls are
    invisible). SynOPs are counted at each Conv2d/Linear/AvgPool2d as non-zero inputs × exact fan-out;
    a BatchNorm between a ReLU and the next layer makes that input dense, so the ANN SynOP count is
    then an upper bound of the SNN's. The model runs in eval mode; its training flags are restored.

    Args:
        model: The ANN.
        data: A tensor or an iterable of tensors or ``(x, y)`` tuples.

    Returns:
        [`NetworkStats`][ttfsnet.stats.NetworkStats] (``saturated`` is 0).
    """
    relu: dict[str, list[float]] = {}
    weighted: dict[str, list[float]] = {}
    fan_cache: dict[tuple[str, tuple[int, ...]], Tensor] = {}
    modes = {m: m.training for m in model.modules()}
    named = _named_modules(model)
    handles: list[RemovableHandle] = []

    def relu_hook(name: str) -> Any:
        def hook(_m: nn.Module, _inp: Any, out: Tensor) -> None:
            row = relu.setdefault(name, [0.0, 0.0])
            row[0] += float((out > 0).sum())
            row[1] = out[0].numel()

        return hook

    def weighted_hook(name: str) -> Any:
        def hook(m: nn.Module, inp: tuple[Tensor, ...], out: Tensor) -> None:
            x = inp[0]
            key = (name, tuple(x.shape[1:]))
            if key not in fan_cache:
                fan_cache[key] = _ann_fan_out(m, x, out)
            fan = fan_cache[key].reshape(-1).to(x.device)
            nz = (x != 0).reshape(x.shape[0], -1).sum(0, dtype=torch.float64)
            per_out = out[0].numel()
            if isinstance(m, nn.Conv2d):
                macs = per_out * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
            elif isinstance(m, nn.Linear):
                macs = per_out * m.in_features
            else:
                assert isinstance(m, nn.AvgPool2d)
                k = pair(m.kernel_size)
                macs = per_out * k[0] * k[1]
            row = weighted.setdefault(name, [0.0, 0.0])
            row[0] += float(nz @ fan)
            row[1] = macs

        return hook

    for name, m in named.items():
        if isinstance(m, nn.ReLU):
            handles.append(m.register_forward_hook(relu_hook(name)))
        elif isinstance(m, (nn.Conv2d, nn.Linear, nn.AvgPool2d)):
            handles.append(m.register_forward_hook(weighted_hook(name)))
    samples = 0
    try:
        model.eval()
        for x in input_batches(data, "ttfsnet.ann_statistics"):
            model(x)
            samples += x.shape[0]
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    if samples == 0:
        raise TTFSValueError("ttfsnet.ann_statistics: data is empty")
    rows = [
        LayerStats(
            name=n,
            kind="relu",
            neurons=int(v[1]),
            spikes_per_sample=v[0] / samples,
            firing_fraction=v[0] / (v[1] * samples) if v[1] else 0.0,
            synops_per_sample=0.0,
            macs=0,
            params=0,
        )
        for n, v in relu.items()
    ]
    rows += [
        LayerStats(
            name=n,
            kind="weighted",
            neurons=0,
            spikes_per_sample=0.0,
            firing_fraction=0.0,
            synops_per_sample=v[0] / samples,
            macs=int(v[1]),
            params=sum(p.numel() for p in named[n].parameters()),
        )
        for n, v in weighted.items()
    ]
    neurons = sum(r.neurons for r in rows if r.kind == "relu")
    spikes = sum(r.spikes_per_sample for r in rows if r.kind == "relu")
    return NetworkStats(
        params=sum(p.numel() for p in model.parameters()),
        macs=sum(r.macs for r in rows),
        spikes_per_sample=spikes,
        synops_per_sample=sum(r.synops_per_sample for r in rows),
        neurons=neurons,
        spikes_per_neuron=spikes / neurons if neurons else 0.0,
        firing_fraction={r.name: r.firing_fraction for r in rows if r.kind == "relu"},
        saturated=0,
        samples=samples,
        per_layer=tuple(rows),
    )
