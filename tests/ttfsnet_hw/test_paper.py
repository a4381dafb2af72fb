"""The TNAS-ER family is ttfsnet's one backbone definition lowered to the IR, with the numbers it always
had."""

from __future__ import annotations

import itertools
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ttfsnet.models import MacroConfig, macro_network  # noqa: E402
from ttfsnet_hw import paper  # noqa: E402
from ttfsnet_hw.adapters.torch import ir_from_ann  # noqa: E402
from ttfsnet_hw.closedform import run  # noqa: E402
from ttfsnet_hw.errors import MissingExtraError  # noqa: E402
from ttfsnet_hw.ir import IRBuilder  # noqa: E402
from ttfsnet_hw.paper import paper_network, reference_architecture  # noqa: E402
from ttfsnet_hw.types import NetworkIR  # noqa: E402

OPS = ("conv3x3", "conv5x5", "skip")
REFERENCE = {
    "g0b0": "conv3x3",
    "g0b1": "conv3x3",
    "g1b0": "conv3x3",
    "g1b1": "skip",
    "g2b0": "skip",
    "g2b1": "conv5x5",
}


def _builder_family(arch: dict[str, str], groups: int, image_size: int = 90, width: int = 32) -> NetworkIR:
    """The family as ttfsnet_hw used to write it by hand (the numbers the macro lowering must keep)."""
    b = IRBuilder("hand", (4, image_size, image_size))
    b.conv(width, 3, name="stem0").conv(width, 3, name="stem1")
    channels = width
    for g in range(groups):
        out = width * 2**g
        for blk in range(2):
            op = arch.get(f"g{g}b{blk}", "conv3x3")
            if op == "skip":
                if channels != out:
                    b.conv(out, 1, name=f"g{g}b{blk}_adapt")
            else:
                k = 3 if op == "conv3x3" else 5
                b.conv(out, k, name=f"g{g}b{blk}_c0").conv(out, k, name=f"g{g}b{blk}_c1")
            channels = out
        b.maxpool(2, name=f"pool{g}")
    b.flatten(name="flatten")
    return b.readout(7, name="head")


def _config(groups: int, image_size: int = 90, width: int = 32) -> MacroConfig:
    return MacroConfig(
        in_channels=4,
        input_size=(image_size, image_size),
        stem_channels=(width, width),
        stage_blocks=(2,) * groups,
        gene_names="g{stage}b{block}",
        num_classes=7,
    )


def _assert_same_structure(a: NetworkIR, b: NetworkIR, *, names: bool) -> None:
    assert len(a.layers) == len(b.layers)
    for x, y in zip(a.layers, b.layers, strict=True):
        assert (x.kind, x.in_shape, x.out_shape, x.kernel, x.stride, x.padding, x.groups, x.window) == (
            y.kind,
            y.in_shape,
            y.out_shape,
            y.kernel,
            y.stride,
            y.padding,
            y.groups,
            y.window,
        )
        assert (x.neurons, x.param_count, x.macs, x.fan_in) == (y.neurons, y.param_count, y.macs, y.fan_in)
        np.testing.assert_array_equal(x.fanout_map(), y.fanout_map())
        if names:
            assert x.name == y.name
    assert (a.neurons, a.params, a.macs, a.emitters if names else len(a.emitters)) == (
        b.neurons,
        b.params,
        b.macs,
        b.emitters if names else len(b.emitters),
    )


@pytest.mark.parametrize(
    ("arch", "groups", "size"),
    [
        (REFERENCE, 3, 90),
        ({"g0b0": "skip", "g0b1": "skip", "g1b0": "skip", "g1b1": "skip"}, 2, 16),
        ({"g0b0": "conv5x5", "g0b1": "skip", "g1b0": "conv5x5", "g1b1": "conv3x3"}, 2, 33),
        ({}, 1, 8),
    ],
)
def test_paper_network_is_the_macro_backbone_lowered(arch: dict[str, str], groups: int, size: int) -> None:
    ir = paper_network(arch, groups=groups, image_size=size)
    full = {f"g{g}b{b}": arch.get(f"g{g}b{b}", "conv3x3") for g in range(groups) for b in range(2)}
    lowered = ir_from_ann(macro_network(_config(groups, size), full), (4, size, size))
    _assert_same_structure(ir, lowered, names=False)
    _assert_same_structure(ir, _builder_family(arch, groups, size), names=True)
    assert not ir.has_parameters


def test_search_subnet_lowers_to_the_paper_network() -> None:
    """The candidate the NAS evaluates (a supernet's subnet) lowers to the paper family member's IR."""
    pytest.importorskip("ttfsnet_nas.torch")
    from ttfsnet_nas.torch.supernet import MacroSupernet

    subnet = MacroSupernet(_config(3)).subnet(REFERENCE)
    _assert_same_structure(ir_from_ann(subnet, (4, 90, 90)), paper_network(REFERENCE), names=False)


def test_random_weights_are_runnable_and_seeded() -> None:
    arch = {"g0b0": "conv3x3", "g0b1": "skip", "g1b0": "skip", "g1b1": "conv3x3"}
    a = paper_network(arch, groups=2, image_size=16, rng=np.random.default_rng(0))
    b = paper_network(arch, groups=2, image_size=16, rng=np.random.default_rng(0))
    hand = IRBuilder(
        "hand", (4, 16, 16), rng=np.random.default_rng(0)
    )  # the draws of the hand-written family
    hand.conv(32, 3).conv(32, 3).conv(32, 3).conv(32, 3).maxpool(2).conv(64, 1).conv(64, 3).conv(
        64, 3
    ).maxpool(2)
    ref = hand.flatten().readout(7)
    x = np.random.default_rng(1).uniform(0, 1, (3, 4, 16, 16))
    assert a.has_parameters
    np.testing.assert_array_equal(run(a, x)[0], run(b, x)[0])
    np.testing.assert_array_equal(run(a, x)[0], run(ref, x)[0])


def test_reference_architecture_without_building_every_member() -> None:
    reference_architecture.cache_clear()
    paper._block_layers.cache_clear()
    start = time.perf_counter()
    assert reference_architecture() == REFERENCE
    assert time.perf_counter() - start < 1.0
    assert paper_network(REFERENCE).params == 1039047


def test_reference_architecture_equals_brute_force() -> None:
    """Per-block costs add up to whole networks: the same choice as scoring every member (G = 2)."""
    genes = [f"g{g}b{b}" for g in range(2) for b in range(2)]
    nets = {
        ops: _builder_family(dict(zip(genes, ops, strict=True)), 2)
        for ops in itertools.product(OPS, repeat=4)
    }
    target = 0.2e6
    gap = min(abs(n.params - target) for n in nets.values())
    best = min(
        (ops for ops, n in nets.items() if abs(n.params - target) == gap), key=lambda o: (nets[o].macs, o)
    )
    assert reference_architecture(groups=2, target_params=target) == dict(zip(genes, best, strict=True))


def test_without_torch_paper_models_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        sys.modules, "ttfsnet", None
    )  # import ttfsnet now fails, as without the [torch] extra
    with pytest.raises(MissingExtraError, match=r"\[torch\] extra") as info:
        paper_network(groups=1, image_size=8)
    assert isinstance(info.value, ImportError)


def test_bad_genes_are_value_errors() -> None:
    with pytest.raises(ValueError, match="genes must be"):
        paper_network({"g9b0": "skip"}, groups=1, image_size=8)
    with pytest.raises(ValueError, match="conv7x7"):
        paper_network({"g0b0": "conv7x7"}, groups=1, image_size=8)
