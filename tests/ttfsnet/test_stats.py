"""SynOPs exactness, SNN statistics and ANN statistics."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

import ttfsnet

D = torch.float64


def _brute_conv_synops(spikes: torch.Tensor, conv: ttfsnet.TTFSConv2d) -> int:
    """Σ over spikes of the number of output neurons whose receptive field contains them."""
    _, c_in, h, w = spikes.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    c_out, ho, wo = conv.output_shape((c_in, h, w))
    cin_g, cout_g = c_in // conv.groups, c_out // conv.groups
    fan = torch.zeros(c_in, h, w, dtype=torch.int64)
    for ci, y, x in itertools.product(range(c_in), range(h), range(w)):
        n = 0
        for oy, ox in itertools.product(range(ho), range(wo)):
            hit = any(
                oy * sh - ph + a * dh == y and ox * sw - pw + b * dw == x
                for a in range(kh)
                for b in range(kw)
            )
            n += cout_g if hit else 0
        fan[ci, y, x] = n
    del cin_g
    return int((spikes.to(torch.int64) * fan).sum())


def _tiny_net() -> tuple[ttfsnet.TTFSNetwork, torch.Tensor]:
    torch.manual_seed(11)
    m = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 2, stride=1, padding=1, groups=2, dilation=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 2 * 1, 3),
    ).to(D)
    x = torch.rand(5, 2, 7, 6, dtype=D)
    return ttfsnet.convert(m, x), x


def test_synops_match_brute_force() -> None:
    net, x = _tiny_net()
    r = net.run(x)
    assert r.entry_kinds == ["input", "spiking", "spiking", "pool"]
    spikes = [torch.isfinite(t) for t in r.spike_times]
    assert r.synops[0] == _brute_conv_synops(spikes[0], net.layers[0])
    assert r.synops[1] == _brute_conv_synops(spikes[1], net.layers[1])
    assert r.synops[2] == 0  # feeds the max pool
    assert r.synops[3] == int(spikes[3].sum()) * 3  # pooled spikes × readout fan-out
    assert r.synops[0] > 0 and r.synops[1] > 0


def test_fan_out_of_avg_pool_with_padding() -> None:
    pool = ttfsnet.TTFSAvgPool2d(3, 2, 1)
    fan = pool.fan_out((1, 5, 5))
    # Input rows/cols 0..4; windows start at -1, 1, 3 → positions 1 and 3 are in two windows each.
    expected_1d = torch.tensor([1, 2, 1, 2, 1], dtype=D)
    torch.testing.assert_close(fan[0], expected_1d[:, None] * expected_1d[None, :], rtol=0, atol=0)  # counts


def test_statistics_match_ann_statistics() -> None:
    torch.manual_seed(4)
    m = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 3),
    ).to(D)
    x = torch.rand(40, 2, 8, 8, dtype=D)
    net = ttfsnet.convert(m, x)
    s = ttfsnet.statistics(net, list(x.split(16)))
    a = ttfsnet.ann_statistics(m, x)
    assert s.samples == a.samples == 40
    assert s.params == a.params == sum(p.numel() for p in m.parameters())
    macs = 4 * 8 * 8 * 2 * 9 + 4 * 2 * 2 * 4 * 9 + 16 * 3
    assert s.macs == a.macs == macs
    assert s.neurons == a.neurons == 4 * 64 + 4 * 4
    # integer counts accumulated in float64 (in another order on each side), then divided: a few ulp
    # (measured 0). rel=1e-14 is ~50 ulp.
    assert s.spikes_per_sample == pytest.approx(a.spikes_per_sample, rel=1e-14)
    assert s.spikes_per_neuron == pytest.approx(a.spikes_per_neuron, rel=1e-14)
    # ANN SynOPs arrive at weighted layers (input non-zeros included), SNN SynOPs leave spiking entries.
    assert s.synops_per_sample == pytest.approx(a.synops_per_sample, rel=1e-14)
    assert s.saturated == 0
    assert set(s.firing_fraction) == {"input", "layers.0", "layers.1", "layers.2"}
    assert s.firing_fraction["layers.0"] == pytest.approx(a.firing_fraction["1"], rel=1e-14)
    rows = {r.name: r for r in s.per_layer}
    assert rows["layers.2"].kind == "spiking" and rows["layers.1"].kind == "pool"
    assert rows["layers.2"].macs == 4 * 2 * 2 * 4 * 9 and rows["layers.0"].params == 4 * 2 * 9 + 4
    assert s.per_layer[-1].kind == "readout" and s.per_layer[-1].macs == 48


def test_ann_statistics_restores_training_mode_and_counts_avgpool() -> None:
    m = nn.Sequential(
        nn.Conv2d(1, 2, 3),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.AvgPool2d(2, ceil_mode=True),
        nn.Flatten(),
        nn.Linear(2 * 2 * 2, 2),
    ).to(D)
    m.train()
    before = m[1].running_mean.clone()
    a = ttfsnet.ann_statistics(m, [(torch.rand(3, 1, 5, 5, dtype=D), torch.zeros(3))])
    assert m.training and m[1].training
    assert torch.equal(before, m[1].running_mean)
    assert a.macs == 2 * 3 * 3 * 9 + 2 * 2 * 2 * 4 + 8 * 2
    with pytest.raises(ValueError, match="data is empty"):
        ttfsnet.ann_statistics(m, [])
    with pytest.raises(ValueError, match="data is empty"):
        net, _ = _tiny_net()
        ttfsnet.statistics(net, [])
