"""The one walk over the IR chain that every simulator shares.

A TTFS network is run layer by layer, and every simulator (the float closed form, the integer datapath in
event and stepped mode, the quantised closed form, the accumulator probe, ``ttfsnet``'s own per-layer
reference) does the same bookkeeping around its own arithmetic: flatten reshapes, a max pool passes the
earliest spike inside the window of the layer before it, each emitter's output is kept, and the readout
ends the run. [`walk`][ttfsnet_hw.walk.walk] does that bookkeeping once and calls per-kind callbacks for the
arithmetic; [`schedule`][ttfsnet_hw.walk.schedule] and [`emitter_windows`][ttfsnet_hw.walk.emitter_windows]
expose the static part (which window each layer's input spikes live in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ttfsnet_hw.errors import IRError
from ttfsnet_hw.types import LayerIR, NetworkIR

__all__ = ["Step", "emitter_windows", "schedule", "walk"]

V = TypeVar("V")
R = TypeVar("R")


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """One layer of the walk.

    Attributes:
        index: position in ``ir.layers`` (aligns with ``QuantizedNetwork.layers`` and torch layer lists).
        layer: the layer.
        in_window: width of the window the layer's input spikes live in: 1 for the input window, else the
            window ``T`` of the last spiking layer before it (a max pool emits inside that window too).
    """

    index: int
    layer: LayerIR
    in_window: float

    @property
    def out_window(self) -> float:
        """Width of the window the layer's output lives in (its own for spiking layers)."""
        return float(self.layer.window) if self.layer.spiking else self.in_window  # type: ignore[arg-type]


def schedule(ir: NetworkIR) -> tuple[Step, ...]:
    """The steps of ``ir`` in order, each with the window its input lives in."""
    steps = []
    window = 1.0
    for i, layer in enumerate(ir.layers):
        step = Step(index=i, layer=layer, in_window=window)
        steps.append(step)
        window = step.out_window
    return tuple(steps)


def emitter_windows(ir: NetworkIR) -> list[float]:
    """Per emitter (``ir.emitters`` order), the width of the window its spikes live in."""
    return [1.0, *(step.out_window for step in schedule(ir) if step.layer.emits)]


def _flatten(value: Any) -> Any:
    # channel-first, as torch.flatten(x, 1); numpy arrays and torch tensors both reshape this way
    return value.reshape(value.shape[0], -1)


def walk(
    ir: NetworkIR,
    first: V,
    *,
    spiking: Callable[[Step, V], V],
    maxpool: Callable[[Step, V], V],
    readout: Callable[[Step, V], R],
) -> tuple[list[V], R]:
    """Run a simulator's per-kind callbacks along the chain.

    Args:
        ir: the network.
        first: the input emitter's value (a batch: ``(B, *input_shape)``).
        spiking: ``(step, input) → output`` of a spiking layer (conv, linear, average pool).
        maxpool: ``(step, input) → output`` of a max pool.
        readout: ``(step, input) → result`` of the readout, which ends the walk.

    Returns:
        ``(emitted, result)``: the value of every emitter in ``ir.emitters`` order (``first`` included) and
        what ``readout`` returned.

    Raises:
        IRError: the chain has no readout (a valid [`NetworkIR`][ttfsnet_hw.walk.NetworkIR] always ends with
            one).
    """
    emitted = [first]
    value = first
    for step in schedule(ir):
        kind = step.layer.kind
        if kind == "flatten":
            value = _flatten(value)
        elif kind == "readout":
            return emitted, readout(step, value)
        else:
            value = maxpool(step, value) if kind == "maxpool" else spiking(step, value)
            emitted.append(value)
    raise IRError(f"network {ir.name}: the chain ends without a readout")
