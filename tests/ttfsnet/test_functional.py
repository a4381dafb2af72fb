"""Pure functions of ttfsnet.functional."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ttfsnet import functional as TF

D = torch.float64
# a few float64 ops on values ≤ 2: a few ulp ≈ 1e-15 (measured ≤ 1.1e-16); assert_close's default is 1e-7
F64_FEW_OPS = 1e-14
INF = float("inf")


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_time_activation_round_trip() -> None:
    x = torch.tensor([0.0, 0.3, 1.5, 2.0], dtype=D)
    t = TF.activation_to_time(x, 2.0)
    assert t.tolist() == [INF, 1.7, 0.5, 0.0]
    torch.testing.assert_close(TF.time_to_activation(t, 2.0), x, rtol=0, atol=F64_FEW_OPS)


def test_linear_clamps_and_reports_saturation() -> None:
    w = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [3.0, 3.0]], dtype=D)
    p = TF.TTFSParameters(w, torch.tensor([1.0, 1.0, 1.0], dtype=D), 1.0)  # bias = T - theta = 0
    x = torch.tensor([[0.2, 0.1]], dtype=D)
    pre = TF.ttfs_linear_preactivation(x, p)
    out = TF.ttfs_linear(x, p)
    torch.testing.assert_close(pre, torch.tensor([[0.4, -0.15, 0.9]], dtype=D), rtol=0, atol=F64_FEW_OPS)
    torch.testing.assert_close(out, torch.tensor([[0.4, 0.0, 0.9]], dtype=D), rtol=0, atol=F64_FEW_OPS)
    x2 = torch.tensor([[0.3, 0.3]], dtype=D)
    assert TF.saturation_mask(TF.ttfs_linear_preactivation(x2, p), 1.0).tolist() == [[False, False, True]]
    assert TF.ttfs_linear(x2, p)[0, 2].item() == 1.0


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "groups"), [(1, 1, 1, 1), (2, 0, 1, 2), (2, 2, 2, 1), (1, 3, 1, 4)]
)
def test_conv_equals_relu_conv_when_window_is_large(
    stride: int, padding: int, dilation: int, groups: int
) -> None:
    g = _gen(1)
    x = torch.rand(3, 4, 9, 9, generator=g, dtype=D)
    w = torch.randn(8, 4 // groups, 3, 3, generator=g, dtype=D)
    b = torch.randn(8, generator=g, dtype=D)
    geo = TF.Conv2dGeometry((stride, stride), (padding, padding), (dilation, dilation), groups)
    out = TF.ttfs_conv2d(x, TF.TTFSParameters(w, 1e3 - b, 1e3), geo)
    ref = F.relu(F.conv2d(x, w, b, stride, padding, dilation, groups))
    # times are taken against T = 1e3, so rounding is at T's scale: ≲ eps·T·few ops ≈ 2.2e-16·1e3·4 ≈ 1e-12
    # (plus eps·fan_in·|preact| ≈ 2.2e-16·36·10 ≈ 1e-13); measured ≤ 6e-14. 1e-11 leaves ~10x.
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-11)
    # Position-dependent threshold (C, H, W) gives the per-position bias.
    bmap = torch.randn(ref.shape[1:], generator=g, dtype=D)
    out2 = TF.ttfs_conv2d(x, TF.TTFSParameters(w, 1e3 - bmap, 1e3), geo)
    ref2 = F.relu(F.conv2d(x, w, None, stride, padding, dilation, groups) + bmap)
    torch.testing.assert_close(out2, ref2, rtol=0, atol=1e-11)


def test_max_pool_is_earliest_spike_and_sign_selects_latest() -> None:
    x = torch.tensor([[[[0.0, 0.5], [0.2, 0.1]], [[0.0, 0.5], [0.2, 0.1]]]], dtype=D)  # (1, 2, 2, 2)
    sign = torch.tensor([1.0, -1.0], dtype=D)
    y = TF.ttfs_max_pool2d(x, (2, 2), (2, 2), sign=sign)
    assert y.flatten().tolist() == [0.5, 0.0]
    t = TF.activation_to_time(x, 1.0)
    ty = TF.ttfs_max_pool2d_times(t, (2, 2), (2, 2), sign=sign)
    assert ty.flatten().tolist() == [0.5, INF]
    ty_plain = TF.ttfs_max_pool2d_times(t, (2, 2), (2, 2))
    assert ty_plain.flatten().tolist() == [0.5, 0.5]
    # Times pooling agrees with activation pooling in general, padding included.
    g = _gen(2)
    xa = torch.rand(2, 3, 7, 7, generator=g, dtype=D) * (torch.rand(2, 3, 7, 7, generator=g, dtype=D) > 0.4)
    s = torch.tensor([1.0, -1.0, 1.0], dtype=D)
    ya = TF.ttfs_max_pool2d(xa, (3, 3), (2, 2), (1, 1), sign=s)
    yt = TF.ttfs_max_pool2d_times(TF.activation_to_time(xa, 1.0), (3, 3), (2, 2), (1, 1), sign=s)
    torch.testing.assert_close(TF.activation_to_time(ya, 1.0), yt, rtol=0, atol=F64_FEW_OPS)


def test_avg_pool_layer_clips_at_window() -> None:
    x = torch.tensor([[[[1.0, 3.0], [0.0, 0.0]]]], dtype=D)
    assert TF.ttfs_avg_pool2d(x, 2.0, (2, 2), (2, 2)).item() == 1.0
    assert TF.ttfs_avg_pool2d(x, 0.5, (2, 2), (2, 2)).item() == 0.5


def test_encode_decode_and_range_checks() -> None:
    x = torch.tensor([[-2.0, 0.0, 2.0]], dtype=D)
    xt = TF.ttfs_encode(x, (-2.0, 2.0))
    assert xt.tolist() == [[0.0, 0.5, 1.0]]
    t0 = TF.ttfs_encode_times(x, (-2.0, 2.0))
    assert t0.tolist() == [[INF, 0.5, 0.0]]
    torch.testing.assert_close(TF.ttfs_decode(t0, (-2.0, 2.0)), x, rtol=0, atol=F64_FEW_OPS)
    TF.check_input_range(x, (-2.0, 2.0))
    with pytest.raises(ValueError, match="outside the declared input_range"):
        TF.check_input_range(x * 1.01, (-2.0, 2.0))
    with pytest.raises(ValueError, match="NaN or Inf"):
        TF.check_input_range(torch.tensor([0.0, math.nan]), (0.0, 1.0))
    with pytest.raises(ValueError, match="expected the input window"):
        TF.check_input_times(torch.tensor([0.5, 1.5]))


def test_fake_quantize_levels_and_straight_through() -> None:
    w = torch.linspace(-1.5, 1.5, 101, dtype=D, requires_grad=True)
    q = TF.fake_quantize(w, 2, -1.0, 1.0)
    levels = torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0], dtype=D)
    # lo + k·step in float64 at |q| ≤ 1: a few ulp
    assert bool(torch.isclose(q.detach()[:, None], levels[None], rtol=0, atol=1e-15).any(1).all())
    q.sum().backward()
    assert w.grad is not None and bool((w.grad == 1).all())
    w.grad = None
    TF.fake_quantize(w, 2, -1.0, 1.0, straight_through=False).sum().backward()
    assert bool((w.grad == 0).all())
    with pytest.raises(ValueError, match="bits"):
        TF.fake_quantize(w, 0, -1.0, 1.0)


def test_time_quantization_keeps_silence_and_noise_skips_silent() -> None:
    x = torch.tensor([0.0, 0.1, 0.74, 2.0], dtype=D)
    q = TF.quantize_activation_times(x, 2, 2.0)
    assert q.tolist()[0] == 0.0 and q.tolist()[3] == 2.0
    torch.testing.assert_close(q[1:3], torch.tensor([0.0, 2 / 3], dtype=D), rtol=0, atol=F64_FEW_OPS)
    y = TF.add_time_noise(x, 0.05, 2.0, generator=_gen(3))
    assert y[0].item() == 0.0
    assert bool(((y >= 0) & (y <= 2.0)).all())
    assert not torch.equal(y[1:3], x[1:3])


def test_phase1_integral_is_exact_and_phase2_fires_on_grid() -> None:
    g = _gen(4)
    w = torch.randn(5, 7, generator=g, dtype=D)
    t_in = torch.rand(3, 7, generator=g, dtype=D) * 2.0
    t_in[0, :3] = INF
    v = TF.integrate_phase1(t_in, 2.0, lambda q: F.linear(q, w), dt=0.1)
    # exact integral: 7 terms of |w·x| ≲ 6 summed in another order, ≲ 7·2.2e-16·6 ≈ 1e-14 (measured 9e-16)
    torch.testing.assert_close(v, F.linear(TF.time_to_activation(t_in, 2.0), w), rtol=0, atol=1e-13)
    v0 = torch.tensor([0.0, 0.55, 1.0, -5.0], dtype=D)
    t = TF.fire_phase2(v0, 1.0, window=1.0, dt=0.1)
    assert math.isinf(t[0].item())  # crossing exactly at t_max is no spike (docs/ttfs-model.md §1)
    assert t[1].item() == pytest.approx(0.5, abs=1e-15)  # 5·dt on the grid: ~1 ulp
    assert t[2].item() == 0.0
    assert math.isinf(t[3].item())
    with pytest.raises(ValueError, match="dt"):
        TF.steps_for(0.0)
