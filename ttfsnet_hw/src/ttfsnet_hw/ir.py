"""Writing IRs by hand: [`IRBuilder`][ttfsnet_hw.ir.IRBuilder] chains layers while tracking shapes, and
[`random_parameters`][ttfsnet_hw.ir.random_parameters] gives a cost-only IR random weights, thresholds and
windows.

The IR types themselves live in [`ttfsnet_hw.types`][ttfsnet_hw.types]; IRs of torch models come from
[`ttfsnet_hw.adapters.torch`][ttfsnet_hw.adapters.torch].

Example:
    >>> from ttfsnet_hw.ir import IRBuilder
    >>> ir = IRBuilder("tiny", (2, 8, 8)).conv(4, 3).maxpool(2).flatten().readout(3)
    >>> [layer.name for layer in ir.layers], ir.params, ir.has_parameters
    (['conv0', 'maxpool1', 'flatten2', 'readout3'], 271, False)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ttfsnet_hw.types import LayerIR, LayerKind, NetworkIR, conv_output_size, pair

__all__ = ["IRBuilder", "random_parameters"]


def _randomized(layer: LayerIR, rng: np.random.Generator, *, draw_window: bool) -> LayerIR:
    """``layer`` with random parameters; draws window, weights, then thresholds/bias (a fixed order, so a
    seed gives the same network whichever way it was built)."""
    window = layer.window
    if layer.spiking and draw_window:
        window = float(rng.uniform(0.5, 2.0))
    if layer.kind in ("conv", "linear"):
        assert window is not None
        weight_shape = (layer.out_shape[0], layer.in_shape[0] // layer.groups, *layer.kernel)
        if layer.kind == "linear":
            weight_shape = (layer.out_shape[0], layer.in_shape[0])
        # He-like scale, a little above 1 so that roughly half of the neurons fire
        weight = rng.normal(0.0, 1.5 / math.sqrt(layer.fan_in), size=weight_shape)
        threshold = window - rng.normal(0.0, 0.1, size=(layer.out_shape[0],))
        return replace(layer, window=window, weight=weight, threshold=threshold)
    if layer.kind == "readout":
        weight = rng.normal(
            0.0, 1.0 / math.sqrt(layer.in_shape[0]), size=(layer.out_shape[0], layer.in_shape[0])
        )
        bias = rng.normal(0.0, 0.1, size=(layer.out_shape[0],))
        return replace(layer, weight=weight, bias=bias)
    return replace(layer, window=window)


def random_parameters(ir: NetworkIR, rng: np.random.Generator) -> NetworkIR:
    """A runnable copy of ``ir`` with random windows in [0.5, 2], weights and thresholds (layer by layer,
    the draws of [`IRBuilder`][ttfsnet_hw.ir.IRBuilder] with ``rng``)."""
    return NetworkIR(
        name=ir.name,
        input_shape=ir.input_shape,
        layers=tuple(_randomized(layer, rng, draw_window=True) for layer in ir.layers),
        input_range=ir.input_range,
    )


class IRBuilder:
    """Chains layers while tracking shapes, so IRs can be written by hand (tests, examples).

    Args:
        name: network name.
        input_shape: per-sample input shape.
        input_range: raw input range.
        rng: if given, random weights/thresholds/windows are drawn (a runnable IR); otherwise cost-only
            (windows 1 unless given).
    """

    def __init__(
        self,
        name: str,
        input_shape: Sequence[int],
        input_range: tuple[float, float] = (0.0, 1.0),
        rng: np.random.Generator | None = None,
    ) -> None:
        self.name = name
        self.input_shape = tuple(int(v) for v in input_shape)
        self.input_range = input_range
        self.rng = rng
        self.layers: list[LayerIR] = []
        self._shape = self.input_shape

    def _append(self, layer: LayerIR, window_given: bool) -> None:
        if self.rng is not None:
            layer = _randomized(layer, self.rng, draw_window=not window_given)
        self.layers.append(layer)
        self._shape = layer.out_shape

    def _name(self, kind: str, name: str | None) -> str:
        return name or f"{kind}{len(self.layers)}"

    def conv(
        self,
        out_channels: int,
        kernel: int | Sequence[int],
        *,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] | str = "same",
        groups: int = 1,
        window: float | None = None,
        name: str | None = None,
    ) -> IRBuilder:
        """Append a spiking conv (``padding="same"`` = k // 2)."""
        _, h, w = self._shape
        k = pair(kernel)
        pad = (k[0] // 2, k[1] // 2) if padding == "same" else pair(padding)  # type: ignore[arg-type]
        s = pair(stride)
        out = (out_channels, conv_output_size(h, k[0], s[0], pad[0]), conv_output_size(w, k[1], s[1], pad[1]))
        layer = LayerIR(
            name=self._name("conv", name),
            kind="conv",
            in_shape=self._shape,
            out_shape=out,
            kernel=k,
            stride=s,
            padding=pad,
            groups=groups,
            window=1.0 if window is None else float(window),
        )
        self._append(layer, window is not None)
        return self

    def _pool(
        self, kind: LayerKind, kernel: int, stride: int | None, window: float | None, name: str | None
    ) -> IRBuilder:
        c, h, w = self._shape
        k = pair(kernel)
        s = pair(stride if stride is not None else kernel)
        out = (c, conv_output_size(h, k[0], s[0], 0), conv_output_size(w, k[1], s[1], 0))
        own_window = (1.0 if window is None else float(window)) if kind == "avgpool" else None
        layer = LayerIR(
            name=self._name(kind, name),
            kind=kind,
            in_shape=self._shape,
            out_shape=out,
            kernel=k,
            stride=s,
            window=own_window,
        )
        self._append(layer, window is not None)
        return self

    def maxpool(self, kernel: int = 2, stride: int | None = None, name: str | None = None) -> IRBuilder:
        """Append a max pool (earliest spike)."""
        return self._pool("maxpool", kernel, stride, None, name)

    def avgpool(
        self, kernel: int = 2, stride: int | None = None, window: float | None = None, name: str | None = None
    ) -> IRBuilder:
        """Append a spiking average pool."""
        return self._pool("avgpool", kernel, stride, window, name)

    def flatten(self, name: str | None = None) -> IRBuilder:
        """Append a channel-first flatten."""
        out = (math.prod(self._shape),)
        layer = LayerIR(name=self._name("flatten", name), kind="flatten", in_shape=self._shape, out_shape=out)
        self._append(layer, False)
        return self

    def linear(self, out_features: int, *, window: float | None = None, name: str | None = None) -> IRBuilder:
        """Append a spiking linear layer."""
        layer = LayerIR(
            name=self._name("linear", name),
            kind="linear",
            in_shape=self._shape,
            out_shape=(out_features,),
            window=1.0 if window is None else float(window),
        )
        self._append(layer, window is not None)
        return self

    def readout(self, classes: int, name: str | None = None) -> NetworkIR:
        """Append the readout and build the network.

        Raises:
            IRError: the chain is inconsistent (see [`NetworkIR`][ttfsnet_hw.types.NetworkIR]).
        """
        layer = LayerIR(
            name=self._name("readout", name), kind="readout", in_shape=self._shape, out_shape=(classes,)
        )
        self._append(layer, False)
        return NetworkIR(
            name=self.name,
            input_shape=self.input_shape,
            layers=tuple(self.layers),
            input_range=self.input_range,
        )
