"""The float32 numerics policy: no TF32 while converting or while checking SNN ⇄ ANN agreement.

On NVIDIA GPUs since Ampere, cuDNN convolutions (by default) and optionally cuBLAS matmuls compute
float32 products in TF32, with a 10-bit mantissa. The SNN and the ANN it came from then round
differently, and float32 logits that should agree to rounding drift apart (``docs/ttfs-model.md`` §4,
"Numerics"). [`exact_float32`][ttfsnet.numerics.exact_float32] switches TF32 off for a block and restores the
previous settings.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

import torch

__all__ = ["exact_float32"]


def _precision_leaves() -> list[Any]:
    """The per-backend ``fp32_precision`` settings of torch >= 2.9 that TF32 applies to (empty before)."""
    leaves: list[Any] = []
    for backend, op in (("cuda", "matmul"), ("cudnn", "conv"), ("cudnn", "rnn")):
        leaf = getattr(getattr(torch.backends, backend, None), op, None)
        if leaf is not None and hasattr(leaf, "fp32_precision"):
            leaves.append(leaf)
    return leaves


def _legacy_flags() -> tuple[bool, bool] | None:
    """``(cuda.matmul.allow_tf32, cudnn.allow_tf32)``, or ``None`` where torch refuses to read them."""
    try:
        return bool(torch.backends.cuda.matmul.allow_tf32), bool(torch.backends.cudnn.allow_tf32)
    except RuntimeError:
        # torch >= 2.9 raises once the per-backend settings were set apart from the legacy flags
        # (e.g. ``torch.backends.fp32_precision = "tf32"``); such a process uses only the new settings.
        return None


@contextmanager
def exact_float32() -> Generator[None, None, None]:
    """Compute float32 matmuls and convolutions on CUDA in full float32 (TF32 off) inside the block.

    Sets ``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32`` to ``False``
    and restores the previous values on exit, also when the block raises. On torch >= 2.9 it also
    restores the ``fp32_precision`` settings that replace those flags; a process that set only those
    (so that torch refuses to read the old flags) gets them set to ``"ieee"`` instead. The settings are
    process-wide, so other threads see them while the block runs. Float64 is unaffected, and so is the
    CPU, which computes float32 in float32 by default.

    [`ttfsnet.convert`][ttfsnet.convert.convert] runs inside it. Use it wherever SNN and ANN logits are
    compared::

        with ttfsnet.exact_float32():
            diff = (net(x) - ann(x)).abs().max()
    """
    leaves = _precision_leaves()
    saved = [leaf.fp32_precision for leaf in leaves]
    legacy = _legacy_flags()
    try:
        if legacy is None:
            for leaf in leaves:
                leaf.fp32_precision = "ieee"
        else:
            # The legacy setters keep the old flags and the new settings consistent with each other.
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        yield
    finally:
        if legacy is not None:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = legacy
        for leaf, value in zip(leaves, saved, strict=True):
            leaf.fp32_precision = value
