"""Time-stepped ODE simulator vs the closed form."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import ttfsnet
from ttfsnet import functional as TF

D = torch.float64


def _layer_inputs(net: ttfsnet.TTFSNetwork, x: torch.Tensor) -> list[tuple[int, torch.Tensor, float]]:
    """(layer index, closed-form input spike times, previous window) for every spiking layer."""
    out = []
    a = net.encode(x)
    prev = 1.0
    with torch.no_grad():
        for i, layer in enumerate(net.layers):
            if (
                isinstance(layer, (ttfsnet.TTFSConv2d, ttfsnet.TTFSAvgPool2d, ttfsnet.TTFSLinear))
                and not layer.readout
            ):
                out.append((i, TF.activation_to_time(a, prev), prev))
                prev = float(layer.window)
            a = layer(a)
    return out


@pytest.mark.parametrize("dt", [0.1, 0.01])
def test_each_layer_within_one_step_of_closed_form(
    cnn64: nn.Sequential, inputs64: torch.Tensor, dt: float
) -> None:
    net = ttfsnet.convert(
        nn.Sequential(*cnn64[:7], nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6, 3)).to(D), inputs64
    )
    checked = 0
    for i, t_in, prev in _layer_inputs(net, inputs64):
        layer = net.layers[i]
        window = float(layer.window)
        with torch.no_grad():
            closed = TF.activation_to_time(layer(TF.time_to_activation(t_in, prev)), window)
            stepped, _ = TF.ttfs_layer_stepped(
                t_in, prev, layer.synaptic_op(), layer.effective_threshold(), window, dt
            )
        h = window * dt
        both = torch.isfinite(closed) & torch.isfinite(stepped)
        diff = (stepped - closed)[both]
        # float64 slack on O(1) times: a few ulp (~1e-15); 1e-12 is generous but far below h
        assert float(diff.min()) >= -1e-12 and float(diff.max()) < h + 1e-12, f"layer {i}"
        # Silence agrees except for closed-form spikes within one step of the window end.
        assert not bool((torch.isinf(closed) & torch.isfinite(stepped)).any())
        lost = torch.isfinite(closed) & torch.isinf(stepped)
        assert bool((closed[lost] > window - h - 1e-12).all())
        checked += int(both.sum())
    assert checked > 100


def test_end_to_end_logits_converge(cnn64: nn.Sequential, inputs64: torch.Tensor) -> None:
    net = ttfsnet.convert(cnn64, inputs64)
    exact = net.run(inputs64).logits
    errors = []
    for dt in (0.1, 0.01, 0.001):
        r = net.run(inputs64, mode="stepped", dt=dt)
        errors.append(float((r.logits - exact).abs().max()))
        assert r.layer_names == net.run(inputs64).layer_names
    assert errors[0] > errors[1] > errors[2]
    # error ∝ dt: ≲ one step per spike through Σ|w| ≈ 1–3 per layer, so ≲ 3·dt = 3e-3 at dt = 1e-3;
    # measured ≤ 0.51·dt (3 seeds). 5·dt.
    assert errors[2] < 5 * 0.001


def test_stepped_counts_saturation_and_synops(inputs64: torch.Tensor) -> None:
    torch.manual_seed(2)
    m = nn.Sequential(nn.Flatten(), nn.Linear(128, 20), nn.ReLU(), nn.Linear(20, 3)).to(D)
    net = ttfsnet.convert(m, inputs64[:2], zeta=0.0)
    closed = net.run(inputs64)
    stepped = net.run(inputs64, mode="stepped", dt=0.001)
    assert closed.saturation_counts[1] > 0
    assert stepped.saturation_counts == closed.saturation_counts
    assert stepped.synops[0] == closed.synops[0]
    assert abs(stepped.spike_counts[1] - closed.spike_counts[1]) <= 2


def test_readout_integrates_bias_current() -> None:
    head = ttfsnet.TTFSLinear(2, 1, readout=True, dtype=D)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, -2.0]], dtype=D))
        head.bias.fill_(0.3)
    net = ttfsnet.TTFSNetwork([head])
    t0 = torch.tensor([[0.25, math.inf]], dtype=D)
    r = net.run_times(t0, mode="stepped", dt=0.1)
    assert r.logits.item() == pytest.approx(0.3 + 0.75, abs=1e-14)  # ~10 grid sums of O(1): ~10 ulp
