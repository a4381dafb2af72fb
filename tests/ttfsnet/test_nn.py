"""nn layers and TTFSNetwork: training equivalence, robustness options, schedule, run results."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import ttfsnet
from ttfsnet import functional as TF

D = torch.float64


def test_parameters_are_trainable_and_named(cnn64: nn.Sequential, inputs64: torch.Tensor) -> None:
    net = ttfsnet.convert(cnn64, inputs64)
    names = {n for n, _ in net.named_parameters()}
    assert {"layers.0.weight", "layers.0.threshold", "layers.4.weight", "layers.4.bias"} <= names
    assert "layers.0.window" in dict(net.named_buffers())
    assert net.layers[-1].window is None and not hasattr(net.layers[-1], "threshold")
    assert isinstance(net.layers, nn.ModuleList)


def test_sgd_trajectory_equals_ann(cnn64: nn.Sequential, inputs64: torch.Tensor) -> None:
    """Same init, data and optimiser: SNN and ANN parameters stay identical (docs/ttfs-model.md §10)."""
    net = ttfsnet.convert(cnn64, inputs64, zeta=2.0)
    ann = ttfsnet.to_ann(net)
    y = torch.randint(0, 3, (len(inputs64),), generator=torch.Generator().manual_seed(0))
    opt_s = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    opt_a = torch.optim.SGD(ann.parameters(), lr=0.05, momentum=0.9)
    for step in range(5):
        for model, opt in ((net, opt_s), (ann, opt_a)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(inputs64), y).backward()
            opt.step()
        assert net.run(inputs64).total_saturated == 0, step
    with torch.no_grad():
        # float64 rounding only: forward ≲ eps·Σfan_in·|preact| ≈ 2.2e-16·78·~2 ≈ 3e-14, and 5 steps of
        # lr 0.05 with momentum 0.9 move parameters by ≲ 5·0.05·10·that; measured ≤ 6e-16. 1e-13 is ~3x.
        assert float((net(inputs64) - ann(inputs64)).abs().max()) < 1e-13
        sd = dict(ann.named_parameters())
        # Hidden conv 0: W equal, b = T - theta equal.
        torch.testing.assert_close(net.layers[0].weight, sd["1.weight"], rtol=0, atol=1e-13)
        torch.testing.assert_close(net.layers[0].ann_bias(), sd["1.bias"], rtol=0, atol=1e-13)
        torch.testing.assert_close(net.layers[-1].bias, list(ann.parameters())[-1], rtol=0, atol=1e-13)


def test_spike_time_gradients_are_b1_derivatives() -> None:
    """dt_i/dW_ij = -x_j, dt_i/dtheta_i = +1 for firing neurons, 0 for silent ones."""
    layer = ttfsnet.TTFSLinear(3, 2, window=2.0, dtype=D)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, 0.2, 0.1], [-1.0, 0.1, 0.0]], dtype=D))
        layer.threshold.copy_(torch.tensor([1.5, 2.5], dtype=D))
    x = torch.tensor([[0.4, 0.3, 0.9]], dtype=D)
    t = TF.activation_to_time(layer(x), layer.window)
    assert math.isinf(float(t[0, 1].detach()))
    t[0, 0].backward()
    torch.testing.assert_close(layer.weight.grad[0], -x[0], rtol=0, atol=1e-15)  # -x: exact up to an ulp
    assert layer.threshold.grad.tolist() == [1.0, 0.0]


def test_forward_times_equals_forward(cnn64: nn.Sequential, inputs64: torch.Tensor) -> None:
    net = ttfsnet.convert(cnn64, inputs64)
    t0 = TF.ttfs_encode_times(inputs64, net.input_range)
    with torch.no_grad():  # the same arithmetic from another entry point: 1e-14 ≈ 50 ulp at |logit| ≈ 0.25
        torch.testing.assert_close(net.forward_times(t0), net(inputs64), rtol=0, atol=1e-14)
    r1, r2 = net.run(inputs64), net.run_times(t0)
    torch.testing.assert_close(r1.logits, r2.logits, rtol=0, atol=1e-14)
    assert r1.spike_counts == r2.spike_counts


def test_schedule_windows_latency(cnn64: nn.Sequential, inputs64: torch.Tensor) -> None:
    net = ttfsnet.convert(cnn64, inputs64)
    w = net.windows()
    assert len(w) == 2 and all(v > 0 for v in w)
    s = net.schedule()
    assert s[0] == (0.0, 1.0) and s[1] == (1.0, 1.0 + w[0])
    assert s[2][0] == s[1][1]
    assert net.latency() == pytest.approx(1.0 + sum(w), rel=1e-14)  # two float64 adds: ~2 ulp


def test_run_result_fields(cnn64: nn.Sequential, inputs64: torch.Tensor) -> None:
    net = ttfsnet.convert(cnn64, inputs64)
    r = net.run(inputs64)
    assert r.layer_names == ["input", "layers.0", "layers.1", "layers.2"]
    assert r.entry_kinds == ["input", "spiking", "pool", "spiking"]
    assert r.neuron_counts == [2 * 8 * 8, 4 * 8 * 8, 4 * 4 * 4, 6 * 2 * 2]
    assert r.batch_size == 32
    for t, c in zip(r.spike_times, r.spike_counts, strict=True):
        assert int(torch.isfinite(t).sum()) == c
    # Spikes feeding a max pool cost nothing; the pooled spikes pay the next conv's synapses.
    assert r.synops[1] == 0 and r.synops[2] > 0
    assert r.total_spikes == r.spike_counts[1] + r.spike_counts[3]
    assert r.spikes_per_neuron == pytest.approx(r.total_spikes / (32 * (256 + 24)), rel=1e-14)  # one division
    assert r.total_synops == sum(r.synops)
    # B1: spike <=> positive ReLU activation.
    ann = ttfsnet.to_ann(net)
    with torch.no_grad():
        h = ann[:3](inputs64)
    assert r.spike_counts[1] == int((h > 0).sum())


def test_robustness_weight_quantisation_matches_manual(cnn64: nn.Sequential, inputs64: torch.Tensor) -> None:
    net = ttfsnet.convert(cnn64, inputs64)
    with torch.no_grad():
        exact = net(inputs64)
    net.robustness = ttfsnet.RobustnessConfig(weight_bits=3, weight_range=(-0.5, 0.5))
    out = net(inputs64)
    out.sum().backward()
    assert net.layers[0].weight.grad is not None and float(net.layers[0].weight.grad.abs().sum()) > 0
    manual = ttfsnet.convert(cnn64, inputs64)
    with torch.no_grad():
        for layer in manual.layers:
            if hasattr(layer, "weight"):
                layer.weight.copy_(TF.fake_quantize(layer.weight, 3, -0.5, 0.5))
        # same quantised weights, float64 rounding only: ≈ 3e-14 on small_cnn (measured 0)
        torch.testing.assert_close(out.detach(), manual(inputs64), rtol=0, atol=1e-13)
        assert float((out - exact).abs().max()) > 1e-3


def test_robustness_time_quantisation_and_noise(cnn64: nn.Sequential, inputs64: torch.Tensor) -> None:
    net = ttfsnet.convert(cnn64, inputs64)
    with torch.no_grad():
        exact = net(inputs64)
        net.robustness = ttfsnet.RobustnessConfig(time_bits=16)
        fine = net(inputs64)
        net.robustness = ttfsnet.RobustnessConfig(time_bits=2)
        coarse = net(inputs64)
        # 16-bit grid: step = W/2^16 ≈ 2e-5 (W ≤ 1.4), ≤ step/2 per spike times Σ|w| ≈ 2.4 per layer ≈ 3e-5;
        # measured ≤ 1.4e-6 (6 seeds; 2^-b scaling from 8 bits agrees). 2 bits: ~1e-2.
        assert float((fine - exact).abs().max()) < 1e-4 < float((coarse - exact).abs().max())
        net.robustness = ttfsnet.RobustnessConfig(time_noise_std=0.05)
        torch.manual_seed(0)
        a = net(inputs64)
        torch.manual_seed(0)
        b = net(inputs64)
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # same seed, same ops: bit-identical
        assert float((a - exact).abs().max()) > 1e-4
        # run() always simulates the exact model
        torch.testing.assert_close(net.run(inputs64).logits, exact, rtol=0, atol=1e-13)  # as above
        net.robustness = None
        torch.testing.assert_close(net(inputs64), exact, rtol=0, atol=0)  # the same computation again


def test_layers_train_from_scratch_like_torch() -> None:
    torch.manual_seed(0)
    lin = ttfsnet.TTFSLinear(100, 50, window=3.0)
    bound = 1 / math.sqrt(100)
    assert float(lin.weight.abs().max().detach()) <= bound
    b = lin.ann_bias().detach()
    assert float(b.abs().max()) <= bound and float(b.std()) > 0
    conv = ttfsnet.TTFSConv2d(4, 8, 3, padding=1, window=2.0, threshold_shape=(8, 5, 5))
    assert conv.threshold.shape == (8, 5, 5) and conv.position_dependent
    x = torch.rand(2, 4, 5, 5)
    assert conv(x).shape == (2, 8, 5, 5)
    net = ttfsnet.TTFSNetwork([conv, ttfsnet.TTFSFlatten(), ttfsnet.TTFSLinear(200, 3, readout=True)])
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    y = torch.tensor([0, 2])
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] * 0.5
