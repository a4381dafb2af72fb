"""``RobustnessConfig`` perturbations checked for their statistics, not only for a change (issue 14).

Every test builds a small network by hand (identity weights, chosen thresholds) so the activations that the
perturbation sees are known, runs ``net(x)`` with a seeded ``RobustnessConfig``, and reads what each layer
actually received with forward hooks: the output of layer ``n`` before the perturbation and the input of
layer ``n + 1`` after it. The expected laws come from ``docs/ttfs-model.md`` §10 and the
``RobustnessConfig`` docstring:

* ``time_noise_std = σ``: firing hidden neurons' spike times get independent Gaussian jitter N(0, σ²),
  clipped to the window (moved past ``T``: silent; moved before 0: fires at the window start); silent
  neurons are never moved; the readout membrane is not perturbed;
* ``time_bits = b``, ``"round"``: each hidden layer's input times are rounded to ``2**b`` levels
  (``2**b − 1`` intervals) over the previous window; the readout's inputs are not quantised;
* ``time_bits = b``, ``"step"``: ``L = 2**b`` steps of ``Δ = T/L``; a neuron fires at the first step boundary
  at or after its continuous time (every spiking layer's inputs, the readout's included);
* ``weight_bits = b``: every weight (hidden and readout) is rounded to ``2**b`` levels over ``weight_range``,
  values outside clipped to the end levels.

Sampling tolerances are 5 standard errors of the estimator for the sample count used (the SE formula is
next to each check), so a correct implementation fails with probability < 1e-6 per check, and the seeds
make every run identical anyway.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import Tensor, nn

import ttfsnet

Z = 5.0  # standard errors allowed for a sampling statistic
DT = torch.float64


def _hidden(n: int, window: float, offset: Tensor | float) -> ttfsnet.TTFSLinear:
    """Identity weights and ``ϑ = T − offset``: the pre-activation is ``x + offset``."""
    layer = ttfsnet.TTFSLinear(n, n, window=window, dtype=DT)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(n, dtype=DT))
        layer.threshold.copy_(window - torch.as_tensor(offset, dtype=DT).expand(n))
    return layer


def _readout(n: int) -> ttfsnet.TTFSLinear:
    """Identity readout without bias: the logits are the readout's input activations."""
    layer = ttfsnet.TTFSLinear(n, n, readout=True, dtype=DT)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(n, dtype=DT))
        layer.bias.zero_()
    return layer


@contextmanager
def _recorded(net: ttfsnet.TTFSNetwork) -> Iterator[tuple[list[Tensor], list[Tensor], list[Tensor]]]:
    """Per layer, in order: its output before any perturbation, its input and the weight it was given."""
    outputs: list[Tensor] = []
    inputs: list[Tensor] = []
    weights: list[Tensor] = []

    def pre(_m: nn.Module, args: tuple[Tensor, ...]) -> None:
        inputs.append(args[0].detach().clone())
        weights.append(args[1].detach().clone() if len(args) > 1 and args[1] is not None else torch.empty(0))

    def post(_m: nn.Module, _args: tuple[Tensor, ...], out: Tensor) -> None:
        outputs.append(out.detach().clone())

    handles = [
        h for m in net.layers for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))
    ]
    try:
        yield outputs, inputs, weights
    finally:
        for h in handles:
            h.remove()


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _assert_fraction(hits: Tensor, p: float, what: str) -> None:
    """A binomial fraction: SE = sqrt(p(1−p)/N)."""
    n = hits.numel()
    got = float(hits.to(DT).mean())
    se = math.sqrt(p * (1 - p) / n)
    assert abs(got - p) <= Z * se, f"{what}: {got:.5f} vs {p:.5f} (N={n}, 5 SE = {Z * se:.5f})"


# ------------------------------------------------------------------ time noise


def test_time_noise_is_zero_mean_gaussian_with_std_sigma_and_independent() -> None:
    sigma, n, batch = 0.04, 64, 2000
    # Layer 1: activations x + 0.5 ∈ [0.75, 1.25] in a window of 2; layer 2 passes its input on (window 2.5).
    # The nearest window edge is ≥ 0.5 away even after a 6σ jitter of layer 1, i.e. ≥ 12σ: the clip does not
    # act (P(|N(0, 1)| > 12) < 1e-32 per draw; asserted below), so the observed jitter is the raw noise.
    net = ttfsnet.TTFSNetwork([_hidden(n, 2.0, 0.5), _hidden(n, 2.5, 0.0), _readout(n)])
    x = 0.25 + 0.5 * torch.rand(batch, n, generator=torch.Generator().manual_seed(0), dtype=DT)
    net.robustness = ttfsnet.RobustnessConfig(time_noise_std=sigma)
    torch.manual_seed(1)
    with _recorded(net) as (outputs, inputs, _), torch.no_grad():
        logits = net(x)
    # spike time t = T − x, so the time jitter is (clean activation) − (activation the next layer received)
    jitter = [outputs[0] - inputs[1], outputs[1] - inputs[2]]
    for k, d in enumerate(jitter):
        where = f"layer {k}"
        received = inputs[k + 1]
        assert bool((received > 0).all()) and bool((received < net.windows()[k]).all()), (
            f"{where}: clip acted"
        )
        m = d.numel()
        mean, std = float(d.mean()), float(d.std())
        assert abs(mean) <= Z * sigma / math.sqrt(m), f"{where}: mean {mean:.2e} (SE σ/√N, N={m})"
        # SE of a normal sample's std: σ/√(2(N−1))
        assert abs(std - sigma) <= Z * sigma / math.sqrt(2 * (m - 1)), f"{where}: std {std:.5f} vs σ={sigma}"
        _assert_fraction(d.abs() < sigma, math.erf(1 / math.sqrt(2)), f"{where}: share within ±σ")
        _assert_fraction(d.abs() < 2 * sigma, math.erf(2 / math.sqrt(2)), f"{where}: share within ±2σ")
        # independent across neurons: correlation of neighbours, SE 1/√N under independence
        a, b = d[:, :-1].reshape(-1), d[:, 1:].reshape(-1)
        rho = float(torch.corrcoef(torch.stack([a, b]))[0, 1])
        assert abs(rho) <= Z / math.sqrt(a.numel()), f"{where}: neighbour correlation {rho:.4f}"
    rho_layers = float(torch.corrcoef(torch.stack([jitter[0].reshape(-1), jitter[1].reshape(-1)]))[0, 1])
    assert abs(rho_layers) <= Z / math.sqrt(jitter[0].numel()), f"layers share noise: ρ = {rho_layers:.4f}"
    # the readout membrane is not perturbed: identity readout, so the logits are its (noisy) inputs exactly
    torch.testing.assert_close(logits, inputs[2], rtol=0, atol=0)
    # seeded: the same seed gives the same jitter
    torch.manual_seed(1)
    with torch.no_grad():
        assert torch.equal(net(x), logits)


def test_time_noise_clips_to_the_window_with_gaussian_tail_probabilities() -> None:
    """A neuron with activation ``a = σ`` (spike σ before the window end) is lost when its spike moves more
    than σ later (P = 1 − Φ(1)); one with ``a = T − σ/2`` fires at the window start when its spike moves
    more than σ/2 earlier (P = Φ(−1/2)); silent neurons (``pre < 0``) are never moved."""
    sigma, window, batch, group = 0.05, 1.0, 4000, 16
    a = torch.cat(
        [torch.full((group,), sigma), torch.full((group,), window - sigma / 2), torch.full((group,), -0.3)]
    ).to(DT)
    n = a.numel()
    # input x̃ = 0.5 for every neuron, so offset a − 0.5 puts the pre-activation at a
    net = ttfsnet.TTFSNetwork([_hidden(n, window, a - 0.5), _readout(n)])
    x = torch.full((batch, n), 0.5, dtype=DT)
    net.robustness = ttfsnet.RobustnessConfig(time_noise_std=sigma)
    torch.manual_seed(2)
    with _recorded(net) as (outputs, inputs, _), torch.no_grad():
        net(x)
    clean, noisy = outputs[0], inputs[1]
    torch.testing.assert_close(clean, a.clamp(min=0).expand(batch, n), rtol=0, atol=1e-15)
    near_start, near_end, silent = noisy[:, :group], noisy[:, group : 2 * group], noisy[:, 2 * group :]
    assert bool((noisy >= 0).all() & (noisy <= window).all())  # clipped to the window
    _assert_fraction(near_start == 0, 1 - _normal_cdf(1.0), "a = σ: spike lost past the window end")
    _assert_fraction(near_end == window, _normal_cdf(-0.5), "a = T − σ/2: fires at the window start")
    assert bool((near_start < window).all() & (near_end > 0).all())  # the other edge is ≥ 19σ away
    assert bool((silent == 0).all())  # silent neurons are never perturbed into firing


# ------------------------------------------------------------------ time quantisation


def _uniform_error_se(step: float, m: int) -> tuple[float, float]:
    """SE of the mean and of the std of ``m`` draws from U(−step/2, step/2): σ = step/√12,
    SE(mean) = σ/√m, SE(var) = √((μ₄ − σ⁴)/m) with μ₄ = step⁴/80, SE(std) ≈ SE(var)/(2σ)."""
    sd = step / math.sqrt(12)
    se_var = math.sqrt((step**4 / 80 - sd**4) / m)
    return sd / math.sqrt(m), se_var / (2 * sd)


@pytest.mark.parametrize("bits", [2, 4])
def test_round_time_quantisation_levels_and_error(bits: int) -> None:
    n, batch, t1, t2 = 32, 2000, 1.5, 1.2
    levels = 2**bits
    # Layer 1 passes its quantised input on (ϑ = T); layer 2 likewise; identity readout.
    net = ttfsnet.TTFSNetwork([_hidden(n, t1, 0.0), _hidden(n, t2, 0.0), _readout(n)])
    x = torch.rand(batch, n, generator=torch.Generator().manual_seed(3), dtype=DT)
    net.robustness = ttfsnet.RobustnessConfig(time_bits=bits)
    with _recorded(net) as (outputs, inputs, _), torch.no_grad():
        net(x)
    for k, (clean, got, window) in enumerate([(x, inputs[0], 1.0), (outputs[0], inputs[1], t1)]):
        step = window / (levels - 1)  # 2**b levels, both window ends included
        where = f"input of layer {k} (window {window})"
        index = got / step
        # index ≤ 2**b - 1 = 31 in float64: a few ulp ≈ 1e-14 (measured 9e-16); 1e-12
        torch.testing.assert_close(index, index.round(), rtol=0, atol=1e-12, msg=f"{where}: off the grid")
        distinct = torch.unique(index.round())
        assert len(distinct) <= levels and float(distinct.min()) >= 0 and float(distinct.max()) <= levels - 1
        err = got - clean
        assert float(err.abs().max()) <= step / 2 + 1e-12, f"{where}: error above half a step"
        # the nearest level, round(x/step)·step
        assert bool(((clean / step).round() * step - got).abs().max() <= 1e-12), f"{where}: not the nearest"
    # x̃ ~ U[0, 1] and the grid holds both ends, so the two half cells at the ends make one full cell: the
    # error is exactly U(−step/2, step/2)
    step = 1.0 / (levels - 1)
    err = (inputs[0] - x).reshape(-1)
    se_mean, se_std = _uniform_error_se(step, err.numel())
    assert abs(float(err.mean())) <= Z * se_mean
    assert abs(float(err.std()) - step / math.sqrt(12)) <= Z * se_std
    assert len(torch.unique((inputs[0] / step).round())) == levels  # every level is used
    # the readout's inputs are not quantised: it receives layer 2's output unchanged
    assert torch.equal(inputs[2], outputs[1])


@pytest.mark.parametrize("bits", [3, 5])
def test_step_time_quantisation_delays_spikes_uniformly_within_one_step(bits: int) -> None:
    """A spike moves to the first step boundary at or after it: delay ~ U(0, Δ), mean Δ/2, std Δ/√12."""
    n, batch, t1 = 32, 2000, 1.5
    steps = 2**bits
    net = ttfsnet.TTFSNetwork([_hidden(n, t1, 0.0), _readout(n)])
    x = torch.rand(batch, n, generator=torch.Generator().manual_seed(4), dtype=DT)
    net.robustness = ttfsnet.RobustnessConfig(time_bits=bits, time_quant="step")
    with _recorded(net) as (outputs, inputs, _), torch.no_grad():
        net(x)
    delta = 1.0 / steps
    delay = (x - inputs[0]).reshape(-1)  # spike time t = 1 − x̃: the delay is the activation lost
    assert float(delay.min()) >= -1e-12 and float(delay.max()) < delta + 1e-12
    se_mean, se_std = _uniform_error_se(delta, delay.numel())
    assert abs(float(delay.mean()) - delta / 2) <= Z * se_mean
    assert abs(float(delay.std()) - delta / math.sqrt(12)) <= Z * se_std
    # the readout's inputs are on the step grid of layer 1's window (Δ = T/L), at most L + 1 boundaries
    index = inputs[1] / (t1 / steps)
    torch.testing.assert_close(index, index.round(), rtol=0, atol=1e-12)  # index ≤ 20: a few ulp, measured 0
    assert len(torch.unique(index.round())) <= steps + 1
    torch.testing.assert_close(
        inputs[1], torch.floor(outputs[0] / (t1 / steps)) * (t1 / steps), rtol=0, atol=1e-12
    )


# ------------------------------------------------------------------ weight quantisation


@pytest.mark.parametrize(("bits", "w_range"), [(3, (-1.0, 1.0)), (5, (-0.4, 0.9))])
def test_weight_quantisation_is_the_documented_grid(bits: int, w_range: tuple[float, float]) -> None:
    lo, hi = w_range
    levels = 2**bits
    step = (hi - lo) / (levels - 1)
    n_in, n_hidden, n_out, batch = 48, 64, 10, 8
    gen = torch.Generator().manual_seed(5)
    window = 2.0
    hidden = ttfsnet.TTFSLinear(n_in, n_hidden, window=window, dtype=DT)
    head = ttfsnet.TTFSLinear(n_hidden, n_out, readout=True, dtype=DT)
    span = hi - lo
    with torch.no_grad():  # 10 % of the range beyond each end, so some weights are clipped
        for layer in (hidden, head):
            layer.weight.copy_(
                lo - 0.1 * span + 1.2 * span * torch.rand(layer.weight.shape, generator=gen, dtype=DT)
            )
    net = ttfsnet.TTFSNetwork([hidden, head])
    x = torch.rand(batch, n_in, generator=gen, dtype=DT)
    net.robustness = ttfsnet.RobustnessConfig(weight_bits=bits, weight_range=w_range)
    with _recorded(net) as (_, inputs, weights), torch.no_grad():
        logits = net(x)
    all_in: list[Tensor] = []
    for layer, q in zip((hidden, head), weights, strict=True):
        w = layer.weight.detach()
        assert q.shape == w.shape  # the readout is quantised too
        index = (q - lo) / step
        torch.testing.assert_close(index, index.round(), rtol=0, atol=1e-12)  # on lo + k·step: ≤ 31, ~1e-14
        k = index.round()
        assert float(k.min()) == 0 and float(k.max()) == levels - 1  # both range ends are levels
        assert len(torch.unique(k)) <= levels
        inside = (w >= lo) & (w <= hi)
        assert float((q - w)[inside].abs().max()) <= step / 2 + 1e-12
        torch.testing.assert_close(q[w < lo], torch.full_like(q[w < lo], lo), rtol=0, atol=1e-12)
        torch.testing.assert_close(q[w > hi], torch.full_like(q[w > hi], hi), rtol=0, atol=1e-12)
        oracle = lo + torch.round((w.clamp(lo, hi) - lo) / step) * step
        torch.testing.assert_close(q, oracle, rtol=0, atol=1e-12)
        all_in.append((q - w)[inside])
    # weights inside the range are uniform on it and the grid holds both ends: error ~ U(−step/2, step/2)
    err = torch.cat(all_in)
    se_mean, se_std = _uniform_error_se(step, err.numel())
    assert abs(float(err.mean())) <= Z * se_mean
    assert abs(float(err.std()) - step / math.sqrt(12)) <= Z * se_std
    # and these are the weights the forward pass used
    h = (x @ weights[0].T + window - hidden.threshold.detach()).clamp(0, window)
    torch.testing.assert_close(inputs[1], h, rtol=0, atol=1e-12)
    torch.testing.assert_close(logits, h @ weights[1].T + head.bias.detach(), rtol=0, atol=1e-12)
