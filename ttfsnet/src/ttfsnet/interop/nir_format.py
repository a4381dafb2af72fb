"""What NIR export and import share: the metadata version, the lazy ``nir`` import, grouped-conv weights.

The graph layout itself is documented in [`ttfsnet.interop.nir`][ttfsnet.interop.nir];
[`ttfsnet.interop.nir_export`][ttfsnet.interop.nir_export] writes it and
[`ttfsnet.interop.nir_import`][ttfsnet.interop.nir_import] reads it back.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ttfsnet.errors import TTFSImportError, TTFSValueError

__all__ = ["FORMAT_VERSION", "dense_conv_weight", "grouped_conv_weight", "load_nir"]

#: Version of the ttfsnet metadata layout inside NIR graphs.
FORMAT_VERSION = 1


def load_nir() -> Any:
    """The ``nir`` package, imported on first use: it belongs to the optional extra ``ttfsnet[nir]``.

    Raises:
        TTFSImportError: The extra is not installed.
    """
    try:
        import nir  # pyright: ignore[reportMissingTypeStubs] - nir ships no type information
    except ImportError as err:  # pragma: no cover - exercised only without the extra installed
        raise TTFSImportError(
            "ttfsnet NIR export/import needs the extra: pip install 'ttfsnet[nir]'"
        ) from err
    return nir


def dense_conv_weight(weight: Tensor, groups: int) -> Tensor:
    """Block-diagonal ``(C_out, C_in, kh, kw)`` weight equal to a grouped convolution.

    NIR 1.0.8 infers a ``Conv2d`` node's input channels from ``weight.shape[1]`` (ignoring
    ``groups``), so a grouped conv would fail its type check on ``nir.read``. The explicit zeros
    contribute exactly ``0`` to every sum, so the dense conv computes the same values.
    """
    if groups == 1:
        return weight
    c_out, cin_g = weight.shape[:2]
    og = c_out // groups
    dense = weight.new_zeros(c_out, cin_g * groups, *weight.shape[2:])
    for g in range(groups):
        dense[g * og : (g + 1) * og, g * cin_g : (g + 1) * cin_g] = weight[g * og : (g + 1) * og]
    return dense


def grouped_conv_weight(dense: Tensor, groups: int, where: str) -> Tensor:
    """Inverse of [`dense_conv_weight`][ttfsnet.interop.nir_format.dense_conv_weight]; the off-group blocks
    must be zero."""
    if groups == 1:
        return dense
    c_out, c_in = dense.shape[:2]
    if c_out % groups or c_in % groups:
        raise TTFSValueError(
            f"{where}: Conv2d weight {tuple(dense.shape)} is not divisible into groups={groups}"
        )
    og, cin_g = c_out // groups, c_in // groups
    blocks = [dense[g * og : (g + 1) * og, g * cin_g : (g + 1) * cin_g] for g in range(groups)]
    grouped = torch.cat(blocks)
    if not torch.equal(dense_conv_weight(grouped, groups), dense):
        raise TTFSValueError(
            f"{where}: Conv2d weight has non-zero entries outside its groups={groups} blocks"
        )
    return grouped
