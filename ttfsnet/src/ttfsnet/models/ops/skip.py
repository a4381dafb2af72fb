"""``skip``: no layer where the block keeps the shape, else the minimal width adapter (TNAS-ER §3.3).

An identity cannot change the number of channels or the resolution, so where the block must, ``skip`` is one
1x1 convolution (with the stride) + BatchNorm + ReLU. The adapter ends with ReLU, so every activation
entering a spiking layer stays non-negative. There are no residual shortcuts: an additive shortcut would
merge spike trains from different time windows and break the exact ReLU ↔ TTFS mapping; ``skip`` as a search
choice removes the block, so the chosen subnet stays a plain chain of layers.
"""

from __future__ import annotations

from torch import nn

from ttfsnet.models.ops import conv_bn_relu, register_op

__all__ = ["skip"]


@register_op("skip")
def skip(in_channels: int, out_channels: int, stride: int = 1) -> nn.Module:
    """Identity, or a 1x1 conv+BN+ReLU adapter when the width or the resolution changes."""
    if in_channels == out_channels and stride == 1:
        return nn.Identity()
    return nn.Sequential(*conv_bn_relu(in_channels, out_channels, 1, stride))
