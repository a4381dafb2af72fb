"""The float closed form of a TTFS network in numpy (``docs/ttfs-model.md`` §1, relative spike times).

A spiking layer of window ``T`` receives its inputs as spike times ``t`` inside the previous window
``T_prev``; their activations are ``x = T_prev − t`` (0 for no spike), its ANN pre-activation is
``W x + (T − ϑ)``, and it fires at ``T − clip(pre, 0, T)`` (no spike at activation 0). This is what
``ttfsnet``'s ``TTFSNetwork.run`` computes; the hardware backend uses it to record spikes of an IR with
parameters and as the float reference of the quantiser.

Example:
    >>> import numpy as np
    >>> from ttfsnet_hw.ir import IRBuilder
    >>> ir = IRBuilder("demo", (1, 4, 4), rng=np.random.default_rng(0)).conv(2, 3).flatten().readout(3)
    >>> logits, times = run(ir, np.full((2, 1, 4, 4), 0.5))
    >>> logits.shape, [t.shape for t in times]
    ((2, 3), [(2, 1, 4, 4), (2, 2, 4, 4)])
"""

from __future__ import annotations

import numpy as np

from ttfsnet_hw.datapath import encode_times, maxpool_times, preactivation
from ttfsnet_hw.errors import IRError
from ttfsnet_hw.types import NetworkIR
from ttfsnet_hw.walk import Step, walk

__all__ = ["run", "run_times"]


def _activations(t: np.ndarray, window: float) -> np.ndarray:
    """Spike times inside a window → activations (time from the spike to the window end; 0 = silent)."""
    return np.where(np.isfinite(t), np.maximum(window - t, 0.0), 0.0)


def _spiking(step: Step, t: np.ndarray) -> np.ndarray:
    big_t = float(step.layer.window)  # type: ignore[arg-type]
    act = np.clip(preactivation(_activations(t, step.in_window), step.layer), 0.0, big_t)
    return np.where(act > 0, big_t - act, np.inf)


def _maxpool(step: Step, t: np.ndarray) -> np.ndarray:
    return maxpool_times(t, step.layer)


def _readout(step: Step, t: np.ndarray) -> np.ndarray:
    return preactivation(_activations(t, step.in_window), step.layer)


def run_times(ir: NetworkIR, t0: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Float closed form from input spike times.

    Args:
        ir: a network with parameters.
        t0: ``(B, *input_shape)`` input spike times, inf = no spike.

    Returns:
        ``(logits, times)`` where ``times[i]`` are the spike times of ``ir.emitters[i]`` relative to that
        emitter's window start (inf = no spike).

    Raises:
        IRError: a cost-only IR (no weights).
    """
    if not ir.has_parameters:
        raise IRError(f"network {ir.name}: cost-only IR (no weights); cannot run the closed form")
    times, logits = walk(
        ir, np.asarray(t0, dtype=np.float64), spiking=_spiking, maxpool=_maxpool, readout=_readout
    )
    return logits, times


def run(ir: NetworkIR, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Encode raw inputs ([`ttfsnet_hw.datapath.encode_times`][ttfsnet_hw.datapath.encode_times]) and run the
    closed form; see [`run_times`][ttfsnet_hw.closedform.run_times]."""
    return run_times(ir, encode_times(ir, x))
