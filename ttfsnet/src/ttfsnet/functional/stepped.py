"""Time-stepped integration of the B1 membrane ODE, independent of the closed form.

Per layer the membrane obeys (``docs/ttfs-model.md`` §1, τ_c = 1):

$$ \\dot V_i = \\alpha_i + \\sum_j W_{ij} H(t - t_j) \\ \\text{(phase 1, previous window)},\\qquad
   \\dot V_i = 1 \\ \\text{(phase 2, own window)} $$

Phase 1 is integrated step by step; the step currents switched on by input spikes are integrated
exactly over each step (a spike inside a step contributes the overlap ``(t_{k+1} - t_j)``). In phase 2
the threshold is live and the neuron fires once, at the first grid point with ``V >= ϑ``. The only
discretisation error is therefore the firing-time rounding up to the next grid point, ``< h``; it
compounds across layers because the next layer integrates the rounded times (see ``docs/ttfs-model.md``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ttfsnet.functional.errors import TTFSValueError

__all__ = ["steps_for", "integrate_phase1", "fire_phase2", "ttfs_layer_stepped"]


def steps_for(dt: float) -> int:
    """Number of grid steps per window for a relative step ``dt`` (fraction of the window).

    Raises:
        TTFSValueError: ``dt`` is outside ``(0, 1]`` or ``1/dt`` is not a whole number (``dt=0.3`` would
            otherwise run as ``1/3`` without saying so); float noise such as ``1/(1/3)`` is accepted.
    """
    if not (0.0 < dt <= 1.0):
        raise TTFSValueError(f"stepped simulation: dt must be a fraction of the window in (0, 1], got {dt}")
    n = round(1.0 / dt)
    if abs(1.0 / dt - n) > 1e-9 * n:
        raise TTFSValueError(
            f"stepped simulation: dt={dt} does not cut a window into whole steps (1/dt = {1.0 / dt:.6g}); "
            f"use dt = 1/n for an int n, e.g. 1/{n}"
        )
    return n


def integrate_phase1(
    t_in: Tensor,
    window_in: float,
    synaptic_op: Callable[[Tensor], Tensor],
    dt: float,
    bias_current: Tensor | None = None,
) -> Tensor:
    """Integrate phase 1 over the previous window and return ``V`` at its end (``t_min`` of this layer).

    Args:
        t_in: Input spike times relative to the previous window start (``inf`` = none).
        window_in: Width of the previous window (duration of phase 1).
        synaptic_op: Linear map from per-input charge to membrane increment (``W·``), e.g. a conv.
        dt: Step as a fraction of ``window_in``.
        bias_current: Optional constant current ``α`` switched on at the previous window start.

    Returns:
        Membrane potential at the end of phase 1.
    """
    n = steps_for(dt)
    h = window_in / n
    v: Tensor | None = None
    for k in range(n):
        t_hi = window_in * (k + 1) / n
        # Charge delivered by each input's unit step current during [t_k, t_{k+1}).
        charge = (t_hi - t_in).clamp(0.0, h)
        inc = synaptic_op(charge)
        if bias_current is not None:
            inc = inc + bias_current * h
        v = inc if v is None else v + inc
    assert v is not None
    return v


def fire_phase2(v_start: Tensor, threshold: Tensor | float, window: float, dt: float) -> Tensor:
    """Phase 2: unit ramp from ``v_start``; fire once at the first grid point with ``V >= ϑ``.

    Returns:
        Spike times relative to the window start on the grid ``k·T/n``; ``inf`` if no grid point in
        ``[0, T)`` reaches the threshold.
    """
    n = steps_for(dt)
    h = window / n
    t_out = torch.full_like(v_start, float("inf"))
    fired = torch.zeros_like(v_start, dtype=torch.bool)
    v = v_start
    for k in range(n):
        cross = (v >= threshold) & ~fired
        t_out = torch.where(cross, torch.full_like(t_out, window * k / n), t_out)
        fired = fired | cross
        v = v + h
    return t_out


def ttfs_layer_stepped(
    t_in: Tensor,
    window_in: float,
    synaptic_op: Callable[[Tensor], Tensor],
    threshold: Tensor | float,
    window: float,
    dt: float,
) -> tuple[Tensor, Tensor]:
    """Simulate one hidden B1 layer on a time grid.

    Args:
        t_in: Input spike times relative to the previous window (``inf`` = none).
        window_in: Previous window width.
        synaptic_op: ``W·`` as a callable (linear/conv/avg-pool without bias).
        threshold: Threshold ``ϑ`` broadcastable to the output.
        window: This layer's window width.
        dt: Relative step (fraction of each window).

    Returns:
        ``(t_out, v_start)``: output spike times relative to this window and the membrane at its start.
    """
    v0 = integrate_phase1(t_in, window_in, synaptic_op, dt)
    return fire_phase2(v0, threshold, window, dt), v0
