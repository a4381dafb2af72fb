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
    assert torch.equal(ttfsnet.raster_to_times(raster, t_max), times)


@settings(max_examples=60, deadline=None)
@given(
    num_steps=st.integers(2, 30),
    values=st.lists(st.one_of(st.floats(0.0, 1.0), st.just(math.inf)), min_size=1, max_size=12),
)
def test_off_grid_times_move_by_at_most_half_a_step(num_steps: int, values: list[float]) -> None:
    times = torch.tensor(values, dtype=torch.float64).view(1, -1)
    back = ttfsnet.raster_to_times(ttfsnet.times_to_raster(times, num_steps), 1.0)
    finite = torch.isfinite(times)
    assert torch.equal(torch.isfinite(back), finite)
    h = 1.0 / (num_steps - 1)
    assert bool(((back[finite] - times[finite]).abs() <= h / 2 + 1e-12).all())


@settings(max_examples=40, deadline=None)
@given(num_steps=st.integers(2, 12), seed=st.integers(0, 2**31 - 1))
def test_raster_round_trip_keeps_first_spike(num_steps: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    raster = (torch.rand(num_steps, 3, 4, generator=g) < 0.3).float()
    times = ttfsnet.raster_to_times(raster)
    first_only = ttfsnet.times_to_raster(times, num_steps)
    assert bool((first_only.sum(0) <= 1).all())
    # the kept spike is the earliest one; later spikes of the same neuron are dropped
    cum = raster.cumsum(0)
    expected = raster * (cum == 1)
    assert torch.equal(first_only, expected)


def test_raster_to_times_accepts_bool_and_int_rasters() -> None:
    raster = torch.zeros(5, 1, 3, dtype=torch.bool)
    raster[2, 0, 1] = True
    t = ttfsnet.raster_to_times(raster, t_max=2.0)
    assert t.dtype == torch.get_default_dtype()
    assert t.tolist() == [[math.inf, 1.0, math.inf]]
    assert ttfsnet.raster_to_times(raster.int(), dtype=torch.float64).dtype == torch.float64


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
        ttfsnet.raster_to_times(torch.zeros(1, 1, 2))


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
    t = ttfsnet.raster_to_times(raster)
    xq = _latency_quantised(x, num_steps, thr)
    silent = x < thr
    assert bool(torch.isinf(t[silent]).all())
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
    logits_from_raster = net.forward_times(ttfsnet.raster_to_times(raster))
    logits_from_values = net(_latency_quantised(x, num_steps, thr))
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
    t_step = ttfsnet.raster_to_times(spikes[p0:], t_max=(spikes.shape[0] - p0 - 1) * dt)
    t_cf = TF.ttfs_linear_times(t0, 1.0, TF.TTFSParameters(w, thr, window))
    expected = torch.ceil(t_cf / dt - 1e-9) * dt
    expected = torch.where(expected < window - 1e-12, expected, torch.full_like(expected, math.inf))
    torch.testing.assert_close(t_step, expected, rtol=0, atol=1e-9)
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

    t1 = ttfsnet.raster_to_times(spk1_r[p0 : p0 + p1 + 1], t_max=windows[0])
    t2 = ttfsnet.raster_to_times(spk2_r[p0 + p1 :], t_max=(p2 - 1) * dt)
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
    assert isinstance(out, tuple) and isinstance(out[1], TTFSNeuronState)
    spk, mem = plain(cur, out[1])
    assert spk.shape == cur.shape and mem.step == 2

    hidden = ttfsnet.TTFSNeuron(phase1_steps=1, phase2_steps=2, init_hidden=True)
    assert isinstance(hidden(cur), torch.Tensor)
    with pytest.raises(TypeError, match="init_hidden"):
        hidden(cur, hidden.state)
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
        times = ttfsnet.raster_to_times(phase2, t_max=(n - 1) * neuron.dt)
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
    assert acc_spikes == pytest.approx(acc_logits, abs=1e-12)
    assert 0.4 < acc_logits < 1.0


def test_output_raster_spike_times_and_documented_tie_rule() -> None:
    z = torch.tensor([[3.0, 1.0, 2.5, -4.0]], dtype=torch.float64)
    raster = ttfsnet.output_raster(z, 5, t_out=3.0, dt=1.0)
    times = ttfsnet.raster_to_times(raster, t_max=4.0)
    # fires at ceil(t_out - z): 0, 2, 1 (0.5 rounded up), and -4 would need 7 steps: silent
    assert times.tolist() == [[0.0, 2.0, 1.0, math.inf]]
    # two logits within one step tie; snnTorch then picks the lowest index, not the larger logit
    tie = torch.tensor([[2.2, 2.9]])
    coarse = ttfsnet.output_raster(tie, 3, t_out=3.0, dt=1.0)
    assert SF.accuracy_temporal(coarse, torch.tensor([1])) == 0.0
    fine = ttfsnet.output_raster(tie, 20, t_out=3.0, dt=0.1)
    assert SF.accuracy_temporal(fine, torch.tensor([1])) == 1.0
    assert isinstance(SF.accuracy_temporal(fine, torch.tensor([1])), np.floating)
