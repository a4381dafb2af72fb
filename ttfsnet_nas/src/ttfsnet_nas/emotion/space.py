"""The TNAS-ER eye-emotion search space: the one backbone definition
([`ttfsnet.models.MacroConfig`][ttfsnet.models.MacroConfig]) at the recipe's geometry.

Macro structure (TNAS-ER §3.3, §4.2)::

    stem:    conv3x3(C_in → w) BN ReLU  conv3x3(w → w) BN ReLU
    group 0: block g0b0, block g0b1          (width w)
    maxpool 2×2
    group 1: block g1b0 (w → 2w), block g1b1  (width 2w)
    maxpool 2×2
    ...                                       (G groups; the width doubles after every pooling)
    flatten → linear(→ 7 classes)

Every searchable block picks one op of the recipe's op list from the op registry
([`ttfsnet.models.ops`][ttfsnet.models.ops]): ``conv3x3`` / ``conv5x5`` (two convolutions of that kernel, each
with BN and ReLU) or ``skip`` (no layer, or a 1×1 width adapter where the block changes the width). There are
no residual shortcuts; see [`ttfsnet.models.ops.skip`][ttfsnet.models.ops.skip] for why. G = 3 and the 5×5
kernel are assumptions: the paper text keeps only the 3×3 choice and "groups of two searchable blocks".
"""

from __future__ import annotations

from collections.abc import Sequence

from ttfsnet.errors import TTFSValueError
from ttfsnet.models import MacroConfig, macro_genes
from ttfsnet_nas.space import SearchSpace

__all__ = ["BLOCKS_PER_GROUP", "backbone", "gene_names", "make_search_space"]

BLOCKS_PER_GROUP = 2
"""Searchable blocks per macro-block group (fixed by the paper)."""

# MacroConfig's field names → the recipe keys a user sets, so errors name what to change
_RECIPE_KEYS = {
    "MacroConfig.ops": "space.ops",
    "MacroConfig.input_size": "data.image_size",
    "MacroConfig.stage_blocks": "space.groups",
    "MacroConfig.stem_channels": "space.width",
    "MacroConfig.in_channels": "data.channels",
}


def gene_names(groups: int) -> list[str]:
    """Names of the searchable blocks, in network order: ``["g0b0", "g0b1", "g1b0", ...]`` (2·G names)."""
    return [f"g{g}b{b}" for g in range(groups) for b in range(BLOCKS_PER_GROUP)]


def backbone(
    *,
    groups: int,
    ops: Sequence[str],
    width: int,
    in_channels: int,
    image_size: int,
    num_classes: int = 7,
) -> MacroConfig:
    """The TNAS-ER backbone at this geometry.

    Args:
        groups: macro-block groups G (``space.groups``).
        ops: candidate ops (``space.ops``).
        width: stem width, doubled after every pooling (``space.width``; TNAS-ER: 32).
        in_channels: input channels (``data.channels``).
        image_size: input height = width (``data.image_size``).
        num_classes: output classes.

    Raises:
        ValueError: an impossible geometry or op list; the message names the recipe key.
    """
    try:
        return MacroConfig(
            in_channels=in_channels,
            num_classes=num_classes,
            input_size=(image_size, image_size),
            stem_channels=(width, width),
            stage_blocks=(BLOCKS_PER_GROUP,) * groups,
            ops=tuple(ops),
            gene_names="g{stage}b{block}",
        )
    except TTFSValueError as exc:
        text = str(exc)
        for field, key in _RECIPE_KEYS.items():
            text = text.replace(field, key)
        raise ValueError(text) from None


def make_search_space(config: MacroConfig) -> SearchSpace:
    """The generic search space of a backbone: one gene per searchable block, with the ops that may stand
    there (supernet and search space agree gene by gene)."""
    return SearchSpace(macro_genes(config))
