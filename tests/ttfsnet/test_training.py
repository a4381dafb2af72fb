"""SNN-domain training: ANN-equivalent SGD step, fine-tuning, robustness-aware training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from ttfsnet_testutils import small_cnn

import ttfsnet
from ttfsnet.convert import PositionBias


def _ann_params(ann: nn.Sequential) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in ann.named_children() if isinstance(m, (nn.Linear, nn.Conv2d, PositionBias))]


@torch.no_grad()
def _paired_check(net: ttfsnet.TTFSNetwork, ann: nn.Sequential) -> float:
    """Max |difference| between SNN parameters and the ANN parameters they map to (b = T - ϑ)."""
    worst = 0.0
    ann_mods = iter(m for _, m in _ann_params(ann))
    for layer in net.layers:
        if not isinstance(layer, (ttfsnet.TTFSLinear, ttfsnet.TTFSConv2d)):
            continue
        mod = next(ann_mods)
        worst = max(worst, float((mod.weight - layer.weight).abs().max()))
        bias_mod = (
            next(ann_mods) if isinstance(layer, ttfsnet.TTFSConv2d) and layer.position_dependent else mod
        )
        worst = max(worst, float((bias_mod.bias - layer.ann_bias()).abs().max()))
    return worst


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_one_sgd_step_equals_the_ann_step(model: str) -> None:
    gen = torch.Generator().manual_seed(0)
    if model == "mlp":
        torch.manual_seed(0)
        src = nn.Sequential(
            nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3)
        ).double()
        x = torch.rand(40, 6, generator=gen, dtype=torch.float64)
    else:
        src = small_cnn(torch.float64)  # position-dependent thresholds from BN-after-ReLU fusion
        x = torch.rand(24, 2, 8, 8, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (x.shape[0],), generator=gen)
    net = ttfsnet.convert(src, x)
    assert net.run(x).total_saturated == 0  # calibration data: the SNN equals the ANN exactly
    ann = ttfsnet.to_ann(net)
    # b = T - ϑ: ~1 ulp at |T| ≈ 1.4; one SGD step (lr 0.5) adds lr·eps·fan_in·|g|
    # ≈ 0.5·2.2e-16·78·~1 ≈ 1e-14; measured ≤ 1.1e-16. 1e-13 leaves ~10x.
    assert _paired_check(net, ann) < 1e-13

    snn_opt = torch.optim.SGD(net.parameters(), lr=0.5)
    ann_opt = torch.optim.SGD(ann.parameters(), lr=0.5)
    loss, _ = ttfsnet.train_step(net, x, y, snn_opt)
    ann_opt.zero_grad()
    ann_loss = F.cross_entropy(ann(x), y)
    ann_loss.backward()
    ann_opt.step()

    assert loss == pytest.approx(ann_loss.item(), abs=1e-13)  # logits agree to ~3e-14 (see above); measured 0
    moved = max(float(p.grad.abs().max()) for p in net.parameters() if p.grad is not None)
    assert moved > 1e-3  # the step is not trivially zero
    assert _paired_check(net, ann) < 1e-13
    # thresholds moved opposite to the ANN biases: ∂L/∂ϑ = -∂L/∂b
    hidden = [
        m for m in net.layers if isinstance(m, (ttfsnet.TTFSLinear, ttfsnet.TTFSConv2d)) and not m.readout
    ]
    assert all(m.threshold.grad is not None and float(m.threshold.grad.abs().sum()) > 0 for m in hidden)


def _blobs(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    centers = torch.tensor([[0.2, 0.2, 0.8, 0.5], [0.8, 0.3, 0.2, 0.5], [0.5, 0.8, 0.5, 0.2]])
    y = torch.randint(0, 3, (n,), generator=gen)
    x = (centers[y] + 0.08 * torch.randn(n, 4, generator=gen)).clamp(0, 1)
    return x, y


def test_finetune_reduces_loss_and_keeps_windows() -> None:
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    x, y = _blobs(240, gen)
    xv, yv = _blobs(120, gen)
    ann = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    net = ttfsnet.convert(ann, x)
    windows = net.windows()
    batches = [(x[i : i + 30], y[i : i + 30]) for i in range(0, 240, 30)]
    seen: list[int] = []
    result = ttfsnet.finetune(
        net,
        batches,
        epochs=12,
        lr=0.02,
        val_data=[(xv, yv)],
        callback=lambda rec, _net: seen.append(rec.epoch) is not None,
    )
    assert seen == list(range(1, 13)) and len(result.history) == 12 and not result.stopped_early
    losses = result.train_losses
    assert losses[-1] < 0.5 * losses[0]
    assert result.history[-1].val_accuracy is not None and result.history[-1].val_accuracy > 0.9
    assert net.windows() == windows
    assert net.robustness is None


def test_finetune_callback_stops_early_and_validates_arguments() -> None:
    gen = torch.Generator().manual_seed(2)
    x, y = _blobs(60, gen)
    net = ttfsnet.convert(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)), x)
    result = ttfsnet.finetune(
        net, [(x, y)], epochs=5, lr=0.01, optimizer="sgd", callback=lambda r, _: r.epoch == 2
    )
    assert len(result.history) == 2 and result.stopped_early
    with pytest.raises(ValueError, match="epochs"):
        ttfsnet.finetune(net, [(x, y)], epochs=0, lr=0.01)
    with pytest.raises(ValueError, match="optimizer"):
        ttfsnet.finetune(net, [(x, y)], epochs=1, lr=0.01, optimizer="lbfgs")
    with pytest.raises(ValueError, match="one-shot iterator"):
        ttfsnet.finetune(net, iter([(x, y)]), epochs=2, lr=0.01)
    with pytest.raises(ValueError, match="input_range"):  # out-of-range inputs are rejected by the network
        ttfsnet.finetune(net, [(x + 2.0, y)], epochs=1, lr=0.01)


def test_robust_finetune_gradients_flow_and_weights_are_on_the_grid() -> None:
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    x, y = _blobs(90, gen)
    net = ttfsnet.convert(
        nn.Sequential(nn.Linear(4, 12), nn.ReLU(), nn.Linear(12, 12), nn.ReLU(), nn.Linear(12, 3)), x
    )
    cfg = ttfsnet.RobustnessConfig(time_noise_std=0.05, time_bits=4, weight_bits=3, weight_range=(-1.0, 1.0))
    step = 2.0 / (2**3 - 1)
    seen_weights: list[torch.Tensor] = []

    def grab(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if len(args) > 1 and args[1] is not None:
            seen_weights.append(args[1].detach().clone())

    hooks = [m.register_forward_pre_hook(grab) for m in net.layers if isinstance(m, ttfsnet.TTFSLinear)]
    grads: list[dict[str, torch.Tensor]] = []

    def record_grads(_rec: ttfsnet.EpochRecord, n: ttfsnet.TTFSNetwork) -> None:
        grads.append({k: p.grad.clone() for k, p in n.named_parameters() if p.grad is not None})

    previous = ttfsnet.RobustnessConfig(time_noise_std=0.0)
    net.robustness = previous
    result = ttfsnet.finetune(
        net, [(x[:45], y[:45]), (x[45:], y[45:])], epochs=2, lr=0.01, robustness=cfg, callback=record_grads
    )
    for h in hooks:
        h.remove()
    assert net.robustness is previous  # restored
    assert all(math.isfinite(r.train_loss) for r in result.history)
    # every weighted layer (hidden and readout) saw fake-quantised weights on the 3-bit grid
    assert len(seen_weights) == 3 * 2 * 2
    for w in seen_weights:
        levels = (w + 1.0) / step
        # float32 grid values: w ≈ lo + k·step to ~2 ulp(1) ≈ 2.4e-7, so (w + 1)/step is within
        # ~(2.4e-7 + 2.4e-7)/0.29 + ulp(7) ≈ 2e-6 of an integer. 1e-5 leaves 5x.
        assert torch.allclose(levels, levels.round(), rtol=0, atol=1e-5)
        assert int(w.unique().numel()) <= 2**3
    # straight-through: the float weights and thresholds get finite, non-zero gradients
    last = grads[-1]
    for name, g in last.items():
        assert torch.isfinite(g).all(), name
    assert float(last["layers.0.weight"].abs().sum()) > 0
    assert float(last["layers.0.threshold"].abs().sum()) > 0
    assert float(last["layers.2.weight"].abs().sum()) > 0
    # the float weights are not themselves on the grid (the quantiser is fake)
    assert not torch.allclose((net.layers[0].weight + 1) / step, ((net.layers[0].weight + 1) / step).round())


def test_finetune_restores_robustness_on_error() -> None:
    gen = torch.Generator().manual_seed(4)
    x, y = _blobs(20, gen)
    net = ttfsnet.convert(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)), x)
    cfg = ttfsnet.RobustnessConfig(weight_bits=4)

    def boom(_rec: ttfsnet.EpochRecord, n: ttfsnet.TTFSNetwork) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        ttfsnet.finetune(net, [(x, y)], epochs=2, lr=0.01, robustness=cfg, callback=boom)
    assert net.robustness is None
