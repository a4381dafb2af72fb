"""The dense B1 layer [`TTFSLinear`][ttfsnet.nn.dense.TTFSLinear]: a hidden spiking layer, or the network's
non-spiking readout.

Like every layer kind it maps input *activations* ``x = T_prev - t`` to output activations (see
[`ttfsnet.functional`][ttfsnet.functional]). In hidden mode ``weight`` and ``threshold`` are
`torch.nn.Parameter`, so a [`TTFSNetwork`][ttfsnet.nn.TTFSNetwork] trains with any torch optimiser and
autograd through the clamp yields exactly the B1 spike-time derivatives (``docs/ttfs-model.md`` §10). The
class registers itself as kind ``"linear"`` when this module is imported; `ttfsnet.nn.layers` imports the
layer modules in registration order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ttfsnet import functional as TF
from ttfsnet.errors import TTFSValueError
from ttfsnet.nn.base import TTFSSpikingLayer, init_like_torch, make_window_buffer
from ttfsnet.nn.registry import register_layer

if TYPE_CHECKING:
    from typing import Self

__all__ = ["TTFSLinear"]


@register_layer("linear")
class TTFSLinear(TTFSSpikingLayer):
    """Dense B1 layer, or the non-spiking readout layer when ``readout=True``.

    Hidden mode: ``x_out = clamp(W x + T - ϑ, 0, T)``; parameters ``weight`` ``(out, in)`` and
    ``threshold`` ``(out,)``, buffer ``window`` (scalar ``T``).
    Readout mode: ``logits = b + W x`` (membrane at the start of the output window); parameters
    ``weight`` and ``bias``; no threshold, ``window`` is ``None``.

    Shapes:
        Input ``(B, in_features)`` activations; output ``(B, out_features)``.
    """

    threshold: Tensor

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        window: float = 1.0,
        readout: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.readout = readout
        self.weight = nn.Parameter(torch.empty(out_features, in_features, device=device, dtype=dtype))
        b = init_like_torch(self.weight.data, in_features)
        if readout:
            self.bias = nn.Parameter(b)
            self.register_buffer("window", None)
        else:
            window_buffer = make_window_buffer(type(self).__name__, window, dtype, device)
            self.register_buffer("window", window_buffer)
            self.threshold = nn.Parameter(window_buffer - b)

    def params(self, weight: Tensor | None = None) -> TF.TTFSParameters:
        """Functional parameter tuple, optionally with a replacement (e.g. quantised) weight."""
        if self.readout:
            raise TTFSValueError("TTFSLinear(readout=True) has no threshold/window")
        assert self.window is not None
        return TF.TTFSParameters(self.weight if weight is None else weight, self.threshold, self.window)

    def ann_bias(self) -> Tensor:
        """Equivalent ANN bias (``b = T - ϑ`` hidden, ``bias`` readout)."""
        if self.readout:
            return self.bias
        assert self.window is not None
        return TF.ttfs_bias(self.threshold, self.window)

    def preactivation(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """``W x + T - ϑ`` before the clamp (hidden) or the logits (readout)."""
        if self.readout:
            return TF.ttfs_readout(x, self.weight if weight is None else weight, self.bias)
        return TF.ttfs_linear_preactivation(x, self.params(weight))

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """Output activations (hidden) or logits (readout)."""
        if self.readout:
            return TF.ttfs_readout(x, self.weight if weight is None else weight, self.bias)
        return TF.ttfs_linear(x, self.params(weight))

    def effective_threshold(self) -> Tensor:
        """Threshold broadcastable against the output ``(B, out)``."""
        return self.threshold

    @torch.no_grad()
    def to_torch(self, *, bias: bool = True) -> nn.Linear:
        """A plain ``nn.Linear`` holding a copy of ``weight`` and, with ``bias``, of `ann_bias`."""
        lin = nn.Linear(
            self.in_features, self.out_features, bias=bias, dtype=self.weight.dtype, device=self.weight.device
        )
        lin.weight.copy_(self.weight)
        if bias:
            lin.bias.copy_(self.ann_bias())
        return lin

    def synaptic_op(self, weight: Tensor | None = None) -> Callable[[Tensor], Tensor]:
        """``W·`` without bias, for the time-stepped simulator."""
        w = self.weight if weight is None else weight
        return lambda q: F.linear(q, w)

    def fan_out(self, in_shape: tuple[int, ...]) -> Tensor:
        """Number of synapses leaving each input neuron (``out_features`` each)."""
        return torch.full(in_shape, float(self.out_features), dtype=torch.float64)

    def macs(self, in_shape: tuple[int, ...]) -> int:
        """Multiply-accumulates per sample of the equivalent ANN layer."""
        return self.in_features * self.out_features

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int]:
        """``(out_features,)``."""
        return (self.out_features,)

    def synops(self, counts: Tensor, in_shape: tuple[int, ...]) -> Tensor:
        """Every arriving spike reaches ``out_features`` synapses."""
        return counts.sum(dtype=torch.int64) * self.out_features

    def input_spec(self) -> tuple[int]:
        """``(in_features,)``."""
        return (self.in_features,)

    def synaptic_weight(self) -> Tensor:
        return self.weight

    def synapse(self) -> nn.Linear:
        """``nn.Linear`` without bias holding a copy of ``weight``."""
        return self.to_torch(bias=False)

    @torch.no_grad()
    def to_ann(self, *, clip: bool = False) -> list[nn.Module]:
        """``nn.Linear`` with `ann_bias`, then the activation (none after the readout)."""
        mods: list[nn.Module] = [self.to_torch()]
        if not self.readout:
            mods.append(self.ann_activation(clip))
        return mods

    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain data (parameters and buffers travel in the ``state_dict``)."""
        return {"in_features": self.in_features, "out_features": self.out_features, "readout": self.readout}

    @classmethod
    def example(cls) -> tuple[Self, tuple[int, ...]]:
        """A hidden ``6 → 4`` layer with window 1.5."""
        return cls(6, 4, window=1.5), (6,)

    def extra_repr(self) -> str:
        mode = "readout" if self.window is None else f"window={float(self.window):.4g}"
        return f"in_features={self.in_features}, out_features={self.out_features}, {mode}"
