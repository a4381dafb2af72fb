"""Input encoding and decoding (``docs/ttfs-model.md`` §5)."""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor

from ttfsnet.functional.errors import TTFSValueError

__all__ = ["check_input_range", "ttfs_encode", "ttfs_decode", "ttfs_encode_times", "check_input_times"]

#: Relative tolerance on the declared input range (fraction of ``q - p``).
RANGE_TOLERANCE = 1e-6


def check_input_range(x: Tensor, input_range: tuple[float, float], *, where: str = "input") -> None:
    """Raise ``TTFSValueError`` if ``x`` has NaN/Inf or values outside ``[p, q]`` (tolerance 1e-6·(q-p)).

    Args:
        x: Raw input values.
        input_range: Declared ``(p, q)``.
        where: Name used in the error message.
    """
    if x.numel() == 0:
        raise TTFSValueError(f"{where}: empty input tensor of shape {tuple(x.shape)}")
    p, q = input_range
    # both bounds in one copy to the host (a device synchronisation on a GPU)
    lo_f, hi_f = cast(list[float], torch.stack(torch.aminmax(x.detach())).tolist())  # pyright: ignore[reportUnknownMemberType] - torch stubs: tolist() -> bare list
    if not (math.isfinite(lo_f) and math.isfinite(hi_f)):
        raise TTFSValueError(
            f"{where}: input contains NaN or Inf values; expected finite values in [{p}, {q}]"
        )
    tol = RANGE_TOLERANCE * (q - p)
    if lo_f < p - tol or hi_f > q + tol:
        raise TTFSValueError(
            f"{where}: input values span [{lo_f:.6g}, {hi_f:.6g}], outside the declared input_range "
            f"[{p}, {q}]; declare a wider input_range when converting"
        )


def ttfs_encode(x: Tensor, input_range: tuple[float, float]) -> Tensor:
    """Map raw values in ``[p, q]`` to input activations ``x̃ = (x - p)/(q - p) ∈ [0, 1]``.

    The input spike time is ``t0 = 1 - x̃`` (``x̃ = 0`` → no spike). Values within the range
    tolerance outside ``[p, q]`` are clipped.
    """
    p, q = input_range
    return ((x - p) / (q - p)).clamp(0.0, 1.0)


def ttfs_encode_times(x: Tensor, input_range: tuple[float, float]) -> Tensor:
    """Raw values → input spike times in ``[0, 1]``, ``inf`` where ``x̃ == 0``."""
    xt = ttfs_encode(x, input_range)
    return torch.where(xt > 0, 1.0 - xt, torch.full_like(xt, float("inf")))


def ttfs_decode(t0: Tensor, input_range: tuple[float, float]) -> Tensor:
    """Input spike times → raw values (``inf`` decodes to ``p``)."""
    p, q = input_range
    xt = torch.where(torch.isfinite(t0), 1.0 - t0, torch.zeros_like(t0))
    return p + (q - p) * xt


def check_input_times(t0: Tensor, *, where: str = "input times") -> None:
    """Raise ``TTFSValueError`` unless every time is ``+inf`` or within the input window ``[0, 1]``."""
    if torch.isnan(t0).any():
        raise TTFSValueError(f"{where}: spike times contain NaN; expected values in [0, 1] or +inf")
    finite = t0[torch.isfinite(t0)]
    if bool((t0 == float("-inf")).any()):
        raise TTFSValueError(f"{where}: spike times contain -inf; expected values in [0, 1] or +inf")
    if finite.numel() and (
        float(finite.min()) < -RANGE_TOLERANCE or float(finite.max()) > 1 + RANGE_TOLERANCE
    ):
        raise TTFSValueError(
            f"{where}: finite spike times span [{float(finite.min()):.6g}, {float(finite.max()):.6g}]; "
            "expected the input window [0, 1]"
        )
