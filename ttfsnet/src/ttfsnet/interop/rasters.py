"""Spike rasters ⇄ spike times, latency-coded input rasters, and the spike raster of a membrane readout.

Conventions shared with snnTorch:

* rasters are **time-first** ``[T, B, ...]``; a non-zero entry is a spike;
* spike times are ``[B, ...]`` tensors with ``+inf`` for "no spike";
* a raster of ``num_steps`` steps samples the window ``[0, t_max]`` on the grid
  ``k · t_max / (num_steps - 1)``, ``k = 0 … num_steps - 1`` (both ends included): the **linear
  code**. It is the grid of ``snntorch.spikegen.latency(x, num_steps, linear=True, normalize=True)``,
  which puts the spike of value ``x ∈ [0, 1]`` at step ``round((num_steps - 1)(1 - x))``, and of
  [`latency_encode`][ttfsnet.interop.rasters.latency_encode]. The last step (``t = t_max``) carries activation
  0, which in the B1 model is the same as no spike.

A raster does not say which code wrote it, so [`raster_to_times`][ttfsnet.interop.rasters.raster_to_times]
makes the caller state it (``code="linear"``): a default ``spikegen.latency`` call (log code) then fails
instead of decoding to wrong input times.
"""

# Public functions check argument types at run time for untyped callers.
# pyright: reportUnnecessaryIsInstance=false

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from ttfsnet import functional as TF
from ttfsnet.errors import TTFSValueError

if TYPE_CHECKING:
    from ttfsnet.nn import RunResult

__all__ = ["RasterCode", "latency_encode", "output_raster", "raster_to_times", "times_to_raster"]


def _check_grid(num_steps: int, t_max: float, where: str) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 2:
        raise TTFSValueError(
            f"{where}: num_steps must be an int >= 2 (the grid includes 0 and t_max), got {num_steps!r}"
        )
    if not (math.isfinite(t_max) and t_max > 0):
        raise TTFSValueError(f"{where}: t_max must be a finite positive float, got {t_max!r}")


def times_to_raster(times: Tensor, num_steps: int, t_max: float = 1.0) -> Tensor:
    """Spike times → time-first spike raster on the grid ``k·t_max/(num_steps-1)``.

    Each finite time is placed at its nearest grid step (``torch.round``, half to even), so times that
    lie on the grid round-trip exactly through [`raster_to_times`][ttfsnet.interop.rasters.raster_to_times],
    and other times move by at most half a step.

    Args:
        times: Spike times ``(B, ...)`` in ``[0, t_max]``; ``+inf`` = no spike.
        num_steps: Number of raster steps ``T >= 2``.
        t_max: Window end (the time of the last step).

    Returns:
        Raster ``(T, B, ...)`` with the dtype of ``times`` (float), one ``1`` per spiking neuron.

    Raises:
        TTFSValueError: On NaN, ``-inf`` or finite times outside ``[0, t_max]`` (beyond a 1e-9 relative
            tolerance), or an invalid ``num_steps``/``t_max``.

    Shapes:
        times: ``(B, ...)``; returns ``(T, B, ...)``.
    """
    _check_grid(num_steps, t_max, "times_to_raster")
    if not times.is_floating_point():
        raise TTFSValueError(f"times_to_raster: times must be a floating tensor, got dtype {times.dtype}")
    if bool(torch.isnan(times).any()) or bool((times == float("-inf")).any()):
        raise TTFSValueError(
            "times_to_raster: times contain NaN or -inf; expected values in [0, t_max] or +inf"
        )
    finite = torch.isfinite(times)
    tol = 1e-9 * t_max
    if bool(finite.any()):
        lo, hi = float(times[finite].min()), float(times[finite].max())
        if lo < -tol or hi > t_max + tol:
            raise TTFSValueError(
                f"times_to_raster: finite times span [{lo:.6g}, {hi:.6g}], outside the window [0, {t_max}]"
            )
    steps = torch.round(torch.where(finite, times, torch.zeros_like(times)) * (num_steps - 1) / t_max)
    steps = steps.clamp(0, num_steps - 1).long()
    raster = torch.zeros((num_steps, *times.shape), dtype=times.dtype, device=times.device)
    raster.scatter_(0, steps.unsqueeze(0), finite.to(times.dtype).unsqueeze(0))
    return raster


#: The raster codes `raster_to_times` can decode (see the module docstring).
RasterCode = Literal["linear"]


def raster_to_times(
    raster: Tensor,
    t_max: float = 1.0,
    *,
    code: RasterCode | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Time-first spike raster → first-spike times (``+inf`` where a neuron never spikes).

    The caller must state the raster's code, because a raster does not reveal it: a log-coded
    ``snntorch.spikegen.latency`` raster of the inputs ``{0, 1}`` is identical to a linear one, yet
    every value in between lands on a different step. ``code="linear"`` is the only code: step ``k``
    stands for the time ``k·t_max/(T-1)``. Rasters written by
    [`times_to_raster`][ttfsnet.interop.rasters.times_to_raster],
    [`latency_encode`][ttfsnet.interop.rasters.latency_encode],
    [`output_raster`][ttfsnet.interop.rasters.output_raster] and [`TTFSNeuron`][ttfsnet.interop.TTFSNeuron]
    loops use it, and so does ``snntorch.spikegen.latency(x, num_steps=T, linear=True, normalize=True)``,
    which decodes to ``t = round((T-1)(1-x))/(T-1)``, the input spike times of the quantised values
    ``x_q = 1 - t``. snnTorch's default log code (``linear=False``) and un-normalised codes map values to
    steps non-linearly or over a range set by ``tau``; they cannot be decoded.

    Only the first spike of each neuron counts, so multi-spike rasters are accepted.

    Args:
        raster: ``(T, B, ...)``, any dtype; non-zero entries are spikes.
        t_max: Time of the last step; the grid is ``k·t_max/(T-1)``.
        code: ``"linear"``; required.
        dtype: Floating dtype of the result; default: the raster's dtype if floating, else the
            default dtype.

    Returns:
        Spike times ``(B, ...)``.

    Raises:
        TTFSValueError: ``code`` is missing or not ``"linear"``, or the raster has fewer than 2 steps.

    Shapes:
        raster: ``(T, B, ...)``; returns ``(B, ...)``.
    """
    if code != "linear":
        got = "no code" if code is None else f"code={code!r}"
        raise TTFSValueError(
            f"raster_to_times: expected code='linear' (step k = time k*t_max/(T-1), as written by "
            f"times_to_raster, latency_encode and spikegen.latency(linear=True, normalize=True)), got {got}; "
            "snnTorch's default log code and un-normalised codes cannot be decoded"
        )
    if raster.dim() < 1:
        raise TTFSValueError("raster_to_times: raster must have a leading time dimension [T, B, ...]")
    num_steps = raster.shape[0]
    _check_grid(num_steps, t_max, "raster_to_times")
    out_dtype = dtype or (raster.dtype if raster.is_floating_point() else torch.get_default_dtype())
    spiking = raster != 0
    any_spike = spiking.any(dim=0)
    # argmax on the int view returns the first maximal index, i.e. the first spike step.
    first = spiking.to(torch.int8).argmax(dim=0)
    # k·t_max/(T-1) (not k·h) so that grid times written as k/(T-1) round-trip bit for bit
    times = first.to(out_dtype) * t_max / (num_steps - 1)
    return torch.where(any_spike, times, torch.full_like(times, float("inf")))


def latency_encode(x: Tensor, num_steps: int, *, input_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
    """Raw inputs → linear latency raster that [`raster_to_times`][ttfsnet.interop.rasters.raster_to_times]
    (``code="linear"``) decodes exactly.

    The input spike time ``t0 = 1 - x̃`` of each value (``x̃ = (x - p)/(q - p)``, the encoding of
    [`TTFSNetwork`][ttfsnet.nn.TTFSNetwork]) is placed on the nearest step of the grid ``k/(T-1)``; values
    at ``p`` do not spike. The result equals ``snntorch.spikegen.latency(x̃, num_steps=T,
    linear=True, normalize=True, clip=True, threshold=θ)`` for every value with ``x̃ >= θ`` (up to
    half-way ties), without snnTorch's traps: no spike moved to ``τ(1-θ)`` for small values, no
    float32-only output, and no log code by default.

    Args:
        x: Raw values ``(B, ...)`` in ``input_range``.
        num_steps: Raster length ``T >= 2``.
        input_range: Declared range ``(p, q)`` of the raw values (a network's ``input_range``).

    Returns:
        Raster ``(T, B, ...)`` with the dtype of ``x`` (floating), at most one spike per value.

    Raises:
        TTFSValueError: ``x`` is not floating, holds NaN/Inf or values outside ``input_range``, or
            ``num_steps`` is not an int >= 2.

    Shapes:
        x: ``(B, ...)``; returns ``(T, B, ...)``.
    """
    _check_grid(num_steps, 1.0, "latency_encode")
    if not x.is_floating_point():
        raise TTFSValueError(f"latency_encode: x must be a floating tensor, got dtype {x.dtype}")
    rng = (float(input_range[0]), float(input_range[1]))
    TF.check_input_range(x, rng, where="latency_encode")
    return times_to_raster(TF.ttfs_encode_times(x, rng), num_steps)


def output_raster(
    source: Tensor | RunResult,
    num_steps: int,
    *,
    t_out: float | None = None,
    dt: float | None = None,
) -> Tensor:
    """Spike raster of a spike-based readout: output neuron ``i`` fires at ``t_out - z_i`` (clipped).

    ``ttfsnet`` reads logits ``z`` from the output membrane. To decode the decision from spikes
    instead, continue the output layer as a B1 phase 2: its membrane ramps up from ``z`` with unit
    slope towards the threshold ``t_out``, so neuron ``i`` fires at ``s_i = max(t_out - z_i, 0)``;
    larger logits fire earlier. On a grid of step ``dt`` the spike lands on step ``ceil(s_i / dt)``
    (first grid point with ``z_i + k·dt >= t_out``, as in [`TTFSNeuron`][ttfsnet.interop.TTFSNeuron]); neurons
    whose step is ``>= num_steps`` stay silent.

    ``snntorch.functional.accuracy_temporal`` on the raster equals argmax accuracy of the logits
    unless two logits of a sample fall into the same step (ties: snnTorch picks the lowest index,
    and silent neurons all count as step ``T-1``); choose ``dt`` below the smallest top-1/top-2
    logit gap to rule this out. ``accuracy_rate`` counts spikes, and every output neuron spikes at
    most once, so it carries no information about the logits (with the default ``dt`` every neuron
    spikes once and it reports the share of class-0 targets).

    Gradients: the raster is differentiable with respect to the logits, so
    ``snntorch.functional.ce_temporal_loss`` (and the other losses built on snnTorch's first-spike
    function) train through it. That function passes the gradient ``-dL/dt`` to the raster entry at
    each neuron's first spike (step ``T-1`` for a silent neuron); that entry carries
    ``1 + (z_i - z_i.detach())/dt`` (value exactly 0/1), so the spike step moves by ``-1/dt`` per unit
    of logit, the slope of the rounded spike step (straight through the rounding). ``t_out`` and
    ``dt`` are constants for the gradient, also when their defaults are derived from the batch.

    Args:
        source: Logits ``(B, C)`` or a [`RunResult`][ttfsnet.RunResult] (its ``logits``).
        num_steps: Raster length ``T >= 2``.
        t_out: Readout threshold. Default: the largest logit of the batch (it fires at step 0).
        dt: Step. Default: ``(max z - min z)/(T - 1)`` over the batch, so every output neuron fires
            within the raster (``1.0`` if all logits are equal).

    Returns:
        Raster ``(T, B, C)`` with the dtype of the logits, at most one spike per neuron.

    Shapes:
        source: ``(B, C)``; returns ``(T, B, C)``.
    """
    logits = source if isinstance(source, Tensor) else source.logits
    if logits.dim() != 2 or not logits.is_floating_point():
        raise TTFSValueError(
            f"output_raster: expected floating logits of shape (B, C), got {tuple(logits.shape)}"
        )
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 2:
        raise TTFSValueError(f"output_raster: num_steps must be an int >= 2, got {num_steps!r}")
    z = logits.detach()
    if not bool(torch.isfinite(z).all()):
        raise TTFSValueError("output_raster: logits contain NaN or Inf")
    z_max, z_min = float(z.max()), float(z.min())
    thr = z_max if t_out is None else float(t_out)
    if dt is None:
        step = (z_max - z_min) / (num_steps - 1) if z_max > z_min else 1.0
    else:
        step = float(dt)
    if not (math.isfinite(step) and step > 0):
        raise TTFSValueError(f"output_raster: dt must be a finite positive float, got {dt!r}")
    k = torch.ceil((thr - z).clamp(min=0.0) / step)
    fires = k < num_steps
    k = k.clamp(max=num_steps - 1).long()
    # Exactly 0 in value, d/dz = 1/dt: the straight-through slope of the spike step (see the docstring).
    surrogate = (logits - z) / step
    raster = torch.zeros((num_steps, *z.shape), dtype=z.dtype, device=z.device)
    raster.scatter_(0, k.unsqueeze(0), fires.to(z.dtype).unsqueeze(0))
    if not logits.requires_grad:
        return raster
    # Only the first-spike entry (or step T-1 for a silent neuron, snnTorch's shadow spike) carries it.
    return raster + torch.zeros_like(raster).scatter(0, k.unsqueeze(0), surrogate.unsqueeze(0))
