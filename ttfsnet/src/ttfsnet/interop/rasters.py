"""Spike rasters ⇄ spike times, and the spike raster of a membrane readout.

Conventions shared with snnTorch (``snntorch-nir.md`` §3, §4):

* rasters are **time-first** ``[T, B, ...]``; a non-zero entry is a spike;
* spike times are ``[B, ...]`` tensors with ``+inf`` for "no spike";
* a raster of ``num_steps`` steps samples the window ``[0, t_max]`` on the grid
  ``k · t_max / (num_steps - 1)``, ``k = 0 … num_steps - 1`` (both ends included). This is exactly the
  grid of ``snntorch.spikegen.latency(x, num_steps, linear=True, normalize=True)``, which puts the
  spike of value ``x ∈ [0, 1]`` at step ``round((num_steps - 1)(1 - x))``; :func:`raster_to_times`
  with ``t_max=1`` therefore turns such a raster directly into ``ttfsnet`` input spike times.
  The last step (``t = t_max``) carries activation 0, which in the B1 model is the same as no spike.
"""

# Public functions check argument types at run time for untyped callers.
# pyright: reportUnnecessaryIsInstance=false

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ttfsnet.errors import TTFSValueError

if TYPE_CHECKING:
    from ttfsnet.nn import RunResult

__all__ = ["output_raster", "raster_to_times", "times_to_raster"]


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
    lie on the grid round-trip exactly through :func:`raster_to_times`, and other times move by at most
    half a step.

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


def raster_to_times(raster: Tensor, t_max: float = 1.0, *, dtype: torch.dtype | None = None) -> Tensor:
    """Time-first spike raster → first-spike times (``+inf`` where a neuron never spikes).

    Only the first spike of each neuron counts, so multi-spike rasters are accepted. Rasters from
    ``snntorch.spikegen.latency(x, num_steps=T, linear=True, normalize=True, clip=True, threshold=θ)``
    decode to ``t = round((T-1)(1-x))/(T-1)``: the input spike times of the quantised values
    ``x_q = 1 - t`` (``x < θ`` has no spike, i.e. ``x_q = 0``); feed them to
    ``TTFSNetwork.forward_times``.

    Args:
        raster: ``(T, B, ...)``, any dtype; non-zero entries are spikes.
        t_max: Time of the last step; the grid is ``k·t_max/(T-1)``.
        dtype: Floating dtype of the result; default: the raster's dtype if floating, else the
            default dtype.

    Returns:
        Spike times ``(B, ...)``.

    Shapes:
        raster: ``(T, B, ...)``; returns ``(B, ...)``.
    """
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


def output_raster(
    source: Tensor | RunResult,
    num_steps: int,
    *,
    t_out: float | None = None,
    dt: float | None = None,
) -> Tensor:
    """Spike raster of a spike-based readout: output neuron ``i`` fires at ``t_out - z_i`` (clipped).

    ``ttfsnet`` reads logits ``z`` from the output membrane (``ttfs-math.md`` §6). To decode the
    decision from spikes instead, continue the output layer as a B1 phase 2: its membrane ramps up
    from ``z`` with unit slope towards the threshold ``t_out``, so neuron ``i`` fires at
    ``s_i = max(t_out - z_i, 0)``; larger logits fire earlier. On a grid of step ``dt`` the spike lands
    on step ``ceil(s_i / dt)`` (first grid point with ``z_i + k·dt >= t_out``, as in
    :class:`TTFSNeuron`); neurons whose step is ``>= num_steps`` stay silent.
    ``snntorch.functional.accuracy_temporal`` on the raster then equals argmax accuracy of the logits
    unless two logits of a sample fall into the same step (ties: snnTorch picks the lowest index,
    and silent neurons all count as step ``T-1``). Choose ``dt`` below the smallest top-1/top-2 logit
    gap to rule this out.

    Args:
        source: Logits ``(B, C)`` or a :class:`~ttfsnet.RunResult` (its ``logits``).
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
    raster = torch.zeros((num_steps, *z.shape), dtype=z.dtype, device=z.device)
    raster.scatter_(0, k.unsqueeze(0), fires.to(z.dtype).unsqueeze(0))
    return raster
