"""Registry-driven layer tests: every registered layer kind is checked from its ``example()``.

A new kind (one class plus ``register_layer``) is picked up here without editing this file; the last tests
register a toy kind to show that the network, ``to_ann``, the statistics, step mode and the file format
need no edit either.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import ttfsnet
from ttfsnet.nn import (
    TTFSLayer,
    TTFSSpikingLayer,
    build_layer,
    layer_kind,
    layer_kinds,
    register_layer,
    registry,
)

D = torch.float64
KINDS = sorted(layer_kinds())
# float64 rounding between the TTFS forward and its ANN (fan-in ≤ ~50, |preact| ≲ 2):
# ≲ 2.2e-16·50·2 ≈ 2e-14 (measured 0); 1e-13 leaves 5x.
F64_TOL = 1e-13
# Stepped vs closed form: ≲ one step dt of timing error per spike (input and hidden), weighted by
# Σ|w| ≈ 1–3, so ≲ 3·dt; measured ≤ 2.1·dt over 8 seeds. Tolerance 10·dt.
STEPPED_TOL = 10


def _example(kind: str, seed: int = 0) -> tuple[TTFSLayer, tuple[int, ...]]:
    torch.manual_seed(seed)
    layer, in_shape = layer_kinds()[kind].example()
    return layer, in_shape


def _network(layer: TTFSLayer, in_shape: tuple[int, ...]) -> ttfsnet.TTFSNetwork:
    """``layer`` (flattened if needed) into a 3-class readout, in float64."""
    out_shape = layer.output_shape(in_shape)
    layers: list[nn.Module] = [layer]
    if len(out_shape) > 1:
        layers.append(ttfsnet.TTFSFlatten())
    layers.append(ttfsnet.TTFSLinear(math.prod(out_shape), 3, readout=True))
    return ttfsnet.TTFSNetwork(layers, input_shape=in_shape).to(D).eval()


def _inputs(in_shape: tuple[int, ...], seed: int = 1) -> Tensor:
    return torch.rand(8, *in_shape, generator=torch.Generator().manual_seed(seed), dtype=D)


def _saturated_samples(net: ttfsnet.TTFSNetwork, x: Tensor) -> Tensor:
    """Per sample: does any neuron exceed its window (is a Hardtanh of the clipped ANN active)?"""
    out = torch.zeros(len(x), dtype=torch.bool)
    h = x
    for m in ttfsnet.to_ann(net, clip=True):
        if isinstance(m, nn.Hardtanh):
            out |= (h > m.max_val).flatten(1).any(1)
        h = m(h)
    return out


def _assert_same_run(a: ttfsnet.RunResult, b: ttfsnet.RunResult) -> None:
    assert torch.equal(a.logits, b.logits)
    assert len(a.spike_times) == len(b.spike_times)
    for x, y in zip(a.spike_times, b.spike_times, strict=True):
        assert torch.equal(x, y)
    assert (a.layer_names, a.entry_kinds, a.spike_counts, a.synops, a.saturation_counts) == (
        b.layer_names,
        b.entry_kinds,
        b.spike_counts,
        b.synops,
        b.saturation_counts,
    )


# ------------------------------------------------------------------------------------------ every kind
def test_registry_lists_the_builtin_kinds() -> None:
    assert {"linear", "conv", "maxpool", "avgpool", "flatten"} <= set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_kind_is_a_ttfs_layer_and_named_back(kind: str) -> None:
    layer, in_shape = _example(kind)
    assert isinstance(layer, TTFSLayer)
    assert layer_kind(layer) == kind
    assert not layer.readout  # examples are hidden layers; the readout is the network's last layer
    assert len(layer.output_shape(in_shape)) >= 1


@pytest.mark.parametrize("kind", KINDS)
def test_config_is_plain_data_and_builds_the_same_layer(kind: str) -> None:
    layer, in_shape = _example(kind)
    config = layer.config()
    assert json.loads(json.dumps(config)) == config  # plain data only
    rebuilt = build_layer(kind, config)
    assert type(rebuilt) is type(layer)
    assert rebuilt.config() == config
    rebuilt.load_state_dict(layer.state_dict())
    x = _inputs(in_shape)
    with torch.no_grad():
        assert torch.equal(rebuilt.to(D)(x), layer.to(D)(x))


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip_in_a_network(kind: str, tmp_path: Path) -> None:
    layer, in_shape = _example(kind)
    net = _network(layer, in_shape)
    path = ttfsnet.save(net, tmp_path / f"{kind}.pt", kind=kind)
    loaded, metadata = ttfsnet.load(path)
    assert metadata == {"kind": kind}
    assert [layer_kind(m) for m in loaded.ttfs_layers()] == [layer_kind(m) for m in net.ttfs_layers()]
    assert loaded.input_shape == net.input_shape
    before, after = net.state_dict(), loaded.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert after[key].dtype == value.dtype and torch.equal(after[key], value), key
    x = _inputs(in_shape)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    _assert_same_run(loaded.run(x), net.run(x))


@pytest.mark.parametrize("kind", KINDS)
def test_to_ann_matches_the_ttfs_forward(kind: str) -> None:
    layer, in_shape = _example(kind)
    net = _network(layer, in_shape)
    x = _inputs(in_shape) * 2.0 - 0.5  # some inputs outside [0, 1] would be refused: rescale the range
    net = ttfsnet.TTFSNetwork(list(net.layers), input_range=(-0.5, 1.5), input_shape=in_shape).eval()
    with torch.no_grad():
        logits = net(x)
        torch.testing.assert_close(ttfsnet.to_ann(net, clip=True)(x), logits, rtol=0, atol=F64_TOL)
        # Unconditionally, per sample: the unclipped ANN agrees wherever nothing saturated.
        saturated = _saturated_samples(net, x)
        assert bool(saturated.any()) == (net.run(x).total_saturated > 0)
        unclipped = ttfsnet.to_ann(net)(x)
        torch.testing.assert_close(unclipped[~saturated], logits[~saturated], rtol=0, atol=F64_TOL)


@pytest.mark.parametrize("kind", KINDS)
def test_stepped_run_and_statistics_accept_the_kind(kind: str) -> None:
    layer, in_shape = _example(kind)
    net = _network(layer, in_shape)
    x = _inputs(in_shape)
    closed, stepped = net.run(x), net.run(x, mode="stepped", dt=0.001)
    assert closed.entry_kinds == stepped.entry_kinds
    torch.testing.assert_close(stepped.logits, closed.logits, rtol=0, atol=STEPPED_TOL * 0.001)
    stats = ttfsnet.statistics(net, x)
    assert stats.samples == x.shape[0] and stats.macs >= 0


@pytest.mark.parametrize("kind", KINDS)
def test_input_spec_accepts_the_example_and_a_network_without_input_shape_checks_it(kind: str) -> None:
    layer, in_shape = _example(kind)
    spec = layer.input_spec()
    if spec is not None:
        assert len(spec) == len(in_shape)
        assert all(e is None or e == d for e, d in zip(spec, in_shape, strict=True))
    net = _network(layer, in_shape)
    net.input_shape = None  # as a network built from layers: the first layer's spec is what is checked
    net.run(_inputs(in_shape))
    if spec is not None:
        with pytest.raises(ValueError, match="unbatched"):
            net(_inputs(in_shape)[0])


# ------------------------------------------------------------------------------------------ registry API
def test_layer_kind_refuses_unregistered_modules() -> None:
    with pytest.raises(ttfsnet.TTFSValueError, match="not a registered TTFS layer"):
        layer_kind(nn.ReLU())


def test_build_layer_refuses_unknown_kinds_and_bad_configs() -> None:
    with pytest.raises(ttfsnet.TTFSValueError, match="unknown layer kind 'nope'"):
        build_layer("nope", {})
    with pytest.raises(ttfsnet.TTFSValueError, match="bad config"):
        build_layer("linear", {"in_features": 2, "bogus": 1})


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Registrations made inside a test are dropped afterwards."""
    monkeypatch.setattr(registry, "_LAYERS", dict(registry._LAYERS))
    monkeypatch.setattr(registry, "_KIND_OF", dict(registry._KIND_OF))
    yield


@pytest.mark.usefixtures("scratch_registry")
def test_register_layer_refuses_taken_kinds_and_non_layers() -> None:
    with pytest.raises(ttfsnet.TTFSValueError, match="'linear' is already registered to TTFSLinear"):
        register_layer("linear")(type("Other", (TTFSLayer,), {}))
    with pytest.raises(ttfsnet.TTFSTypeError, match="not a subclass of TTFSLayer"):
        register_layer("relu")(nn.ReLU)  # type: ignore[type-var]
    assert register_layer("linear")(ttfsnet.TTFSLinear) is ttfsnet.TTFSLinear  # re-registering is a no-op


# ------------------------------------------------------------------------------------------ a new kind
class ChannelScale(TTFSSpikingLayer):
    """Toy kind: per-channel B1 neurons ``x_out = clamp(w_c x_c + T - ϑ_c, 0, T)`` on ``(C, H, W)``."""

    window: Tensor

    def __init__(self, channels: int, *, window: float = 1.0) -> None:
        super().__init__()
        self.channels = channels
        self.weight = nn.Parameter(torch.rand(channels) + 0.5)
        self.threshold = nn.Parameter(window - 0.2 * torch.rand(channels))
        self.register_buffer("window", torch.tensor(float(window)))

    def preactivation(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        w = self.weight if weight is None else weight
        return x * w.view(-1, 1, 1) + (self.window - self.threshold).view(-1, 1, 1)

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        return torch.clamp(self.preactivation(x, weight), 0.0, self.window)

    def effective_threshold(self) -> Tensor:
        return self.threshold.view(-1, 1, 1)

    def ann_bias(self) -> Tensor:
        return self.window - self.threshold

    def synaptic_weight(self) -> Tensor:
        return self.weight

    def synaptic_op(self, weight: Tensor | None = None) -> Callable[[Tensor], Tensor]:
        w = self.weight if weight is None else weight
        return lambda q: q * w.view(-1, 1, 1)

    def synapse(self) -> nn.Module:
        return self._conv(bias=False)

    def _conv(self, bias: bool) -> nn.Conv2d:
        conv = nn.Conv2d(self.channels, self.channels, 1, groups=self.channels, bias=bias)
        conv = conv.to(self.weight.dtype)
        with torch.no_grad():
            conv.weight.copy_(self.weight.view(-1, 1, 1, 1))
            if conv.bias is not None:
                conv.bias.copy_(self.ann_bias())
        return conv

    def fan_out(self, in_shape: tuple[int, ...]) -> Tensor:
        return torch.ones(in_shape, dtype=D)

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return in_shape

    def macs(self, in_shape: tuple[int, ...]) -> int:
        return math.prod(in_shape)

    def to_ann(self, *, clip: bool = False) -> list[nn.Module]:
        return [self._conv(bias=True), self.ann_activation(clip)]

    def config(self) -> dict[str, Any]:
        return {"channels": self.channels}

    @classmethod
    def example(cls) -> tuple[ChannelScale, tuple[int, ...]]:
        return cls(2, window=1.5), (2, 3, 3)


@pytest.mark.usefixtures("scratch_registry")
def test_a_new_kind_is_one_class_plus_its_registration(tmp_path: Path) -> None:
    register_layer("channel_scale")(ChannelScale)
    assert layer_kinds()["channel_scale"] is ChannelScale
    torch.manual_seed(0)
    conv, in_shape = ttfsnet.TTFSConv2d.example()
    layers: list[nn.Module] = [
        conv,
        ChannelScale(3, window=1.5),
        ttfsnet.TTFSMaxPool2d(2, ceil_mode=True),
        ttfsnet.TTFSFlatten(),
        ttfsnet.TTFSLinear(3 * 3 * 3, 3, readout=True),
    ]
    net = ttfsnet.TTFSNetwork(layers, input_shape=in_shape).to(D).eval()
    x = _inputs(in_shape)
    assert len(net.windows()) == 2
    closed = net.run(x)
    assert closed.entry_kinds == ["input", "spiking", "spiking", "pool"]
    assert closed.synops[1] == closed.spike_counts[1]  # each conv spike reaches one toy synapse
    stepped = net.run(x, mode="stepped", dt=0.001)
    torch.testing.assert_close(stepped.logits, closed.logits, rtol=0, atol=STEPPED_TOL * 0.001)
    with torch.no_grad():
        torch.testing.assert_close(ttfsnet.to_ann(net, clip=True)(x), net(x), rtol=0, atol=F64_TOL)
    assert ttfsnet.statistics(net, x).macs == sum(ttfsnet.stats.network_macs(net, in_shape))
    loaded, _ = ttfsnet.load(ttfsnet.save(net, tmp_path / "toy.pt"))
    assert isinstance(loaded.layers[1], ChannelScale)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    step_net = ttfsnet.to_snntorch(net, 64)
    with torch.no_grad():
        logits = step_net.run_raster(step_net.input_raster(x))
    # 64 steps over windows ≤ 1.5: step ≈ 0.023; ≲ one step per spiking layer through Σ|w| ≈ 1–3
    # (measured 0.032 ≈ 1.4 steps, 8 seeds). 0.1 ≈ 4 steps.
    torch.testing.assert_close(logits, closed.logits, rtol=0, atol=0.1)
    # the new kind has no NIR form until interop/nir_export.py learns one, and says so
    with pytest.raises(ttfsnet.TTFSValueError, match="layers.1 has unsupported type ChannelScale"):
        ttfsnet.export_nir(net, tmp_path / "toy.nir")
