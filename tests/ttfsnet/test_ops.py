"""Contract tests over the op registry (timm style): every registered op, built-in or new, is checked here
without editing this file."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ttfsnet
from ttfsnet.errors import TTFSValueError, UnknownNameError
from ttfsnet.models import (
    MacroConfig,
    available_ops,
    create_op,
    get_op,
    macro_genes,
    macro_layout,
    macro_network,
    register_op,
    unregister_op,
)

PRIMITIVES = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.Flatten, nn.Linear)
GEOMETRIES = [(4, 4, 1), (4, 8, 1), (6, 6, 2), (4, 8, 2)]


def _randomise_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g, dtype=m.running_mean.dtype) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g, dtype=m.running_var.dtype) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g, dtype=m.weight.dtype) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g, dtype=m.bias.dtype) * 0.1)


@pytest.mark.parametrize("op", available_ops())
@pytest.mark.parametrize(("cin", "cout", "stride"), GEOMETRIES)
def test_op_builds_lowers_to_primitives_and_keeps_activations_non_negative(
    op: str, cin: int, cout: int, stride: int
) -> None:
    spec = get_op(op)
    if not spec.fits(cin, cout, stride):
        with pytest.raises(TTFSValueError, match="may not stand"):
            create_op(op, cin, cout, stride)
        return
    torch.manual_seed(0)
    module = create_op(op, cin, cout, stride).eval()
    x = torch.rand(2, cin, 8, 8)
    y = module(x)
    assert y.shape == (2, cout, 8 // stride, 8 // stride)
    chain = nn.Sequential(*spec.lower(module)).eval()
    assert all(isinstance(m, PRIMITIVES) for m in chain), [type(m).__name__ for m in chain]
    torch.testing.assert_close(chain(x), y)  # the lowering is the same function
    assert bool((y >= 0).all())  # a spiking layer may only receive non-negative activations
    assert spec.description  # listings and docs show it


@pytest.mark.parametrize("op", available_ops())
def test_a_network_of_the_op_converts_exactly_to_ttfs(op: str) -> None:
    # the op wherever its placement allows, conv3x3 where it does not (e.g. the width-doubling block)
    ops = (op,) if op == "conv3x3" else (op, "conv3x3")
    config = MacroConfig(in_channels=3, input_size=(12, 12), stem_channels=(4,), stage_blocks=(2, 1), ops=ops)
    arch = {gene: op if op in allowed else "conv3x3" for gene, allowed in macro_genes(config).items()}
    assert op in arch.values()
    torch.manual_seed(1)
    model = macro_network(config, arch).double()
    _randomise_bn(model)
    model.eval()
    x = torch.rand(16, 3, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    snn = ttfsnet.convert(model, x)
    run = snn.run(x)
    assert run.total_saturated == 0
    # float64, ~6 conv layers of fan-in ≤ 144 with randomised BN: ≲ 2.2e-16·500·~2 ≈ 2e-13
    # (measured ≤ 1e-16). 1e-12 leaves 5x.
    torch.testing.assert_close(run.logits, model(x), rtol=0, atol=1e-12)
    assert run.spikes_per_neuron <= 1.0


def test_backbone_layout_and_genes_agree() -> None:
    config = MacroConfig(
        in_channels=2,
        input_size=(16, 16),
        stem_channels=(8, 8),
        stage_blocks=(2, 2),
        gene_names="g{stage}b{block}",
    )
    genes = macro_genes(config)
    assert list(genes) == ["g0b0", "g0b1", "g1b0", "g1b1"]
    choices = [s for s in macro_layout(config) if not hasattr(s, "build")]
    assert [(c.in_channels, c.out_channels) for c in choices] == [(8, 8), (8, 8), (8, 16), (16, 16)]
    net = macro_network(config, {"g0b0": "skip", "g0b1": "conv5x5", "g1b0": "skip", "g1b1": "conv3x3"})
    assert net(torch.rand(1, 2, 16, 16)).shape == (1, 7)
    with pytest.raises(TTFSValueError, match=r"missing \['g1b1'\]"):
        macro_network(config, {"g0b0": "skip", "g0b1": "skip", "g1b0": "skip"})
    with pytest.raises(TTFSValueError, match="too small for 2 stages"):
        MacroConfig(input_size=(3, 3), stage_blocks=(1, 1))


def test_placement_limits_where_an_op_is_offered() -> None:
    @register_op("test_pool3x3", placement=lambda cin, cout, stride: cin == cout and stride == 1)
    def pool3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Module:
        """3x3 max pooling with 'same' padding (cannot change the width)."""
        return nn.MaxPool2d(3, stride=1, padding=1)

    try:
        config = MacroConfig(
            input_size=(8, 8), stem_channels=(4,), stage_blocks=(2, 1), ops=("conv3x3", "test_pool3x3")
        )
        genes = macro_genes(config)
        # the first block of stage 1 doubles the width: the pooling op is not offered there
        assert genes == {
            "block0": ("conv3x3", "test_pool3x3"),
            "block1": ("conv3x3", "test_pool3x3"),
            "block2": ("conv3x3",),
        }
        assert get_op("test_pool3x3").description.startswith("3x3 max pooling")
    finally:
        unregister_op("test_pool3x3")
    with pytest.raises(UnknownNameError, match="unknown op 'test_pool3x3'"):
        get_op("test_pool3x3")
