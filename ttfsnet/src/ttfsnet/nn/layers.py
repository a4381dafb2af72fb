"""``nn.Module`` wrappers of the closed-form B1 layers.

All layers map input *activations* ``x = T_prev - t`` to output activations (see
:mod:`ttfsnet.functional`). Hidden weighted layers keep ``weight`` and ``threshold`` as
:class:`torch.nn.Parameter`, so a :class:`~ttfsnet.nn.TTFSNetwork` trains with any torch optimiser and
autograd through the clamp yields exactly the B1 spike-time derivatives (``ttfs-math.md`` §8).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from ttfsnet import functional as TF

__all__ = ["TTFSLinear", "TTFSConv2d", "TTFSMaxPool2d", "TTFSAvgPool2d", "TTFSFlatten", "fan_out_map"]


def _window_buffer(
    owner: str, window: float, dtype: torch.dtype | None, device: torch.device | str | None
) -> Tensor:
    if not (window > 0 and math.isfinite(window)):
        raise ValueError(f"{owner}: window must be a positive finite number, got {window}")
    return torch.tensor(float(window), dtype=dtype or torch.get_default_dtype(), device=device)


def _init_like_torch(weight: Tensor, fan_in: int) -> Tensor:
    """Same initialisation as ``nn.Linear``/``nn.Conv2d``; returns a bias draw for the threshold."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return torch.empty(weight.shape[0], dtype=weight.dtype, device=weight.device).uniform_(-bound, bound)


class TTFSLinear(nn.Module):
    """Dense B1 layer, or the non-spiking readout layer when ``readout=True``.

    Hidden mode: ``x_out = clamp(W x + T - ϑ, 0, T)``; parameters ``weight`` ``(out, in)`` and
    ``threshold`` ``(out,)``, buffer ``window`` (scalar ``T``).
    Readout mode: ``logits = b + W x`` (membrane at the start of the output window); parameters
    ``weight`` and ``bias``; no threshold, ``window`` is ``None``.

    Shapes:
        Input ``(B, in_features)`` activations; output ``(B, out_features)``.
    """

    threshold: Tensor
    window: Tensor | None

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
        b = _init_like_torch(self.weight.data, in_features)
        if readout:
            self.bias = nn.Parameter(b)
            self.register_buffer("window", None)
        else:
            self.register_buffer("window", _window_buffer(type(self).__name__, window, dtype, device))
            self.threshold = nn.Parameter(self.window - b)

    def params(self, weight: Tensor | None = None) -> TF.TTFSParameters:
        """Functional parameter tuple, optionally with a replacement (e.g. quantised) weight."""
        if self.readout:
            raise ValueError("TTFSLinear(readout=True) has no threshold/window")
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
        """A plain ``nn.Linear`` holding a copy of ``weight`` and, with ``bias``, of :meth:`ann_bias`."""
        lin = nn.Linear(
            self.in_features, self.out_features, bias=bias, dtype=self.weight.dtype, device=self.weight.device
        )
        lin.weight.copy_(self.weight)
        if lin.bias is not None:
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

    def extra_repr(self) -> str:
        mode = "readout" if self.readout else f"window={float(self.window):.4g}"  # type: ignore[arg-type]
        return f"in_features={self.in_features}, out_features={self.out_features}, {mode}"


class TTFSConv2d(nn.Module):
    """Convolutional B1 layer (zero padding; any stride, padding, dilation, groups).

    ``threshold`` is ``(C_out,)`` or position dependent ``(C_out, H_out, W_out)``; the latter carries
    border-dependent biases produced by fusing a BN-after-ReLU or the input affine into a zero-padded
    convolution (``ttfs-math.md`` §7).

    Shapes:
        Input ``(B, C_in, H, W)``; output ``(B, C_out, H_out, W_out)``.
    """

    threshold: Tensor
    window: Tensor

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
            raise ValueError(
                f"TTFSConv2d: channels ({in_channels}, {out_channels}) must be divisible by groups={groups}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.readout = False
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels // groups, *self.kernel_size, device=device, dtype=dtype)
        )
        b = _init_like_torch(
            self.weight.data, (in_channels // groups) * self.kernel_size[0] * self.kernel_size[1]
        )
        self.register_buffer("window", _window_buffer(type(self).__name__, window, dtype, device))
        if threshold_shape is None or tuple(threshold_shape) == (out_channels,):
            thr = self.window - b
        else:
            if len(threshold_shape) != 3 or threshold_shape[0] != out_channels:
                raise ValueError(
                    f"TTFSConv2d: threshold_shape must be ({out_channels},) or "
                    f"({out_channels}, H_out, W_out), got {tuple(threshold_shape)}"
                )
            thr = (self.window - b).view(-1, 1, 1).expand(*threshold_shape).clone()
        self.threshold = nn.Parameter(thr)
        self._fan_out_cache: dict[tuple[int, ...], Tensor] = {}

    @property
    def geometry(self) -> TF.Conv2dGeometry:
        """Stride/padding/dilation/groups tuple for :mod:`ttfsnet.functional`."""
        return TF.Conv2dGeometry(self.stride, self.padding, self.dilation, self.groups)

    @property
    def position_dependent(self) -> bool:
        """Whether the threshold varies with the output position."""
        return self.threshold.dim() == 3

    def params(self, weight: Tensor | None = None) -> TF.TTFSParameters:
        return TF.TTFSParameters(self.weight if weight is None else weight, self.threshold, self.window)

    def ann_bias(self) -> Tensor:
        """Equivalent ANN bias ``T - ϑ`` (``(C,)`` or ``(C, H_out, W_out)``)."""
        return TF.ttfs_bias(self.threshold, self.window)

    def preactivation(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        return TF.ttfs_conv2d_preactivation(x, self.params(weight), self.geometry)

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        return TF.ttfs_conv2d(x, self.params(weight), self.geometry)

    def effective_threshold(self) -> Tensor:
        return self.threshold if self.position_dependent else self.threshold.view(-1, 1, 1)

    @torch.no_grad()
    def to_torch(self, *, bias: bool = True) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` holding a copy of ``weight`` and, with ``bias``, of :meth:`ann_bias`.

        Raises:
            ValueError: For ``bias=True`` with a position-dependent threshold, whose ``(C, H, W)``
                bias an ``nn.Conv2d`` cannot hold (``to_ann`` adds a ``PositionBias`` instead).
        """
        if bias and self.position_dependent:
            raise ValueError(
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

    def macs(self, in_shape: tuple[int, ...]) -> int:
        c, ho, wo = self.output_shape(in_shape)
        return c * ho * wo * (self.in_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}"
        )
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        s += f", window={float(self.window):.4g}"
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
    c_in, h, w = in_shape
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


class TTFSMaxPool2d(nn.Module):
    """Max pooling of activations = earliest spike (``ttfs-math.md`` §7); owns no window.

    ``sign`` (buffer, ``(C,)`` of ±1, or ``None``) selects the latest spike for channels whose
    following fused BN scale is negative.

    Shapes:
        ``(B, C, H, W)`` → ``(B, C, H_out, W_out)``.
    """

    sign: Tensor | None

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        ceil_mode: bool = False,
        *,
        sign: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel_size
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.ceil_mode = ceil_mode
        if sign is not None:
            if sign.dim() != 1 or not bool(((sign == 1) | (sign == -1)).all()):
                raise ValueError(
                    f"TTFSMaxPool2d: sign must be a 1-D tensor of +1/-1 per channel, got shape "
                    f"{tuple(sign.shape)} with values {sorted(set(sign.flatten().tolist()))[:4]}"
                )
            if bool((sign == 1).all()):
                sign = None
        self.register_buffer("sign", None if sign is None else sign.clone())

    def forward(self, x: Tensor) -> Tensor:
        return TF.ttfs_max_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.sign
        )

    def pool_times(self, t: Tensor) -> Tensor:
        """Pool spike times directly (``inf`` = no spike)."""
        return TF.ttfs_max_pool2d_times(
            t, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.sign
        )

    def extra_repr(self) -> str:
        s = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        if self.sign is not None:
            s += f", negative_channels={int((self.sign < 0).sum())}"
        return s


class TTFSAvgPool2d(nn.Module):
    """Average pooling as a fixed-weight B1 layer with its own window (``x_out = clamp(avg(x), 0, T)``).

    Zero padding counts towards the average (``count_include_pad=True``), as in the ANN it maps.

    Shapes:
        ``(B, C, H, W)`` → ``(B, C, H_out, W_out)``.
    """

    window: Tensor

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        *,
        window: float = 1.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel_size
        self.padding = _pair(padding)
        self.readout = False
        self.register_buffer("window", _window_buffer(type(self).__name__, window, dtype, device))
        self._fan_out_cache: dict[tuple[int, ...], Tensor] = {}

    def preactivation(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        return TF.ttfs_avg_pool2d_preactivation(x, self.kernel_size, self.stride, self.padding)

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        return TF.ttfs_avg_pool2d(x, self.window, self.kernel_size, self.stride, self.padding)

    def effective_threshold(self) -> Tensor:
        return self.window

    def synaptic_op(self, weight: Tensor | None = None) -> Callable[[Tensor], Tensor]:
        return lambda q: TF.ttfs_avg_pool2d_preactivation(q, self.kernel_size, self.stride, self.padding)

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, int, int]:
        c, h, w = in_shape
        ho = (h + 2 * self.padding[0] - self.kernel_size[0]) // self.stride[0] + 1
        wo = (w + 2 * self.padding[1] - self.kernel_size[1]) // self.stride[1] + 1
        return c, ho, wo

    def fan_out(self, in_shape: tuple[int, ...]) -> Tensor:
        key = tuple(in_shape)
        if key not in self._fan_out_cache:
            c = key[0]
            ones_w = torch.ones((c, 1, *self.kernel_size), dtype=torch.float64)
            self._fan_out_cache[key] = fan_out_map(
                key, self.output_shape(key), ones_w, self.stride, self.padding, (1, 1), c
            )
        return self._fan_out_cache[key]

    def macs(self, in_shape: tuple[int, ...]) -> int:
        c, ho, wo = self.output_shape(in_shape)
        return c * ho * wo * self.kernel_size[0] * self.kernel_size[1]

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"window={float(self.window):.4g}"
        )


class TTFSFlatten(nn.Module):
    """Reshape ``(B, C, H, W)`` → ``(B, C·H·W)`` (channel-major, as ``nn.Flatten``); owns no window."""

    def forward(self, x: Tensor) -> Tensor:
        return TF.ttfs_flatten(x)
