"""Fixtures for ttfsnet_hw tests (torch-free; torch-based tests import it themselves)."""

from __future__ import annotations

import numpy as np
import pytest

import ttfsnet_hw
from ttfsnet_hw.ir import IRBuilder
from ttfsnet_hw.types import NetworkIR

assert ttfsnet_hw.__file__ is not None, "ttfsnet_hw is not installed (pip install -e ./ttfsnet_hw)"


def small_net(seed: int = 0, channels: int = 3, size: int = 8) -> NetworkIR:
    """conv → maxpool → conv(valid) → flatten → linear → readout, random parameters."""
    rng = np.random.default_rng(seed)
    return (
        IRBuilder("small", (channels, size, size), rng=rng)
        .conv(4, 3)
        .maxpool(2)
        .conv(6, 3, padding=0)
        .flatten()
        .linear(10)
        .readout(3)
    )


@pytest.fixture
def make_net():  # type: ignore[no-untyped-def]
    """Factory of :func:`small_net` networks (seed, channels, size)."""
    return small_net


@pytest.fixture
def net() -> NetworkIR:
    return small_net()


@pytest.fixture
def inputs() -> np.ndarray:
    return np.random.default_rng(1).uniform(0.0, 1.0, size=(6, 3, 8, 8))
