"""Model builders shared by the ttfsnet tests (a uniquely named module: several conftest.py exist)."""

from __future__ import annotations

import torch
from torch import nn


def randomize_bn(model: nn.Module, gen: torch.Generator, negative: bool = True) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics and affine parameters (some κ < 0)."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            dt = m.running_mean.dtype
            m.running_mean.copy_(torch.rand(n, generator=gen, dtype=dt) * 2 - 1)
            m.running_var.copy_(torch.rand(n, generator=gen, dtype=dt) * 1.5 + 0.5)
            lo = -1.0 if negative else 0.2
            m.weight.data.copy_(torch.rand(n, generator=gen, dtype=dt) * (1.2 - lo) + lo)
            m.bias.data.copy_(torch.rand(n, generator=gen, dtype=dt) - 0.5)
    return model.eval()


def small_cnn(dtype: torch.dtype = torch.float64, seed: int = 0) -> nn.Sequential:
    """Conv (padding) → ReLU → BN → MaxPool → Conv(stride) → BN → ReLU → Flatten → Linear."""
    torch.manual_seed(seed)
    m = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.BatchNorm2d(4),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 3),
    ).to(dtype)
    return randomize_bn(m, torch.Generator().manual_seed(seed))
