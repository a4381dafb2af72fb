"""``nn.Module`` wrappers of the closed-form B1 layers.

All layers map input *activations* ``x = T_prev - t`` to output activations (see
:mod:`ttfsnet.functional`). Hidden weighted layers keep ``weight`` and ``threshold`` as
:class:`torch.nn.Parameter`, so a :class:`~ttfsnet.nn.TTFSNetwork` trains with any torch optimiser and
autograd through the clamp yields exactly the B1 spike-time derivatives (``ttfs-math.md`` §8).

Each class is one layer kind: it implements :class:`~ttfsnet.nn.base.TTFSLayer` (or
:class:`~ttfsnet.nn.base.TTFSSpikingLayer`) and registers itself with
:func:`~ttfsnet.nn.registry.register_layer`; nothing else in ``ttfsnet`` lists the kinds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ttfsnet import functional as TF
from ttfsnet.errors import TTFSValueError
from ttfsnet.nn.ann import PositionBias, SignedMaxPool2d
from ttfsnet.nn.base import TTFSLayer, TTFSSpikingLayer, pair
from ttfsnet.nn.registry import register_layer

if TYPE_CHECKING:
    from typing import Self

__all__ = ["TTFSLinear", "TTFSConv2d", "TTFSMaxPool2d", "TTFSAvgPool2d", "TTFSFlatten", "fan_out_map"]


def _window_buffer(
    owner: str, window: float, dtype: torch.dtype | None, device: torch.device | str | None
) -> Tensor:
    if not (window > 0 and math.isfinite(window)):
        raise TTFSValueError(f"{owner}: window must be a positive finite number, got {window}")
    return torch.tensor(float(window), dtype=dtype or torch.get_default_dtype(), device=device)


def _tolist(t: Tensor) -> list[float]:
    """``t.flatten().tolist()`` (Python numbers)."""
    return cast(list[float], t.flatten().tolist())  # pyright: ignore[reportUnknownMemberType] - torch stubs: tolist() -> bare list


def _init_like_torch(weight: Tensor, fan_in: int) -> Tensor:
    """Same initialisation as ``nn.Linear``/``nn.Conv2d``; returns a bias draw for the threshold."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return torch.empty(weight.shape[0], dtype=weight.dtype, device=weight.device).uniform_(-bound, bound)


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
        b = _init_like_torch(self.weight.data, in_features)
        if readout:
            self.bias = nn.Parameter(b)
            self.register_buffer("window", None)
        else:
            window_buffer = _window_buffer(type(self).__name__, window, dtype, device)
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
        """A plain ``nn.Linear`` holding a copy of ``weight`` and, with ``bias``, of :meth:`ann_bias`."""
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

    def synops(self, counts: Tensor, in_shape: tuple[int, ...]) -> int:
        """Every arriving spike reaches ``out_features`` synapses."""
        return int(counts.sum()) * self.out_features

    def synaptic_weight(self) -> Tensor:
        return self.weight

    def synapse(self) -> nn.Linear:
        """``nn.Linear`` without bias holding a copy of ``weight``."""
        return self.to_torch(bias=False)

    @torch.no_grad()
    def to_ann(self, *, clip: bool = False) -> list[nn.Module]:
        """``nn.Linear`` with :meth:`ann_bias`, then the activation (none after the readout)."""
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


@register_layer("conv")
class TTFSConv2d(TTFSSpikingLayer):
    """Convolutional B1 layer (zero padding; any stride, padding, dilation, groups).

    ``threshold`` is ``(C_out,)`` or position dependent ``(C_out, H_out, W_out)``; the latter carries
    border-dependent biases produced by fusing a BN-after-ReLU or the input affine into a zero-padded
    convolution (``ttfs-math.md`` §7).

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
        b = _init_like_torch(
            self.weight.data, (in_channels // groups) * self.kernel_size[0] * self.kernel_size[1]
        )
        window_buffer = _window_buffer(type(self).__name__, window, dtype, device)
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
        """Stride/padding/dilation/groups tuple for :mod:`ttfsnet.functional`."""
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
        """A plain ``nn.Conv2d`` holding a copy of ``weight`` and, with ``bias``, of :meth:`ann_bias`.

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
        """``nn.Conv2d`` with :meth:`ann_bias`, then the activation.

        A position-dependent threshold becomes a bias-free conv followed by a :class:`~ttfsnet.PositionBias`.
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


@register_layer("maxpool")
class TTFSMaxPool2d(TTFSLayer):
    """Max pooling of activations = earliest spike (``ttfs-math.md`` §7); owns no window.

    ``sign`` (buffer, ``(C,)`` of ±1, or ``None``) selects the latest spike for channels whose
    following fused BN scale is negative.

    Shapes:
        ``(B, C, H, W)`` → ``(B, C, H_out, W_out)``.
    """

    pools = True
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
        self.kernel_size = pair(kernel_size)
        self.stride = pair(stride) if stride is not None else self.kernel_size
        self.padding = pair(padding)
        self.dilation = pair(dilation)
        self.ceil_mode = ceil_mode
        if sign is not None:
            if sign.dim() != 1 or not bool(((sign == 1) | (sign == -1)).all()):
                raise TTFSValueError(
                    f"TTFSMaxPool2d: sign must be a 1-D tensor of +1/-1 per channel, got shape "
                    f"{tuple(sign.shape)} with values {sorted(set(_tolist(sign)))[:4]}"
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

    def relay_times(self, t: Tensor) -> Tensor:
        """:meth:`pool_times`."""
        return self.pool_times(t)

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape (``ceil_mode`` included), from a probe of ``F.max_pool2d``."""
        probe = F.max_pool2d(
            torch.zeros((1, *in_shape)),
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
        )
        return tuple(probe.shape[1:])

    def synops(self, counts: Tensor, in_shape: tuple[int, ...]) -> int:
        """0: spikes feeding a max pool are only routed; the pooled spikes pay the next layer's synapses."""
        return 0

    def to_ann(self, *, clip: bool = False) -> list[nn.Module]:
        """``nn.MaxPool2d``, or :class:`~ttfsnet.SignedMaxPool2d` when some channels take the latest spike."""
        if self.sign is None:
            return [
                nn.MaxPool2d(
                    self.kernel_size, self.stride, self.padding, self.dilation, ceil_mode=self.ceil_mode
                )
            ]
        return [
            SignedMaxPool2d(
                self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.sign
            )
        ]

    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain data; ``sign`` as a list of ±1 (``None``: all +1)."""
        return {
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "dilation": list(self.dilation),
            "ceil_mode": self.ceil_mode,
            "sign": None if self.sign is None else [int(v) for v in _tolist(self.sign)],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        """The layer :meth:`config` describes."""
        config = dict(config)
        sign = config.pop("sign", None)
        return cls(**config, sign=None if sign is None else torch.tensor(sign, dtype=torch.float64))

    @classmethod
    def example(cls) -> tuple[Self, tuple[int, ...]]:
        """A 2×2 pool on ``(2, 4, 4)`` whose first channel takes the latest spike."""
        return cls(2, sign=torch.tensor([-1.0, 1.0])), (2, 4, 4)

    def extra_repr(self) -> str:
        s = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        if self.sign is not None:
            s += f", negative_channels={int((self.sign < 0).sum())}"
        return s


@register_layer("avgpool")
class TTFSAvgPool2d(TTFSSpikingLayer):
    """Average pooling as a fixed-weight B1 layer with its own window (``x_out = clamp(avg(x), 0, T)``).

    Zero padding counts towards the average (``count_include_pad=True``), as in the ANN it maps.

    Shapes:
        ``(B, C, H, W)`` → ``(B, C, H_out, W_out)``.
    """

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
        self.kernel_size = pair(kernel_size)
        self.stride = pair(stride) if stride is not None else self.kernel_size
        self.padding = pair(padding)
        self.register_buffer("window", _window_buffer(type(self).__name__, window, dtype, device))
        self._fan_out_cache: dict[tuple[int, ...], Tensor] = {}

    def preactivation(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        return TF.ttfs_avg_pool2d_preactivation(x, self.kernel_size, self.stride, self.padding)

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        return TF.ttfs_avg_pool2d(x, self.own_window(), self.kernel_size, self.stride, self.padding)

    def effective_threshold(self) -> Tensor:
        return self.own_window()

    def ann_bias(self) -> Tensor:
        """0: the threshold equals the window."""
        return torch.zeros_like(self.own_window())

    def synapse(self) -> nn.AvgPool2d:
        """``nn.AvgPool2d`` (``count_include_pad=True``)."""
        return nn.AvgPool2d(self.kernel_size, self.stride, self.padding, count_include_pad=True)

    def to_ann(self, *, clip: bool = False) -> list[nn.Module]:
        """``nn.AvgPool2d`` (``count_include_pad=True``), clipped at the window only with ``clip``."""
        mods: list[nn.Module] = [self.synapse()]
        if clip:
            mods.append(self.ann_activation(clip))
        return mods

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

    @classmethod
    def example(cls) -> tuple[Self, tuple[int, ...]]:
        """A padded 2×2 average pool on ``(2, 4, 4)`` with window 0.8."""
        return cls(2, padding=1, window=0.8), (2, 4, 4)

    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain data (the window travels in the ``state_dict``)."""
        return {
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
        }

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"window={float(self.own_window()):.4g}"
        )


@register_layer("flatten")
class TTFSFlatten(TTFSLayer):
    """Reshape ``(B, C, H, W)`` → ``(B, C·H·W)`` (channel-major, as ``nn.Flatten``); owns no window."""

    def forward(self, x: Tensor) -> Tensor:
        return TF.ttfs_flatten(x)

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int]:
        """``(prod(in_shape),)``."""
        return (int(math.prod(in_shape)),)

    def to_ann(self, *, clip: bool = False) -> list[nn.Module]:
        """``nn.Flatten()``."""
        return [nn.Flatten()]

    def config(self) -> dict[str, Any]:
        """No constructor arguments."""
        return {}

    @classmethod
    def example(cls) -> tuple[Self, tuple[int, ...]]:
        """Flattening ``(2, 3, 3)``."""
        return cls(), (2, 3, 3)
