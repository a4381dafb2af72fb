"""The eye-emotion search space: supernet/subnet structure, recipe-driven genes, exact TTFS conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import ttfsnet
from ttfsnet_nas.emotion.recipe import recipe_from_mapping
from ttfsnet_nas.emotion.space import backbone, gene_names, make_search_space
from ttfsnet_nas.torch import ChoiceBlock, MacroSupernet, Supernet

EMOTION_OPS = ("conv3x3", "conv5x5", "skip")


def _net(**kw: object) -> MacroSupernet:
    args: dict[str, object] = {
        "in_channels": 4, "image_size": 16, "groups": 2, "ops": EMOTION_OPS, "width": 4
    }
    args.update(kw)
    torch.manual_seed(0)
    return MacroSupernet(backbone(**args))  # type: ignore[arg-type]


def _randomise_bn(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine parameters, so BN fusion is really exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def test_gene_names_follow_groups() -> None:
    assert gene_names(1) == ["g0b0", "g0b1"]
    assert gene_names(3) == ["g0b0", "g0b1", "g1b0", "g1b1", "g2b0", "g2b1"]


def test_search_space_from_recipe_keys() -> None:
    recipe = recipe_from_mapping({"space": {"groups": 2, "ops": ["conv5x5", "skip"], "width": 8}})
    space = make_search_space(
        backbone(groups=recipe.space.groups, ops=recipe.space.ops, width=8, in_channels=4, image_size=16)
    )
    assert list(space.gene_names) == ["g0b0", "g0b1", "g1b0", "g1b1"]
    assert all(ops == ("conv5x5", "skip") for ops in space.genes.values())
    assert space.size == 2**4
    net = _net(groups=recipe.space.groups, ops=recipe.space.ops, width=recipe.space.width)
    assert net.genes == space.genes  # supernet and search space agree gene by gene


@pytest.mark.parametrize("ops", [["conv7x7"], [], ["skip", "skip"]])
def test_bad_op_lists_are_rejected(ops: list[str]) -> None:
    with pytest.raises(ValueError, match="space.ops"):
        backbone(groups=1, ops=ops, width=4, in_channels=4, image_size=16)


@pytest.mark.parametrize(
    ("in_channels", "image_size", "groups", "final"),
    [(4, 16, 1, 8), (8, 16, 2, 4), (4, 90, 3, 11), (8, 45, 2, 11)],
)
def test_supernet_and_subnet_shapes(in_channels: int, image_size: int, groups: int, final: int) -> None:
    net = _net(in_channels=in_channels, image_size=image_size, groups=groups).eval()
    assert isinstance(net, Supernet)
    assert len(net.choice_blocks) == 2 * groups
    head = net.layers[-1]
    assert isinstance(head, nn.Linear)
    # the last group's width is 4 · 2^(G-1) channels on a final×final map (pooling floors odd sizes)
    assert head.in_features == 4 * 2 ** (groups - 1) * final * final
    x = torch.rand(3, in_channels, image_size, image_size)
    rng = np.random.default_rng(0)
    for _ in range(4):
        arch = net.sample(rng)
        sub = net.subnet(arch)
        assert net(x, arch).shape == (3, 7)
        torch.testing.assert_close(sub(x), net(x, arch))
        assert all(not isinstance(m, ChoiceBlock) for m in sub.modules())


def test_width_doubles_after_each_pool_and_skip_adapts_width() -> None:
    net = _net(groups=3, image_size=16)
    blocks = net.choice_blocks
    # the first block after a pooling changes the width, so its skip is a 1x1 projection
    for gene, cin, cout in (("g1b0", 4, 8), ("g2b0", 8, 16)):
        skip = blocks[gene].candidate("skip")
        convs = [m for m in skip.modules() if isinstance(m, nn.Conv2d)]
        assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(cin, cout, (1, 1))]
    # elsewhere skip is the identity: the block vanishes from the subnet
    arch = {g: "skip" for g in net.genes}
    arch_conv = {g: "conv3x3" for g in net.genes}
    n_conv = sum(isinstance(m, nn.Conv2d) for m in net.subnet(arch))
    n_conv_full = sum(isinstance(m, nn.Conv2d) for m in net.subnet(arch_conv))
    assert n_conv == 2 + 2  # stem + the two width adapters
    assert n_conv_full == 2 + 2 * 6
    sub5 = net.subnet({g: "conv5x5" for g in net.genes})
    kernels = {m.kernel_size for m in sub5 if isinstance(m, nn.Conv2d)}
    assert kernels == {(3, 3), (5, 5)}  # stem stays 3x3, blocks use the searched kernel


def test_no_residual_connections() -> None:
    """A subnet is a plain chain: its output equals feeding each layer the previous layer's output."""
    net = _net(groups=2).eval()
    sub = net.subnet({g: "conv3x3" for g in net.genes})
    assert isinstance(sub, nn.Sequential)
    allowed = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Linear)
    assert all(isinstance(m, allowed) for m in sub)


def test_too_small_image_is_rejected() -> None:
    with pytest.raises(ValueError, match="data.image_size"):
        _net(image_size=3, groups=2)


@pytest.mark.parametrize(
    "arch_ops", [("conv3x3", "conv5x5", "skip", "conv3x3"), ("skip", "skip", "skip", "skip")]
)
def test_subnet_converts_exactly(arch_ops: tuple[str, ...]) -> None:
    net = _net(in_channels=8, image_size=12, groups=2)
    _randomise_bn(net)
    net.eval()
    arch = dict(zip(net.genes, arch_ops, strict=True))
    sub = net.subnet(arch)
    g = torch.Generator().manual_seed(1)
    calib = torch.rand(32, 8, 12, 12, generator=g)
    snn = ttfsnet.convert(sub, calib, zeta=0.5, input_range=(0.0, 1.0))
    with torch.no_grad():
        ann_logits = sub(calib)
        run = snn.run(calib)
    assert run.total_saturated == 0  # calibrated on the same inputs: every activation fits its window
    # float32 rounding only: ≲ eps32·Σfan_in·|preact| ≈ 1.2e-7·~300·~1 ≈ 4e-5 (measured 1.5e-8); 1e-4
    torch.testing.assert_close(run.logits, ann_logits, rtol=0, atol=1e-4)
    assert torch.equal(run.logits.argmax(1), ann_logits.argmax(1))
    # spiking layers: every conv and the pooling-free chain; one spike per neuron at most
    assert run.spikes_per_neuron <= 1.0
