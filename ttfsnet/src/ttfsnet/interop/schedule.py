"""Phase bookkeeping of a step-mode time loop.

[`step_schedule`][ttfsnet.interop.schedule.step_schedule] builds a
[`StepSchedule`][ttfsnet.interop.schedule.StepSchedule] with one
[`PhaseSteps`][ttfsnet.interop.schedule.PhaseSteps] per layer.

A B1 network in step mode runs one loop over ``P_0 + P_1 + … + P_N`` steps: ``P_0`` steps of the input
window ``[0, 1]`` and ``P_n`` steps of hidden window ``n``. Hidden layer ``n`` integrates during the
window before its own (phase 1) and may fire only in its own (phase 2), so its
[`TTFSNeuron`][ttfsnet.interop.TTFSNeuron] needs ``start_step = P_0 + … + P_{n-2}``, ``phase1_steps =
P_{n-1}`` and ``phase2_steps = P_n``; the readout integrates during the last hidden window. This module
computes those numbers once, so that a hand-written loop does no index arithmetic.
"""

# Public functions check argument types at run time for untyped callers.
# pyright: reportUnnecessaryIsInstance=false

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ttfsnet.errors import TTFSValueError
from ttfsnet.nn import TTFSNetwork

__all__ = ["PhaseSteps", "StepSchedule", "step_schedule"]

#: Relative tolerance for "a whole number of steps": float noise such as ``1/(1/3)`` passes, ``1/0.3`` not.
_WHOLE_TOL = 1e-9


class PhaseSteps(NamedTuple):
    """The step-mode timing of one layer; its fields are [`TTFSNeuron`][ttfsnet.interop.TTFSNeuron] keywords.

    ``TTFSNeuron(threshold, **phase._asdict())`` builds the layer's neuron.

    Attributes:
        start_step: Loop step at which phase 1 (the previous window) begins.
        phase1_steps: Steps of the previous window.
        phase2_steps: Steps of the layer's own window (for the readout: 0, it never fires).
        dt: Time per step of the own window.
        phase1_dt: Time per step of the previous window.
    """

    start_step: int
    phase1_steps: int
    phase2_steps: int
    dt: float
    phase1_dt: float

    @property
    def phase2_start(self) -> int:
        """Loop step of the layer's window start ``t_min`` (its first possible spike)."""
        return self.start_step + self.phase1_steps

    @property
    def end_step(self) -> int:
        """First loop step after the layer's window."""
        return self.phase2_start + self.phase2_steps

    @property
    def phase2(self) -> slice:
        """The layer's own steps in a ``[T, B, ...]`` recording of the whole loop.

        ``raster_to_times(rec[p.phase2], t_max=p.t_last, code="linear")`` gives spike times relative to
        the layer's window start.
        """
        return slice(self.phase2_start, self.end_step)

    @property
    def t_last(self) -> float:
        """Time of the last phase-2 step relative to the window start, ``(phase2_steps - 1)·dt``."""
        return (self.phase2_steps - 1) * self.dt


@dataclass(frozen=True, kw_only=True, slots=True)
class StepSchedule:
    """Step counts of a step-mode loop (built by [`step_schedule`][ttfsnet.interop.schedule.step_schedule]).

    Attributes:
        input_steps: Steps ``P_0`` of the input window; an input raster has ``P_0 + 1`` steps on the
            grid ``k/P_0`` ([`latency_encode`][ttfsnet.interop.latency_encode] with
            ``num_steps=P_0 + 1``), padded with zeros to `num_steps`.
        window_steps: Steps ``P_n`` of each hidden window, in order.
        layers: Timing of each hidden spiking layer, in order.
        readout: Timing of the readout: it integrates during the last window (phase 1) and never
            fires (``phase2_steps = 0``); its membrane holds the logits after `num_steps` steps.
        num_steps: Length of the loop, ``P_0 + Σ P_n``.
    """

    input_steps: int
    window_steps: tuple[int, ...]
    layers: tuple[PhaseSteps, ...]
    readout: PhaseSteps
    num_steps: int


def _whole_steps(length: float, dt: float, what: str) -> int:
    """``length/dt`` as an int, refusing lengths that are not a whole number of steps."""
    ratio = length / dt
    n = round(ratio)
    if n < 1 or abs(ratio - n) > _WHOLE_TOL * max(1.0, abs(ratio)):
        raise TTFSValueError(
            f"step_schedule: {what} {length:.6g} is not a whole number of steps of dt={dt:.6g} "
            f"({ratio:.6g} steps); choose dt = {what}/n for an int n"
        )
    return n


def step_schedule(
    windows: Sequence[float] | TTFSNetwork,
    *,
    dt: float | None = None,
    steps_per_window: int | None = None,
) -> StepSchedule:
    """The phase bookkeeping of a step-mode loop over the input window and the given hidden windows.

    Give exactly one of ``dt`` (one step length for every window; each window must be a whole number
    of steps) or ``steps_per_window`` (every window cut into that many steps of its own length, the
    grid of [`to_snntorch`][ttfsnet.interop.to_snntorch] and of ``net.run(x, mode="stepped", dt=1/n)``).

    Args:
        windows: Hidden window widths ``T_1, T_2, …`` in order (may be empty), or a
            [`TTFSNetwork`][ttfsnet.nn.TTFSNetwork] (its [`windows`][ttfsnet.nn.TTFSNetwork.windows]).
        dt: Time per step.
        steps_per_window: Steps per window (>= 1).

    Returns:
        The schedule.

    Raises:
        TTFSValueError: Both or neither of ``dt``/``steps_per_window``, a non-positive or non-finite
            value, or a window (the input window included) that is not a whole number of steps of
            ``dt``.
    """
    widths = windows.windows() if isinstance(windows, TTFSNetwork) else [float(w) for w in windows]
    for i, w in enumerate(widths):
        if not (math.isfinite(w) and w > 0):
            raise TTFSValueError(f"step_schedule: windows[{i}] must be a finite positive float, got {w!r}")
    if (dt is None) == (steps_per_window is None):
        raise TTFSValueError("step_schedule: give exactly one of dt or steps_per_window")
    if steps_per_window is not None:
        n = steps_per_window
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TTFSValueError(f"step_schedule: steps_per_window must be an int >= 1, got {n!r}")
        counts = [n] * (len(widths) + 1)
        sizes = [1.0 / n] + [w / n for w in widths]
    else:
        assert dt is not None
        if not (math.isfinite(dt) and dt > 0):
            raise TTFSValueError(f"step_schedule: dt must be a finite positive float, got {dt!r}")
        counts = [_whole_steps(1.0, dt, "the input window")]
        counts += [_whole_steps(w, dt, f"windows[{i}]") for i, w in enumerate(widths)]
        sizes = [float(dt)] * (len(widths) + 1)
    layers: list[PhaseSteps] = []
    start = 0
    for m in range(1, len(counts)):
        layers.append(PhaseSteps(start, counts[m - 1], counts[m], sizes[m], sizes[m - 1]))
        start += counts[m - 1]
    readout = PhaseSteps(start, counts[-1], 0, sizes[-1], sizes[-1])
    return StepSchedule(
        input_steps=counts[0],
        window_steps=tuple(counts[1:]),
        layers=tuple(layers),
        readout=readout,
        num_steps=sum(counts),
    )
