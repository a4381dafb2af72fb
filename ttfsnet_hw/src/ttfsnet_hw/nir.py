"""NIR interchange for hardware flows: thin wrappers of ``ttfsnet.export_nir`` / ``ttfsnet.import_nir``.

NIR has no max-pool primitive (``docs/nir.md``); ``ttfsnet`` decides how such layers are written. These
wrappers add what the hardware backend needs: importing straight to the IR.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ttfsnet_hw.types import NetworkIR

__all__ = ["export_nir", "import_nir", "import_nir_ir"]


def export_nir(net: Any, path: str | os.PathLike[str], input_shape: Sequence[int] | None = None) -> Path:
    """Write a ``ttfsnet.TTFSNetwork`` as a NIR file (``ttfsnet.export_nir``).

    Args:
        net: the network.
        path: destination.
        input_shape: per-sample input shape (needed when the network starts with a convolution).

    Returns:
        The path written.
    """
    import ttfsnet

    ttfsnet.export_nir(
        net, path, input_shape=None if input_shape is None else tuple(int(v) for v in input_shape)
    )
    return Path(path)


def import_nir(path: str | os.PathLike[str]) -> Any:
    """Read a NIR file into a ``ttfsnet.TTFSNetwork`` (``ttfsnet.import_nir``)."""
    import ttfsnet

    return ttfsnet.import_nir(path)


def import_nir_ir(path: str | os.PathLike[str], input_shape: Sequence[int]) -> NetworkIR:
    """Read a NIR file straight into the hardware IR."""
    from ttfsnet_hw.adapters.torch import ir_from_ttfs

    return ir_from_ttfs(import_nir(path), input_shape, name=Path(path).stem)
