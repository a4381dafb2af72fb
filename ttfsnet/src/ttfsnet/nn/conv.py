"""The convolutional B1 layer [`TTFSConv2d`][ttfsnet.nn.conv.TTFSConv2d] and
[`fan_out_map`][ttfsnet.nn.conv.fan_out_map], its exact per-input synapse count.

[`fan_out_map`][ttfsnet.nn.conv.fan_out_map] lives here because it is the synapse count of a zero-padded
convolution; the average pool (a fixed-weight depthwise convolution, `ttfsnet.nn.pool`) and the statistics
reuse it. The class registers itself as kind ``"conv"`` when this module is imported; `ttfsnet.nn.layers`
imports the layer modules in registration order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ttfsnet import functional as TF
from ttfsnet.errors import TTFSValueError
from ttfsnet.nn.ann import PositionBias
from ttfsnet.nn.base import TTFSSpikingLayer, init_like_torch, make_window_buffer, pair
from ttfsnet.nn.registry import register_layer

if TYPE_CHECKING:
    from typing import Self

__all__ = ["TTFSConv2d", "fan_out_map"]


@register_layer("conv")
class TTFSConv2d(TTFSSpikingLayer):
    """Convolutional B1 layer (zero padding; any stride, padding, dilation, groups).

    ``threshold`` is ``(C_out,)`` or position dependent ``(C_out, H_out, W_out)``; the latter carries
    border-dependent biases produced by fusing a BN-after-ReLU or the input affine into a zero-padded
    convolution (``docs/ttfs-model.md`` §6).

    Shapes:
        Input ``(B, C_in, H, W)``; output ``(B, C_out, H_out, W_out)``.
    """

    threshold: Tensor

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        *,
        window: float = 1.0,
        threshold_shape: tuple[int, ...] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise TTFSValueError(
                f"TTFSConv2d: channels ({in_channels}, {out_channels}) must be divisible by groups={groups}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = pair(kernel_size)
        self.stride = pair(stride)
        self.padding = pair(padding)
        self.dilation = pair(dilation)
        self.groups = groups
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels // groups, *self.kernel_size, device=device, dtype=dtype)
        )
        b = init_like_torch(
            self.weight.data, (in_channels // groups) * self.kernel_size[0] * self.kernel_size[1]
        )
        window_buffer = make_window_buffer(type(self).__name__, window, dtype, device)
        self.register_buffer("window", window_buffer)
        if threshold_shape is None or tuple(threshold_shape) == (out_channels,):
            thr = window_buffer - b
        else:
            if len(threshold_shape) != 3 or threshold_shape[0] != out_channels:
                raise TTFSValueError(
                    f"TTFSConv2d: threshold_shape must be ({out_channels},) or "
                    f"({out_channels}, H_out, W_out), got {tuple(threshold_shape)}"
                )
            thr = (window_buffer - b).view(-1, 1, 1).expand(*threshold_shape).clone()
        self.threshold = nn.Parameter(thr)
        self._fan_out_cache: dict[tuple[int, ...], Tensor] = {}

    @property
    def geometry(self) -> TF.Conv2dGeometry:
        """Stride/padding/dilation/groups tuple for [`ttfsnet.functional`][ttfsnet.functional]."""
        return TF.Conv2dGeometry(self.stride, self.padding, self.dilation, self.groups)

    @property
    def position_dependent(self) -> bool:
        """Whether the threshold varies with the output position."""
        return self.threshold.dim() == 3

    def params(self, weight: Tensor | None = None) -> TF.TTFSParameters:
        return TF.TTFSParameters(self.weight if weight is None else weight, self.threshold, self.own_window())

    def ann_bias(self) -> Tensor:
        """Equivalent ANN bias ``T - ϑ`` (``(C,)`` or ``(C, H_out, W_out)``)."""
        return TF.ttfs_bias(self.threshold, self.own_window())

    def preactivation(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        return TF.ttfs_conv2d_preactivation(x, self.params(weight), self.geometry)

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        return TF.ttfs_conv2d(x, self.params(weight), self.geometry)

    def effective_threshold(self) -> Tensor:
        return self.threshold if self.position_dependent else self.threshold.view(-1, 1, 1)

    @torch.no_grad()
    def to_torch(self, *, bias: bool = True) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` holding a copy of ``weight`` and, with ``bias``, of `ann_bias`.

        Raises:
            TTFSValueError: For ``bias=True`` with a position-dependent threshold, whose ``(C, H, W)``
                bias an ``nn.Conv2d`` cannot hold (``to_ann`` adds a ``PositionBias`` instead).
        """
        if bias and self.position_dependent:
            raise TTFSValueError(
                "TTFSConv2d.to_torch: the threshold is position dependent, so its ANN bias "
                f"{tuple(self.threshold.shape)} does not fit nn.Conv2d; use bias=False and add ann_bias()"
            )
        conv = nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            bias=bias,
            dtype=self.weight.dtype,
            device=self.weight.device,
        )
        conv.weight.copy_(self.weight)
        if conv.bias is not None:
            conv.bias.copy_(self.ann_bias())
        return conv

    def synaptic_op(self, weight: Tensor | None = None) -> Callable[[Tensor], Tensor]:
        w = self.weight if weight is None else weight
        g = self.geometry
        return lambda q: F.conv2d(q, w, None, g.stride, g.padding, g.dilation, g.groups)

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """Per-sample output shape for a per-sample input shape ``(C, H, W)``."""
        _, h, w = in_shape
        ho = (h + 2 * self.padding[0] - self.dilation[0] * (self.kernel_size[0] - 1) - 1) // self.stride[
            0
        ] + 1
        wo = (w + 2 * self.padding[1] - self.dilation[1] * (self.kernel_size[1] - 1) - 1) // self.stride[
            1
        ] + 1
        return self.out_channels, ho, wo

    def fan_out(self, in_shape: tuple[int, ...]) -> Tensor:
        """Exact number of output neurons each input neuron projects to (borders included)."""
        key = tuple(in_shape)
        if key not in self._fan_out_cache:
            ones_w = torch.ones(self.weight.shape, dtype=torch.float64)
            self._fan_out_cache[key] = fan_out_map(
                key, self.output_shape(key), ones_w, self.stride, self.padding, self.dilation, self.groups
            )
        return self._fan_out_cache[key]

    def input_spec(self) -> tuple[int, None, None]:
        """``(in_channels, H, W)`` with any ``H`` and ``W``."""
        return (self.in_channels, None, None)

    def macs(self, in_shape: tuple[int, ...]) -> int:
        c, ho, wo = self.output_shape(in_shape)
        return c * ho * wo * (self.in_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]

    def synaptic_weight(self) -> Tensor:
        return self.weight

    def synapse(self) -> nn.Conv2d:
        """``nn.Conv2d`` without bias holding a copy of ``weight``."""
        return self.to_torch(bias=False)

    @torch.no_grad()
    def to_ann(self, *, clip: bool = False) -> list[nn.Module]:
        """``nn.Conv2d`` with `ann_bias`, then the activation.

        A position-dependent threshold becomes a bias-free conv followed by a
        [`PositionBias`][ttfsnet.PositionBias].
        """
        mods: list[nn.Module] = [self.to_torch(bias=not self.position_dependent)]
        if self.position_dependent:
            mods.append(PositionBias(self.ann_bias()))
        mods.append(self.ann_activation(clip))
        return mods

    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain data (parameters and buffers travel in the ``state_dict``)."""
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "threshold_shape": list(self.threshold.shape),
        }

    @classmethod
    def example(cls) -> tuple[Self, tuple[int, ...]]:
        """A padded ``2 → 3`` 3×3 conv on ``(2, 5, 5)`` with a position-dependent threshold."""
        layer = cls(2, 3, 3, padding=1, window=1.5, threshold_shape=(3, 5, 5))
        with torch.no_grad():
            layer.threshold.add_(0.2 * torch.rand_like(layer.threshold))
        return layer, (2, 5, 5)

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}"
        )
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        s += f", window={float(self.own_window()):.4g}"
        if self.position_dependent:
            s += ", position_dependent_threshold=True"
        return s


def fan_out_map(
    in_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    ones_weight: Tensor,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> Tensor:
    """Per-input-position synapse count of a zero-padded convolution via ``conv_transpose2d`` of ones.

    Args:
        in_shape: Per-sample input shape ``(C_in, H, W)``.
        out_shape: Per-sample output shape ``(C_out, H_out, W_out)``.
        ones_weight: Tensor of ones shaped like the conv weight (its support defines the synapses).
        stride: Conv stride.
        padding: Conv padding.
        dilation: Conv dilation.
        groups: Conv groups.

    Returns:
        Float64 tensor of shape ``in_shape``.
    """
    _, h, w = in_shape
    _, ho, wo = out_shape
    kh, kw = ones_weight.shape[-2:]
    base_h = (ho - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + 1
    base_w = (wo - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + 1
    ones_out = torch.ones((1, *out_shape), dtype=torch.float64)
    fan = F.conv_transpose2d(
        ones_out,
        ones_weight.to(torch.float64),
        None,
        stride,
        padding,
        (h - base_h, w - base_w),
        groups,
        dilation,
    )
    return fan[0]
