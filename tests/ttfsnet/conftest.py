"""Fixtures and model builders for the ttfsnet tests (torch lives here, not in tests/conftest.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from ttfsnet_testutils import small_cnn

import ttfsnet

# A src-layout package that is not installed would import as an empty namespace package.
assert ttfsnet.__file__ is not None, "ttfsnet is not installed: pip install -e ./ttfsnet"

torch.set_num_threads(1)


@pytest.fixture
def cnn64() -> nn.Sequential:
    return small_cnn()


@pytest.fixture
def inputs64() -> torch.Tensor:
    return torch.rand(32, 2, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
