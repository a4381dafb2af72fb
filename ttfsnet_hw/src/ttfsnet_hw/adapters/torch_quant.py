"""Quantised torch networks: ``ttfsnet`` carrying the chip's values, its reference closed form, accuracy
before and after quantisation, and quantisation-aware fine-tuning.

* [`apply_quantization`][ttfsnet_hw.adapters.torch_quant.apply_quantization]: a float64 CPU copy of a
  ``TTFSNetwork`` with the quantised weights, thresholds, biases and power-of-two windows of a
  [`QuantizedNetwork`][ttfsnet_hw.types.QuantizedNetwork].
* [`ttfs_quantized_reference`][ttfsnet_hw.adapters.torch_quant.ttfs_quantized_reference]: ``ttfsnet``'s own
  per-layer closed form on those values (the reference the integer simulator must match exactly).
* [`quantization_accuracy`][ttfsnet_hw.adapters.torch_quant.quantization_accuracy],
  [`qat_finetune`][ttfsnet_hw.adapters.torch_quant.qat_finetune]: accuracy before/after post-training
  quantisation; quantisation-aware fine-tuning through ``ttfsnet.finetune``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

import ttfsnet
from ttfsnet import TTFSNetwork
from ttfsnet_hw.adapters.torch import copy_into, ir_from_ttfs, model_device
from ttfsnet_hw.datapath import encode_steps, quantized_window
from ttfsnet_hw.errors import HardwareValueError, QuantizationError
from ttfsnet_hw.intsim import simulate
from ttfsnet_hw.quantize import floor_corrections, precision_of, quantize
from ttfsnet_hw.types import IntSimResult, QuantizedNetwork
from ttfsnet_hw.walk import Step, walk

__all__ = ["apply_quantization", "qat_finetune", "quantization_accuracy", "ttfs_quantized_reference"]


@torch.no_grad()
def apply_quantization(net: TTFSNetwork, qnet: QuantizedNetwork) -> TTFSNetwork:
    """A float64 copy of ``net`` on the CPU carrying the quantised weights, thresholds, biases and windows.

    Args:
        net: the TTFSNetwork that ``qnet`` was built from (``ir_from_ttfs``), on any device.
        qnet: its quantisation.

    Returns:
        The quantised copy (on the CPU, where the integer simulator it is checked against runs).
    """
    out = copy.deepcopy(net).cpu().double()
    layers = {layer.name: layer for layer in qnet.ir.layers}
    modules: list[Any] = out.ttfs_layers()  # attributes differ by layer kind; read as the IR says
    for i, module in enumerate(modules):
        ql = layers[f"layers.{i}"]
        if ql.weight is not None and hasattr(module, "weight"):
            copy_into(module.weight, ql.weight)
        if ql.kind in ("conv", "linear"):
            module.threshold.copy_(
                torch.from_numpy(np.asarray(ql.threshold, dtype=np.float64)).view_as(module.threshold)
            )
        if ql.kind == "readout":
            copy_into(module.bias, ql.bias)
        if ql.spiking:
            module.window.fill_(float(ql.window))  # type: ignore[arg-type]
    return out


@torch.no_grad()
def ttfs_quantized_reference(qnet_torch: TTFSNetwork, qnet: QuantizedNetwork, x: np.ndarray) -> IntSimResult:
    """``ttfsnet``'s per-layer closed form (``preactivation`` + clamp) on the quantised values, with spike
    times quantised to the layer's time steps between layers (a neuron fires at the first step boundary).

    The arithmetic is ``ttfsnet``'s own (its modules' ``preactivation`` and max pool); only the walk along
    the chain is [`ttfsnet_hw.walk.walk`][ttfsnet_hw.walk.walk], so this stays an independent reference for
    the integer simulator.

    Args:
        qnet_torch: [`apply_quantization`][ttfsnet_hw.adapters.torch_quant.apply_quantization] output
            (float64).
        qnet: the quantised network.
        x: raw inputs.

    Returns:
        A result comparable with [`ttfsnet_hw.intsim.simulate`][ttfsnet_hw.intsim.simulate].
    """
    L = qnet.steps
    modules: list[Any] = qnet_torch.ttfs_layers()
    sats: dict[str, int] = {}

    def activations(step: Step, a: np.ndarray) -> Tensor:
        return torch.from_numpy(a.astype(np.float64) * (step.in_window / L))

    def spiking(step: Step, a: np.ndarray) -> np.ndarray:
        layer = modules[step.index]
        pre = layer.preactivation(activations(step, a))
        big_t = float(layer.window)
        sats[f"layers.{step.index}"] = int((pre > big_t).sum())
        return torch.floor(torch.clamp(pre, 0.0, big_t) / (big_t / L)).to(torch.int64).numpy()

    def maxpool(step: Step, a: np.ndarray) -> np.ndarray:
        pooled = modules[step.index](activations(step, a))
        return torch.round(pooled / (step.in_window / L)).to(torch.int64).numpy()

    def readout(step: Step, a: np.ndarray) -> np.ndarray:
        return modules[step.index].preactivation(activations(step, a)).numpy()

    emitted, logits = walk(
        qnet.ir, encode_steps(qnet.ir, x, L), spiking=spiking, maxpool=maxpool, readout=readout
    )
    return IntSimResult(
        logits=logits,
        logits_int=None,
        predictions=np.argmax(logits, axis=1),
        steps=[L - a for a in emitted],
        saturated=sats,
        overflow={},
    )


def _accuracy(predict: Callable[[Tensor], Tensor], data: Iterable[tuple[Tensor, Tensor]]) -> float:
    correct = total = 0
    for x, y in data:
        correct += int((predict(x) == y.cpu()).sum())
        total += int(y.numel())
    return correct / max(total, 1)


def quantization_accuracy(
    net: TTFSNetwork,
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
        HardwareValueError: ``x`` and ``y`` have different lengths.
    """
    xs = torch.as_tensor(x)
    ys = torch.as_tensor(y).to(torch.int64).reshape(-1)
    if xs.shape[0] != ys.shape[0]:
        raise HardwareValueError(f"quantization_accuracy: {xs.shape[0]} inputs but {ys.shape[0]} labels")
    prec = precision_of(precision)
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


def _predict(net: TTFSNetwork, x: Tensor) -> Tensor:
    with torch.no_grad():
        return net(x.to(device=model_device(net), dtype=next(net.parameters()).dtype)).argmax(dim=1).cpu()


def _int_predict(qnet: QuantizedNetwork, x: Tensor) -> Tensor:
    return torch.from_numpy(simulate(qnet, x.detach().cpu().double().numpy()).predictions).to(torch.int64)


@torch.no_grad()
def _widen_windows_to_steps(net: TTFSNetwork, steps: int) -> None:
    """Give every spiking layer the power-of-two step ``quantize`` would give it, keeping pre-activations."""
    modules: list[Any] = net.ttfs_layers()
    for module in modules:
        window = getattr(module, "window", None)
        if window is None:
            continue
        big_t = float(window)
        wide = quantized_window(big_t, steps)
        if hasattr(module, "threshold"):
            module.threshold.add_(wide - big_t)
        window.fill_(wide)


@torch.no_grad()
def _fold_floor_correction(net: TTFSNetwork, qnet: QuantizedNetwork, calibration: np.ndarray | None) -> None:
    """Add ``quantize``'s floor-bias correction to the float network's biases (thresholds lowered)."""
    if calibration is None:
        raise QuantizationError("qat_finetune: bias_correction needs calibration inputs")
    corrections = floor_corrections(qnet, calibration, ir_from_ttfs(net, qnet.ir.input_shape))
    modules: list[Any] = net.ttfs_layers()
    for i, module in enumerate(modules):
        corr = corrections.get(f"layers.{i}")
        if corr is None:
            continue
        if getattr(module, "readout", False):
            b = module.bias
            b.add_(torch.as_tensor(corr, dtype=b.dtype, device=b.device).view_as(b))
        else:
            t = module.threshold
            t.sub_(torch.as_tensor(corr, dtype=t.dtype, device=t.device).view_as(t))


def qat_finetune(
    net: TTFSNetwork,
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
    if time_quant not in ("round", "step"):
        raise HardwareValueError(f"qat_finetune: time_quant must be 'round' or 'step', got {time_quant!r}")
    prec = precision_of(precision)
    float_before = _accuracy(lambda x: _predict(net, x), val_data)
    q0 = quantize(ir_from_ttfs(net, input_shape), prec, calibration, bias_correction=bias_correction)
    int_before = _accuracy(lambda x: _int_predict(q0, x), val_data)
    if time_quant == "step":
        _widen_windows_to_steps(net, 2**prec.time_bits)
        if bias_correction:
            # training on the step grid learns the floor compensation itself: start from the corrected
            # network and do not correct again when re-quantising (that would compensate twice)
            _fold_floor_correction(net, quantize(ir_from_ttfs(net, input_shape), prec), calibration)
    weighted: list[Any] = [m for m in net.ttfs_layers() if hasattr(m, "weight")]
    w_max = max(float(m.weight.detach().abs().max()) for m in weighted)
    rob = ttfsnet.RobustnessConfig(
        time_bits=prec.time_bits,
        time_quant=time_quant,
        weight_bits=prec.weight_bits,
        weight_range=(-w_max, w_max),
    )
    result = ttfsnet.finetune(
        net, list(train_data), epochs=epochs, lr=lr, robustness=rob, device=model_device(net)
    )
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
