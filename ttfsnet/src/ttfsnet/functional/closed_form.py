"""Closed-form B1 layers in per-layer relative time.

Every spiking quantity is carried as an *activation* ``x = T - t`` where ``t`` is the spike time
relative to the start of the emitting layer's window and ``T`` its width; ``x == 0`` means "no
spike".  This keeps the hot path identical in cost to a ReLU network (one conv/matmul and one clamp
per layer); spike times are only materialised on request with
[`activation_to_time`][ttfsnet.functional.closed_form.activation_to_time].

The B1 closed form (``docs/ttfs-model.md`` §1, threshold live in phase 2 only) is

$$ x_i^{(n)} = \\operatorname{clamp}\\Big(\\sum_j W_{ij} x_j^{(n-1)} + T^{(n)} - \\vartheta_i^{(n)},
   \\ 0,\\ T^{(n)}\\Big), \\qquad
   \\hat t_i^{(n)} = T^{(n)} - x_i^{(n)} \\ (x_i > 0),\\ +\\infty \\text{ otherwise.} $$
"""

from __future__ import annotations

from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "Conv2dGeometry",
    "TTFSParameters",
    "activation_to_time",
    "time_to_activation",
    "ttfs_bias",
    "ttfs_linear",
    "ttfs_linear_preactivation",
    "ttfs_conv2d",
    "ttfs_conv2d_preactivation",
    "ttfs_linear_times",
    "ttfs_max_pool2d",
    "ttfs_max_pool2d_times",
    "ttfs_avg_pool2d",
    "ttfs_avg_pool2d_preactivation",
    "ttfs_flatten",
    "ttfs_readout",
    "saturation_mask",
]


class TTFSParameters(NamedTuple):
    """Parameters of one hidden B1 layer.

    Attributes:
        weight: Synaptic weights ``W`` (``(out, in)`` dense or ``(C_out, C_in/groups, kh, kw)`` conv).
        threshold: Firing threshold ``ϑ``; ``(out,)``, ``(C_out,)`` or position dependent
            ``(C_out, H_out, W_out)``.
        window: Window width ``T`` of this layer (scalar tensor or float).
    """

    weight: Tensor
    threshold: Tensor
    window: Tensor | float


class Conv2dGeometry(NamedTuple):
    """Stride, padding, dilation and groups of a 2-D convolution (zero padding)."""

    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1


def ttfs_bias(threshold: Tensor, window: Tensor | float) -> Tensor:
    """Equivalent ANN bias ``b = T - ϑ`` of a hidden layer (α = 0 convention, ``docs/ttfs-model.md`` §4)."""
    return window - threshold


def activation_to_time(x: Tensor, window: Tensor | float) -> Tensor:
    """Spike times relative to the window start: ``T - x`` where ``x > 0``, ``+inf`` where silent.

    Args:
        x: Activations in ``[0, T]``.
        window: Window width ``T``.

    Returns:
        Tensor of the same shape; ``inf`` marks "no spike".
    """
    return torch.where(x > 0, window - x, float("inf"))


def time_to_activation(t: Tensor, window: Tensor | float) -> Tensor:
    """Inverse of [`activation_to_time`][ttfsnet.functional.closed_form.activation_to_time]: ``T - t`` for
    finite ``t``, ``0`` for ``inf``."""
    zero = torch.zeros_like(t)
    finite = torch.isfinite(t)
    return torch.where(finite, window - torch.where(finite, t, zero), zero)


def saturation_mask(pre: Tensor, window: Tensor | float) -> Tensor:
    """Neurons whose pre-clamp value exceeds ``T``: their threshold is already crossed at ``t_min``.

    With the threshold gated to phase 2 they fire at the window start, so the layer computes the
    clipped ReLU ``min(ReLU(z), T)`` and ANN equivalence is lost for them (``docs/ttfs-model.md`` §2).
    """
    return pre > window


def _clamp_window(pre: Tensor, window: Tensor | float) -> Tensor:
    # ``pre`` is always a fresh temporary here; clamping it in place when no gradient is needed keeps
    # inference memory at the ReLU network's two live activations instead of three.
    if pre.requires_grad:
        return cast(Tensor, torch.clamp(pre, 0.0, window))  # pyright: ignore[reportCallIssue, reportArgumentType] - torch stubs lack clamp(Tensor, float, Tensor)
    return cast(Tensor, pre.clamp_(0.0, window))  # pyright: ignore[reportCallIssue, reportArgumentType] - torch stubs lack clamp(Tensor, float, Tensor)


def ttfs_linear_preactivation(x: Tensor, params: TTFSParameters) -> Tensor:
    """Pre-clamp value ``W x + T - ϑ`` of a dense B1 layer (the ANN pre-activation)."""
    return F.linear(x, params.weight, ttfs_bias(params.threshold, params.window))


def ttfs_linear(x: Tensor, params: TTFSParameters) -> Tensor:
    """Dense B1 layer on activations.

    Args:
        x: Input activations ``(B, in)``, ``x_j = T^{(n-1)} - t_j``.
        params: Weight ``(out, in)``, threshold ``(out,)``, window.

    Returns:
        Output activations ``(B, out)`` in ``[0, T]``.
    """
    return _clamp_window(ttfs_linear_preactivation(x, params), params.window)


def ttfs_conv2d_preactivation(x: Tensor, params: TTFSParameters, geometry: Conv2dGeometry) -> Tensor:
    """Pre-clamp value of a convolutional B1 layer; any stride/padding/dilation/groups.

    Zero padding of activations is padding with "no spike" (equivalently a spike at the end of the
    previous window, ``docs/ttfs-model.md`` §6), so ``torch.nn.functional.conv2d`` is exact.
    """
    bias = ttfs_bias(params.threshold, params.window)
    if bias.dim() == 1:
        return F.conv2d(
            x, params.weight, bias, geometry.stride, geometry.padding, geometry.dilation, geometry.groups
        )
    out = F.conv2d(
        x, params.weight, None, geometry.stride, geometry.padding, geometry.dilation, geometry.groups
    )
    return out + bias


def ttfs_conv2d(x: Tensor, params: TTFSParameters, geometry: Conv2dGeometry) -> Tensor:
    """Convolutional B1 layer on activations.

    Shapes:
        x: ``(B, C_in, H, W)``; returns ``(B, C_out, H_out, W_out)``.
    """
    return _clamp_window(ttfs_conv2d_preactivation(x, params, geometry), params.window)


def ttfs_linear_times(t_in: Tensor, window_in: Tensor | float, params: TTFSParameters) -> Tensor:
    """Dense B1 layer from input spike times to output spike times (both relative, ``inf`` = none).

    Convenience wrapper for examples and tests; the network itself computes on activations.
    """
    x = time_to_activation(t_in, window_in)
    return activation_to_time(ttfs_linear(x, params), params.window)


def _signed(x: Tensor, sign: Tensor | None) -> Tensor:
    if sign is None:
        return x
    return x * sign.view(1, -1, *([1] * (x.dim() - 2)))


def ttfs_max_pool2d(
    x: Tensor,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
    sign: Tensor | None = None,
) -> Tensor:
    """Max pooling of activations = earliest spike in each window.

    Args:
        x: Activations ``(B, C, H, W)``.
        kernel_size: Pool window.
        stride: Pool stride.
        padding: Implicit padding (never selected: it behaves like ``-inf``).
        dilation: Pool dilation.
        ceil_mode: As in `torch.nn.functional.max_pool2d`.
        sign: Optional per-channel ``±1`` ``(C,)``; ``-1`` selects the *latest* spike (minimum
            activation), which is what max pooling becomes after a fused negative BN scale.

    Returns:
        Pooled activations.
    """
    y = F.max_pool2d(_signed(x, sign), kernel_size, stride, padding, dilation, ceil_mode)
    return _signed(y, sign)


def ttfs_max_pool2d_times(
    t: Tensor,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
    sign: Tensor | None = None,
) -> Tensor:
    """Same as [`ttfs_max_pool2d`][ttfsnet.functional.closed_form.ttfs_max_pool2d] but on spike times (min
    over times; ``inf`` = no spike).

    Within one window a time is an activation up to an affine map with negative slope, so pooling
    ``-t`` like activations selects the same spike.
    """
    return -ttfs_max_pool2d(-t, kernel_size, stride, padding, dilation, ceil_mode, sign)


def ttfs_avg_pool2d_preactivation(
    x: Tensor, kernel_size: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int] = (0, 0)
) -> Tensor:
    """Average pooling as a fixed-weight B1 layer with zero bias (``ϑ = T``), before the clamp."""
    return F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode=False, count_include_pad=True)


def ttfs_avg_pool2d(
    x: Tensor,
    window: Tensor | float,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int] = (0, 0),
) -> Tensor:
    """Average pooling as a B1 layer with its own window: ``clamp(avg(x), 0, T)``.

    The weights are ``1/(kh·kw)`` per channel and the threshold equals the window (ANN bias 0), so
    the neuron spikes at ``T - avg(x)``; inputs are non-negative, so only the upper clip can act.
    """
    return _clamp_window(ttfs_avg_pool2d_preactivation(x, kernel_size, stride, padding), window)


def ttfs_flatten(x: Tensor) -> Tensor:
    """Flatten all but the batch dimension (channel-major, as `torch.nn.Flatten`)."""
    return x.flatten(1)


def ttfs_readout(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Output layer: membrane at the start of its window, ``b + W x`` (``docs/ttfs-model.md`` §4).

    The bias current ``α = b/Δ`` integrated over the last hidden window ``Δ`` contributes exactly
    ``b``, so the readout is parameterised by ``b`` directly.
    """
    return F.linear(x, weight, bias)
