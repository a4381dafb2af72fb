"""Plain torch modules that [`ttfsnet.to_ann`][ttfsnet.to_ann] emits where ``torch.nn`` has no equivalent.

[`ttfsnet.convert`][ttfsnet.convert.convert] accepts them again, so ``convert(to_ann(net))`` round-trips.
"""

from __future__ import annotations

from torch import Tensor, nn

from ttfsnet import functional as TF
from ttfsnet.nn.base import pair

__all__ = ["InputNormalization", "PositionBias", "SignedMaxPool2d"]


class InputNormalization(nn.Module):
    """``x̃ = (x - p)/(q - p)``: the input encoding of a TTFS network as a plain module."""

    def __init__(self, low: float, high: float) -> None:
        super().__init__()
        self.low = float(low)
        self.high = float(high)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.low) / (self.high - self.low)

    def extra_repr(self) -> str:
        return f"low={self.low:g}, high={self.high:g}"


class PositionBias(nn.Module):
    """Adds a position-dependent bias ``(C, H, W)`` (border-dependent biases of fused convs)."""

    def __init__(self, bias: Tensor) -> None:
        super().__init__()
        self.bias = nn.Parameter(bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias


class SignedMaxPool2d(nn.Module):
    """Max pooling of ``sign·x`` times ``sign`` per channel (min pooling where ``sign = -1``)."""

    sign: Tensor

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int],
        padding: int | tuple[int, int],
        dilation: int | tuple[int, int],
        ceil_mode: bool,
        sign: Tensor,
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride = pair(kernel_size), pair(stride)
        self.padding, self.dilation, self.ceil_mode = pair(padding), pair(dilation), ceil_mode
        self.register_buffer("sign", sign.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        return TF.ttfs_max_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.sign
        )
