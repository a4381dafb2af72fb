"""``RobustnessConfig(time_quant="step")``: spike times on a time-stepped chip's grid (2**b steps)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import ttfsnet
from ttfsnet import functional as TF

BITS = 3
STEPS = 2**BITS


@pytest.fixture
def converted(cnn64: nn.Sequential, inputs64: Tensor) -> ttfsnet.TTFSNetwork:
    return ttfsnet.convert(cnn64.eval(), inputs64)


def _layer_inputs(net: ttfsnet.TTFSNetwork, x: Tensor) -> list[tuple[nn.Module, Tensor]]:
    """Input activation of every weighted/spiking layer (what the robustness quantiser produced)."""
    seen: list[tuple[nn.Module, Tensor]] = []
    hooks = [
        m.register_forward_pre_hook(lambda mod, args: seen.append((mod, args[0].detach().clone())))
        for m in net.layers
        if isinstance(m, (ttfsnet.TTFSLinear, ttfsnet.TTFSConv2d, ttfsnet.TTFSAvgPool2d))
    ]
    try:
        net(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _expected_step_logits(net: ttfsnet.TTFSNetwork, x: Tensor) -> Tensor:
    """Hand-written reference: floor every spiking layer's input (readout included) to its step grid."""
    act = TF.ttfs_encode(x, net.input_range)
    delta = 1.0 / STEPS
    for layer in net.layers:
        if isinstance(layer, (ttfsnet.TTFSLinear, ttfsnet.TTFSConv2d)):
            act = torch.clamp(torch.floor(act / delta), 0, STEPS) * delta
            pre = layer.preactivation(act)
            if layer.readout:
                return pre
            big_t = float(layer.window)
            act = torch.clamp(pre, 0.0, big_t)
            delta = big_t / STEPS
        else:
            act = layer(act)
    raise AssertionError("no readout")


def test_step_forward_matches_hand_reference_and_lies_on_grid(
    converted: ttfsnet.TTFSNetwork, inputs64: Tensor
) -> None:
    net = converted
    net.robustness = ttfsnet.RobustnessConfig(time_bits=BITS, time_quant="step")
    with torch.no_grad():
        got = net(inputs64)
        want = _expected_step_logits(net, inputs64)
        exact = ttfsnet.RobustnessConfig()
        net.robustness = exact
        unquantised = net(inputs64)
    # same grid, reference re-derived by hand: float64 rounding only, ≲ eps·Σfan_in·|preact|
    # ≈ 2.2e-16·78·~2 ≈ 3e-14 on small_cnn (measured 0). 1e-13.
    torch.testing.assert_close(got, want, rtol=0, atol=1e-13)
    assert not torch.allclose(got, unquantised)  # the quantiser did something
    net.robustness = ttfsnet.RobustnessConfig(time_bits=BITS, time_quant="step")
    inputs = _layer_inputs(net, inputs64)
    assert inputs[-1][0].readout  # the readout's input is quantised too
    window = 1.0
    for module, a in inputs:
        k = a / (window / STEPS)
        torch.testing.assert_close(k, torch.round(k), rtol=0, atol=1e-12)  # k ≤ 8: a few ulp ≈ 1e-15
        assert float(k.min()) >= 0 and float(k.max()) <= STEPS
        if not getattr(module, "readout", False):
            window = float(module.window)


def test_step_quantiser_floors_and_clips() -> None:
    x = torch.tensor([0.0, 0.2, 0.24, 0.25, 0.99, 1.0, 1.3], dtype=torch.float64)
    q = TF.step_quantize_activation_times(x, 2, 1.0)  # Δ = 0.25
    grid = torch.tensor([0.0, 0.0, 0.0, 0.25, 0.75, 1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(q, grid, rtol=0, atol=1e-15)  # binary fractions on a k·step grid: ≤ 1 ulp
    with pytest.raises(ValueError, match="bits must be >= 1"):
        TF.step_quantize_activation_times(x, 0, 1.0)
    with pytest.raises(ValueError, match="RobustnessConfig.time_quant"):
        ttfsnet.RobustnessConfig(time_bits=3, time_quant="ceil")  # type: ignore[arg-type]


def test_step_gradients_are_straight_through(converted: ttfsnet.TTFSNetwork, inputs64: Tensor) -> None:
    net = converted
    first = net.layers[0]
    net.robustness = ttfsnet.RobustnessConfig(time_bits=BITS, time_quant="step")
    net(inputs64).sum().backward()
    assert first.weight.grad is not None and float(first.weight.grad.abs().sum()) > 0
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    net.zero_grad(set_to_none=True)
    # without the straight-through estimator the floor blocks every gradient below the readout
    net.robustness = ttfsnet.RobustnessConfig(time_bits=BITS, time_quant="step", straight_through=False)
    net(inputs64).sum().backward()
    assert first.weight.grad is None or float(first.weight.grad.abs().sum()) == 0


def test_default_round_mode_is_unchanged(converted: ttfsnet.TTFSNetwork, inputs64: Tensor) -> None:
    net = converted
    cfg = ttfsnet.RobustnessConfig(time_bits=BITS)
    assert cfg.time_quant == "round"
    net.robustness = cfg
    with torch.no_grad():
        got = net(inputs64)
        act = TF.ttfs_encode(inputs64, net.input_range)
        window = 1.0
        for layer in net.layers:
            if isinstance(layer, (ttfsnet.TTFSLinear, ttfsnet.TTFSConv2d)):
                if layer.readout:  # round mode leaves the readout input exact
                    want = layer.preactivation(act)
                    break
                levels = 2**BITS - 1
                act = torch.round(torch.clamp(act / window * levels, 0, levels)) * window / levels
                act = layer(act)
                window = float(layer.window)
            else:
                act = layer(act)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-13)  # as above: ≈ 3e-14 derived, measured 0
