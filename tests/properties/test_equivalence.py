"""Hypothesis: converted TTFS networks equal their ReLU ANNs (float64 exact, float32 close)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402

import ttfsnet  # noqa: E402

D = torch.float64
# float64 SNN vs ANN differ only by rounding: ≲ eps·Σfan_in·|preactivation| ≈ 2.2e-16·(192+45+12+5)·~10
# (inputs up to 3.5, BN scales up to 1.7) ≈ 6e-13; measured ≤ 9e-16 over 150 examples. 5e-12 is ~10x.
F64_TOL = 5e-12


@dataclass(frozen=True)
class Spec:
    """A random small ReLU network and its input distribution."""

    kind: str
    channels: int
    size: int
    convs: tuple[tuple[int, int, int, int, str, str], ...]  # (out, k, stride, pad, bn, pool)
    hidden: int
    hidden_bn: str
    classes: int
    low: float
    high: float
    seed: int


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    kind = draw(st.sampled_from(["cnn", "mlp"]))
    size = draw(st.integers(5, 8))
    convs = []
    s = size
    if kind == "cnn":
        for _ in range(draw(st.integers(1, 2))):
            k = draw(st.integers(1, 3))
            stride = draw(st.integers(1, 2))
            pad = draw(st.integers(0, k - 1))
            out = (s + 2 * pad - k) // stride + 1
            if out < 1:
                break
            pool = draw(st.sampled_from(["none", "before", "after"])) if out >= 2 else "none"
            bn = draw(st.sampled_from(["none", "before", "after"]))
            convs.append((draw(st.integers(2, 5)), k, stride, pad, bn, pool))
            s = out // 2 if pool != "none" else out
    low = draw(st.floats(-2.0, 0.5))
    return Spec(
        kind=kind,
        channels=draw(st.integers(1, 3)),
        size=size,
        convs=tuple(convs),
        hidden=draw(st.integers(0, 12)),
        hidden_bn=draw(st.sampled_from(["none", "before", "after"])),
        classes=draw(st.integers(2, 5)),
        low=low,
        high=low + draw(st.floats(0.5, 3.0)),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def build(spec: Spec, dtype: torch.dtype = D) -> nn.Sequential:
    torch.manual_seed(spec.seed)
    gen = torch.Generator().manual_seed(spec.seed)
    layers: list[nn.Module] = []
    c = spec.channels
    if spec.kind == "cnn":
        for out, k, stride, pad, bn, pool in spec.convs:
            layers.append(nn.Conv2d(c, out, k, stride, pad))
            if pool == "before":
                layers.append(nn.MaxPool2d(2))
            if bn == "before":
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU())
            if bn == "after":
                layers.append(nn.BatchNorm2d(out))
            if pool == "after":
                layers.append(nn.MaxPool2d(2))
            c = out
    layers.append(nn.Flatten())
    if spec.hidden:
        layers.append(nn.LazyLinear(spec.hidden))
        if spec.hidden_bn == "before":
            layers.append(nn.BatchNorm1d(spec.hidden))
        layers.append(nn.ReLU())
        if spec.hidden_bn == "after":
            layers.append(nn.BatchNorm1d(spec.hidden))
    layers.append(nn.LazyLinear(spec.classes))
    model = nn.Sequential(*layers)
    model(torch.zeros(2, spec.channels, spec.size, spec.size))  # materialise the lazy layers
    model = model.to(dtype).eval()
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_((torch.rand(n, generator=gen) * 2 - 1).to(dtype))
            m.running_var.copy_((torch.rand(n, generator=gen) * 1.5 + 0.5).to(dtype))
            m.weight.data.copy_((torch.rand(n, generator=gen) * 2.2 - 1.0).to(dtype))
            m.bias.data.copy_((torch.rand(n, generator=gen) - 0.5).to(dtype))
    return model


def inputs(spec: Spec, n: int, dtype: torch.dtype = D, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(spec.seed + seed)
    u = torch.rand(n, spec.channels, spec.size, spec.size, generator=g, dtype=torch.float64)
    u = u * (torch.rand(u.shape, generator=g, dtype=torch.float64) > 0.2)  # some inputs at p: no spike
    return (spec.low + (spec.high - spec.low) * u).to(dtype)


# derandomize: examples come from a fixed seed, so a CI failure reproduces and no run flakes on a new draw
@settings(max_examples=25, deadline=None, derandomize=True)
@given(spec=specs())
def test_float64_snn_equals_ann(spec: Spec) -> None:
    model = build(spec)
    x = inputs(spec, 16)
    net = ttfsnet.convert(model, x, input_range=(spec.low, spec.high))
    r = net.run(x)
    with torch.no_grad():
        ann = model(x)
        assert float((r.logits - ann).abs().max()) <= F64_TOL
        assert float((net(x) - ann).abs().max()) <= F64_TOL
        assert float((ttfsnet.to_ann(net)(x) - ann).abs().max()) <= F64_TOL
    assert torch.equal(r.logits.argmax(1), ann.argmax(1))
    assert r.total_saturated == 0


@settings(max_examples=25, deadline=None, derandomize=True)
@given(spec=specs())
def test_saturation_is_reported_when_calibrated_on_subset(spec: Spec) -> None:
    model = build(spec)
    x = inputs(spec, 64)
    net = ttfsnet.convert(model, x[:2], zeta=0.0, input_range=(spec.low, spec.high))
    r = net.run(x)
    with torch.no_grad():
        clipped = ttfsnet.to_ann(net, clip=True)
        assert float((clipped(x) - r.logits).abs().max()) <= F64_TOL
        # Count activations above the window layer by layer along the clipped ANN (same inputs per layer).
        expected = 0
        saturated = torch.zeros(len(x), dtype=torch.bool)
        h = x
        for m in clipped:
            pre = h
            h = m(h)
            if isinstance(m, nn.Hardtanh):
                over = pre > m.max_val
                expected += int(over.sum())
                saturated |= over.flatten(1).any(1)
        assert r.total_saturated == expected
        # Per sample, unconditionally: a sample that saturates nowhere follows the unclipped ANN.
        err = (r.logits - model(x)).abs().amax(1)
        assert bool((err[~saturated] <= F64_TOL).all())


@settings(max_examples=10, deadline=None, derandomize=True)
@given(spec=specs())
def test_float32_close_and_argmax_agrees(spec: Spec) -> None:
    model = build(spec, torch.float32)
    x = inputs(spec, 1000, torch.float32)
    net = ttfsnet.convert(model, x, input_range=(spec.low, spec.high))
    with torch.no_grad():
        ann = model(x)
        snn = net(x)
    assert net.run(x).total_saturated == 0
    # relative to the batch's logit scale (an element-wise relative error is undefined near 0):
    # float32 ≲ eps32·Σfan_in·(Σ|terms| / max|logit|) ≈ 1.2e-7·250·~3 ≈ 1e-4; measured ≤ 7e-7.
    assert float((snn - ann).abs().max()) <= 1e-4 * float(ann.abs().max())
    agree = float((snn.argmax(1) == ann.argmax(1)).float().mean())
    assert agree >= 0.999
