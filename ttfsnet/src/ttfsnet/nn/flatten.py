"""The reshaping layer [`TTFSFlatten`][ttfsnet.nn.flatten.TTFSFlatten] (``(B, C, H, W)`` → ``(B, C·H·W)``); it
owns no window.

The class registers itself as kind ``"flatten"`` when this module is imported; `ttfsnet.nn.layers`
imports the layer modules in registration order.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from ttfsnet import functional as TF
from ttfsnet.nn.base import TTFSLayer
from ttfsnet.nn.registry import register_layer

if TYPE_CHECKING:
    from typing import Self

__all__ = ["TTFSFlatten"]


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
