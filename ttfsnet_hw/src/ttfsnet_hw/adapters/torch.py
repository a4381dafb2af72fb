"""Bridge from torch models to the torch-free IR: ``ttfsnet.TTFSNetwork`` s and ReLU ANNs.

Imported lazily (``ttfsnet_hw`` core never imports torch). Functions:

* [`ir_from_ttfs`][ttfsnet_hw.adapters.torch.ir_from_ttfs] /
  [`record_snn`][ttfsnet_hw.adapters.torch.record_snn]: a TTFSNetwork → IR (with parameters) and its recorded
  spikes (``net.run`` closed form; a spike is a finite spike time);
  [`ttfs_from_ir`][ttfsnet_hw.adapters.torch.ttfs_from_ir] is the inverse.
* [`ir_from_ann`][ttfsnet_hw.adapters.torch.ir_from_ann] /
  [`record_ann`][ttfsnet_hw.adapters.torch.record_ann]: a ReLU ``nn.Module`` (e.g. a NAS subnet or a
  [`ttfsnet.models.macro_network`][ttfsnet.models.macro_network]) → cost-only IR and spikes, where a positive
  ReLU output is a spike (exact under the identity mapping while no neuron saturates, ``docs/ttfs-model.md``
  §2); [`lower_ann`][ttfsnet_hw.adapters.torch.lower_ann] is the same lowering for a piece of a network (no
  readout); [`ann_from_ir`][ttfsnet_hw.adapters.torch.ann_from_ir] builds the ANN of an IR.

Models may live on any device: inputs go to the model's device batch by batch, and spike records come back
to the CPU (the estimator is numpy). [`resolve_device`][ttfsnet_hw.adapters.torch.resolve_device] reads the
CLI's ``--device``.

Quantised torch networks and quantisation-aware fine-tuning:
[`ttfsnet_hw.adapters.torch_quant`][ttfsnet_hw.adapters.torch_quant].
Reading model files: [`ttfsnet_hw.load`][ttfsnet_hw.load].
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

import ttfsnet
from ttfsnet import TTFSNetwork
from ttfsnet_hw.errors import HardwareValueError, IRError
from ttfsnet_hw.records import SpikeRecorder
from ttfsnet_hw.types import LayerIR, NetworkIR, SpikeRecord, conv_output_size, pair

__all__ = [
    "ann_from_ir",
    "copy_into",
    "ir_from_ann",
    "ir_from_ttfs",
    "is_ttfs",
    "lower_ann",
    "model_device",
    "record_ann",
    "record_snn",
    "resolve_device",
    "ttfs_from_ir",
]


def resolve_device(spec: str) -> torch.device:
    """The device of ``--device``: ``cpu``, ``auto`` (CUDA when available, else the CPU), ``cuda`` or
    ``cuda:N``.

    Raises:
        HardwareValueError: an unknown string, or a CUDA device this machine does not have.
    """
    text = spec.strip()
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", text):
        raise HardwareValueError(f"--device: expected auto, cpu, cuda or cuda:N, got {text!r}")
    if text == "cpu" or (text == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise HardwareValueError(
            f"--device: {text!r} asked for, but CUDA is not available here (torch {torch.__version__})"
        )
    index = int(text.split(":")[1]) if ":" in text else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise HardwareValueError(
            f"--device: {text!r} asked for, but this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    return torch.device("cuda", index)


def model_device(model: nn.Module) -> torch.device:
    """Where ``model`` lives: the device of its first parameter or buffer (the CPU when it has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _np(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy().copy()


def _window_geometry(m: Any) -> dict[str, Any]:
    """Kernel, stride and padding of a conv/pool module (torch's pools default the stride to the kernel)."""
    return {
        "kernel": pair(m.kernel_size),
        "stride": pair(m.stride or m.kernel_size),
        "padding": pair(m.padding),
    }


def _windowed_out(in_shape: tuple[int, ...], channels: int, geo: dict[str, Any]) -> tuple[int, int, int]:
    """Output shape of a conv/pool window over ``(C, H, W)`` (floor mode, no dilation)."""
    _, h, w = in_shape
    (kh, kw), (sh, sw), (ph, pw) = geo["kernel"], geo["stride"], geo["padding"]
    return channels, conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)


def _window(layer: LayerIR) -> float:
    """The window ``T`` of a spiking layer (``NetworkIR`` checked that it has one)."""
    assert layer.window is not None
    return float(layer.window)


def copy_into(dst: Tensor, values: Any) -> None:
    """Copy IR values (numpy) into a parameter or buffer in place, converting to its dtype."""
    dst.copy_(torch.from_numpy(np.asarray(values, dtype=np.float64)))


def _param_dtype(model: nn.Module) -> torch.dtype:
    """The model's parameter dtype; float32 for parameter-free models (e.g. a pooling-only subnet)."""
    p = next(model.parameters(), None)
    return p.dtype if p is not None else torch.float32


def _batches(data: Any, batch_size: int) -> Iterator[Tensor]:
    """Inputs from a tensor/array, a list of tensors, or ``(x, y)`` batches."""
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if isinstance(data, Tensor):
        for i in range(0, data.shape[0], batch_size):
            yield data[i : i + batch_size]
        return
    for item in data:
        x = item[0] if isinstance(item, (tuple, list)) else item
        yield torch.as_tensor(x)


# ----------------------------------------------------------------------------------------------- SNN
def ir_from_ttfs(net: TTFSNetwork, input_shape: Sequence[int], name: str = "ttfsnet") -> NetworkIR:
    """Describe a ``ttfsnet.TTFSNetwork`` as an IR with its parameters.

    Layer names are ``layers.<i>``, as in ``RunResult.layer_names``.

    Args:
        net: the network.
        input_shape: per-sample input shape.
        name: IR name.

    Returns:
        The IR.

    Raises:
        IRError: a layer type or option the IR does not model (dilation, signed max pool, ceil mode).
    """
    shape = tuple(int(v) for v in input_shape)
    layers: list[LayerIR] = []
    for i, layer in enumerate(net.ttfs_layers()):
        lname = f"layers.{i}"
        kw: dict[str, Any]
        if isinstance(layer, ttfsnet.TTFSConv2d):
            if tuple(layer.dilation) != (1, 1):
                raise IRError(f"layer {lname}: dilation {layer.dilation} is not supported by ttfsnet_hw")
            kw = _window_geometry(layer)
            kw.update(
                kind="conv",
                out_shape=_windowed_out(shape, layer.out_channels, kw),
                groups=layer.groups,
                window=float(layer.own_window()),
                weight=_np(layer.weight),
                threshold=_np(layer.threshold),
            )
        elif isinstance(layer, ttfsnet.TTFSLinear):
            kw = {"out_shape": (layer.out_features,), "weight": _np(layer.weight)}
            if layer.readout:
                kw.update(kind="readout", bias=_np(layer.bias))
            else:
                kw.update(kind="linear", window=float(layer.own_window()), threshold=_np(layer.threshold))
        elif isinstance(layer, ttfsnet.TTFSMaxPool2d):
            if layer.sign is not None or layer.ceil_mode or tuple(layer.dilation) != (1, 1):
                raise IRError(
                    f"layer {lname}: signed/ceil-mode/dilated max pooling is not supported by ttfsnet_hw"
                )
            kw = _window_geometry(layer)
            kw.update(kind="maxpool", out_shape=_windowed_out(shape, shape[0], kw))
        elif isinstance(layer, ttfsnet.TTFSAvgPool2d):
            kw = _window_geometry(layer)
            kw.update(
                kind="avgpool", out_shape=_windowed_out(shape, shape[0], kw), window=float(layer.own_window())
            )
        elif isinstance(layer, ttfsnet.TTFSFlatten):
            kw = {"kind": "flatten", "out_shape": (int(np.prod(shape)),)}
        else:
            raise IRError(f"layer {lname}: unsupported module {type(layer).__name__}")
        layers.append(LayerIR(name=lname, in_shape=shape, **kw))
        shape = layers[-1].out_shape
    return NetworkIR(
        name=name,
        input_shape=tuple(int(v) for v in input_shape),
        layers=tuple(layers),
        input_range=net.input_range,
    )


@torch.no_grad()
def record_snn(net: TTFSNetwork, ir: NetworkIR, data: Any, batch_size: int = 64) -> SpikeRecord:
    """Record spikes of a TTFSNetwork with ``net.run`` (closed form) over calibration inputs.

    Args:
        net: the network.
        ir: its IR ([`ir_from_ttfs`][ttfsnet_hw.adapters.torch.ir_from_ttfs]).
        data: raw inputs (tensor/array, or batches).
        batch_size: batch size for tensors/arrays.

    Returns:
        The spike record.
    """
    rec = SpikeRecorder(ir, "snn")
    dtype = next(net.parameters()).dtype
    device = model_device(net)
    for x in _batches(data, batch_size):
        res = net.run(x.to(device=device, dtype=dtype))
        if len(res.layer_names) != len(ir.emitters):
            raise IRError(
                f"network {ir.name}: run() has {len(res.layer_names)} entries, the IR "
                f"{len(ir.emitters)} emitters"
            )
        rec.add([torch.isfinite(t).cpu().numpy() for t in res.spike_times])
    return rec.finish()


@torch.no_grad()
def ttfs_from_ir(ir: NetworkIR, dtype: torch.dtype = torch.float64) -> TTFSNetwork:
    """Build a ``ttfsnet.TTFSNetwork`` carrying the IR's parameters (inverse of
    [`ir_from_ttfs`][ttfsnet_hw.adapters.torch.ir_from_ttfs]).

    Raises:
        IRError: cost-only IR.
    """
    if not ir.has_parameters:
        raise IRError(f"network {ir.name}: cost-only IR (no weights) cannot be turned into a TTFSNetwork")
    mods: list[nn.Module] = []
    for layer in ir.layers:
        if layer.kind == "conv":
            m = ttfsnet.TTFSConv2d(
                layer.in_shape[0],
                layer.out_shape[0],
                layer.kernel,
                stride=layer.stride,
                padding=layer.padding,
                groups=layer.groups,
                window=_window(layer),
                dtype=dtype,
            )
            copy_into(m.weight, layer.weight)
            thr = torch.from_numpy(np.asarray(layer.threshold, dtype=np.float64)).to(dtype)
            if thr.shape != m.threshold.shape:
                m.threshold = nn.Parameter(thr)
            else:
                m.threshold.copy_(thr)
        elif layer.kind in ("linear", "readout"):
            ro = layer.kind == "readout"
            m = ttfsnet.TTFSLinear(
                layer.in_shape[0],
                layer.out_shape[0],
                window=float(layer.window or 1.0),
                readout=ro,
                dtype=dtype,
            )
            copy_into(m.weight, layer.weight)
            if ro:
                copy_into(m.bias, layer.bias)
            else:
                copy_into(m.threshold, layer.threshold)
        elif layer.kind == "maxpool":
            m = ttfsnet.TTFSMaxPool2d(layer.kernel, layer.stride, layer.padding)
        elif layer.kind == "avgpool":
            m = ttfsnet.TTFSAvgPool2d(
                layer.kernel, layer.stride, layer.padding, window=_window(layer), dtype=dtype
            )
        else:
            m = ttfsnet.TTFSFlatten()
        mods.append(m)
    return ttfsnet.TTFSNetwork(mods, input_range=ir.input_range).to(dtype).eval()


@torch.no_grad()
def ann_from_ir(ir: NetworkIR, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """The ReLU ANN of an IR with parameters (bias ``b = T − ϑ``; readout bias as is), e.g. to re-convert a
    random-weight IR with data-sized windows through ``ttfsnet.convert``."""
    if not ir.has_parameters:
        raise IRError(f"network {ir.name}: cost-only IR has no weights")
    mods: list[nn.Module] = []
    for layer in ir.layers:
        if layer.kind == "conv":
            thr = np.asarray(layer.threshold, dtype=np.float64)
            if thr.ndim != 1:
                raise IRError(f"layer {layer.name}: position-dependent thresholds have no plain ANN bias")
            m = nn.Conv2d(
                layer.in_shape[0],
                layer.out_shape[0],
                layer.kernel,
                stride=layer.stride,
                padding=layer.padding,
                groups=layer.groups,
            )
            copy_into(m.weight, layer.weight)
            assert m.bias is not None  # nn.Conv2d has a bias unless asked not to
            copy_into(m.bias, _window(layer) - thr)
            mods += [m, nn.ReLU()]
        elif layer.kind in ("linear", "readout"):
            m = nn.Linear(layer.in_shape[0], layer.out_shape[0])
            copy_into(m.weight, layer.weight)
            if layer.kind == "readout":
                copy_into(m.bias, layer.bias)
                mods.append(m)
            else:
                copy_into(m.bias, _window(layer) - np.asarray(layer.threshold))
                mods += [m, nn.ReLU()]
        elif layer.kind == "maxpool":
            mods.append(nn.MaxPool2d(layer.kernel, layer.stride, layer.padding))
        elif layer.kind == "avgpool":
            mods += [nn.AvgPool2d(layer.kernel, layer.stride, layer.padding), nn.ReLU()]
        else:
            mods.append(nn.Flatten())
    return nn.Sequential(*mods).to(dtype).eval()


# ----------------------------------------------------------------------------------------------- ANN
def _trace(model: nn.Module, x: Tensor) -> list[tuple[nn.Module, Tensor, Tensor]]:
    calls: list[tuple[nn.Module, Tensor, Tensor]] = []
    handles = []
    leaves = (
        nn.Conv2d,
        nn.Linear,
        nn.ReLU,
        nn.MaxPool2d,
        nn.AvgPool2d,
        nn.Flatten,
        nn.BatchNorm1d,
        nn.BatchNorm2d,
        nn.Dropout,
        nn.Identity,
    )

    def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        calls.append((module, inputs[0], output))

    for m in model.modules():
        if isinstance(m, leaves):
            handles.append(m.register_forward_hook(hook))
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return calls


def _traced(model: nn.Module, input_shape: Sequence[int]) -> list[tuple[nn.Module, Tensor, Tensor]]:
    """The leaf calls of one eval-mode forward pass on zeros (the model's mode is restored)."""
    was = model.training
    model.eval()
    try:
        return _trace(
            model, torch.zeros((1, *input_shape), dtype=_param_dtype(model), device=model_device(model))
        )
    finally:
        model.train(was)


def _lowered(
    calls: list[tuple[nn.Module, Tensor, Tensor]], input_shape: Sequence[int], readout: int | None
) -> list[LayerIR]:
    """IR layers of traced calls; call ``readout`` (an ``nn.Linear``) becomes the readout."""
    shape = tuple(int(v) for v in input_shape)
    layers: list[LayerIR] = []
    for i, (m, _inp, out) in enumerate(calls):
        lname = f"{len(layers)}:{type(m).__name__.lower()}"
        kw: dict[str, Any]
        if isinstance(m, nn.Conv2d):
            if tuple(m.dilation) != (1, 1) or isinstance(m.padding, str) or m.padding_mode != "zeros":
                raise IRError(f"layer {lname}: dilation/string or non-zero padding is not supported")
            kw = {"kind": "conv", "groups": m.groups, "window": 1.0, **_window_geometry(m)}
        elif isinstance(m, nn.Linear):
            kw = {"kind": "readout"} if i == readout else {"kind": "linear", "window": 1.0}
        elif isinstance(m, nn.MaxPool2d):
            if m.ceil_mode or pair(m.dilation) != (1, 1):
                raise IRError(f"layer {lname}: ceil-mode/dilated max pooling is not supported")
            kw = {"kind": "maxpool", **_window_geometry(m)}
        elif isinstance(m, nn.AvgPool2d):
            kw = {"kind": "avgpool", "window": 1.0, **_window_geometry(m)}
        elif isinstance(m, nn.Flatten):
            kw = {"kind": "flatten"}
        else:
            # ReLU is the spiking of the layer before; BN folds into the conv/linear before it at conversion
            # (same shapes, same costs); dropout and identity vanish: no layer of their own
            continue
        out_shape = tuple(int(v) for v in out.shape[1:])
        layers.append(LayerIR(name=lname, in_shape=shape, out_shape=out_shape, **kw))
        shape = out_shape
    return layers


@torch.no_grad()
def lower_ann(model: nn.Module, input_shape: Sequence[int]) -> tuple[LayerIR, ...]:
    """Cost-only IR layers of a piece of a ReLU ANN (e.g. one block), with every ``nn.Linear`` spiking.

    Args:
        model: the piece (an empty ``nn.Sequential`` lowers to no layers).
        input_shape: per-sample input shape of the piece.

    Returns:
        The layers, named ``<position>:<module type>``; their ``param_count`` and ``macs`` add up to the
        piece's share of a whole network's.

    Raises:
        IRError: a module option the IR does not model (dilation, ceil mode, ...).
    """
    return tuple(_lowered(_traced(model, input_shape), input_shape, readout=None))


@torch.no_grad()
def ir_from_ann(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    input_range: tuple[float, float] = (0.0, 1.0),
    name: str = "ann",
) -> NetworkIR:
    """Cost-only IR of a ReLU ANN (conv/linear + ReLU = spiking layer, max/avg pool, flatten, final linear).

    The layer chain is read from one traced forward pass, so supernets and nested containers work.
    BatchNorm has no layer of its own: it folds into the convolution before it, as ``ttfsnet.convert``
    folds it, which changes neither shapes nor costs.

    Raises:
        IRError: the last weighted layer is not an ``nn.Linear``, or a module option the IR does not model.
    """
    calls = _traced(model, input_shape)
    weighted = [i for i, (m, _, _) in enumerate(calls) if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not weighted or not isinstance(calls[weighted[-1]][0], nn.Linear):
        raise IRError(f"model {name}: the last weighted layer must be nn.Linear (the readout)")
    return NetworkIR(
        name=name,
        input_shape=tuple(int(v) for v in input_shape),
        layers=tuple(_lowered(calls, input_shape, readout=weighted[-1])),
        input_range=input_range,
    )


@torch.no_grad()
def record_ann(model: nn.Module, ir: NetworkIR, data: Any, batch_size: int = 64) -> SpikeRecord:
    """Spikes of the TTFS counterpart of a ReLU ANN: positive ReLU / pooled outputs, input x̃ > 0.

    Args:
        model: the ANN (as passed to [`ir_from_ann`][ttfsnet_hw.adapters.torch.ir_from_ann]).
        ir: its IR.
        data: raw inputs.
        batch_size: batch size for tensors/arrays.

    Returns:
        The record (``source="ann"``).
    """
    rec = SpikeRecorder(ir, "ann")
    was = model.training
    model.eval()
    p_low, p_high = ir.input_range
    try:
        dtype = _param_dtype(model)
        device = model_device(model)
        for x in _batches(data, batch_size):
            x = x.to(device=device, dtype=dtype)
            calls = _trace(model, x)
            masks = [((x - p_low) / (p_high - p_low) > 0).cpu().numpy()]
            weighted = [m for m, _, _ in calls if isinstance(m, (nn.Conv2d, nn.Linear))]
            pending = False
            for m, _inp, out in calls:
                if isinstance(m, (nn.Conv2d, nn.Linear)) and m is not weighted[-1]:
                    if pending:
                        raise IRError(f"model {ir.name}: a weighted layer is not followed by a ReLU")
                    pending = True
                elif isinstance(m, nn.ReLU) and pending:
                    masks.append((out > 0).cpu().numpy())
                    pending = False
                elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
                    masks.append((out > 0).cpu().numpy())
            rec.add(masks)
    finally:
        model.train(was)
    return rec.finish()


def is_ttfs(model: nn.Module) -> bool:
    """True for a ``ttfsnet.TTFSNetwork``."""
    return isinstance(model, ttfsnet.TTFSNetwork)
