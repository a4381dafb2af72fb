"""What a TTFS layer kind provides: the one interface that [`TTFSNetwork`][ttfsnet.nn.TTFSNetwork],
[`ttfsnet.to_ann`][ttfsnet.to_ann], the statistics, the file format and the step-mode export use.

A layer kind is one subclass of [`TTFSLayer`][ttfsnet.nn.base.TTFSLayer] (or of
[`TTFSSpikingLayer`][ttfsnet.nn.base.TTFSSpikingLayer] when its neurons fire), registered with
[`ttfsnet.nn.registry.register_layer`][ttfsnet.nn.registry.register_layer]. The containers dispatch on these
two classes, the [`TTFSLayer.pools`][ttfsnet.nn.base.TTFSLayer.pools] flag and the methods below, never on the
concrete kinds.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, cast

import torch
from torch import Tensor, nn

from ttfsnet.errors import TTFSValueError

if TYPE_CHECKING:
    from typing import Self

__all__ = ["TTFSLayer", "TTFSSpikingLayer", "init_like_torch", "make_window_buffer", "pair"]


def pair(value: int | Iterable[int]) -> tuple[int, int]:
    """``(v, v)`` for a number, ``tuple(value)`` for a sequence (torch's ``_pair`` for 2-D geometry)."""
    if isinstance(value, Iterable):
        return cast("tuple[int, int]", tuple(value))
    return (value, value)


def make_window_buffer(
    owner: str, window: float, dtype: torch.dtype | None, device: torch.device | str | None
) -> Tensor:
    """The scalar ``window`` buffer of a layer owning a window ``T`` (``owner`` names it in the error).

    Raises:
        TTFSValueError: ``window`` is not a positive finite number.
    """
    if not (window > 0 and math.isfinite(window)):
        raise TTFSValueError(f"{owner}: window must be a positive finite number, got {window}")
    return torch.tensor(float(window), dtype=dtype or torch.get_default_dtype(), device=device)


def init_like_torch(weight: Tensor, fan_in: int) -> Tensor:
    """Same initialisation as ``nn.Linear``/``nn.Conv2d``; returns a bias draw for the threshold."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return torch.empty(weight.shape[0], dtype=weight.dtype, device=weight.device).uniform_(-bound, bound)


class TTFSLayer(nn.Module, ABC):
    """Base class of every TTFS layer kind.

    Attributes:
        pools: Class flag: the layer relays the earliest (per ``sign``, latest) spike of each pooling window
            inside the window of the layer it pools. Its output is a ``"pool"`` entry of
            [`RunResult`][ttfsnet.nn.RunResult] and the spikes feeding it cost no SynOPs.
        readout: Whether this layer is the network's non-spiking readout (only a last layer may be).

    A layer that neither fires ([`TTFSSpikingLayer`][ttfsnet.nn.base.TTFSSpikingLayer]) nor pools only moves
    spikes (e.g. flatten): it owns no window and its spikes are counted at the next layer that fires or pools.
    """

    pools: ClassVar[bool] = False
    readout: bool = False

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain data (ints, floats, bools, strings, lists, ``None``).

        Parameters and buffers travel in the ``state_dict``; `from_config` rebuilds the layer.
        """

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        """A new layer (fresh parameters) from `config`; default ``cls(**config)``."""
        return cls(**config)

    @classmethod
    @abstractmethod
    def example(cls) -> tuple[Self, tuple[int, ...]]:
        """A small instance (random parameters) and a per-sample input shape it accepts.

        The registry-driven tests build every registered kind from it (config and file round trips,
        ``to_ann`` equivalence), so a new kind is tested without editing the tests.
        """

    @abstractmethod
    def to_ann(self, *, clip: bool = False) -> list[nn.Module]:
        """Plain torch modules computing the same map of activations (see [`ttfsnet.to_ann`][ttfsnet.to_ann]).

        Args:
            clip: Follow window-owning layers by ``Hardtanh(0, T)`` (equal to the SNN even with saturation)
                instead of ``ReLU``.
        """

    @abstractmethod
    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape for a per-sample input shape."""

    def macs(self, in_shape: tuple[int, ...]) -> int:
        """Multiply-accumulates per sample of the equivalent ANN layer (0: none)."""
        return 0

    def input_spec(self) -> tuple[int | None, ...] | None:
        """Per-sample input shape the layer accepts, ``None`` for a dimension of any size; ``None`` when
        the rank is free as well (default).

        [`TTFSNetwork`][ttfsnet.nn.TTFSNetwork] checks its inputs against the first layer's spec when it has
        no recorded ``input_shape``.
        """
        return None

    def synops(self, counts: Tensor, in_shape: tuple[int, ...]) -> Tensor:
        """Synaptic operations caused by spikes arriving at this layer (default 0: a layer that only moves
        spikes, such as flatten, causes none; they are counted where they arrive next).

        Args:
            counts: Spikes per input neuron, flattened ``(prod(in_shape),)`` (any integer dtype).
            in_shape: Per-sample input shape.

        Returns:
            A 0-dim int64 tensor on ``counts``' device; computing it does not synchronise with the device.
        """
        return counts.new_zeros((), dtype=torch.int64)

    def relay_times(self, t: Tensor) -> Tensor:
        """Spike times (``inf`` = none) through a layer that does not fire; default: the layer itself."""
        out: Tensor = self(t)
        return out


class TTFSSpikingLayer(TTFSLayer):
    """A layer of B1 neurons: ``x_out = clamp(preactivation(x), 0, T)`` in its own window ``T``.

    The readout (``readout=True``) is a spiking layer without window or threshold: its output is the
    membrane at the start of its window, ``preactivation(x)``.

    Attributes:
        window: Window width ``T`` (scalar buffer); ``None`` for the readout.
    """

    window: Tensor | None
    _fan_out_on_device: dict[tuple[tuple[int, ...], torch.device], Tensor]

    def own_window(self) -> Tensor:
        """`window` of a layer that owns one (every spiking layer but the readout)."""
        window = self.window
        assert window is not None, f"{type(self).__name__} owns no window"
        return window

    @abstractmethod
    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """Output activations (the logits for the readout), optionally with a replacement weight."""

    @abstractmethod
    def preactivation(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """``W x + T - ϑ`` before the clamp (hidden) or the logits (readout)."""

    @abstractmethod
    def effective_threshold(self) -> Tensor:
        """Threshold broadcastable against the per-sample output."""

    @abstractmethod
    def ann_bias(self) -> Tensor:
        """Equivalent ANN bias (``T - ϑ`` hidden, the bias for the readout)."""

    def synaptic_weight(self) -> Tensor | None:
        """The trainable synaptic weight (fake-quantised by ``RobustnessConfig.weight_bits``); ``None`` when
        the weights are fixed (average pooling)."""
        return None

    @abstractmethod
    def synaptic_op(self, weight: Tensor | None = None) -> Callable[[Tensor], Tensor]:
        """The synapses without bias as a function of input currents, for the time-stepped simulator."""

    @abstractmethod
    def synapse(self) -> nn.Module:
        """The synapses without bias as a plain torch module (for [`ttfsnet.to_snntorch`][ttfsnet.to_snntorch]
        )."""

    @abstractmethod
    def fan_out(self, in_shape: tuple[int, ...]) -> Tensor:
        """Number of synapses leaving each input neuron, float64 of shape ``in_shape``."""

    def synops(self, counts: Tensor, in_shape: tuple[int, ...]) -> Tensor:
        """Spikes × exact fan-out (`fan_out`), summed (exact in float64 below 2**53)."""
        return (counts.to(torch.float64) @ self._fan_out_on(in_shape, counts.device)).round().to(torch.int64)

    def _fan_out_on(self, in_shape: tuple[int, ...], device: torch.device) -> Tensor:
        """`fan_out` flattened, cached per device: a copy from host memory on every call would make
        each [`run`][ttfsnet.nn.TTFSNetwork.run] on a GPU wait for the device once per layer."""
        cache: dict[tuple[tuple[int, ...], torch.device], Tensor] | None
        cache = getattr(self, "_fan_out_on_device", None)
        if cache is None:
            cache = self._fan_out_on_device = {}
        key = (tuple(in_shape), device)
        if key not in cache:
            cache[key] = self.fan_out(in_shape).reshape(-1).to(device)
        return cache[key]

    def ann_activation(self, clip: bool) -> nn.Module:
        """The ANN activation after this layer: ``ReLU``, with ``clip`` the clipped ``Hardtanh(0, T)``."""
        window = self.own_window()
        return nn.Hardtanh(0.0, float(window)) if clip else nn.ReLU()
