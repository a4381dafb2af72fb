"""Fake quantisation and spike-time noise used for hardware-aware fine-tuning (``docs/training.md``)."""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor

from ttfsnet.functional.errors import TTFSValueError

__all__ = ["fake_quantize", "quantize_activation_times", "step_quantize_activation_times", "add_time_noise"]


def fake_quantize(
    x: Tensor, bits: int, low: float | Tensor, high: float | Tensor, *, straight_through: bool = True
) -> Tensor:
    """Round ``x`` to ``2**bits`` uniform levels over ``[low, high]`` (values outside are clipped).

    Args:
        x: Values to quantise.
        bits: Number of bits (``>= 1``).
        low: Lowest level.
        high: Highest level.
        straight_through: If true the backward pass treats the quantiser as the identity
            (straight-through estimator); otherwise the gradient is that of ``round`` (zero).

    Returns:
        Quantised values, same shape and dtype.
    """
    if bits < 1:
        raise TTFSValueError(f"fake_quantize: bits must be >= 1, got {bits}")
    levels = 2**bits - 1
    step = (high - low) / levels
    q = torch.round(((x - low) / step).clamp(0, levels)) * step + low
    if straight_through:
        return x + (q - x).detach()
    return q


def quantize_activation_times(
    x: Tensor, bits: int, window: float | Tensor, *, straight_through: bool = True
) -> Tensor:
    """Fake-quantise spike times ``t = T - x`` to ``2**bits`` levels over ``[0, T]``.

    Uniform levels of ``t`` over the window are uniform levels of ``x``, and silent neurons
    (``x = 0``) stay exactly silent, so the quantiser runs on activations.
    """
    return fake_quantize(x, bits, 0.0, window, straight_through=straight_through)


def step_quantize_activation_times(
    x: Tensor, bits: int, window: float | Tensor, *, straight_through: bool = True
) -> Tensor:
    """Snap spike times to the step grid of a time-stepped neuron with ``L = 2**bits`` steps per window.

    A neuron that checks its threshold once per step fires at the first step boundary at or after its
    continuous firing time, ``k = ⌈t/Δ⌉`` with ``Δ = T/L``; in activations ``x = T - t`` that is
    ``⌊x/Δ⌋·Δ`` clipped to ``[0, T]`` (an activation below one step is silent). This is the time
    quantisation of an integer YOSO-style datapath (``ttfsnet_hw.intsim``), unlike
    [`quantize_activation_times`][ttfsnet.functional.quantize.quantize_activation_times], which rounds to
    ``2**bits - 1`` levels.

    Args:
        x: Activations ``T - t`` (0 = silent).
        bits: Time bits (``>= 1``).
        window: Window ``T`` of the layer that emitted ``x``.
        straight_through: Straight-through gradient (else the zero gradient of ``floor``).

    Returns:
        Quantised activations, same shape and dtype.
    """
    if bits < 1:
        raise TTFSValueError(f"step_quantize_activation_times: bits must be >= 1, got {bits}")
    steps = 2**bits
    delta = window / steps
    # clamp in steps, not in time: x/Δ of a saturated neuron may round just above L
    q = torch.floor(x / delta).clamp(0, steps) * delta
    if straight_through:
        return x + (q - x).detach()
    return q


def add_time_noise(
    x: Tensor, std: float, window: float | Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Add Gaussian jitter of standard deviation ``std`` to the spike times of firing neurons.

    A spike moved outside ``[0, T]`` is clipped to the window: moved past ``T`` it is lost
    (silent), moved before ``0`` it fires at the window start. Silent neurons are never perturbed
    (unlike the reference code).
    """
    noise = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator) * std
    clipped = cast(Tensor, torch.clamp(x - noise, 0.0, window))  # pyright: ignore[reportCallIssue, reportArgumentType] - torch stubs lack clamp(Tensor, float, Tensor)
    return torch.where(x > 0, clipped, x)
