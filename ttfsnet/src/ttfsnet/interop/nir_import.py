"""NIR import: [`import_nir`][ttfsnet.interop.nir_import.import_nir] rebuilds a
[`TTFSNetwork`][ttfsnet.nn.TTFSNetwork] from a graph written by [`export_nir`][ttfsnet.interop.export_nir].

It walks the graph's single chain, groups the nodes by their ``ttfsnet_layer`` metadata and builds one
layer from each group; the node layout per layer is documented in [`ttfsnet.interop.nir`][ttfsnet.interop.nir]
.
"""

from __future__ import annotations

import math
import os
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from ttfsnet.errors import TTFSValueError
from ttfsnet.interop.nir_format import FORMAT_VERSION, grouped_conv_weight, load_nir
from ttfsnet.nn import (
    TTFSAvgPool2d,
    TTFSConv2d,
    TTFSFlatten,
    TTFSLinear,
    TTFSMaxPool2d,
    TTFSNetwork,
)

__all__ = ["import_nir"]


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
        w = grouped_conv_weight(_tensor(conv_node.weight), groups, where)
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
    """Rebuild a [`TTFSNetwork`][ttfsnet.nn.TTFSNetwork] from a NIR file (or graph) written by
    [`export_nir`][ttfsnet.interop.export_nir].

    Args:
        path: File path, or an in-memory ``nir.NIRGraph``.

    Returns:
        The network, with parameters in the dtype stored in the file and ``input_shape`` from the
        ``Input`` node.

    Raises:
        TTFSValueError: If the graph lacks ttfsnet metadata, is not a chain, or its nodes do not match
            the layout documented in [`ttfsnet.interop.nir`][ttfsnet.interop.nir]; the message names the node.
    """
    nir = load_nir()
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
