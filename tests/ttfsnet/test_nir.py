"""NIR export/import of TTFS networks: exact round trips, graph layout, metadata, max-pool encoding."""

from __future__ import annotations

import math
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from ttfsnet_testutils import randomize_bn

import ttfsnet


def _assert_same_network(a: ttfsnet.TTFSNetwork, b: ttfsnet.TTFSNetwork) -> None:
    assert [type(m) for m in a.layers] == [type(m) for m in b.layers]
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        assert torch.equal(sa[key], sb[key]), key
    assert a.windows() == b.windows()
    assert a.input_range == b.input_range


def _mixed_cnn(dtype: torch.dtype) -> nn.Sequential:
    """Grouped/strided/dilated convs, BN after ReLU (negative scales), max and avg pooling with padding."""
    torch.manual_seed(7)
    m = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.BatchNorm2d(4),
        nn.MaxPool2d(2, stride=2, padding=1),
        nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
        nn.ReLU(),
        nn.AvgPool2d(2, stride=1, padding=1),
        nn.Conv2d(6, 4, 2, dilation=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 8),
        nn.ReLU(),
        nn.Linear(8, 3),
    ).to(dtype)
    return randomize_bn(m, torch.Generator().manual_seed(7))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cnn_round_trip_gives_identical_logits(tmp_path: Path, dtype: torch.dtype) -> None:
    ann = _mixed_cnn(dtype)
    calib = torch.rand(64, 2, 8, 8, dtype=dtype) * 4 - 2
    net = ttfsnet.convert(ann, calib, input_range=(-2.0, 2.0))
    kinds = [type(m).__name__ for m in net.layers]
    assert {"TTFSMaxPool2d", "TTFSAvgPool2d", "TTFSConv2d", "TTFSFlatten"} <= set(kinds)
    convs = [m for m in net.layers if isinstance(m, ttfsnet.TTFSConv2d)]
    assert any(c.position_dependent for c in convs) and any(c.groups == 2 for c in convs)
    pools = [m for m in net.layers if isinstance(m, ttfsnet.TTFSMaxPool2d)]
    assert pools[0].sign is not None and bool((pools[0].sign < 0).any())  # latest-spike channels exported too

    path = tmp_path / "cnn.nir"
    ttfsnet.export_nir(net, path, input_shape=(2, 8, 8))
    back = ttfsnet.import_nir(path)
    _assert_same_network(net, back)
    x = torch.rand(16, 2, 8, 8, dtype=dtype) * 4 - 2
    assert torch.equal(net(x), back(x))
    assert torch.equal(net.run(x).logits, back.run(x).logits)


def test_conftest_cnn_round_trip_and_mlp_without_input_shape(
    tmp_path: Path, cnn64: nn.Sequential, inputs64: torch.Tensor
) -> None:
    net = ttfsnet.convert(cnn64, inputs64)
    ttfsnet.export_nir(net, tmp_path / "a.nir", input_shape=(2, 8, 8))
    back = ttfsnet.import_nir(tmp_path / "a.nir")
    _assert_same_network(net, back)
    assert torch.equal(net(inputs64), back(inputs64))

    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 7), nn.ReLU(), nn.Linear(7, 2))
    calib = torch.rand(50, 5)
    mnet = ttfsnet.convert(mlp, calib)
    ttfsnet.export_nir(mnet, tmp_path / "m.nir")  # the input shape follows from the first TTFSLinear
    mback = ttfsnet.import_nir(tmp_path / "m.nir")
    _assert_same_network(mnet, mback)
    assert torch.equal(mnet(calib), mback(calib))


def test_graph_layout_and_metadata(tmp_path: Path) -> None:
    torch.manual_seed(1)
    ann = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3 * 2 * 2, 5),
        nn.ReLU(),
        nn.Linear(5, 4),
    )
    calib = torch.rand(40, 1, 4, 4)
    net = ttfsnet.convert(ann, calib, input_range=(0.0, 1.0))
    path = tmp_path / "g.nir"
    ttfsnet.export_nir(net, path, input_shape=(1, 4, 4))
    graph = nir.read(path)
    names = [
        "input",
        "layer0_conv",
        "layer0_syn",
        "layer0_neuron",
        "layer1_sumpool",
        "layer1_neuron",
        "layer2_flatten",
        "layer3_affine",
        "layer3_syn",
        "layer3_neuron",
        "layer4_linear",
        "layer4_syn",
        "layer4_bias",
        "layer4_mem",
        "output",
    ]
    assert graph.edges == list(zip(names[:-1], names[1:], strict=True))
    types = [type(graph.nodes[n]).__name__ for n in names]
    assert types == [
        "Input",
        "Conv2d",
        "I",
        "IF",
        "SumPool2d",
        "IF",
        "Flatten",
        "Affine",
        "I",
        "IF",
        "Linear",
        "I",
        "Affine",
        "I",
        "Output",
    ]
    assert graph.metadata["coding"] == "ttfs"
    np.testing.assert_array_equal(graph.metadata["input_range"], [0.0, 1.0])
    schedule = net.schedule()
    for k, name in enumerate(["layer0_neuron", "layer3_neuron"]):
        node = graph.nodes[name]
        assert node.metadata["coding"] == "ttfs"
        assert (float(node.metadata["t_min"]), float(node.metadata["t_max"])) == schedule[k + 1]
        assert float(node.metadata["window"]) == net.windows()[k]
        assert np.all(np.isneginf(node.v_reset)) and np.all(node.r == 1)
    conv_thr = graph.nodes["layer0_neuron"].v_threshold
    assert conv_thr.shape == (3, 4, 4)
    np.testing.assert_array_equal(
        graph.nodes["layer3_neuron"].v_threshold, net.layers[3].threshold.detach().numpy()
    )
    assert np.all(graph.nodes["layer1_neuron"].v_threshold == 0.5)
    # readout: bias current α = b/Δ with Δ the last hidden window
    alpha = graph.nodes["layer4_bias"].bias
    # float32 parameters: one division and one product round-trip to within 2 ulps (≈ 2.4e-7 relative)
    np.testing.assert_allclose(alpha * net.windows()[-1], net.layers[-1].bias.detach().numpy(), rtol=1e-6)
    np.testing.assert_array_equal(graph.nodes["output"].output_type["output"], [4])
    # an in-memory graph (as read by nir) imports too
    assert torch.equal(ttfsnet.import_nir(graph)(calib), net(calib))


def _simulate_pool_primitives(
    raster: torch.Tensor, pool: nir.SumPool2d | nir.Conv2d, neuron: nir.IF
) -> torch.Tensor:
    """Discrete-time run of NIR ``SumPool2d|Conv2d → IF`` on a spike raster [T, B, C, H, W]."""
    s = tuple(int(v) for v in pool.stride)
    p = tuple(int(v) for v in pool.padding)
    thr = torch.from_numpy(neuron.v_threshold)
    reset = torch.from_numpy(neuron.v_reset)
    v = torch.zeros_like(thr).expand(raster.shape[1], *thr.shape).clone()
    out = []
    for frame in raster:
        if isinstance(pool, nir.SumPool2d):
            k = tuple(int(v) for v in pool.kernel_size)
            summed = F.avg_pool2d(frame, k, s, p, count_include_pad=True, divisor_override=1)
        else:
            weight = torch.from_numpy(pool.weight)
            summed = F.conv2d(frame, weight, torch.from_numpy(pool.bias), s, p, tuple(pool.dilation))
        v = v + summed
        spk = v > thr
        v = torch.where(spk, reset.expand_as(v), v)
        out.append(spk.to(raster.dtype))
    return torch.stack(out)


@pytest.mark.parametrize("dilation", [1, 2])
def test_max_pool_primitives_fire_at_the_pooled_spike_time(tmp_path: Path, dilation: int) -> None:
    """The NIR encoding of max pooling (summed spikes into a fire-once IF) reproduces ttfsnet's pooling."""
    gen = torch.Generator().manual_seed(3)
    sign = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    pool = ttfsnet.TTFSMaxPool2d(3, stride=2, padding=1, dilation=dilation, sign=sign)
    n_out = 3 if dilation == 1 else 2
    head = ttfsnet.TTFSLinear(4 * n_out * n_out, 2, readout=True, dtype=torch.float64)
    net = ttfsnet.TTFSNetwork([pool, ttfsnet.TTFSFlatten(), head])
    graph = ttfsnet.export_nir(net, tmp_path / "p.nir", input_shape=(4, 5, 5))
    assert torch.equal(
        ttfsnet.import_nir(tmp_path / "p.nir").layers[0].pool_times(torch.zeros(1, 4, 5, 5)),
        pool.pool_times(torch.zeros(1, 4, 5, 5)),
    )
    num_steps = 21
    steps = torch.randint(0, num_steps, (6, 4, 5, 5), generator=gen).double()
    times = torch.where(
        torch.rand(6, 4, 5, 5, generator=gen, dtype=torch.float64) < 0.2,
        torch.full_like(steps, math.inf),
        steps / (num_steps - 1),
    )
    raster = ttfsnet.times_to_raster(times, num_steps)
    summing = graph.nodes["layer0_sumpool" if dilation == 1 else "layer0_sumconv"]
    out = _simulate_pool_primitives(raster, summing, graph.nodes["layer0_neuron"])
    assert bool((out.sum(0) <= 1).all())
    expected = pool.pool_times(times)
    assert torch.equal(ttfsnet.raster_to_times(out, code="linear"), expected)
    assert bool(torch.isinf(expected[:, 1]).any()) and bool(torch.isfinite(expected[:, 0]).all())


def test_dilated_and_ceil_mode_max_pools_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(5)
    ann = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, stride=1, dilation=2),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Flatten(),
        nn.Linear(3 * 3 * 3, 2),
    )
    x = torch.rand(16, 1, 8, 8)
    net = ttfsnet.convert(ann, x)
    pools = [m for m in net.layers if isinstance(m, ttfsnet.TTFSMaxPool2d)]
    assert pools[0].dilation == (2, 2) and pools[1].ceil_mode  # 6x6 input: ceil_mode changes nothing
    ttfsnet.export_nir(net, tmp_path / "d.nir", input_shape=(1, 8, 8))
    back = ttfsnet.import_nir(tmp_path / "d.nir")
    _assert_same_network(net, back)
    assert [(m.dilation, m.ceil_mode) for m in back.layers if isinstance(m, ttfsnet.TTFSMaxPool2d)] == [
        ((2, 2), False),
        ((1, 1), True),
    ]
    assert torch.equal(net(x), back(x))


def test_converted_conv_net_exports_without_input_shape(
    tmp_path: Path, cnn64: nn.Sequential, inputs64: torch.Tensor
) -> None:
    """convert() records the per-sample input shape; export_nir uses it and import_nir restores it."""
    net = ttfsnet.convert(cnn64, inputs64)
    assert net.input_shape == (2, 8, 8)
    graph = ttfsnet.export_nir(net, tmp_path / "c.nir")
    np.testing.assert_array_equal(graph.nodes["input"].input_type["input"], [2, 8, 8])
    back = ttfsnet.import_nir(tmp_path / "c.nir")
    assert back.input_shape == (2, 8, 8)
    assert torch.equal(net(inputs64), back(inputs64))
    # an explicit shape must agree with the recorded one, and must fit the layers
    with pytest.raises(ValueError, match=r"input_shape=\(2, 9, 9\) differs from net.input_shape=\(2, 8, 8\)"):
        ttfsnet.export_nir(net, tmp_path / "w.nir", input_shape=(2, 9, 9))
    hand_built = ttfsnet.TTFSNetwork(list(net.layers))
    assert hand_built.input_shape is None
    with pytest.raises(ValueError, match=r"input_shape=\(2, 16, 16\) does not fit the network's layers"):
        ttfsnet.export_nir(hand_built, tmp_path / "w.nir", input_shape=(2, 16, 16))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.nir"]


def test_export_errors_are_explicit(tmp_path: Path) -> None:
    torch.manual_seed(2)
    ann = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True), nn.Flatten(), nn.Linear(2 * 2 * 2, 2)
    )
    net = ttfsnet.convert(ann, torch.rand(8, 1, 5, 5))
    hand_built = ttfsnet.TTFSNetwork(list(net.layers))  # no recorded input shape
    with pytest.raises(
        ValueError, match=r"net.input_shape is not set.*layers.0 \(TTFSConv2d\).*input_shape=\(C, H, W\)"
    ):
        ttfsnet.export_nir(hand_built, tmp_path / "x.nir")
    with pytest.raises(ValueError, match="ceil_mode"):
        ttfsnet.export_nir(net, tmp_path / "x.nir")
    assert not list(tmp_path.iterdir())  # no partial files are left behind


def test_import_rejects_foreign_graphs(tmp_path: Path) -> None:
    w = np.ones((2, 3), dtype=np.float32)
    foreign = nir.NIRGraph.from_list(
        nir.Affine(weight=w, bias=np.zeros(2, dtype=np.float32)),
        nir.IF(r=np.ones(2), v_threshold=np.ones(2)),
    )
    path = tmp_path / "foreign.nir"
    nir.write(path, foreign)
    with pytest.raises(ValueError, match="ttfsnet_format_version"):
        ttfsnet.import_nir(path)


def test_import_names_the_node_with_missing_metadata(tmp_path: Path) -> None:
    torch.manual_seed(3)
    net = ttfsnet.convert(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), torch.rand(10, 3))
    ttfsnet.export_nir(net, tmp_path / "n.nir")
    graph = nir.read(tmp_path / "n.nir")
    del graph.nodes["layer0_neuron"].metadata["window"]
    with pytest.raises(ValueError, match=r"layer0_affine.*'window' missing"):
        ttfsnet.import_nir(graph)


def test_snntorch_import_from_nir_cannot_run_ttfsnet_graphs_for_the_documented_reasons(
    tmp_path: Path,
) -> None:
    """docs/nir.md explains why no export option targets snnTorch's importer; each reason is checked here."""
    from snntorch.import_nir import import_from_nir

    torch.manual_seed(0)
    net = ttfsnet.convert(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), torch.rand(16, 4))
    ttfsnet.export_nir(net, tmp_path / "mlp.nir")
    # 1. one threshold per node: ttfsnet's thresholds differ per neuron
    with pytest.raises(AssertionError, match="v_threshold must be same for all neurons"):
        import_from_nir(nir.read(tmp_path / "mlp.nir"))
    # 2. with equal thresholds, the step current `I` of the B1 phase 1 (and of the readout) is unknown
    for layer in net.spiking_layers():
        with torch.no_grad():
            layer.threshold.fill_(1.0)
    ttfsnet.export_nir(net, tmp_path / "equal.nir")
    with pytest.raises(ValueError, match="Unknown node type.*nir.ir.neuron.I"):
        import_from_nir(nir.read(tmp_path / "equal.nir"))
    # 3. even a bare IF is imported as a leaky neuron (snnTorch 1.0.0 uses beta=0.9): the membrane of a
    #    non-leaky integrate-and-fire neuron decays, and its reset to -inf (fire once) is not kept
    graph = nir.NIRGraph.from_list(
        nir.Linear(weight=np.ones((1, 1), dtype=np.float32)),
        nir.IF(r=np.ones(1), v_threshold=np.full(1, 10.0), v_reset=np.full(1, -np.inf)),
    )
    module = import_from_nir(graph)
    with torch.no_grad():
        (_, mem1), state = module(torch.ones(1, 1))
        (_, mem2), _ = module(torch.zeros(1, 1), state)
        assert float(mem1) == 1.0
        assert float(mem2) == pytest.approx(0.9)  # an IF neuron would keep 1.0
        spikes, state = 0.0, None
        for _ in range(4):  # a strong input: the fire-once neuron would spike once, then stay at -inf
            (spk, _), state = module(torch.full((1, 1), 20.0), state)
            spikes += float(spk.sum())
    assert spikes > 1
