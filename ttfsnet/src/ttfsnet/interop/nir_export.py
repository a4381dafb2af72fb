"""NIR export: [`export_nir`][ttfsnet.interop.nir_export.export_nir] writes a
[`TTFSNetwork`][ttfsnet.nn.TTFSNetwork] as a NIR graph.

One exporter per layer class (``_EXPORTERS``) adds that layer's nodes in the layout documented in
[`ttfsnet.interop.nir`][ttfsnet.interop.nir]; [`ttfsnet.interop.nir_import`][ttfsnet.interop.nir_import] reads
the graphs back.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ttfsnet.errors import TTFSValueError
from ttfsnet.interop.nir_format import FORMAT_VERSION, dense_conv_weight, load_nir
from ttfsnet.nn import (
    TTFSAvgPool2d,
    TTFSConv2d,
    TTFSFlatten,
    TTFSLayer,
    TTFSLinear,
    TTFSMaxPool2d,
    TTFSNetwork,
    TTFSSpikingLayer,
)

__all__ = ["export_nir"]


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _readout(net: TTFSNetwork) -> TTFSLinear:
    head = net.ttfs_layers()[-1]
    assert isinstance(head, TTFSLinear)  # TTFSNetwork checks its last layer
    return head


def _per_sample_shape(net: TTFSNetwork, input_shape: tuple[int, ...] | None) -> tuple[int, ...]:
    # getattr: networks pickled before ``input_shape`` existed lack the attribute
    stored = getattr(net, "input_shape", None)
    if input_shape is not None:
        shape = tuple(int(s) for s in input_shape)
        if stored is not None and tuple(stored) != shape:
            raise TTFSValueError(
                f"export_nir: input_shape={shape} differs from net.input_shape={tuple(stored)} recorded by "
                "convert; omit input_shape or pass the recorded one"
            )
    elif stored is not None:
        shape = tuple(int(s) for s in stored)
    elif isinstance(first := net.ttfs_layers()[0], TTFSLinear):
        shape = (first.in_features,)
    else:
        raise TTFSValueError(
            f"export_nir: net.input_shape is not set and cannot be inferred from layers.0 "
            f"({type(net.layers[0]).__name__}); pass input_shape=(C, H, W)"
        )
    probe = torch.zeros((1, *shape), dtype=_readout(net).weight.dtype, device=net.input_low.device)
    try:
        with torch.no_grad():
            net.forward_activations(probe)
    except RuntimeError as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise TTFSValueError(
            f"export_nir: input_shape={shape} does not fit the network's layers ({first_line})"
        ) from None
    return shape


def _maxpool_counts(layer: TTFSMaxPool2d, shape: tuple[int, ...], where: str) -> Tensor:
    """Number of non-padding inputs of every pool window, shape ``(H_out, W_out)``.

    Raises ``TTFSValueError`` when ``ceil_mode`` changes the output shape: a summing pool/conv node in
    NIR always rounds the output size down, so such a pool has no faithful NIR form.
    """
    _, h, w = shape
    ones = torch.ones(1, 1, h, w, dtype=torch.float64)
    kernel = torch.ones(1, 1, *layer.kernel_size, dtype=torch.float64)
    n_valid = F.conv2d(ones, kernel, stride=layer.stride, padding=layer.padding, dilation=layer.dilation)[
        0, 0
    ]
    torch_shape = F.max_pool2d(
        ones, layer.kernel_size, layer.stride, layer.padding, layer.dilation, ceil_mode=layer.ceil_mode
    ).shape[-2:]
    if tuple(torch_shape) != tuple(n_valid.shape):
        raise TTFSValueError(
            f"{where}: TTFSMaxPool2d with ceil_mode=True gives output {tuple(torch_shape)} on input "
            f"{tuple(shape)}, but NIR pooling rounds down to {tuple(n_valid.shape)}; expected "
            "ceil_mode=False or an input size where ceil_mode makes no difference"
        )
    return n_valid


def _maxpool_thresholds(layer: TTFSMaxPool2d, n_valid: Tensor, channels: int, dtype: torch.dtype) -> Tensor:
    """Per-position IF thresholds realising earliest (sign +1) / latest (sign -1) spike pooling.

    Args:
        layer: The pool.
        n_valid: Non-padding inputs per window (`_maxpool_counts`).
        channels: Number of channels ``C``.
        dtype: Dtype of the result.
    """
    c = channels
    thr = torch.full((c, *n_valid.shape), 0.5, dtype=torch.float64)
    if layer.sign is not None:
        latest = layer.sign.to(torch.float64) < 0
        thr[latest] = (n_valid - 0.5).expand(int(latest.sum()), *n_valid.shape)
    return thr.to(dtype)


@dataclass
class _Export:
    """One [`export_nir`][ttfsnet.interop.nir_export.export_nir] walk: the graph so far and what the next
    layer needs to know."""

    nir: Any
    schedule: list[tuple[float, float]]
    dtype: torch.dtype  # the network's (its readout's) dtype
    shape: tuple[int, ...]  # per-sample input shape of the next layer
    nodes: dict[str, Any]
    order: list[str] = field(default_factory=lambda: ["input"])
    prev_window: float = 1.0
    spiking_idx: int = 0

    def add(self, name: str, node: Any) -> None:
        self.nodes[name] = node
        self.order.append(name)


def _export_neurons(
    ex: _Export,
    i: int,
    layer: TTFSSpikingLayer,
    synapse: Callable[[dict[str, Any]], tuple[tuple[int, ...], Tensor]],
) -> None:
    """Shared tail of a hidden spiking layer: ``synapse`` adds its synapse node and returns the output shape
    and the threshold map (it may add ``threshold_shape`` to the neuron metadata); then ``I`` → ``IF``."""
    base = {"ttfsnet_layer": i}
    tag = f"layer{i}"
    t_min, t_max = ex.schedule[ex.spiking_idx + 1]
    assert layer.window is not None
    window = float(layer.window)
    meta: dict[str, Any] = {
        **base,
        "coding": "ttfs",
        "window": window,
        "t_min": t_min,
        "t_max": t_max,
    }
    out_shape, thr = synapse(meta)
    v_thr = _np(thr)
    ones = np.ones_like(v_thr)
    ex.add(f"{tag}_syn", ex.nir.I(r=ones, metadata={**base, "part": "syn"}))
    ex.add(
        f"{tag}_neuron",
        ex.nir.IF(r=ones.copy(), v_threshold=v_thr, v_reset=np.full_like(v_thr, -np.inf), metadata=meta),
    )
    ex.shape = out_shape
    ex.prev_window = window
    ex.spiking_idx += 1


def _export_readout(ex: _Export, i: int, layer: TTFSLinear) -> None:
    nir = ex.nir
    base = {"ttfsnet_layer": i}
    tag = f"layer{i}"
    c = layer.out_features
    dtype = layer.weight.dtype
    alpha = layer.bias.detach() / ex.prev_window
    t_read = ex.schedule[-1][1]
    head_meta = {
        **base,
        "ttfsnet_kind": "readout",
        "coding": "ttfs",
        "integration_window": ex.prev_window,
        "t_read": t_read,
        "ann_bias": _np(layer.bias),
    }
    ex.add(f"{tag}_linear", nir.Linear(weight=_np(layer.weight), metadata=head_meta))
    ex.add(
        f"{tag}_syn",
        nir.I(r=np.ones(c, dtype=_np(layer.weight).dtype), metadata={**base, "part": "syn"}),
    )
    ex.add(
        f"{tag}_bias",
        nir.Affine(
            weight=np.eye(c, dtype=_np(layer.weight).dtype),
            bias=_np(alpha.to(dtype)),
            metadata={**base, "part": "bias_current"},
        ),
    )
    ex.add(
        f"{tag}_mem",
        nir.I(
            r=np.ones(c, dtype=_np(layer.weight).dtype),
            metadata={**base, "part": "membrane", "t_read": t_read},
        ),
    )
    ex.shape = (c,)


def _export_linear(ex: _Export, i: int, layer: TTFSLinear) -> None:
    if layer.readout:
        _export_readout(ex, i, layer)
        return

    def synapse(meta: dict[str, Any]) -> tuple[tuple[int, ...], Tensor]:
        w = _np(layer.weight)
        ex.add(
            f"layer{i}_affine",
            ex.nir.Affine(
                weight=w,
                bias=np.zeros(w.shape[0], dtype=w.dtype),
                metadata={"ttfsnet_layer": i, "ttfsnet_kind": "linear"},
            ),
        )
        thr = layer.threshold.detach()
        meta["threshold_shape"] = np.array(thr.shape)
        return (layer.out_features,), thr

    _export_neurons(ex, i, layer, synapse)


def _export_conv(ex: _Export, i: int, layer: TTFSConv2d) -> None:
    def synapse(meta: dict[str, Any]) -> tuple[tuple[int, ...], Tensor]:
        w = _np(dense_conv_weight(layer.weight.detach(), layer.groups))
        out_shape = layer.output_shape(ex.shape)
        ex.add(
            f"layer{i}_conv",
            ex.nir.Conv2d(
                input_shape=tuple(ex.shape[1:]),
                weight=w,
                stride=layer.stride,
                padding=layer.padding,
                dilation=layer.dilation,
                groups=1,
                bias=np.zeros(w.shape[0], dtype=w.dtype),
                metadata={"ttfsnet_layer": i, "ttfsnet_kind": "conv2d", "groups": layer.groups},
            ),
        )
        meta["threshold_shape"] = np.array(layer.threshold.shape)
        return out_shape, layer.effective_threshold().detach().expand(*out_shape)

    _export_neurons(ex, i, layer, synapse)


def _export_avgpool(ex: _Export, i: int, layer: TTFSAvgPool2d) -> None:
    def synapse(meta: dict[str, Any]) -> tuple[tuple[int, ...], Tensor]:
        out_shape = layer.output_shape(ex.shape)
        ex.add(
            f"layer{i}_avgpool",
            ex.nir.AvgPool2d(
                kernel_size=np.array(layer.kernel_size),
                stride=np.array(layer.stride),
                padding=np.array(layer.padding),
                metadata={"ttfsnet_layer": i, "ttfsnet_kind": "avg_pool2d", "count_include_pad": True},
            ),
        )
        return out_shape, layer.own_window().detach().expand(*out_shape)

    _export_neurons(ex, i, layer, synapse)


def _export_maxpool(ex: _Export, i: int, layer: TTFSMaxPool2d) -> None:
    nir = ex.nir
    base = {"ttfsnet_layer": i}
    tag = f"layer{i}"
    shape = ex.shape
    n_valid = _maxpool_counts(layer, shape, f"export_nir: layers.{i}")
    out_shape = (shape[0], *n_valid.shape)
    dtype = ex.dtype
    v_thr = _np(_maxpool_thresholds(layer, n_valid, shape[0], dtype))
    sign = np.ones(shape[0]) if layer.sign is None else _np(layer.sign.to(torch.float64))
    pool_meta = {
        **base,
        "ttfsnet_kind": "max_pool2d",
        "sign": sign,
        "ceil_mode": bool(layer.ceil_mode),
    }
    if layer.dilation == (1, 1):
        ex.add(
            f"{tag}_sumpool",
            nir.SumPool2d(
                kernel_size=np.array(layer.kernel_size),
                stride=np.array(layer.stride),
                padding=np.array(layer.padding),
                metadata=pool_meta,
            ),
        )
    else:
        # SumPool2d has no dilation: sum each channel's window with a fixed all-ones conv instead.
        eye = torch.eye(shape[0], dtype=dtype).view(shape[0], shape[0], 1, 1)
        ones_w = _np(eye.expand(-1, -1, *layer.kernel_size))
        ex.add(
            f"{tag}_sumconv",
            nir.Conv2d(
                input_shape=tuple(shape[1:]),
                weight=ones_w,
                stride=layer.stride,
                padding=layer.padding,
                dilation=layer.dilation,
                groups=1,
                bias=np.zeros(shape[0], dtype=ones_w.dtype),
                metadata=pool_meta,
            ),
        )
    ex.add(
        f"{tag}_neuron",
        nir.IF(
            r=np.ones_like(v_thr),
            v_threshold=v_thr,
            v_reset=np.full_like(v_thr, -np.inf),
            metadata={**base, "part": "first_spike", "coding": "ttfs"},
        ),
    )
    ex.shape = out_shape


def _export_flatten(ex: _Export, i: int, layer: TTFSFlatten) -> None:
    ex.add(
        f"layer{i}_flatten",
        ex.nir.Flatten(
            input_type={"input": np.array(ex.shape)},
            start_dim=0,
            end_dim=-1,
            metadata={"ttfsnet_layer": i, "ttfsnet_kind": "flatten"},
        ),
    )
    ex.shape = (int(np.prod(ex.shape)),)


#: The NIR form of each layer class (the layouts of the module docstring). A layer kind without an entry
#: cannot be exported; a subclass uses the entry of its nearest registered base.
_EXPORTERS: dict[type[TTFSLayer], Callable[[_Export, int, Any], None]] = {
    TTFSLinear: _export_linear,
    TTFSConv2d: _export_conv,
    TTFSAvgPool2d: _export_avgpool,
    TTFSMaxPool2d: _export_maxpool,
    TTFSFlatten: _export_flatten,
}


def _exporter(layer: TTFSLayer, i: int) -> Callable[[_Export, int, Any], None]:
    for cls in type(layer).__mro__:
        if cls in _EXPORTERS:
            return _EXPORTERS[cls]
    raise TTFSValueError(f"export_nir: layers.{i} has unsupported type {type(layer).__name__}")


def export_nir(
    net: TTFSNetwork, path: str | os.PathLike[str], *, input_shape: tuple[int, ...] | None = None
) -> Any:
    """Write ``net`` as a NIR graph (HDF5 via ``nir.write``) and return the ``nir.NIRGraph``.

    Args:
        net: The network; its parameters are written in their own dtype, so a round trip through
            [`import_nir`][ttfsnet.interop.import_nir] is bit exact.
        path: Destination file (written atomically: temporary file + rename).
        input_shape: Per-sample input shape, e.g. ``(C, H, W)``. Default: ``net.input_shape``
            (recorded by [`ttfsnet.convert`][ttfsnet.convert.convert]), else the ``in_features`` of a leading
            ``TTFSLinear``; a network built by hand that starts with a conv or pool needs it.

    Returns:
        The exported graph.

    Raises:
        TTFSValueError: If the input shape cannot be inferred, or for a max pool whose ``ceil_mode=True``
            changes its output shape (NIR pooling rounds down, so the graph's shapes would be wrong).
    """
    nir = load_nir()
    shape = _per_sample_shape(net, input_shape)
    p, q = net.input_range
    nodes: dict[str, Any] = {
        "input": nir.Input(
            input_type={"input": np.array(shape)},
            metadata={
                "coding": "ttfs",
                "input_range": np.array([p, q]),
                "t_min": 0.0,
                "t_max": 1.0,
                "window": 1.0,
            },
        )
    }
    ex = _Export(nir=nir, schedule=net.schedule(), dtype=_readout(net).weight.dtype, shape=shape, nodes=nodes)
    for i, layer in enumerate(net.ttfs_layers()):
        _exporter(layer, i)(ex, i, layer)
    ex.add("output", nir.Output(output_type={"output": np.array(ex.shape)}))
    order = ex.order
    edges = list(zip(order[:-1], order[1:], strict=True))
    graph_meta = {
        "ttfsnet_format_version": FORMAT_VERSION,
        "coding": "ttfs",
        "neuron_model": "B1",
        "input_range": np.array([p, q]),
        "input_window": np.array([0.0, 1.0]),
        "latency": net.latency(),
        "readout": "membrane of the last node at t_read",
    }
    if net.windows():
        graph_meta["windows"] = np.array(net.windows())
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph_meta)
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        nir.write(tmp, graph)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return graph
