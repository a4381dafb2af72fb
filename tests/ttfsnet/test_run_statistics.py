"""How ``TTFSNetwork.run`` computes its statistics: from tensors the simulation already has, with a fixed
number of copies to the host (none per layer, so a GPU is never waited for inside the layer loop), exact
counts at any batch size, and spike times only when they are read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

import ttfsnet
from ttfsnet import functional as TF

D = torch.float64


def _conv_net(blocks: int) -> tuple[ttfsnet.TTFSNetwork, torch.Tensor]:
    """``blocks`` padded 3x3 conv + ReLU blocks, an average pool, a max pool and a linear readout."""
    torch.manual_seed(blocks)
    layers: list[nn.Module] = []
    for b in range(blocks):
        layers += [nn.Conv2d(2 if b == 0 else 3, 3, 3, padding=1), nn.ReLU()]
    layers += [nn.AvgPool2d(2), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 2 * 2, 2)]
    x = torch.rand(6, 2, 8, 8, dtype=D, generator=torch.Generator().manual_seed(1))
    model = nn.Sequential(*layers).to(D)
    return ttfsnet.convert(model, x), x


_HOST_READS = ("item", "tolist", "__int__", "__float__", "__bool__", "__index__")


@pytest.fixture
def host_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every read of a tensor's value into Python (each one a device synchronisation on a GPU)."""
    calls: list[str] = []
    for name in _HOST_READS:
        original = getattr(torch.Tensor, name)

        def counted(
            self: torch.Tensor, *args: object, _name: str = name, _original: object = original
        ) -> object:
            calls.append(_name)
            return _original(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(torch.Tensor, name, counted)
    yield calls


def test_run_reads_the_host_a_fixed_number_of_times_whatever_the_depth(host_reads: list[str]) -> None:
    counts: list[int] = []
    for blocks in (1, 4):
        net, x = _conv_net(blocks)
        host_reads.clear()
        r = net.run(x)
        counts.append(len(host_reads))
        assert len(r.layer_names) == blocks + 3  # input, every conv, the average pool, the max pool
    # the input range and its check, then all the counts at once, then the windows
    assert counts == [4, 4]


def test_forward_reads_the_host_a_fixed_number_of_times(host_reads: list[str]) -> None:
    counts: list[int] = []
    for blocks in (1, 4):
        net, x = _conv_net(blocks)
        host_reads.clear()
        net(x)
        counts.append(len(host_reads))
    assert counts == [2, 2]  # the input range and its check


def test_counts_are_exact_beyond_the_narrow_accumulator() -> None:
    """Per-neuron counts use int16 up to 32767 samples and a wide type above: every neuron fires here."""
    torch.manual_seed(0)
    hidden = nn.Linear(2, 3, dtype=D)
    with torch.no_grad():
        hidden.weight.fill_(1.0)
        hidden.bias.fill_(0.5)
    model = nn.Sequential(hidden, nn.ReLU(), nn.Linear(3, 2, dtype=D))
    for batch in (32767, 40000):
        x = torch.full((batch, 2), 0.5, dtype=D)
        net = ttfsnet.convert(model, x)
        r = net.run(x)
        assert r.spike_counts == [2 * batch, 3 * batch]
        assert r.synops == [2 * batch * 3, 3 * batch * 2]


def test_spike_times_are_converted_once_on_first_read() -> None:
    net, x = _conv_net(2)
    r = net.run(x)
    times = r.spike_times
    assert r.spike_times is times
    # the closed form's activations, converted as activation_to_time does
    activations = TF.ttfs_encode(x, net.input_range)
    torch.testing.assert_close(times[0], TF.activation_to_time(activations, 1.0), rtol=0, atol=0)
    first = net.ttfs_layers()[0]
    assert isinstance(first, ttfsnet.TTFSConv2d)
    torch.testing.assert_close(
        times[1], TF.activation_to_time(first(activations), first.own_window()), rtol=0, atol=0
    )
    for t, c in zip(times, r.spike_counts, strict=True):
        assert int(torch.isfinite(t).sum()) == c


def test_stepped_counts_come_from_its_spike_times() -> None:
    net, x = _conv_net(2)
    r = net.run(x, mode="stepped", dt=0.05)
    for t, c in zip(r.spike_times, r.spike_counts, strict=True):
        assert int(torch.isfinite(t).sum()) == c
    assert r.total_synops > 0
