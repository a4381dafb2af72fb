"""A two-layer worked example of the B1 model (docs/ttfs-model.md), digit for digit."""

from __future__ import annotations

import math

import torch
from torch import nn

import ttfsnet
from ttfsnet import functional as TF

D = torch.float64
# Every hand value below is ≤ ~5 float64 ops on O(1) numbers: a few ulp (≤ ~1e-16 each), so atol=1e-15 unless
# the line says otherwise (assert_close's float64 default, 1e-7, would be nine orders looser).
X0 = torch.tensor([[0.2, 0.9, 0.5]], dtype=D)
W1 = torch.tensor([[0.5, -0.3, 0.8], [-0.6, 0.4, -0.2]], dtype=D)
B1 = torch.tensor([0.1, -0.2], dtype=D)
W2 = torch.tensor([[1.0, -0.5], [0.3, 0.7]], dtype=D)
B2 = torch.tensor([0.05, -0.1], dtype=D)


def _net(window: float) -> ttfsnet.TTFSNetwork:
    hidden = ttfsnet.TTFSLinear(3, 2, window=window, dtype=D)
    head = ttfsnet.TTFSLinear(2, 2, readout=True, dtype=D)
    with torch.no_grad():
        hidden.weight.copy_(W1)
        hidden.threshold.copy_(window - B1)
        head.weight.copy_(W2)
        head.bias.copy_(B2)
    return ttfsnet.TTFSNetwork([hidden, head], input_range=(0.0, 1.0))


def test_hidden_times_and_logits() -> None:
    net = _net(1.0)
    r = net.run(X0)
    # Input spikes 1 - x = (0.8, 0.1, 0.5).
    torch.testing.assert_close(r.spike_times[0], torch.tensor([[0.8, 0.1, 0.5]], dtype=D), rtol=0, atol=1e-15)
    # theta = T - b = (0.9, 1.2); absolute hidden times (1.67, silent); relative 0.67.
    theta = torch.tensor([0.9, 1.2], dtype=D)
    torch.testing.assert_close(net.layers[0].threshold.detach(), theta, rtol=0, atol=1e-15)
    t1 = r.spike_times[1][0]
    assert math.isclose(float(t1[0]) + 1.0, 1.67, abs_tol=1e-14)  # a few float64 ops on O(1) values
    assert math.isinf(float(t1[1]))
    assert r.spike_counts == [3, 1]
    torch.testing.assert_close(r.logits, torch.tensor([[0.38, -0.001]], dtype=D), rtol=0, atol=1e-15)
    assert net.schedule() == [(0.0, 1.0), (1.0, 2.0)]
    assert net.latency() == 2.0


def test_matches_ann_and_membrane_at_tmin() -> None:
    net = _net(1.0)
    ann = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2)).to(D)
    with torch.no_grad():
        ann[0].weight.copy_(W1)
        ann[0].bias.copy_(B1)
        ann[2].weight.copy_(W2)
        ann[2].bias.copy_(B2)
    with torch.no_grad():
        assert float((net(X0) - ann(X0)).abs().max()) < 1e-15
    # V(t_min^(1)) = W (1 - t0) = (0.23, 0.14)
    pre = net.layers[0].preactivation(X0) - (1.0 - net.layers[0].threshold)
    torch.testing.assert_close(pre.detach(), torch.tensor([[0.23, 0.14]], dtype=D), rtol=0, atol=1e-15)


def test_window_too_small_clips_to_window() -> None:
    net = _net(0.2)
    r = net.run(X0)
    # Closed form without gating would give 0.87 < t_min = 1 (acausal); gated: fires at t_min.
    assert r.spike_times[1][0, 0].item() == 0.0
    assert r.saturation_counts[1] == 1
    x1 = TF.time_to_activation(r.spike_times[1], 0.2)
    torch.testing.assert_close(x1, torch.tensor([[0.2, 0.0]], dtype=D), rtol=0, atol=1e-15)
    # Readout then uses the clipped activation 0.2 instead of 0.33.
    want = torch.tensor([[0.05 + 0.2, -0.1 + 0.3 * 0.2]], dtype=D)
    torch.testing.assert_close(r.logits, want, rtol=0, atol=1e-15)


def test_stepped_reproduces_example() -> None:
    net = _net(1.0)
    r = net.run(X0, mode="stepped", dt=1e-4)
    assert abs(float(r.spike_times[1][0, 0]) - 0.67) <= 1e-4 + 1e-12  # fires within one step dt
    assert math.isinf(float(r.spike_times[1][0, 1]))
    # one step of timing error in the one firing hidden neuron: ≤ max|W2[:, 0]|·dt = 1e-4 (measured 1e-4)
    torch.testing.assert_close(r.logits, torch.tensor([[0.38, -0.001]], dtype=D), rtol=0, atol=1e-4 + 1e-12)


def test_gradients_match_ann_finite_difference_row() -> None:
    net = _net(1.0)
    loss = nn.functional.cross_entropy(net(X0), torch.tensor([0]))
    loss.backward()
    g = net.layers[0].weight.grad
    assert g is not None
    # the expected row is given to 4 decimals: ±5e-5 (measured 4e-5)
    torch.testing.assert_close(g[0], torch.tensor([-0.0568, -0.2557, -0.1421], dtype=D), rtol=0, atol=5e-5)
    assert float(g[1].abs().max()) == 0.0
