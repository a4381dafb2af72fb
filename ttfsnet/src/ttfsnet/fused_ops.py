"""The fused intermediate form: one record per TTFS layer to build, passed from fusion to conversion.

[`ttfsnet.fusion.fuse`][ttfsnet.fusion.fuse] reads the ANN and writes these records with every affine already
folded into the weighted layers; [`ttfsnet.convert`][ttfsnet.convert.convert] builds one TTFS layer from each
record and calibrates the windows. They live in a module of their own so that both sides import them without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from ttfsnet import functional as TF

__all__ = ["AvgPoolOp", "FlattenOp", "FusedOp", "MaxPoolOp", "WeightedOp"]


@dataclass
class WeightedOp:
    """A ``Conv2d``/``Linear`` with the affines around it folded in (``relu``: a ReLU follows it)."""

    path: str
    kind: str  # "linear" | "conv"
    weight: Tensor
    bias: Tensor  # (out,), (C,) or (C, H, W)
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    geometry: TF.Conv2dGeometry | None = None
    relu: bool = False


@dataclass
class MaxPoolOp:
    """A max pool; ``sign`` is -1 for channels that take the latest spike (negative fused scale)."""

    path: str
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    ceil_mode: bool
    sign: Tensor  # (C,) of ±1


@dataclass
class AvgPoolOp:
    """An average pool of spiking activations (``count_include_pad=True``)."""

    path: str
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    def apply(self, x: Tensor) -> Tensor:
        return TF.ttfs_avg_pool2d_preactivation(x, self.kernel_size, self.stride, self.padding)


@dataclass
class FlattenOp:
    """A flatten of spiking activations."""

    path: str


FusedOp = WeightedOp | MaxPoolOp | AvgPoolOp | FlattenOp
