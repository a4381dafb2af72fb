"""``conv3x3`` and ``conv5x5``: a spiking conv block of TNAS-ER §3.3 (AutoSNN style).

Two convolutions of that kernel with "same" padding, each followed by BatchNorm and ReLU; the first applies
the stride and changes the width. In the SNN each ReLU is a TTFS neuron and each BN folds into the
convolution before it.
"""

from __future__ import annotations

from torch import nn

from ttfsnet.models.ops import conv_bn_relu, register_op

__all__ = ["double_conv"]


def double_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """Two ``kernel_size`` conv+BN+ReLU layers (the first applies the stride)."""
    return nn.Sequential(
        *conv_bn_relu(in_channels, out_channels, kernel_size, stride),
        *conv_bn_relu(out_channels, out_channels, kernel_size, 1),
    )


@register_op("conv3x3")
def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Module:
    """Two 3x3 conv+BN+ReLU layers (the first applies the stride)."""
    return double_conv(in_channels, out_channels, 3, stride)


@register_op("conv5x5")
def conv5x5(in_channels: int, out_channels: int, stride: int = 1) -> nn.Module:
    """Two 5x5 conv+BN+ReLU layers (the first applies the stride)."""
    return double_conv(in_channels, out_channels, 5, stride)
