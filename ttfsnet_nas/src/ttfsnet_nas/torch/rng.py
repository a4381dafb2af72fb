"""Journaling torch's global random generators, so a resumed search continues exactly.

BN recalibration and objective plugins may draw from torch's generator during a search; the core journal
(torch-free) captures Python's and numpy's generators, and this hook adds torch's.
"""

from __future__ import annotations

import base64
from typing import Any

import torch

from ttfsnet_nas.journal import RngHook, default_rng_hooks

__all__ = ["TorchRngHook", "rng_hooks"]


def _encode(state: torch.Tensor) -> str:
    return base64.b64encode(state.cpu().numpy().tobytes()).decode("ascii")


def _decode(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


class TorchRngHook:
    """State of torch's global CPU generator and, when CUDA is initialised, every CUDA generator."""

    name = "torch"

    def get_state(self) -> Any:
        state: dict[str, Any] = {"cpu": _encode(torch.get_rng_state())}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = [_encode(s) for s in torch.cuda.get_rng_state_all()]
        return state

    def set_state(self, state: Any) -> None:
        torch.set_rng_state(_decode(state["cpu"]))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([_decode(s) for s in state["cuda"]])


def rng_hooks() -> list[RngHook]:
    """Python's, numpy's and torch's global generators (for ``run_search(rng_hooks=...)``)."""
    return [*default_rng_hooks(), TorchRngHook()]
