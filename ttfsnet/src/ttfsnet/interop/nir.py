"""NIR export and import of :class:`~ttfsnet.nn.TTFSNetwork` (``snntorch-nir.md`` §7–§9).

Graph layout (one chain, every node name prefixed ``layer<i>_``):

==========================  ===================================================================
ttfsnet layer               NIR nodes
==========================  ===================================================================
``TTFSLinear`` (hidden)     ``Affine(W, 0)`` → ``I(r=1)`` → ``IF(r=1, v_threshold=ϑ, v_reset=-inf)``
``TTFSConv2d``              ``Conv2d(W, stride, padding, dilation, groups, bias=0)`` → ``I`` → ``IF``
                            (``v_threshold`` has the output shape ``(C, H, W)``)
``TTFSAvgPool2d``           ``AvgPool2d(k, s, p)`` → ``I`` → ``IF(v_threshold=T)``
``TTFSMaxPool2d``           ``SumPool2d(k, s, p)`` → ``IF(r=1, v_threshold=0.5, v_reset=-inf)``
                            (dilated: an all-ones per-channel ``Conv2d`` instead of ``SumPool2d``)
``TTFSFlatten``             ``Flatten(start_dim=0)``
readout ``TTFSLinear``      ``Linear(W)`` → ``I`` → ``Affine(1, α = b/Δ)`` → ``I`` (the membrane)
==========================  ===================================================================

Continuous-time semantics: the first ``I`` turns each input spike into a step current that stays on
(``ttfs-math.md`` §1, phase 1), the ``IF`` integrates it into a ramp and fires once (its reset to
``-inf`` keeps it below threshold afterwards). Max pooling of activations is the earliest spike
(§7); NIR has no max-pool primitive, so it is written as ``SumPool2d`` of the spike trains into a
fire-once ``IF`` with threshold 0.5: the first input spike in the pool window lifts the membrane
to 1 and the neuron fires at once, later spikes are ignored. Channels with a negative pooling sign
(latest spike) get the threshold ``n - 0.5`` where ``n`` counts the non-padding inputs of the window.

What NIR cannot express is carried in metadata (``coding="ttfs"``): the B1 phase structure
(threshold live only in ``[t_min, t_max)``, unit ramp in phase 2, per-layer windows ``T``,
``t_min``, ``t_max``), the input range ``[p, q]`` and encoding ``t0 = 1 - (x - p)/(q - p)``, and the
exact ANN readout bias. :func:`import_nir` needs that metadata and therefore reads graphs written by
:func:`export_nir`; backends that ignore metadata still get a well-typed executable graph.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ttfsnet.errors import TTFSImportError, TTFSValueError
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

__all__ = ["export_nir", "import_nir", "FORMAT_VERSION"]

#: Version of the ttfsnet metadata layout inside NIR graphs.
FORMAT_VERSION = 1


def _nir() -> Any:
    try:
        import nir  # pyright: ignore[reportMissingTypeStubs] - nir ships no type information
    except ImportError as err:  # pragma: no cover - exercised only without the extra installed
        raise TTFSImportError(
            "ttfsnet NIR export/import needs the extra: pip install 'ttfsnet[nir]'"
        ) from err
    return nir


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
        n_valid: Non-padding inputs per window (:func:`_maxpool_counts`).
        channels: Number of channels ``C``.
        dtype: Dtype of the result.
    """
    c = channels
    thr = torch.full((c, *n_valid.shape), 0.5, dtype=torch.float64)
    if layer.sign is not None:
        latest = layer.sign.to(torch.float64) < 0
        thr[latest] = (n_valid - 0.5).expand(int(latest.sum()), *n_valid.shape)
    return thr.to(dtype)


def _dense_conv_weight(weight: Tensor, groups: int) -> Tensor:
    """Block-diagonal ``(C_out, C_in, kh, kw)`` weight equal to a grouped convolution.

    NIR 1.0.8 infers a ``Conv2d`` node's input channels from ``weight.shape[1]`` (ignoring
    ``groups``), so a grouped conv would fail its type check on ``nir.read``. The explicit zeros
    contribute exactly ``0`` to every sum, so the dense conv computes the same values.
    """
    if groups == 1:
        return weight
    c_out, cin_g = weight.shape[:2]
    og = c_out // groups
    dense = weight.new_zeros(c_out, cin_g * groups, *weight.shape[2:])
    for g in range(groups):
        dense[g * og : (g + 1) * og, g * cin_g : (g + 1) * cin_g] = weight[g * og : (g + 1) * og]
    return dense


def _grouped_conv_weight(dense: Tensor, groups: int, where: str) -> Tensor:
    """Inverse of :func:`_dense_conv_weight`; the off-group blocks must be zero."""
    if groups == 1:
        return dense
    c_out, c_in = dense.shape[:2]
    if c_out % groups or c_in % groups:
        raise TTFSValueError(
            f"{where}: Conv2d weight {tuple(dense.shape)} is not divisible into groups={groups}"
        )
    og, cin_g = c_out // groups, c_in // groups
    blocks = [dense[g * og : (g + 1) * og, g * cin_g : (g + 1) * cin_g] for g in range(groups)]
    grouped = torch.cat(blocks)
    if not torch.equal(_dense_conv_weight(grouped, groups), dense):
        raise TTFSValueError(
            f"{where}: Conv2d weight has non-zero entries outside its groups={groups} blocks"
        )
    return grouped


@dataclass
class _Export:
    """One :func:`export_nir` walk: the graph so far and what the next layer needs to know."""

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
        w = _np(_dense_conv_weight(layer.weight.detach(), layer.groups))
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
            :func:`import_nir` is bit exact.
        path: Destination file (written atomically: temporary file + rename).
        input_shape: Per-sample input shape, e.g. ``(C, H, W)``. Default: ``net.input_shape``
            (recorded by :func:`ttfsnet.convert`), else the ``in_features`` of a leading
            ``TTFSLinear``; a network built by hand that starts with a conv or pool needs it.

    Returns:
        The exported graph.

    Raises:
        TTFSValueError: If the input shape cannot be inferred, or for a max pool whose ``ceil_mode=True``
            changes its output shape (NIR pooling rounds down, so the graph's shapes would be wrong).
    """
    nir = _nir()
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


# --------------------------------------------------------------------------------------------------
# import
# --------------------------------------------------------------------------------------------------


def _chain(graph: Any, where: str) -> list[str]:
    succ: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        succ.setdefault(src, []).append(dst)
    inputs = [k for k, n in graph.nodes.items() if type(n).__name__ == "Input"]
    if len(inputs) != 1:
        raise TTFSValueError(f"{where}: expected exactly one Input node, found {len(inputs)}")
    order = [inputs[0]]
    while order[-1] in succ:
        nxt = succ[order[-1]]
        if len(nxt) != 1:
            raise TTFSValueError(
                f"{where}: node {order[-1]!r} has {len(nxt)} successors; ttfsnet graphs are chains"
            )
        order.append(nxt[0])
        if len(order) > len(graph.nodes):
            raise TTFSValueError(f"{where}: the graph has a cycle")
    if type(graph.nodes[order[-1]]).__name__ != "Output":
        raise TTFSValueError(
            f"{where}: the chain from the input ends at {order[-1]!r}, not at an Output node"
        )
    return order


def _meta(node: Any, key: str, where: str) -> Any:
    if key not in node.metadata:
        raise TTFSValueError(
            f"{where}: metadata key {key!r} missing; import_nir reads graphs written by export_nir"
        )
    return node.metadata[key]


def _pair(v: Any) -> tuple[int, int]:
    a = np.asarray(v).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def _from_numpy(a: np.ndarray[Any, Any]) -> Tensor:
    return torch.from_numpy(a)  # pyright: ignore[reportUnknownMemberType] - torch leaves from_numpy's argument unannotated


def _tensor(a: Any, dtype: torch.dtype | None = None) -> Tensor:
    t = _from_numpy(np.array(a, copy=True))
    return t if dtype is None else t.to(dtype)


def _build(kind: str, parts: list[tuple[str, Any]], where: str) -> nn.Module:
    nodes = {type(n).__name__: n for _, n in parts}
    types = [type(n).__name__ for _, n in parts]

    def need(expected: list[str]) -> None:
        if types != expected:
            raise TTFSValueError(f"{where}: {kind} layer expected nodes {expected}, found {types}")

    if kind == "flatten":
        need(["Flatten"])
        return TTFSFlatten()
    if kind == "readout":
        need(["Linear", "I", "Affine", "I"])
        w = _tensor(nodes["Linear"].weight)
        bias = _tensor(_meta(nodes["Linear"], "ann_bias", where), w.dtype)
        layer = TTFSLinear(w.shape[1], w.shape[0], readout=True, dtype=w.dtype)
        with torch.no_grad():
            layer.weight.copy_(w)
            layer.bias.copy_(bias)
        return layer
    if kind == "max_pool2d":
        if types == ["SumPool2d", "IF"]:
            pool = nodes["SumPool2d"]
            kernel, dilation = _pair(pool.kernel_size), (1, 1)
        else:
            need(["Conv2d", "IF"])
            pool = nodes["Conv2d"]
            kernel, dilation = _pair(np.asarray(pool.weight).shape[2:]), _pair(pool.dilation)
        # the IF thresholds were written in the network dtype; the sign buffer must match it
        sign = _tensor(_meta(pool, "sign", where), _from_numpy(np.asarray(parts[1][1].v_threshold)).dtype)
        return TTFSMaxPool2d(
            kernel,
            _pair(pool.stride),
            _pair(pool.padding),
            dilation,
            bool(_meta(pool, "ceil_mode", where)),
            sign=sign,
        )
    neuron = parts[-1][1]
    window = float(_meta(neuron, "window", where))
    v_thr = _tensor(neuron.v_threshold)
    if kind == "avg_pool2d":
        need(["AvgPool2d", "I", "IF"])
        pool = nodes["AvgPool2d"]
        return TTFSAvgPool2d(
            _pair(pool.kernel_size), _pair(pool.stride), _pair(pool.padding), window=window, dtype=v_thr.dtype
        )
    thr_shape = tuple(int(s) for s in np.asarray(_meta(neuron, "threshold_shape", where)).reshape(-1))
    if kind == "linear":
        need(["Affine", "I", "IF"])
        w = _tensor(nodes["Affine"].weight)
        lin = TTFSLinear(w.shape[1], w.shape[0], window=window, dtype=w.dtype)
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.threshold.copy_(v_thr.reshape(thr_shape))
        return lin
    if kind == "conv2d":
        need(["Conv2d", "I", "IF"])
        conv_node = nodes["Conv2d"]
        groups = int(_meta(conv_node, "groups", where))
        if int(conv_node.groups) != 1:
            raise TTFSValueError(
                f"{where}: Conv2d node has groups={int(conv_node.groups)}; export_nir writes groups=1"
            )
        w = _grouped_conv_weight(_tensor(conv_node.weight), groups, where)
        c_out, cin_g, kh, kw = w.shape
        conv = TTFSConv2d(
            cin_g * groups,
            c_out,
            (kh, kw),
            _pair(conv_node.stride),
            _pair(conv_node.padding),
            _pair(conv_node.dilation),
            groups,
            window=window,
            threshold_shape=thr_shape,
            dtype=w.dtype,
        )
        with torch.no_grad():
            conv.weight.copy_(w)
            # per-channel thresholds were broadcast over positions on export; all copies are equal
            conv.threshold.copy_(v_thr if len(thr_shape) == 3 else v_thr[:, 0, 0])
        return conv
    raise TTFSValueError(f"{where}: unknown ttfsnet_kind {kind!r}")


def import_nir(path: str | os.PathLike[str] | Any) -> TTFSNetwork:
    """Rebuild a :class:`~ttfsnet.nn.TTFSNetwork` from a NIR file (or graph) written by :func:`export_nir`.

    Args:
        path: File path, or an in-memory ``nir.NIRGraph``.

    Returns:
        The network, with parameters in the dtype stored in the file and ``input_shape`` from the
        ``Input`` node.

    Raises:
        TTFSValueError: If the graph lacks ttfsnet metadata, is not a chain, or its nodes do not match
            the layout documented in :mod:`ttfsnet.interop.nir`; the message names the node.
    """
    nir = _nir()
    if isinstance(path, (str, os.PathLike)):
        where = f"import_nir({os.fspath(path)!r})"
        graph = nir.read(path)
    else:
        where = "import_nir(<graph>)"
        graph = path
    graph_meta: Any = graph.metadata
    version: Any = (
        cast(dict[str, Any], graph_meta).get("ttfsnet_format_version")
        if isinstance(graph_meta, dict)
        else None
    )
    if version is None:
        raise TTFSValueError(
            f"{where}: graph metadata has no 'ttfsnet_format_version'; not written by export_nir"
        )
    if int(version) != FORMAT_VERSION:
        raise TTFSValueError(
            f"{where}: ttfsnet_format_version {int(version)} unsupported (expected {FORMAT_VERSION})"
        )
    order = _chain(graph, where)
    rng = np.asarray(
        _meta(graph.nodes[order[0]], "input_range", f"{where} node {order[0]!r}"), dtype=np.float64
    ).reshape(-1)
    if rng.size != 2 or not all(math.isfinite(float(v)) for v in rng):
        raise TTFSValueError(f"{where}: input_range metadata must be two finite numbers, got {rng}")
    groups: list[tuple[int, list[tuple[str, Any]]]] = []
    for name in order[1:-1]:
        node = graph.nodes[name]
        idx = int(_meta(node, "ttfsnet_layer", f"{where} node {name!r}"))
        if groups and groups[-1][0] == idx:
            groups[-1][1].append((name, node))
        else:
            if groups and idx <= groups[-1][0]:
                raise TTFSValueError(
                    f"{where}: node {name!r} has ttfsnet_layer {idx} after layer {groups[-1][0]}"
                )
            groups.append((idx, [(name, node)]))
    layers: list[nn.Module] = []
    for idx, parts in groups:
        head_name, head = parts[0]
        kind = str(_meta(head, "ttfsnet_kind", f"{where} node {head_name!r}"))
        layers.append(_build(kind, parts, f"{where} layer {idx} ({head_name!r})"))
    input_type: dict[str, Any] = getattr(graph.nodes[order[0]], "input_type", None) or {}
    shape = np.asarray(input_type.get("input", ()), dtype=np.int64).reshape(-1)
    return TTFSNetwork(
        layers,
        (float(rng[0]), float(rng[1])),
        input_shape=tuple(int(s) for s in shape) if shape.size else None,
    )
