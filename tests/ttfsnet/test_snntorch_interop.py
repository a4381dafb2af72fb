"""snnTorch interop: step-mode TTFS neuron, rasters, latency input, readout raster, reset."""

from __future__ import annotations

import math

import numpy as np
import pytest
import snntorch as snn
import snntorch.functional as SF
import snntorch.spikegen as spikegen
import snntorch.surrogate as surrogate
import snntorch.utils as snn_utils
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from ttfsnet_testutils import randomize_bn, small_cnn

import ttfsnet
from ttfsnet import functional as TF
from ttfsnet.interop.snntorch import TTFSNeuronState

# ----------------------------------------------------------------------------------------------
# rasters
# ----------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    num_steps=st.integers(2, 40),
    t_max=st.sampled_from([1.0, 0.5, 2.75]),
    data=st.data(),
)
def test_grid_times_round_trip_exactly(num_steps: int, t_max: float, data: st.DataObject) -> None:
    shape = data.draw(st.tuples(st.integers(1, 4), st.integers(1, 5)))
    n = shape[0] * shape[1]
    steps = data.draw(st.lists(st.integers(-1, num_steps - 1), min_size=n, max_size=n))
    k = torch.tensor(steps, dtype=torch.float64).view(shape)
    times = torch.where(k >= 0, k * t_max / (num_steps - 1), torch.full_like(k, math.inf))
    raster = ttfsnet.times_to_raster(times, num_steps, t_max)
    assert raster.shape == (num_steps, *shape)
    assert float(raster.sum()) == float((k >= 0).sum())
    assert torch.equal(ttfsnet.raster_to_times(raster, t_max, code="linear"), times)


@settings(max_examples=60, deadline=None)
@given(
    num_steps=st.integers(2, 30),
    values=st.lists(st.one_of(st.floats(0.0, 1.0), st.just(math.inf)), min_size=1, max_size=12),
)
def test_off_grid_times_move_by_at_most_half_a_step(num_steps: int, values: list[float]) -> None:
    times = torch.tensor(values, dtype=torch.float64).view(1, -1)
    back = ttfsnet.raster_to_times(ttfsnet.times_to_raster(times, num_steps), 1.0, code="linear")
    finite = torch.isfinite(times)
    assert torch.equal(torch.isfinite(back), finite)
    h = 1.0 / (num_steps - 1)
    assert bool(((back[finite] - times[finite]).abs() <= h / 2 + 1e-12).all())


@settings(max_examples=40, deadline=None)
@given(num_steps=st.integers(2, 12), seed=st.integers(0, 2**31 - 1))
def test_raster_round_trip_keeps_first_spike(num_steps: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    raster = (torch.rand(num_steps, 3, 4, generator=g) < 0.3).float()
    times = ttfsnet.raster_to_times(raster, code="linear")
    first_only = ttfsnet.times_to_raster(times, num_steps)
    assert bool((first_only.sum(0) <= 1).all())
    # the kept spike is the earliest one; later spikes of the same neuron are dropped
    cum = raster.cumsum(0)
    expected = raster * (cum == 1)
    assert torch.equal(first_only, expected)


def test_raster_to_times_accepts_bool_and_int_rasters() -> None:
    raster = torch.zeros(5, 1, 3, dtype=torch.bool)
    raster[2, 0, 1] = True
    t = ttfsnet.raster_to_times(raster, t_max=2.0, code="linear")
    assert t.dtype == torch.get_default_dtype()
    assert t.tolist() == [[math.inf, 1.0, math.inf]]
    assert ttfsnet.raster_to_times(raster.int(), code="linear", dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize(
    ("times", "message"),
    [
        (torch.tensor([[0.5, float("nan")]]), "NaN"),
        (torch.tensor([[-0.1]]), "outside the window"),
        (torch.tensor([[1.2]]), "outside the window"),
        (torch.tensor([[float("-inf")]]), "-inf"),
    ],
)
def test_times_to_raster_rejects_invalid_times(times: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ttfsnet.times_to_raster(times, 10)


def test_raster_functions_reject_single_step() -> None:
    with pytest.raises(ValueError, match="num_steps"):
        ttfsnet.times_to_raster(torch.zeros(1, 2), 1)
    with pytest.raises(ValueError, match="num_steps"):
        ttfsnet.raster_to_times(torch.zeros(1, 1, 2), code="linear")


# ----------------------------------------------------------------------------------------------
# snntorch.spikegen.latency input
# ----------------------------------------------------------------------------------------------


def _latency_quantised(x: torch.Tensor, num_steps: int, threshold: float) -> torch.Tensor:
    """The value each input is rounded to by linear/normalised/clipped latency coding (float32 rule)."""
    tau = num_steps - 1
    t = torch.clamp_max(-tau * (x - 1), -tau * (threshold - 1))
    k = torch.round(t)
    xq = 1.0 - k / tau
    return torch.where(x < threshold, torch.zeros_like(xq), xq)


def test_latency_raster_decodes_to_quantised_input_times() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 10, generator=g)
    x[0, :3] = 0.0
    num_steps, thr = 17, 0.05
    raster = spikegen.latency(x, num_steps=num_steps, linear=True, normalize=True, clip=True, threshold=thr)
    t = ttfsnet.raster_to_times(raster, code="linear")
    xq = _latency_quantised(x, num_steps, thr)
    silent = x < thr
    assert bool(torch.isinf(t[silent]).all())
    # float32 decode of O(1) times: a few ulps (eps32 ≈ 6e-8); 1e-6 leaves >10x headroom, while a wrong
    # grid moves a time by at least one step (1/16 here)
    torch.testing.assert_close(t[~silent], 1.0 - xq[~silent], rtol=0, atol=1e-6)


def test_latency_raster_into_converted_network_matches_quantised_values() -> None:
    torch.manual_seed(1)
    ann = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 12), nn.ReLU(), nn.Linear(12, 4))
    calib = torch.rand(64, 2, 3, 3)
    net = ttfsnet.convert(ann, calib, input_range=(0.0, 1.0))
    x = torch.rand(8, 2, 3, 3)
    x[0, 0] = 0.0
    num_steps, thr = 33, 0.02
    raster = spikegen.latency(x, num_steps=num_steps, linear=True, normalize=True, clip=True, threshold=thr)
    assert raster.shape == (num_steps, 8, 2, 3, 3)
    logits_from_raster = net.forward_times(ttfsnet.raster_to_times(raster, code="linear"))
    logits_from_values = net(_latency_quantised(x, num_steps, thr))
    # float32 through two layers (fan-in 18 and 12, terms O(1)): ≲ eps32·Σ|terms| ≈ 6e-8·30 ≈ 2e-6
    torch.testing.assert_close(logits_from_raster, logits_from_values, rtol=1e-5, atol=1e-5)
    # and the quantisation really changed the input: exact values give different logits
    assert not torch.allclose(net(x), logits_from_raster, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# TTFSNeuron
# ----------------------------------------------------------------------------------------------


def _run_layer(neuron: ttfsnet.TTFSNeuron, currents: torch.Tensor) -> torch.Tensor:
    """Drive a neuron with a [T, B, N] current raster, return the [T, B, N] spike raster."""
    state = neuron.reset_mem()
    spikes = []
    for cur in currents:
        spk, state = neuron(cur, state)
        spikes.append(spk)
    return torch.stack(spikes)


def test_single_layer_spike_times_are_closed_form_rounded_up_to_the_grid() -> None:
    torch.manual_seed(2)
    p0, p1 = 16, 24
    dt, window = 1.0 / p0, 24 / 16
    w = torch.randn(20, 8, dtype=torch.float64)
    thr = window - 0.3 * torch.randn(20, dtype=torch.float64)
    t0 = torch.randint(0, p0 + 1, (32, 8)).double() / p0
    t0[t0 > 0.9] = math.inf
    neuron = ttfsnet.TTFSNeuron(thr, phase1_steps=p0, phase2_steps=p1, dt=dt)
    inp = ttfsnet.times_to_raster(t0, p0 + 1)
    cur = torch.cat([inp, torch.zeros(p1, 32, 8, dtype=torch.float64)]) @ w.T
    spikes = _run_layer(neuron, cur)
    assert bool((spikes.sum(0) <= 1).all())
    t_step = ttfsnet.raster_to_times(spikes[p0:], t_max=(spikes.shape[0] - p0 - 1) * dt, code="linear")
    t_cf = TF.ttfs_linear_times(t0, 1.0, TF.TTFSParameters(w, thr, window))
    expected = torch.ceil(t_cf / dt - 1e-9) * dt
    expected = torch.where(expected < window - 1e-12, expected, torch.full_like(expected, math.inf))
    # float64 grid points k·dt reached by different operations: a few ulps of O(1) times
    torch.testing.assert_close(t_step, expected, rtol=0, atol=1e-12)
    assert int(torch.isfinite(t_step).sum()) > 100  # the comparison is not vacuous


def test_two_layer_snntorch_loop_matches_closed_form_within_one_step() -> None:
    torch.manual_seed(3)
    p0, p1, p2 = 16, 24, 32
    dt = 1.0 / p0
    windows = (p1 * dt, p2 * dt)
    fc1 = nn.Linear(10, 16, bias=False).double()
    fc2 = nn.Linear(16, 6, bias=False).double()
    thr1 = windows[0] - 0.2 * torch.rand(16, dtype=torch.float64)
    thr2 = windows[1] - 0.2 * torch.rand(6, dtype=torch.float64)
    lif1 = ttfsnet.TTFSNeuron(thr1, phase1_steps=p0, phase2_steps=p1, dt=dt, init_hidden=True)
    lif2 = ttfsnet.TTFSNeuron(thr2, phase1_steps=p1, phase2_steps=p2, start_step=p0, dt=dt, init_hidden=True)
    net = nn.Sequential(fc1, lif1, fc2, lif2)

    x = torch.rand(64, 10, dtype=torch.float64)
    t0 = torch.round((1 - x) * p0) / p0  # inputs on the grid
    num_steps = p0 + p1 + p2
    inp = torch.zeros(num_steps, 64, 10, dtype=torch.float64)
    inp[: p0 + 1] = ttfsnet.times_to_raster(t0, p0 + 1)

    ttfsnet.reset_net(net)
    spk1_rec, spk2_rec = [], []
    with torch.no_grad():
        for step in range(num_steps):  # the usual snnTorch time loop
            spk1 = lif1(fc1(inp[step]))
            spk2 = lif2(fc2(spk1))
            spk1_rec.append(spk1)
            spk2_rec.append(spk2)
    spk1_r, spk2_r = torch.stack(spk1_rec), torch.stack(spk2_rec)
    assert bool((spk1_r.sum(0) <= 1).all()) and bool((spk2_r.sum(0) <= 1).all())
    assert not spk1_r[:p0].any() and not spk2_r[: p0 + p1].any()  # thresholds live only in phase 2

    t1 = ttfsnet.raster_to_times(spk1_r[p0 : p0 + p1 + 1], t_max=windows[0], code="linear")
    t2 = ttfsnet.raster_to_times(spk2_r[p0 + p1 :], t_max=(p2 - 1) * dt, code="linear")
    p1_params = TF.TTFSParameters(fc1.weight.detach(), thr1, windows[0])
    p2_params = TF.TTFSParameters(fc2.weight.detach(), thr2, windows[1])
    t1_cf = TF.ttfs_linear_times(t0, 1.0, p1_params)
    t2_cf_layer = TF.ttfs_linear_times(t1, windows[0], p2_params)  # closed form fed the stepped layer 1
    t2_cf = TF.ttfs_linear_times(t1_cf, windows[0], p2_params)  # closed form end to end

    def check(stepped: torch.Tensor, closed: torch.Tensor, window: float, tol: torch.Tensor | float) -> None:
        both = torch.isfinite(stepped) & torch.isfinite(closed)
        assert int(both.sum()) > 20
        diff = (stepped - closed).abs()
        tol_t = torch.as_tensor(tol, dtype=torch.float64).expand_as(diff)
        assert bool((diff[both] <= tol_t[both] + 1e-9).all())
        # a neuron may only disagree on firing at all when the closed form is within tol of the end
        only_closed = torch.isfinite(closed) & ~torch.isfinite(stepped)
        assert bool((closed[only_closed] > window - tol_t[only_closed] - 1e-9).all())
        only_stepped = torch.isfinite(stepped) & ~torch.isfinite(closed)
        assert bool((stepped[only_stepped] > window - tol_t[only_stepped] - 1e-9).all())

    check(t1, t1_cf, windows[0], dt)
    check(t2, t2_cf_layer, windows[1], dt)
    # end to end the layer-1 rounding (< dt per input) propagates through |W2|
    bound = dt * (1 + fc2.weight.detach().abs().sum(1)).view(1, -1)
    check(t2, t2_cf, windows[1], bound)


def test_neuron_fires_at_most_once_and_reset_clears_the_fired_flag() -> None:
    neuron = ttfsnet.TTFSNeuron(0.5, phase1_steps=2, phase2_steps=6, dt=0.5)
    cur = torch.tensor([[5.0, 0.0, -5.0]])
    spikes = _run_layer(neuron, torch.stack([cur, cur] + [torch.zeros_like(cur)] * 6))
    assert spikes.sum(0).tolist() == [[1.0, 1.0, 0.0]]
    assert spikes[2, 0, 0] == 1  # saturated: fires on the first phase-2 step
    assert spikes[3, 0, 1] == 1  # V(t_min)=0 reaches 0.5 after one ramp step
    assert torch.isneginf(neuron.state.mem[0, :2]).all()
    # a fresh state (reset) lets the same neuron fire again
    again = _run_layer(neuron, torch.stack([cur, cur] + [torch.zeros_like(cur)] * 6))
    assert torch.equal(again, spikes)


def test_neuron_call_conventions_follow_snntorch() -> None:
    cur = torch.ones(2, 3)
    plain = ttfsnet.TTFSNeuron(phase1_steps=1, phase2_steps=2)
    out = plain(cur)
    assert isinstance(out, tuple) and all(isinstance(t, torch.Tensor) for t in out)
    spk, mem = plain(cur, out[1])
    assert spk.shape == mem.shape == cur.shape and plain.step == 2
    assert isinstance(plain.state, TTFSNeuronState) and plain.state.mem is mem
    with pytest.raises(TypeError, match="membrane tensor"):
        plain(cur, plain.state)  # type: ignore[arg-type]  # the snapshot is not a membrane

    hidden = ttfsnet.TTFSNeuron(phase1_steps=1, phase2_steps=2, init_hidden=True)
    assert isinstance(hidden(cur), torch.Tensor)
    with pytest.raises(TypeError, match="init_hidden"):
        hidden(cur, hidden.mem)
    with_out = ttfsnet.TTFSNeuron(phase1_steps=1, phase2_steps=2, init_hidden=True, output=True)
    assert isinstance(with_out(cur), tuple)

    learn = ttfsnet.TTFSNeuron(torch.ones(3), phase1_steps=1, phase2_steps=2, learn_threshold=True)
    fixed = ttfsnet.TTFSNeuron(torch.ones(3), phase1_steps=1, phase2_steps=2)
    assert isinstance(learn.threshold, nn.Parameter)
    assert [n for n, _ in learn.named_parameters()] == ["threshold"]
    assert not isinstance(fixed.threshold, nn.Parameter) and "threshold" in dict(fixed.named_buffers())
    with pytest.raises(ValueError, match="phase2_steps"):
        ttfsnet.TTFSNeuron(phase1_steps=1, phase2_steps=0)


@pytest.mark.parametrize("spike_grad", [None, surrogate.fast_sigmoid(slope=5)])
def test_surrogate_gradients_reach_weights_and_threshold(spike_grad: object) -> None:
    torch.manual_seed(4)
    fc = nn.Linear(5, 4, bias=False)
    neuron = ttfsnet.TTFSNeuron(
        torch.full((4,), 1.0),
        phase1_steps=4,
        phase2_steps=8,
        dt=0.25,
        learn_threshold=True,
        spike_grad=spike_grad,
    )  # type: ignore[arg-type]
    inp = (torch.rand(12, 3, 5) < 0.3).float()
    inp[4:] = 0
    state = neuron.reset_mem()
    total = torch.zeros(())
    for step, x in enumerate(inp):
        spk, state = neuron(fc(x), state)
        total = total + spk.sum() * (12 - step)  # earlier spikes count more, like a TTFS loss
    total.backward()
    assert fc.weight.grad is not None and torch.isfinite(fc.weight.grad).all()
    assert neuron.threshold.grad is not None and torch.isfinite(neuron.threshold.grad).all()
    assert float(fc.weight.grad.abs().sum()) > 0 and float(neuron.threshold.grad.abs().sum()) > 0


# ----------------------------------------------------------------------------------------------
# whole networks in step mode
# ----------------------------------------------------------------------------------------------


def _avgpool_cnn() -> nn.Sequential:
    torch.manual_seed(8)
    m = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.BatchNorm2d(4),
        nn.MaxPool2d(2, padding=1),
        nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=2),
        nn.ReLU(),
        nn.AvgPool2d(2, stride=1, padding=1),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    ).double()
    return randomize_bn(m, torch.Generator().manual_seed(8))


@pytest.mark.parametrize("builder", [small_cnn, _avgpool_cnn])
def test_step_network_matches_the_stepped_simulator(builder: object) -> None:
    model = builder()  # type: ignore[operator]
    x = torch.rand(16, 2, 8, 8, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    net = ttfsnet.convert(model, x)
    n = 24
    xq = torch.round(x * n) / n  # input spike times on the step grid
    step_net = ttfsnet.to_snntorch(net, n)
    assert step_net.num_steps == n * (1 + len(net.windows()))

    neurons = [m for m in step_net if isinstance(m, ttfsnet.TTFSNeuron)]
    records: dict[int, list[torch.Tensor]] = {i: [] for i in range(len(neurons))}
    hooks = [
        m.register_forward_hook(lambda _m, _a, out, i=i: records[i].append(out))
        for i, m in enumerate(neurons)
    ]
    with torch.no_grad():
        logits = step_net.run_raster(step_net.input_raster(xq))
    for h in hooks:
        h.remove()

    reference = net.run(xq, mode="stepped", dt=1 / n)
    torch.testing.assert_close(logits, reference.logits, rtol=0, atol=1e-12)
    spiking_entries = [
        t for t, k in zip(reference.spike_times, reference.entry_kinds, strict=True) if k == "spiking"
    ]
    assert len(spiking_entries) == len(neurons)
    for i, (neuron, expected) in enumerate(zip(neurons, spiking_entries, strict=True)):
        raster = torch.stack(records[i])
        assert bool((raster.sum(0) <= 1).all())
        phase2 = raster[neuron.start_step + n : neuron.start_step + 2 * n]
        times = ttfsnet.raster_to_times(phase2, t_max=(n - 1) * neuron.dt, code="linear")
        torch.testing.assert_close(times, expected, rtol=0, atol=1e-12)
        assert int(torch.isfinite(times).sum()) > 0
    # the closed form agrees only approximately: the stepped grid rounds every spike time up
    assert not torch.allclose(net(xq), logits, atol=1e-9)
    # a second sequence after the automatic reset gives the same result
    with torch.no_grad():
        assert torch.equal(step_net.run_raster(step_net.input_raster(xq)), logits)


def test_to_snntorch_validates_steps() -> None:
    net = ttfsnet.convert(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), torch.rand(8, 3))
    with pytest.raises(ValueError, match="steps_per_window"):
        ttfsnet.to_snntorch(net, 0)
    step_net = ttfsnet.to_snntorch(net, 4)
    with pytest.raises(ValueError, match="num_steps"):
        step_net.run_raster(torch.zeros(3, 1, 3))
    with pytest.raises(ValueError, match="input_range"):
        step_net.input_raster(torch.full((1, 3), 2.0))


# ----------------------------------------------------------------------------------------------
# reset
# ----------------------------------------------------------------------------------------------


def test_reset_net_finds_nested_neurons_that_snntorch_reset_misses() -> None:
    inner = ttfsnet.TTFSNeuron(phase1_steps=1, phase2_steps=3, init_hidden=True)
    leaky = snn.Leaky(beta=0.9, init_hidden=True)
    net = nn.Sequential(nn.Linear(3, 3), nn.Sequential(inner, nn.Sequential(leaky)))
    x = torch.ones(2, 3)
    net[1][0](x)
    net[1][1](x)
    assert inner.state.step == 1 and float(leaky.mem.abs().sum()) > 0

    snn_utils.reset(net)  # snnTorch 1.0.0 only inspects direct children of known classes
    assert inner.state.step == 1 and float(leaky.mem.abs().sum()) > 0

    assert ttfsnet.reset_net(net) == 2
    assert inner.state.step == 0 and inner.state.mem.numel() == 0
    assert float(leaky.mem.abs().sum()) == 0.0
    snn.SpikingNeuron.instances.clear()  # snnTorch's global registry would otherwise keep `leaky` alive


def test_reset_net_leaves_other_networks_alone() -> None:
    a = ttfsnet.TTFSNeuron(phase1_steps=1, phase2_steps=3, init_hidden=True)
    b = ttfsnet.TTFSNeuron(phase1_steps=1, phase2_steps=3, init_hidden=True)
    a(torch.ones(1, 2))
    b(torch.ones(1, 2))
    ttfsnet.reset_net(nn.Sequential(a))
    assert a.state.step == 0 and b.state.step == 1


# ----------------------------------------------------------------------------------------------
# spike-based readout
# ----------------------------------------------------------------------------------------------


def test_output_raster_accuracy_temporal_equals_argmax_accuracy() -> None:
    torch.manual_seed(5)
    ann = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 5))
    calib = torch.rand(128, 6)
    net = ttfsnet.convert(ann, calib)
    x = torch.rand(200, 6)
    result = net.run(x)
    logits = result.logits.detach()
    targets = torch.randint(0, 5, (200,))
    targets[:100] = logits[:100].argmax(1)  # make the accuracy non-trivial
    top2 = logits.topk(2, dim=1).values
    gap = float((top2[:, 0] - top2[:, 1]).min())
    span = float(logits.max() - logits.min())
    # ties are avoided deliberately: a step smaller than the smallest top-1/top-2 gap
    num_steps = math.ceil(span / (0.5 * gap)) + 2
    raster = ttfsnet.output_raster(result, num_steps)
    assert raster.shape == (num_steps, 200, 5)
    assert bool((raster.sum(0) <= 1).all())
    acc_spikes = SF.accuracy_temporal(raster, targets)
    acc_logits = int((logits.argmax(1) == targets).sum()) / 200
    assert num_steps < 20_000  # the raster stays small for this seed
    # both are counts over 200 samples; any disagreement is a multiple of 1/200
    assert acc_spikes == pytest.approx(acc_logits, abs=1e-12)
    assert 0.4 < acc_logits < 1.0


def test_output_raster_spike_times_and_documented_tie_rule() -> None:
    z = torch.tensor([[3.0, 1.0, 2.5, -4.0]], dtype=torch.float64)
    raster = ttfsnet.output_raster(z, 5, t_out=3.0, dt=1.0)
    times = ttfsnet.raster_to_times(raster, t_max=4.0, code="linear")
    # fires at ceil(t_out - z): 0, 2, 1 (0.5 rounded up), and -4 would need 7 steps: silent
    assert times.tolist() == [[0.0, 2.0, 1.0, math.inf]]
    # two logits within one step tie; snnTorch then picks the lowest index, not the larger logit
    tie = torch.tensor([[2.2, 2.9]])
    coarse = ttfsnet.output_raster(tie, 3, t_out=3.0, dt=1.0)
    assert SF.accuracy_temporal(coarse, torch.tensor([1])) == 0.0
    fine = ttfsnet.output_raster(tie, 20, t_out=3.0, dt=0.1)
    assert SF.accuracy_temporal(fine, torch.tensor([1])) == 1.0
    assert isinstance(SF.accuracy_temporal(fine, torch.tensor([1])), np.floating)


# ----------------------------------------------------------------------------------------------
# snnTorch idioms: each one either works or fails loudly
# ----------------------------------------------------------------------------------------------


def _latency_net() -> tuple[ttfsnet.TTFSNetwork, torch.Tensor]:
    torch.manual_seed(11)
    ann = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    net = ttfsnet.convert(ann, torch.rand(128, 16), input_range=(0.0, 1.0))
    return net, torch.rand(64, 16)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # snnTorch's default: log code, not normalised
        {"tau": 5, "normalize": True},
        {"linear": True},  # linear but over tau = 1 step, not the whole raster
        {"linear": True, "normalize": True, "clip": True},  # even the right code must be stated
    ],
)
def test_raster_to_times_refuses_a_raster_whose_code_is_not_stated(kwargs: dict[str, object]) -> None:
    _, x = _latency_net()
    raster = spikegen.latency(x, num_steps=25, **kwargs)
    with pytest.raises(ValueError, match="expected code='linear'") as err:
        ttfsnet.raster_to_times(raster)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="code='log'"):
        ttfsnet.raster_to_times(raster, code="log")  # type: ignore[arg-type]


def test_a_raster_does_not_reveal_its_code() -> None:
    """Why the code must be stated: the log and the linear code can write identical rasters."""
    extremes = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    log = spikegen.latency(extremes, num_steps=25, normalize=True)
    linear = spikegen.latency(extremes, num_steps=25, linear=True, normalize=True)
    assert torch.equal(log, linear)
    # ... while a value in between lands on very different steps
    mid = torch.tensor([[0.0, 0.5, 1.0]])
    log_mid = spikegen.latency(mid, num_steps=25, normalize=True)
    lin_mid = spikegen.latency(mid, num_steps=25, linear=True, normalize=True)
    assert int(log_mid[:, 0, 1].argmax()) == 0 and int(lin_mid[:, 0, 1].argmax()) == 12


def test_latency_encode_rasters_decode_exactly_and_match_snntorch_linear_code() -> None:
    net, x = _latency_net()
    num_steps, thr = 25, 0.03
    raster = ttfsnet.interop.snntorch.latency_encode(x, num_steps)
    assert raster.shape == (num_steps, *x.shape) and raster.dtype == x.dtype
    snn_raster = spikegen.latency(
        x, num_steps=num_steps, linear=True, normalize=True, clip=True, threshold=thr
    )
    kept = x >= thr
    assert torch.equal(raster[:, kept], snn_raster[:, kept])
    t = ttfsnet.raster_to_times(raster, code="linear")
    xq = torch.round(x * (num_steps - 1)) / (num_steps - 1)  # the quantised values the raster carries
    # float32 logits of O(1) through a small converted net: a few ulps; a one-step input error moves them
    # by ~1e-2
    torch.testing.assert_close(net.forward_times(t), net(xq), rtol=0, atol=1e-6)
    # float64 inputs give a float64 raster for a float64 network, and the input range is honoured
    x64 = x.double() * 4 - 2
    r64 = ttfsnet.interop.snntorch.latency_encode(x64, num_steps, input_range=(-2.0, 2.0))
    assert r64.dtype == torch.float64 and torch.equal(r64, raster.double())
    with pytest.raises(ValueError, match="input_range"):
        ttfsnet.interop.snntorch.latency_encode(x64, num_steps)


def test_snntorch_utils_reset_on_a_step_network_fails_loudly_and_reset_net_works() -> None:
    torch.manual_seed(12)
    ann = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3))
    net = ttfsnet.convert(ann, torch.rand(64, 6))
    step_net = ttfsnet.to_snntorch(net, 8)
    batches = [torch.rand(5, 6), torch.rand(5, 6)]
    rasters = [step_net.input_raster(b) for b in batches]
    expected = [step_net.run_raster(r) for r in rasters]  # each on a fresh network
    assert not torch.equal(expected[0], expected[1])

    ttfsnet.reset_net(step_net)
    with torch.no_grad():
        for t in range(step_net.num_steps):
            out = step_net(rasters[0][t])
    torch.testing.assert_close(out, expected[0], rtol=0, atol=0)
    snn_utils.reset(step_net)  # the usual snnTorch call: it does not know ttfsnet modules ...
    with pytest.raises(RuntimeError, match="reset_net"):
        step_net(rasters[1][0])  # ... so the next sequence refuses to run on stale state
    ttfsnet.reset_net(step_net)
    with torch.no_grad():
        for t in range(step_net.num_steps):
            out = step_net(rasters[1][t])
    torch.testing.assert_close(out, expected[1], rtol=0, atol=0)


def test_neuron_returns_spk_and_mem_tensors_like_snn_leaky() -> None:
    torch.manual_seed(13)
    sched = ttfsnet.interop.step_schedule([1.5], dt=0.125)
    phase = sched.layers[0]
    thr = torch.full((6,), 1.2)
    fc = nn.Linear(4, 6, bias=False)
    inp = torch.zeros(sched.num_steps, 3, 4)
    inp[: sched.input_steps + 1] = ttfsnet.interop.snntorch.latency_encode(
        torch.rand(3, 4), sched.input_steps + 1
    )

    explicit = ttfsnet.TTFSNeuron(thr, **phase._asdict())
    mem = explicit.reset_mem()
    spk_rec, mem_rec = [], []
    for step in range(sched.num_steps):  # snnTorch's idiom without init_hidden
        spk, mem = explicit(fc(inp[step]), mem)
        spk_rec.append(spk)
        mem_rec.append(mem)
    spk_r, mem_r = torch.stack(spk_rec), torch.stack(mem_rec)
    assert spk_r.shape == mem_r.shape == (sched.num_steps, 3, 6)
    assert int(spk_r.sum()) > 0 and bool((spk_r.sum(0) <= 1).all())
    # a neuron's membrane is -inf from its spike on (fire once), finite before
    fired_at = spk_r.argmax(0)
    fired = spk_r.sum(0) > 0
    steps = torch.arange(sched.num_steps).view(-1, 1, 1)
    assert bool(torch.isneginf(mem_r[(steps >= fired_at) & fired]).all())
    assert bool(torch.isfinite(mem_r[(steps < fired_at) | ~fired]).all())

    hidden = ttfsnet.TTFSNeuron(thr, init_hidden=True, **phase._asdict())
    with_output = ttfsnet.TTFSNeuron(thr, init_hidden=True, output=True, **phase._asdict())
    for step in range(sched.num_steps):
        spk_h = hidden(fc(inp[step]))
        spk_o, mem_o = with_output(fc(inp[step]))
        assert isinstance(spk_h, torch.Tensor) and torch.equal(spk_h, spk_r[step])
        assert torch.equal(spk_o, spk_r[step]) and torch.equal(mem_o, mem_r[step])


def test_step_schedule_drives_a_hand_written_loop_like_to_snntorch() -> None:
    torch.manual_seed(14)
    ann = nn.Sequential(nn.Linear(5, 10), nn.ReLU(), nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.rand(16, 5, dtype=torch.float64)
    net = ttfsnet.convert(ann.double(), x)
    n = 12
    sched = ttfsnet.interop.step_schedule(net, steps_per_window=n)
    assert sched == ttfsnet.to_snntorch(net, n).schedule
    assert sched.num_steps == n * 3 and [p.start_step for p in sched.layers] == [0, n]
    assert sched.readout.start_step == 2 * n and sched.readout.phase1_steps == n

    # the hand-written loop: torch layers plus neurons built from the schedule, no index arithmetic
    hidden = net.spiking_layers()
    fcs = [layer.synapse() for layer in hidden]
    lifs = [
        ttfsnet.TTFSNeuron(layer.effective_threshold().detach(), init_hidden=True, **phase._asdict())
        for layer, phase in zip(hidden, sched.layers, strict=True)
    ]
    inp = torch.zeros(sched.num_steps, 16, 5, dtype=torch.float64)
    inp[: sched.input_steps + 1] = ttfsnet.interop.snntorch.latency_encode(x, sched.input_steps + 1)
    recs: list[list[torch.Tensor]] = [[], []]
    with torch.no_grad():
        for step in range(sched.num_steps):
            spk = inp[step]
            for fc, lif, rec in zip(fcs, lifs, recs, strict=True):
                spk = lif(fc(spk))
                rec.append(spk)
    reference = net.run(torch.round(x * n) / n, mode="stepped", dt=1 / n)
    spiking = [t for t, k in zip(reference.spike_times, reference.entry_kinds, strict=True) if k == "spiking"]
    for rec, phase, expected in zip(recs, sched.layers, spiking, strict=True):
        times = ttfsnet.raster_to_times(torch.stack(rec)[phase.phase2], t_max=phase.t_last, code="linear")
        torch.testing.assert_close(times, expected, rtol=0, atol=1e-12)
        assert int(torch.isfinite(times).sum()) > 0

    dt_sched = ttfsnet.interop.step_schedule([1.5, 2.0], dt=1 / 16)
    assert (dt_sched.input_steps, dt_sched.window_steps, dt_sched.num_steps) == (16, (24, 32), 72)
    assert [(p.start_step, p.phase1_steps, p.phase2_steps) for p in dt_sched.layers] == [
        (0, 16, 24),
        (16, 24, 32),
    ]
    with pytest.raises(ValueError, match="whole number of steps"):
        ttfsnet.interop.step_schedule([1.55], dt=1 / 16)
    with pytest.raises(ValueError, match="exactly one"):
        ttfsnet.interop.step_schedule([1.0], dt=0.5, steps_per_window=2)


def test_output_raster_trains_with_ce_temporal_loss() -> None:
    torch.manual_seed(15)
    x = torch.randn(256, 8)
    teacher = torch.randn(8, 4)
    y = (x @ teacher).argmax(1)
    head = nn.Linear(8, 4)
    num_steps = 40
    loss_fn = SF.ce_temporal_loss()

    logits = head(x)
    t_out = float(logits.detach().max())
    raster = ttfsnet.output_raster(logits, num_steps, dt=0.1, t_out=t_out)
    assert raster.requires_grad
    assert torch.equal(raster, ttfsnet.output_raster(logits.detach(), num_steps, dt=0.1, t_out=t_out))
    loss = loss_fn(raster, y)
    loss.backward()
    # the same loss written on the spike steps directly, with the straight-through slope -1/dt
    z = head(x)
    k = torch.ceil((t_out - z.detach()).clamp(min=0) / 0.1).clamp(max=num_steps - 1)
    steps = k - (z - z.detach()) / 0.1
    assert head.weight.grad is not None
    grad = head.weight.grad.clone()
    head.zero_grad()
    nn.functional.cross_entropy(-steps, y).backward()
    torch.testing.assert_close(grad, head.weight.grad)

    def accuracy() -> float:
        with torch.no_grad():
            return float(SF.accuracy_temporal(ttfsnet.output_raster(head(x), num_steps, dt=0.1), y))

    before = accuracy()
    opt = torch.optim.SGD(head.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        loss_fn(ttfsnet.output_raster(head(x), num_steps, dt=0.1), y).backward()
        opt.step()
    after = accuracy()
    assert after > before + 0.2 and after > 0.8


def test_accuracy_rate_is_meaningless_on_a_ttfs_output_raster() -> None:
    torch.manual_seed(16)
    logits = torch.randn(300, 5)
    y = logits.argmax(1)  # the logits are always right
    raster = ttfsnet.output_raster(logits, 64)  # default dt: every output neuron spikes once
    assert float(SF.accuracy_temporal(raster, y)) > 0.9
    # accuracy_rate counts spikes: one per neuron, a tie that it breaks towards class 0
    assert float(SF.accuracy_rate(raster, y)) == pytest.approx(float((y == 0).float().mean()))
    shuffled = ttfsnet.output_raster(logits[:, torch.randperm(5)], 64)
    assert float(SF.accuracy_rate(shuffled, y)) == float(SF.accuracy_rate(raster, y))


def test_float32_snntorch_raster_drives_a_float64_step_network() -> None:
    torch.manual_seed(17)
    ann = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 3)).double()
    x = torch.rand(8, 6, dtype=torch.float64)
    net = ttfsnet.convert(ann, x)
    step_net = ttfsnet.to_snntorch(net, 16)
    raster64 = step_net.input_raster(x)
    raster32 = spikegen.latency(
        x.float(), num_steps=17, linear=True, normalize=True, clip=True, threshold=0.01
    )
    assert raster32.dtype == torch.float32
    padded = torch.cat([raster32, raster32.new_zeros(step_net.num_steps - 17, 8, 6)])
    kept = x >= 0.01
    assert torch.equal(padded[:, kept].double(), raster64[:, kept])
    out = step_net.run_raster(padded)
    assert out.dtype == torch.float64
    # the cast is lossless: the same spikes as float64 give the same logits
    torch.testing.assert_close(out, step_net.run_raster(padded.double()), rtol=0, atol=0)
    with pytest.raises(ValueError, match="dtype"):
        net.forward_times(ttfsnet.raster_to_times(raster32, code="linear"))  # the closed form refuses
    logits = net.forward_times(ttfsnet.raster_to_times(raster32, code="linear", dtype=torch.float64))
    assert logits.dtype == torch.float64


@pytest.mark.parametrize("dt", [0.3, 0.15, 0.7])
def test_stepped_mode_refuses_dt_that_is_not_one_over_an_int(dt: float) -> None:
    net, x = _latency_net()
    with pytest.raises(ValueError, match="whole steps"):
        net.run(x, mode="stepped", dt=dt)
    # float noise in a dt that is meant as 1/n is accepted (1 - 2/3 is not the float 1/3)
    assert 1 - 2 / 3 != 1 / 3
    third = net.run(x, mode="stepped", dt=1 / 3).logits
    assert torch.equal(third, net.run(x, mode="stepped", dt=1 - 2 / 3).logits)
