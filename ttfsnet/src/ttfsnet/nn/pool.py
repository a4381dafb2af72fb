"""The pooling layers: [`TTFSMaxPool2d`][ttfsnet.nn.pool.TTFSMaxPool2d] (earliest spike, no window) and
[`TTFSAvgPool2d`][ttfsnet.nn.pool.TTFSAvgPool2d] (a fixed-weight B1 layer with its own window).

Both register themselves (kinds ``"maxpool"`` and ``"avgpool"``) when this module is imported;
`ttfsnet.nn.layers` imports the layer modules in registration order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ttfsnet import functional as TF
from ttfsnet.errors import TTFSValueError
from ttfsnet.nn.ann import SignedMaxPool2d
from ttfsnet.nn.base import TTFSLayer, TTFSSpikingLayer, make_window_buffer, pair
from ttfsnet.nn.conv import fan_out_map
from ttfsnet.nn.registry import register_layer

if TYPE_CHECKING:
    from typing import Self

__all__ = ["TTFSMaxPool2d", "TTFSAvgPool2d"]


def _tolist(t: Tensor) -> list[float]:
    """``t.flatten().tolist()`` (Python numbers)."""
    return cast(list[float], t.flatten().tolist())  # pyright: ignore[reportUnknownMemberType] - torch stubs: tolist() -> bare list


@register_layer("maxpool")
class TTFSMaxPool2d(TTFSLayer):
    """Max pooling of activations = earliest spike (``docs/ttfs-model.md`` §7); owns no window.

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
        """`pool_times`."""
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

    def synops(self, counts: Tensor, in_shape: tuple[int, ...]) -> Tensor:
        """0: spikes feeding a max pool are only routed; the pooled spikes pay the next layer's synapses."""
        return counts.new_zeros((), dtype=torch.int64)

    def input_spec(self) -> tuple[int | None, None, None]:
        """``(C, H, W)``; ``C`` is fixed only by a per-channel ``sign``."""
        return (None if self.sign is None else int(self.sign.numel()), None, None)

    def to_ann(self, *, clip: bool = False) -> list[nn.Module]:
        """``nn.MaxPool2d``, or [`SignedMaxPool2d`][ttfsnet.SignedMaxPool2d] when some channels take the
        latest spike."""
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
        """The layer `config` describes."""
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
        self.register_buffer("window", make_window_buffer(type(self).__name__, window, dtype, device))
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

    def input_spec(self) -> tuple[None, None, None]:
        """``(C, H, W)`` of any size."""
        return (None, None, None)

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
