"""Exact ReLU ANN → TTFS SNN conversion and the inverse mapping (``docs/ttfs-model.md`` §3–§7).

[`convert`][ttfsnet.convert.convert] fuses every affine that sits between two weighted layers (BatchNorm
before or after ReLU, the input normalisation ``x = p + (q - p)·x̃``) into the neighbouring weighted layer
(that ANN-side fusion lives in [`ttfsnet.fusion`][ttfsnet.fusion]), builds the TTFS layers, calibrates one
window per spiking layer, ``T^{(n)} = (1 + ζ)·X^{(n)}``, and maps biases to thresholds ``ϑ = T - b``.
[`to_ann`][ttfsnet.convert.to_ann] maps a [`TTFSNetwork`][ttfsnet.nn.TTFSNetwork] back to plain torch modules.
"""

# Public functions check argument types at run time for untyped callers.
# pyright: reportUnnecessaryIsInstance=false

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ttfsnet import functional as TF
from ttfsnet.errors import TTFSValueError
from ttfsnet.fused_ops import AvgPoolOp, FusedOp, MaxPoolOp, WeightedOp
from ttfsnet.fusion import fuse
from ttfsnet.nn import (
    InputNormalization,
    PositionBias,
    SignedMaxPool2d,
    TTFSAvgPool2d,
    TTFSConv2d,
    TTFSFlatten,
    TTFSLayer,
    TTFSLinear,
    TTFSMaxPool2d,
    TTFSNetwork,
    TTFSSpikingLayer,
)
from ttfsnet.numerics import exact_float32
from ttfsnet.stats import input_batches

__all__ = ["convert", "to_ann", "InputNormalization", "PositionBias", "SignedMaxPool2d"]


def _collect_calibration(data: Any) -> list[Tensor]:
    batches = [x.detach() for x in input_batches(data, "convert", "calibration_data")]
    if not batches:
        raise TTFSValueError(
            "convert: calibration_data is empty; windows T = (1 + zeta)·X need at least one sample"
        )
    return batches


def _check_finite(model: nn.Module) -> None:
    """Refuse non-finite parameters or buffers and negative BatchNorm variances, naming the module.

    Either would turn into NaN windows and thresholds and so NaN logits, with no saturation reported.
    """
    for name, module in _named_modules(model).items():
        where = f"convert: module '{name}' ({type(module).__name__})" if name else "convert: the model"
        tensors = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
        for attr, t in tensors:
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise TTFSValueError(f"{where}: {attr} has NaN or Inf entries; expected finite values")
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            var = module.running_var
            if var is not None and bool((var < 0).any()):
                raise TTFSValueError(f"{where}: running_var has negative entries; a variance must be >= 0")


def _named_modules(model: nn.Module) -> dict[str, nn.Module]:
    """``dict(model.named_modules())``, in its order."""
    named: dict[str, nn.Module] = dict(model.named_modules())  # pyright: ignore[reportUnknownArgumentType] - torch's recursive generator is inferred partially unknown
    return named


def _model_dtype_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype, p.device
    return torch.get_default_dtype(), torch.device("cpu")


def convert(
    model: nn.Module, calibration_data: Any, zeta: float = 0.5, input_range: tuple[float, float] = (0.0, 1.0)
) -> TTFSNetwork:
    """Convert a ReLU network into an exactly equivalent TTFS network (never mutates ``model``).

    The conversion runs under [`ttfsnet.exact_float32`][ttfsnet.exact_float32] (no TF32 on CUDA), so the
    windows come from the same float32 arithmetic as a CPU run.

    Args:
        model: ``nn.Sequential`` (possibly nested) of Conv2d, Linear, BatchNorm1d/2d (before or after
            ReLU), ReLU, MaxPool2d, AvgPool2d (after ReLU), Flatten and Dropout, ending in an
            ``nn.Linear`` that produces the logits. BatchNorm uses its running statistics.
        calibration_data: A tensor, or an iterable of tensors or ``(x, y)`` tuples (e.g. a
            ``DataLoader``), of raw inputs within ``input_range``. It is read once into memory.
        zeta: Window margin: ``T^{(n)} = (1 + ζ)·X^{(n)}`` with ``X^{(n)}`` the largest activation of
            layer ``n`` of the fused network on the calibration data; must be ``> -1``. A layer that
            never fires on the calibration data (``X = 0``) gets ``T = 1`` (the input window width).
            With ``ζ = 0`` float rounding can report edge neurons as saturated; keep a margin.
        input_range: Declared range ``(p, q)`` of raw inputs; fused into the first weighted layer.

    Returns:
        A [`TTFSNetwork`][ttfsnet.nn.TTFSNetwork] in the dtype of ``model``, with ``input_shape`` set to the
        calibration data's per-sample shape.

    Raises:
        TTFSValueError: For unsupported modules (naming their path and type), non-finite parameters or
            buffers and negative BatchNorm ``running_var`` (naming the module), an empty or invalid
            calibration set, or calibration inputs outside ``input_range``.
    """
    with torch.no_grad(), exact_float32():
        return _convert(model, calibration_data, zeta, input_range)


def _convert(
    model: nn.Module, calibration_data: Any, zeta: float, input_range: tuple[float, float]
) -> TTFSNetwork:
    if not isinstance(model, nn.Module):
        raise TTFSValueError(f"convert: model must be an nn.Module, got {type(model).__name__}")
    if not (zeta > -1 and math.isfinite(zeta)):
        raise TTFSValueError(f"convert: zeta must be finite and > -1, got {zeta}")
    p, q = float(input_range[0]), float(input_range[1])
    if not (math.isfinite(p) and math.isfinite(q) and p < q):
        raise TTFSValueError(f"convert: input_range must be finite with p < q, got {input_range}")
    _check_finite(model)
    # Fusion runs on the CPU from detached copies (the model is never touched); calibration runs on
    # the model's device with the converted layers themselves.
    dtype, device = _model_dtype_device(model)
    batches = [b.to(dtype=dtype, device="cpu") for b in _collect_calibration(calibration_data)]
    for b in batches:
        TF.check_input_range(b, (p, q), where="convert calibration_data")
    sample_shape = tuple(batches[0].shape[1:])
    for k, b in enumerate(batches):
        if tuple(b.shape[1:]) != sample_shape:
            raise TTFSValueError(
                f"convert: calibration_data batch {k} has per-sample shape {tuple(b.shape[1:])}; "
                f"expected {sample_shape} like batch 0"
            )
    ops, readout = fuse(model, sample_shape, (p, q), dtype)

    layers: list[TTFSLayer] = []
    for op in ops:
        if isinstance(op, WeightedOp):
            layers.append(_build_weighted(op, dtype))
        elif isinstance(op, MaxPoolOp):
            layers.append(
                TTFSMaxPool2d(op.kernel_size, op.stride, op.padding, op.dilation, op.ceil_mode, sign=op.sign)
            )
        elif isinstance(op, AvgPoolOp):
            layers.append(TTFSAvgPool2d(op.kernel_size, op.stride, op.padding, window=1.0, dtype=dtype))
        else:
            layers.append(TTFSFlatten())
    head = TTFSLinear(readout.weight.shape[1], readout.weight.shape[0], readout=True, dtype=dtype)
    head.weight.copy_(readout.weight)
    head.bias.copy_(readout.bias)
    layers.append(head)
    net = TTFSNetwork(layers, (p, q), input_shape=sample_shape).to(device)

    peaks = _calibration_peaks(net, batches, _chunk_size(sample_shape, ops), device)
    for i, op in enumerate(ops):
        if i not in peaks:
            continue
        peak = float(peaks[i])
        window = (1.0 + zeta) * peak if peak > 0 else 1.0
        layer = layers[i]  # the module inside ``net`` (``.to`` moves modules in place)
        assert isinstance(layer, TTFSSpikingLayer) and layer.window is not None
        layer.window.fill_(window)
        if isinstance(op, WeightedOp):
            assert isinstance(layer, (TTFSLinear, TTFSConv2d))
            layer.threshold.copy_(window - op.bias.to(device))
    return net


#: Calibration runs in chunks whose largest activation holds at most this many elements (16 MiB in
#: float32): activations that stay in the CPU caches make the pass markedly faster than large batches.
CALIBRATION_CHUNK_ELEMENTS = 1 << 22


def _chunk_size(sample_shape: tuple[int, ...], ops: list[FusedOp]) -> int:
    largest = max(
        [math.prod(sample_shape)] + [math.prod(op.out_shape) for op in ops if isinstance(op, WeightedOp)]
    )
    return max(1, CALIBRATION_CHUNK_ELEMENTS // max(1, largest))


def _calibration_peaks(
    net: TTFSNetwork, batches: list[Tensor], chunk: int, device: torch.device
) -> dict[int, Tensor]:
    """``X^{(n)}``: largest activation of each window-owning layer of the fused ReLU network.

    Activations are unclipped, so the provisional unit windows do not matter. A maximum does not
    depend on how the samples are grouped, so the batches are re-chunked for speed.
    """
    peaks: dict[int, Tensor] = {}
    with torch.inference_mode():
        for batch in batches:
            for b in torch.split(batch, chunk):
                x = TF.ttfs_encode(b.to(device), net.input_range)
                if x.dim() == 4 and x.dtype == torch.float32:
                    # oneDNN's float32 convolutions run faster on NHWC activations; same values up to
                    # summation order, which ζ's margin absorbs.
                    x = x.contiguous(memory_format=torch.channels_last)
                for i, layer in enumerate(net.ttfs_layers()[:-1]):
                    if isinstance(layer, TTFSSpikingLayer):
                        x = layer.preactivation(x).relu_()
                        top = x.max() if x.numel() else x.new_zeros(())
                        peaks[i] = torch.maximum(peaks[i], top) if i in peaks else top
                    else:
                        x = layer(x)
    return peaks


def _build_weighted(op: WeightedOp, dtype: torch.dtype) -> TTFSLinear | TTFSConv2d:
    # every window starts at 1; calibration sets the real ones
    layer: TTFSLinear | TTFSConv2d
    if op.kind == "linear":
        layer = TTFSLinear(op.weight.shape[1], op.weight.shape[0], window=1.0, dtype=dtype)
    else:
        g = op.geometry
        assert g is not None
        c_out, cin_g, kh, kw = op.weight.shape
        layer = TTFSConv2d(
            cin_g * g.groups,
            c_out,
            (kh, kw),
            g.stride,
            g.padding,
            g.dilation,
            g.groups,
            window=1.0,
            threshold_shape=tuple(op.bias.shape),
            dtype=dtype,
        )
    layer.weight.copy_(op.weight)
    layer.threshold.copy_(layer.own_window() - op.bias)
    return layer


@torch.no_grad()
def to_ann(net: TTFSNetwork, clip: bool = False) -> nn.Sequential:
    """Map a TTFS network back to an equivalent ReLU network of plain torch modules.

    Each layer contributes its ``to_ann(clip=clip)`` modules. Hidden layers get ``b = T - ϑ``;
    position-dependent thresholds become a [`PositionBias`][ttfsnet.convert.PositionBias]; the input encoding
    becomes [`InputNormalization`][ttfsnet.convert.InputNormalization]. With ``clip=False`` activations are
    ``ReLU`` (equal to the SNN while nothing saturates); with ``clip=True`` they are ``Hardtanh(0, T)``, equal
    to the SNN even with saturation.

    Args:
        net: The TTFS network (not modified).
        clip: Use the window-clipped ReLU.

    Returns:
        ``nn.Sequential`` computing the same logits from raw inputs.
    """
    p, q = net.input_range
    mods: list[nn.Module] = [InputNormalization(p, q)]
    for layer in net.ttfs_layers():
        mods += layer.to_ann(clip=clip)
    return nn.Sequential(*mods).to(net.input_low.device)
