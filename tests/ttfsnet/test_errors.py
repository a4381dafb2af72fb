"""Clear ValueErrors for bad inputs, unsupported modules and bad calibration data."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import ttfsnet

D = torch.float64


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class MySequential(nn.Sequential):
    pass


def _mlp(*mid: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 4), *mid, nn.Linear(4, 2)).to(D)


X = torch.rand(8, 4, dtype=D)


@pytest.mark.parametrize(
    ("model", "pattern"),
    [
        (_mlp(nn.GELU()), r"module '1' \(GELU\).*only ReLU"),
        (_mlp(nn.ReLU6()), r"module '1' \(ReLU6\)"),
        (_mlp(nn.Hardtanh(0.0, 1.0)), r"module '1' \(Hardtanh\)"),
        (_mlp(nn.LayerNorm(4), nn.ReLU()), r"module '1' \(LayerNorm\).*per-sample statistics"),
        (nn.Sequential(Residual(), nn.Linear(4, 2)).to(D), r"module '0' \(Residual\).*residual"),
        (
            nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.ModuleList([nn.Linear(4, 2)])),
            r"module '2' \(ModuleList\)",
        ),
        (nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.Tanh()), nn.Linear(4, 2)), r"module '0.1' \(Tanh\)"),
        (MySequential(nn.Linear(4, 2)), r"subclasses of nn.Sequential"),
        (nn.Sequential(nn.Linear(4, 4), nn.ReLU()).to(D), r"must end with an nn.Linear"),
        (nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)).to(D), r"module '1' \(Linear\).*without a ReLU"),
        (_mlp(nn.ReLU(), nn.BatchNorm1d(4, track_running_stats=False)), r"track_running_stats=False"),
        (_mlp(nn.ReLU(), nn.BatchNorm1d(4), nn.ReLU()), r"module '3' \(ReLU\).*affine of spiking"),
    ],
)
def test_unsupported_modules_are_named(model: nn.Module, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        ttfsnet.convert(model, X)


def test_conv_specific_refusals() -> None:
    x = torch.rand(4, 2, 6, 6, dtype=D)
    reflect = nn.Sequential(
        nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), nn.ReLU(), nn.Flatten(), nn.Linear(72, 2)
    ).to(D)
    with pytest.raises(ValueError, match=r"module '0' \(Conv2d\).*padding_mode='reflect'"):
        ttfsnet.convert(reflect, x)
    ceil = nn.Sequential(
        nn.Conv2d(2, 2, 3), nn.ReLU(), nn.AvgPool2d(3, ceil_mode=True), nn.Flatten(), nn.Linear(8, 2)
    ).to(D)
    with pytest.raises(ValueError, match=r"module '2' \(AvgPool2d\).*ceil_mode"):
        ttfsnet.convert(ceil, x)
    nopad = nn.Sequential(
        nn.Conv2d(2, 2, 3),
        nn.ReLU(),
        nn.AvgPool2d(2, padding=1, count_include_pad=False),
        nn.Flatten(),
        nn.Linear(18, 2),
    ).to(D)
    with pytest.raises(ValueError, match="count_include_pad=False"):
        ttfsnet.convert(nopad, x)
    pre = nn.Sequential(nn.Conv2d(2, 2, 3), nn.AvgPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2)).to(D)
    with pytest.raises(ValueError, match=r"module '1' \(AvgPool2d\).*does not commute"):
        ttfsnet.convert(pre, x)
    noflat = nn.Sequential(nn.Conv2d(2, 2, 3), nn.ReLU(), nn.Linear(4, 2)).to(D)
    with pytest.raises(ValueError, match="add nn.Flatten"):
        ttfsnet.convert(noflat, x)
    head_conv = nn.Sequential(nn.Conv2d(2, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 4)).to(D)
    with pytest.raises(ValueError, match="must end with an nn.Linear"):
        ttfsnet.convert(head_conv, x)


@pytest.mark.parametrize("data", [torch.empty(0, 4), [], [torch.empty(0, 4)], iter(())])
def test_empty_calibration(data: object) -> None:
    with pytest.raises(ValueError, match="calibration_data is empty"):
        ttfsnet.convert(_mlp(nn.ReLU()), data)


def test_bad_calibration_and_arguments() -> None:
    m = _mlp(nn.ReLU())
    with pytest.raises(ValueError, match="calibration_data item 0 is str"):
        ttfsnet.convert(m, ["abc"])
    with pytest.raises(ValueError, match="calibration_data must be a tensor"):
        ttfsnet.convert(m, 3)
    with pytest.raises(ValueError, match="convert calibration_data.*outside the declared input_range"):
        ttfsnet.convert(m, X + 1.5)
    with pytest.raises(ValueError, match="zeta"):
        ttfsnet.convert(m, X, zeta=-1.0)
    with pytest.raises(ValueError, match="input_range"):
        ttfsnet.convert(m, X, input_range=(1.0, 1.0))


def test_network_input_validation() -> None:
    net = ttfsnet.convert(_mlp(nn.ReLU()), X, input_range=(0.0, 1.0))
    bad_nan = X.clone()
    bad_nan[0, 0] = math.nan
    with pytest.raises(ValueError, match="TTFSNetwork: input contains NaN or Inf"):
        net(bad_nan)
    bad_inf = X.clone()
    bad_inf[1, 2] = math.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        net.run(bad_inf)
    with pytest.raises(ValueError, match=r"outside the declared input_range \[0.0, 1.0\]"):
        net(X - 0.5)
    net(X.clamp(0, 1) + 1e-7)  # within the 1e-6·(q-p) tolerance
    with pytest.raises(ValueError, match="forward_times.*input window"):
        net.forward_times(torch.full((2, 4), 2.0, dtype=D))
    with pytest.raises(ValueError, match="mode must be"):
        net.run(X, mode="euler")
    with pytest.raises(ValueError, match="dt must be"):
        net.run(X, mode="stepped", dt=2.0)


def test_network_construction_errors() -> None:
    hidden = ttfsnet.TTFSLinear(4, 4)
    with pytest.raises(ValueError, match="last layer must be TTFSLinear"):
        ttfsnet.TTFSNetwork([hidden])
    with pytest.raises(ValueError, match=r"layers\[0\] is a readout"):
        ttfsnet.TTFSNetwork([ttfsnet.TTFSLinear(4, 4, readout=True), ttfsnet.TTFSLinear(4, 2, readout=True)])
    with pytest.raises(ValueError, match=r"layers\[0\] is ReLU"):
        ttfsnet.TTFSNetwork([nn.ReLU(), ttfsnet.TTFSLinear(4, 2, readout=True)])
    with pytest.raises(ValueError, match="TTFSLinear: window must be a positive"):
        ttfsnet.TTFSLinear(4, 4, window=0.0)
    with pytest.raises(ValueError, match=r"TTFSAvgPool2d: window must be a positive finite number, got inf"):
        ttfsnet.TTFSAvgPool2d(2, window=float("inf"))
    with pytest.raises(
        ValueError, match=r"TTFSMaxPool2d: sign must be .* got shape \(2,\) with values \[0.0, 1.0\]"
    ):
        ttfsnet.TTFSMaxPool2d(2, sign=torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="RobustnessConfig.time_bits"):
        ttfsnet.RobustnessConfig(time_bits=0)
    with pytest.raises(ValueError, match="weight_range"):
        ttfsnet.RobustnessConfig(weight_range=(1.0, -1.0))
