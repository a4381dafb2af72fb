"""Fixtures for the torch part of ttfsnet_nas; skipped entirely where torch is not installed."""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("torch") is None:  # the NAS core must stay testable without torch
    collect_ignore_glob = ["test_*.py"]
else:
    import numpy as np
    import pytest
    import torch

    from ttfsnet_nas.torch import MacroConfig, MacroSupernet, Supernet

    torch.set_num_threads(1)

    TINY = MacroConfig(
        in_channels=3, num_classes=4, input_size=(8, 8), stem_channels=(4,), stage_blocks=(1, 2)
    )

    @pytest.fixture
    def tiny_config() -> MacroConfig:
        """Three genes (conv3x3 / conv5x5 / skip), 27 architectures, 8x8 inputs."""
        return TINY

    @pytest.fixture
    def supernet(tiny_config: MacroConfig) -> Supernet:
        torch.manual_seed(0)
        return MacroSupernet(tiny_config)

    @pytest.fixture
    def data() -> tuple[torch.Tensor, torch.Tensor]:
        """120 labelled samples; inputs in [0, 1] with about a third exactly 0 (no input spike)."""
        g = torch.Generator().manual_seed(1)
        x = torch.rand(120, 3, 8, 8, generator=g)
        x = torch.where(x < 0.3, torch.zeros_like(x), x)
        y = torch.randint(0, 4, (120,), generator=g)
        return x, y

    @pytest.fixture
    def rng() -> np.random.Generator:
        return np.random.default_rng(7)
