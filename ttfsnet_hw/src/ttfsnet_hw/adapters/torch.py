"""Bridge from torch models to the torch-free IR: ``ttfsnet.TTFSNetwork``, ReLU ANNs and NAS artifacts.

Imported lazily (``ttfsnet_hw`` core never imports torch). Functions:

* :func:`ir_from_ttfs` / :func:`record_snn`: a TTFSNetwork → IR (with parameters) and its recorded spikes
  (``net.run`` closed form; a spike is a finite spike time).
* :func:`ir_from_ann` / :func:`record_ann`: a ReLU ``nn.Module`` (e.g. a ``ttfsnet_nas`` artifact or a NAS
  subnet) → cost-only IR and spikes, where a positive ReLU output is a spike (exact under the identity
  mapping while no neuron saturates, ``ttfs-math.md`` §9).
* :func:`load_model`: artifact directory, NIR file or pickled module.
* :func:`ttfs_quantized_reference`: ``ttfsnet``'s own per-layer closed form on the quantised values (the
  reference the integer simulator must match exactly).
* :func:`apply_quantization`, :func:`quantization_accuracy`, :func:`qat_finetune`: write quantised values into
  a network; accuracy before/after post-training quantisation; quantisation-aware fine-tuning through
  ``ttfsnet.finetune``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from ttfsnet_hw.intsim import IntSimResult, simulate
from ttfsnet_hw.ir import IRError, LayerIR, NetworkIR, SpikeRecord, SpikeRecorder, _conv_out, _pair
from ttfsnet_hw.quantize import (
    QuantizationError,
    QuantizedNetwork,
    _floor_corrections,
    _pow2_ceil_exp,
    _precision_of,
    encode_steps,
    quantize,
)

__all__ = [
    "ann_from_ir",
    "apply_quantization",
    "ttfs_from_ir",
    "ir_from_ann",
    "ir_from_ttfs",
    "load_model",
    "load_model_with_metadata",
    "qat_finetune",
    "quantization_accuracy",
    "record_ann",
    "record_snn",
    "ttfs_quantized_reference",
]


def _np(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy().copy()


def _window_geometry(m: nn.Module) -> dict[str, Any]:
    """Kernel, stride and padding of a conv/pool module (torch's pools default the stride to the kernel)."""
    return {
        "kernel": _pair(m.kernel_size),
        "stride": _pair(m.stride or m.kernel_size),
        "padding": _pair(m.padding),
    }


def _windowed_out(in_shape: tuple[int, ...], channels: int, geo: dict[str, Any]) -> tuple[int, int, int]:
    """Output shape of a conv/pool window over ``(C, H, W)`` (floor mode, no dilation)."""
    _, h, w = in_shape
    (kh, kw), (sh, sw), (ph, pw) = geo["kernel"], geo["stride"], geo["padding"]
    return channels, _conv_out(h, kh, sh, ph), _conv_out(w, kw, sw, pw)


def _put(dst: Tensor, values: Any) -> None:
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
def ir_from_ttfs(net: nn.Module, input_shape: Sequence[int], name: str = "ttfsnet") -> NetworkIR:
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
    import ttfsnet

    shape = tuple(int(v) for v in input_shape)
    layers: list[LayerIR] = []
    for i, layer in enumerate(net.layers):
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
                window=float(layer.window),
                weight=_np(layer.weight),
                threshold=_np(layer.threshold),
            )
        elif isinstance(layer, ttfsnet.TTFSLinear):
            kw = {"out_shape": (layer.out_features,), "weight": _np(layer.weight)}
            if layer.readout:
                kw.update(kind="readout", bias=_np(layer.bias))
            else:
                kw.update(kind="linear", window=float(layer.window), threshold=_np(layer.threshold))
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
                kind="avgpool", out_shape=_windowed_out(shape, shape[0], kw), window=float(layer.window)
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
        input_range=tuple(float(v) for v in net.input_range),
    )  # type: ignore[arg-type]


@torch.no_grad()
def record_snn(net: nn.Module, ir: NetworkIR, data: Any, batch_size: int = 64) -> SpikeRecord:
    """Record spikes of a TTFSNetwork with ``net.run`` (closed form) over calibration inputs.

    Args:
        net: the network.
        ir: its IR (:func:`ir_from_ttfs`).
        data: raw inputs (tensor/array, or batches).
        batch_size: batch size for tensors/arrays.

    Returns:
        The spike record.
    """
    rec = SpikeRecorder(ir, "snn")
    dtype = next(net.parameters()).dtype
    for x in _batches(data, batch_size):
        res = net.run(x.to(dtype))
        if len(res.layer_names) != len(ir.emitters):
            raise IRError(
                f"network {ir.name}: run() has {len(res.layer_names)} entries, the IR "
                f"{len(ir.emitters)} emitters"
            )
        rec.add([torch.isfinite(t).cpu().numpy() for t in res.spike_times])
    return rec.finish()


@torch.no_grad()
def ttfs_from_ir(ir: NetworkIR, dtype: torch.dtype = torch.float64) -> nn.Module:
    """Build a ``ttfsnet.TTFSNetwork`` carrying the IR's parameters (inverse of :func:`ir_from_ttfs`).

    Raises:
        IRError: cost-only IR.
    """
    import ttfsnet

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
                window=float(layer.window),
                dtype=dtype,
            )  # type: ignore[arg-type]
            _put(m.weight, layer.weight)
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
            _put(m.weight, layer.weight)
            if ro:
                _put(m.bias, layer.bias)
            else:
                _put(m.threshold, layer.threshold)
        elif layer.kind == "maxpool":
            m = ttfsnet.TTFSMaxPool2d(layer.kernel, layer.stride, layer.padding)
        elif layer.kind == "avgpool":
            m = ttfsnet.TTFSAvgPool2d(
                layer.kernel, layer.stride, layer.padding, window=float(layer.window), dtype=dtype
            )  # type: ignore[arg-type]
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
            _put(m.weight, layer.weight)
            _put(m.bias, float(layer.window) - thr)  # type: ignore[arg-type]
            mods += [m, nn.ReLU()]
        elif layer.kind in ("linear", "readout"):
            m = nn.Linear(layer.in_shape[0], layer.out_shape[0])
            _put(m.weight, layer.weight)
            if layer.kind == "readout":
                _put(m.bias, layer.bias)
                mods.append(m)
            else:
                _put(m.bias, float(layer.window) - np.asarray(layer.threshold))  # type: ignore[arg-type]
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
    for m in model.modules():
        if isinstance(m, leaves):
            handles.append(m.register_forward_hook(lambda mod, inp, out: calls.append((mod, inp[0], out))))
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return calls


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

    Raises:
        IRError: an unsupported module or a weighted layer not followed by ReLU (except the last one).
    """
    was = model.training
    model.eval()
    try:
        calls = _trace(model, torch.zeros((1, *input_shape), dtype=_param_dtype(model)))
    finally:
        model.train(was)
    shape = tuple(int(v) for v in input_shape)
    layers: list[LayerIR] = []
    weighted = [i for i, (m, _, _) in enumerate(calls) if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not weighted or not isinstance(calls[weighted[-1]][0], nn.Linear):
        raise IRError(f"model {name}: the last weighted layer must be nn.Linear (the readout)")
    for i, (m, _inp, out) in enumerate(calls):
        lname = f"{len(layers)}:{type(m).__name__.lower()}"
        kw: dict[str, Any]
        if isinstance(m, nn.Conv2d):
            if tuple(m.dilation) != (1, 1) or isinstance(m.padding, str) or m.padding_mode != "zeros":
                raise IRError(f"layer {lname}: dilation/string or non-zero padding is not supported")
            kw = {"kind": "conv", "groups": m.groups, "window": 1.0, **_window_geometry(m)}
        elif isinstance(m, nn.Linear):
            kw = {"kind": "readout"} if i == weighted[-1] else {"kind": "linear", "window": 1.0}
        elif isinstance(m, nn.MaxPool2d):
            if m.ceil_mode or _pair(m.dilation) != (1, 1):
                raise IRError(f"layer {lname}: ceil-mode/dilated max pooling is not supported")
            kw = {"kind": "maxpool", **_window_geometry(m)}
        elif isinstance(m, nn.AvgPool2d):
            kw = {"kind": "avgpool", "window": 1.0, **_window_geometry(m)}
        elif isinstance(m, nn.Flatten):
            kw = {"kind": "flatten"}
        else:
            continue  # ReLU, BN (fused at conversion), dropout, identity: no layer of their own
        out_shape = tuple(int(v) for v in out.shape[1:])
        layers.append(LayerIR(name=lname, in_shape=shape, out_shape=out_shape, **kw))
        shape = out_shape
    return NetworkIR(
        name=name,
        input_shape=tuple(int(v) for v in input_shape),
        layers=tuple(layers),
        input_range=input_range,
    )


@torch.no_grad()
def record_ann(model: nn.Module, ir: NetworkIR, data: Any, batch_size: int = 64) -> SpikeRecord:
    """Spikes of the TTFS counterpart of a ReLU ANN: positive ReLU / pooled outputs, input x̃ > 0.

    Args:
        model: the ANN (as passed to :func:`ir_from_ann`).
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
        for x in _batches(data, batch_size):
            x = x.to(dtype)
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


# ----------------------------------------------------------------------------------------------- loading
SNN_FORMAT = "ttfsnet_nas.snn/1"
"""``format`` tag of the ``snn.pt`` files the TNAS-ER pipeline writes (``ttfsnet_nas.emotion.pipeline``)."""

SNN_FILE = "snn.pt"


def load_model(path: str | os.PathLike[str]) -> nn.Module:
    """Load a model; see :func:`load_model_with_metadata` (this drops the metadata)."""
    return load_model_with_metadata(path)[0]


def load_model_with_metadata(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Load a model and what its file says about it (e.g. ``input_shape``).

    Accepted:

    * a ``ttfsnet_nas`` artifact directory: its ``snn.pt`` (the deployed TTFS network, written by the
      TNAS-ER pipeline) when present, else its ANN (``model.json`` + ``weights.pt``);
    * an ``snn.pt`` file (``torch.save`` of a dict with ``format`` = ``"ttfsnet_nas.snn/1"`` and ``network``);
    * a NIR file (``.nir``/``.h5``) exported by ``ttfsnet.export_nir``;
    * a pickled ``nn.Module`` (``torch.save(net, "net.pt")``, e.g. a ``TTFSNetwork``).

    Returns:
        ``(model in eval mode, metadata)``; metadata holds ``input_shape`` when the file records it.

    Raises:
        FileNotFoundError: no such path.
        ValueError: not a recognised model (the message names the file and what was expected).
    """
    p = Path(path)
    if p.is_dir():
        if (p / SNN_FILE).is_file():
            return load_model_with_metadata(p / SNN_FILE)
        if not (p / "model.json").is_file():
            raise ValueError(
                f"{p}: directory has neither {SNN_FILE} nor model.json (not a ttfsnet_nas artifact)"
            )
        from ttfsnet_nas.torch.artifact_torch import load_artifact

        return load_artifact(p).eval(), {}
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file or directory")
    if p.suffix in (".nir", ".h5", ".hdf5"):
        import ttfsnet

        return ttfsnet.import_nir(p).eval(), {}
    if p.suffix not in (".pt", ".pth"):
        raise ValueError(f"{p}: unknown model format (expected an artifact directory, .nir/.h5 or .pt)")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:  # pickle/zip errors of any kind mean "not a saved module"
        raise ValueError(f"{p}: cannot be loaded as a pickled nn.Module ({type(exc).__name__})") from None
    meta: dict[str, Any] = {}
    if isinstance(obj, dict):
        if obj.get("format") != SNN_FORMAT:
            raise ValueError(
                f"{p}: key 'format' is {obj.get('format')!r}, expected {SNN_FORMAT!r} or a pickled nn.Module"
            )
        if not isinstance(obj.get("network"), nn.Module):
            raise ValueError(f"{p}: key 'network' is not an nn.Module")
        if obj.get("input_shape") is not None:
            meta["input_shape"] = tuple(int(v) for v in obj["input_shape"])
        obj = obj["network"]
    if not isinstance(obj, nn.Module):
        raise ValueError(f"{p}: contains {type(obj).__name__}, expected a pickled nn.Module")
    return obj.eval(), meta


def is_ttfs(model: nn.Module) -> bool:
    """True for a ``ttfsnet.TTFSNetwork``."""
    import ttfsnet

    return isinstance(model, ttfsnet.TTFSNetwork)


# ----------------------------------------------------------------------------------------------- quantisation
@torch.no_grad()
def apply_quantization(net: nn.Module, qnet: QuantizedNetwork) -> nn.Module:
    """A float64 copy of ``net`` carrying the quantised weights, thresholds, biases and windows.

    Args:
        net: the TTFSNetwork that ``qnet`` was built from (``ir_from_ttfs``).
        qnet: its quantisation.

    Returns:
        The quantised copy.
    """
    out = copy.deepcopy(net).double()
    layers = {layer.name: layer for layer in qnet.ir.layers}
    for i, module in enumerate(out.layers):
        ql = layers[f"layers.{i}"]
        if ql.weight is not None and hasattr(module, "weight"):
            _put(module.weight, ql.weight)
        if ql.kind in ("conv", "linear"):
            module.threshold.copy_(
                torch.from_numpy(np.asarray(ql.threshold, dtype=np.float64)).view_as(module.threshold)
            )
        if ql.kind == "readout":
            _put(module.bias, ql.bias)
        if ql.spiking:
            module.window.fill_(float(ql.window))  # type: ignore[arg-type]
    return out


@torch.no_grad()
def ttfs_quantized_reference(qnet_torch: nn.Module, qnet: QuantizedNetwork, x: np.ndarray) -> IntSimResult:
    """``ttfsnet``'s per-layer closed form (``preactivation`` + clamp) on the quantised values, with spike
    times quantised to the layer's time steps between layers (a neuron fires at the first step boundary).

    Args:
        qnet_torch: :func:`apply_quantization` output (float64).
        qnet: the quantised network.
        x: raw inputs.

    Returns:
        A result comparable with :func:`ttfsnet_hw.intsim.simulate`.
    """
    import ttfsnet

    L = qnet.steps
    a = encode_steps(qnet.ir, x, L)
    steps_out = [L - a]
    sats: dict[str, int] = {}
    delta_prev = 1.0 / L
    act = torch.from_numpy(a.astype(np.float64) * delta_prev)
    for i, layer in enumerate(qnet_torch.layers):
        if isinstance(layer, ttfsnet.TTFSFlatten):
            act = layer(act)
            continue
        if isinstance(layer, ttfsnet.TTFSMaxPool2d):
            act = layer(act)
            steps_out.append(L - torch.round(act / delta_prev).to(torch.int64).numpy())
            continue
        pre = layer.preactivation(act)
        if getattr(layer, "readout", False):
            logits = pre.numpy()
            return IntSimResult(
                logits=logits,
                logits_int=None,
                predictions=np.argmax(logits, axis=1),
                steps=steps_out,
                saturated=sats,
                overflow={},
            )
        big_t = float(layer.window)
        delta = big_t / L
        sats[f"layers.{i}"] = int((pre > big_t).sum())
        a_out = torch.floor(torch.clamp(pre, 0.0, big_t) / delta)
        steps_out.append(L - a_out.to(torch.int64).numpy())
        act = a_out * delta
        delta_prev = delta
    raise IRError("ttfs_quantized_reference: the network has no readout")


def _accuracy(predict: Callable[[Tensor], Tensor], data: Iterable[tuple[Tensor, Tensor]]) -> float:
    correct = total = 0
    for x, y in data:
        correct += int((predict(x) == y.cpu()).sum())
        total += int(y.numel())
    return correct / max(total, 1)


def quantization_accuracy(
    net: nn.Module,
    x: np.ndarray | Tensor,
    y: np.ndarray | Tensor,
    precision: Any,
    *,
    input_shape: Sequence[int] | None = None,
    calibration: np.ndarray | None = None,
    batch_size: int = 256,
    bias_correction: bool = False,
) -> dict[str, Any]:
    """Accuracy of a trained TTFS network before and after post-training quantisation to ``precision``.

    The quantised network is run by the integer simulator (what the chip computes); the float figure is
    ``net`` itself (ttfsnet's closed form).

    Args:
        net: trained ``TTFSNetwork``.
        x: raw inputs ``(N, *input_shape)``.
        y: integer labels ``(N,)``.
        precision: a ``PrecisionSpec`` or profile.
        input_shape: per-sample shape (default ``x.shape[1:]``).
        calibration: raw inputs for the membrane-overflow check (default ``x``).
        batch_size: evaluation batch size.
        bias_correction: compensate the floor error of quantised spike times (``quantize``).

    Returns:
        ``float_accuracy``, ``quantized_accuracy``, ``accuracy_drop`` (float − quantised, in accuracy units),
        ``prediction_disagreement`` (fraction of samples whose class changes), ``samples`` and ``qnet``.

    Raises:
        ValueError: ``x`` and ``y`` have different lengths.
    """
    xs = torch.as_tensor(x)
    ys = torch.as_tensor(y).to(torch.int64).reshape(-1)
    if xs.shape[0] != ys.shape[0]:
        raise ValueError(f"quantization_accuracy: {xs.shape[0]} inputs but {ys.shape[0]} labels")
    prec = _precision_of(precision)
    shape = tuple(input_shape) if input_shape is not None else tuple(xs.shape[1:])
    cal = calibration if calibration is not None else xs.detach().cpu().double().numpy()
    qnet = quantize(ir_from_ttfs(net, shape), prec, cal, bias_correction=bias_correction)
    batches = [(xs[i : i + batch_size], ys[i : i + batch_size]) for i in range(0, xs.shape[0], batch_size)]
    float_pred = torch.cat([_predict(net, bx) for bx, _ in batches])
    int_pred = torch.cat([_int_predict(qnet, bx) for bx, _ in batches])
    acc_f = float((float_pred == ys).double().mean())
    acc_q = float((int_pred == ys).double().mean())
    return {
        "float_accuracy": acc_f,
        "quantized_accuracy": acc_q,
        "accuracy_drop": acc_f - acc_q,
        "prediction_disagreement": float((float_pred != int_pred).double().mean()),
        "samples": int(ys.numel()),
        "qnet": qnet,
    }


def _predict(net: nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        return net(x.to(next(net.parameters()).dtype)).argmax(dim=1).cpu()


def _int_predict(qnet: QuantizedNetwork, x: Tensor) -> Tensor:
    return torch.from_numpy(simulate(qnet, x.detach().cpu().double().numpy()).predictions).to(torch.int64)


@torch.no_grad()
def _widen_windows_to_steps(net: nn.Module, steps: int) -> None:
    """Give every spiking layer the power-of-two step ``quantize`` would give it, keeping pre-activations."""
    for module in net.layers:
        window = getattr(module, "window", None)
        if window is None:
            continue
        big_t = float(window)
        wide = steps * 2.0 ** _pow2_ceil_exp(big_t / steps)
        if hasattr(module, "threshold"):
            module.threshold.add_(wide - big_t)
        window.fill_(wide)


@torch.no_grad()
def _fold_floor_correction(net: nn.Module, qnet: QuantizedNetwork, calibration: np.ndarray | None) -> None:
    """Add ``quantize``'s floor-bias correction to the float network's biases (thresholds lowered)."""
    if calibration is None:
        raise QuantizationError("qat_finetune: bias_correction needs calibration inputs")
    corrections = _floor_corrections(qnet, calibration, ir_from_ttfs(net, qnet.ir.input_shape))
    for i, module in enumerate(net.layers):
        corr = corrections.get(f"layers.{i}")
        if corr is None:
            continue
        if getattr(module, "readout", False):
            module.bias.add_(torch.as_tensor(corr, dtype=module.bias.dtype).view_as(module.bias))
        else:
            module.threshold.sub_(
                torch.as_tensor(corr, dtype=module.threshold.dtype).view_as(module.threshold)
            )


def qat_finetune(
    net: nn.Module,
    train_data: Sequence[tuple[Tensor, Tensor]],
    val_data: Sequence[tuple[Tensor, Tensor]],
    precision: Any,
    *,
    input_shape: Sequence[int],
    epochs: int = 1,
    lr: float = 1e-4,
    calibration: np.ndarray | None = None,
    bias_correction: bool = False,
    time_quant: Literal["round", "step"] = "step",
) -> dict[str, Any]:
    """Quantisation-aware fine-tuning: ``ttfsnet.finetune`` with a ``RobustnessConfig`` at the profile's
    time/weight widths, then post-training quantisation; accuracy is reported before and after.

    With ``time_quant="step"`` (default) training sees the datapath's own time grid: every spiking layer's
    window is first widened to the quantiser's ``T' = L·2^⌈log2(T/L)⌉`` (thresholds raised by ``T' − T``,
    so no pre-activation changes; only neurons above ``T`` saturate later, as on the chip), and spike
    times, the readout's inputs included, are floored to ``L = 2**time_bits`` steps per window. With
    ``bias_correction`` the floor-bias correction is folded into the float biases before fine-tuning and
    not applied again when re-quantising (the fine-tuned network compensates the floor error itself).
    ``"round"`` is the reference code's quantiser (``2**b − 1`` levels, readout input exact) on the
    unchanged windows.

    Args:
        net: TTFSNetwork (fine-tuned in place).
        train_data: ``(x, y)`` batches.
        val_data: ``(x, y)`` batches for the accuracy report.
        precision: a ``PrecisionSpec`` or profile.
        input_shape: per-sample input shape.
        epochs: fine-tuning epochs.
        lr: learning rate.
        calibration: raw inputs for the membrane-overflow check (and the bias correction).
        bias_correction: compensate the floor error of quantised spike times (``quantize``).
        time_quant: training-time time quantiser (``ttfsnet.RobustnessConfig.time_quant``).

    Returns:
        ``float_before``, ``int_before`` (PTQ without fine-tuning), ``float_after``, ``int_after``,
        ``qnet`` (the final quantised network) and ``history``.
    """
    import ttfsnet

    if time_quant not in ("round", "step"):
        raise ValueError(f"qat_finetune: time_quant must be 'round' or 'step', got {time_quant!r}")
    prec = _precision_of(precision)
    float_before = _accuracy(lambda x: _predict(net, x), val_data)
    q0 = quantize(ir_from_ttfs(net, input_shape), prec, calibration, bias_correction=bias_correction)
    int_before = _accuracy(lambda x: _int_predict(q0, x), val_data)
    if time_quant == "step":
        _widen_windows_to_steps(net, 2**prec.time_bits)
        if bias_correction:
            # training on the step grid learns the floor compensation itself: start from the corrected
            # network and do not correct again when re-quantising (that would compensate twice)
            _fold_floor_correction(net, quantize(ir_from_ttfs(net, input_shape), prec), calibration)
    w_max = max(float(m.weight.detach().abs().max()) for m in net.layers if hasattr(m, "weight"))
    rob = ttfsnet.RobustnessConfig(
        time_bits=prec.time_bits,
        time_quant=time_quant,
        weight_bits=prec.weight_bits,
        weight_range=(-w_max, w_max),
    )
    result = ttfsnet.finetune(net, list(train_data), epochs=epochs, lr=lr, robustness=rob)
    float_after = _accuracy(lambda x: _predict(net, x), val_data)
    correct_again = bias_correction and time_quant == "round"
    q1 = quantize(ir_from_ttfs(net, input_shape), prec, calibration, bias_correction=correct_again)
    int_after = _accuracy(lambda x: _int_predict(q1, x), val_data)
    return {
        "float_before": float_before,
        "int_before": int_before,
        "float_after": float_after,
        "int_after": int_after,
        "qnet": q1,
        "history": result,
    }
