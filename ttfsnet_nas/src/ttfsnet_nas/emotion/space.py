"""The TNAS-ER eye-emotion search space and its weight-sharing ReLU supernet.

Macro structure (TNAS-ER paper §3.3, §4.2)::

    stem:   conv3x3(C_in → w) BN ReLU  conv3x3(w → w) BN ReLU
    group 0: block g0b0, block g0b1          (width w)
    maxpool 2×2
    group 1: block g1b0 (w → 2w), block g1b1  (width 2w)
    maxpool 2×2
    ...                                       (G groups; the width doubles after every pooling)
    maxpool 2×2 → flatten → linear(→ 7 classes)

Every searchable block picks one op from the recipe's op list:

* ``conv3x3`` / ``conv5x5``: a spiking conv block, i.e. two convolutions of that kernel size, each followed by
  BN and ReLU (in the SNN the ReLU is the TTFS neuron and the BN is fused into the convolution before it).
* ``skip``: no layer at all (identity), which lets the search vary the depth. The first block of a group
  after a pooling has to change the width, so there ``skip`` is the minimal width adapter: one 1×1
  convolution + BN + ReLU (an identity cannot change the number of channels).

**No residual shortcuts.** A TTFS network processes layer after layer in non-overlapping time windows,
and each neuron fires at most once, inside its layer's window. An additive shortcut ``y = f(x) + x`` would
have to merge two spike trains that live in different windows (``x`` was emitted one or two layers
earlier), so the downstream neuron would integrate inputs from two different time references and the
exact ReLU ↔ TTFS mapping breaks; converting the sum would also need a second spike per neuron. ``skip``
as a search choice is different: it removes the block, so the chosen subnet is again a plain chain of
layers (TNAS-ER §3.3).

BN placement is conv → BN → ReLU (BN *before* the activation), so BN folds exactly into the convolution
that precedes it when ``ttfsnet.convert`` transfers the subnet, with no position-dependent border thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import nn

from ttfsnet_nas.torch.ops import conv_bn_relu
from ttfsnet_nas.torch.supernet import ChoiceBlock, Supernet

if TYPE_CHECKING:
    from ttfsnet_nas.space import SearchSpace

__all__ = [
    "BLOCKS_PER_GROUP",
    "EMOTION_OPS",
    "EyeEmotionSupernet",
    "gene_names",
    "make_search_space",
]

BLOCKS_PER_GROUP = 2
"""Searchable blocks per macro-block group (fixed by the paper)."""

EMOTION_OPS: tuple[str, ...] = ("conv3x3", "conv5x5", "skip")
"""Every op name the eye-emotion space knows."""


def gene_names(groups: int) -> list[str]:
    """Names of the searchable blocks, in network order (``g<group>b<block>``).

    Args:
        groups: number of macro-block groups G.

    Returns:
        ``["g0b0", "g0b1", "g1b0", ...]`` (2·G names).
    """
    return [f"g{g}b{b}" for g in range(groups) for b in range(BLOCKS_PER_GROUP)]


def _check_groups(groups: int) -> int:
    if groups < 1:
        raise ValueError(f"space.groups: expected an integer >= 1, got {groups}")
    return groups


def _check_ops(ops: Sequence[str], where: str = "space.ops") -> tuple[str, ...]:
    ops = tuple(ops)
    if not ops:
        raise ValueError(f"{where}: expected at least one op out of {list(EMOTION_OPS)}, got an empty list")
    for op in ops:
        if op not in EMOTION_OPS:
            raise ValueError(f"{where}: unknown op {op!r}; expected one of {list(EMOTION_OPS)}")
    if len(set(ops)) != len(ops):
        raise ValueError(f"{where}: duplicate ops in {list(ops)}")
    return ops


def make_search_space(groups: int, ops: Sequence[str]) -> SearchSpace:
    """The generic search space (one gene per searchable block, all sharing the op list).

    Args:
        groups: number of macro-block groups G (≥ 1).
        ops: op names, a subset of ``EMOTION_OPS``.

    Returns:
        A ``ttfsnet_nas.space.SearchSpace`` whose genes are ``gene_names(groups)``.
    """
    from ttfsnet_nas.space import SearchSpace

    names = gene_names(_check_groups(groups))
    op_list = _check_ops(ops)
    return SearchSpace({name: op_list for name in names})


class EyeEmotionSupernet(Supernet):
    """Weight-sharing ReLU supernet of the eye-emotion space (a ``ttfsnet_nas.torch.Supernet``).

    Each searchable block is a :class:`~ttfsnet_nas.torch.ChoiceBlock` with one module per candidate op (from
    the op registry of :mod:`ttfsnet_nas.torch.ops`); ``forward(x, arch)`` runs the single path ``arch``
    selects (uniform single-path training draws one per batch) and ``subnet(arch)`` copies that path into a
    plain ``nn.Sequential`` of Conv2d/BatchNorm2d/ReLU/MaxPool2d/Flatten/Linear that ``ttfsnet.convert``
    accepts. Odd sizes are floored by the pooling (90 → 45 → 22 → 11), like ``nn.MaxPool2d``.

    Args:
        in_channels: input channels (event frames stacked along channels: 4 for E4-Sy).
        image_size: input height = width in pixels.
        groups: number of macro-block groups G.
        ops: candidate op names (subset of ``EMOTION_OPS``).
        width: stem width (paper: 32); doubles after every pooling.
        num_classes: number of output classes (7 emotions).

    Shapes:
        - Input: ``(B, in_channels, image_size, image_size)``.
        - Output: ``(B, num_classes)`` logits.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        image_size: int,
        groups: int,
        ops: Sequence[str],
        width: int = 32,
        num_classes: int = 7,
    ) -> None:
        _check_groups(groups)
        if width < 1:
            raise ValueError(f"space.width: expected an integer >= 1, got {width}")
        final = image_size // 2**groups  # each group's max pool floors the size
        if final < 1:
            raise ValueError(
                f"data.image_size: {image_size} px is too small for {groups} groups "
                f"(each group halves the size; need at least {2**groups} px)"
            )
        op_list = _check_ops(ops)
        layers: list[nn.Module] = [
            nn.Sequential(*conv_bn_relu(in_channels, width, 3)),
            nn.Sequential(*conv_bn_relu(width, width, 3)),
        ]
        channels = width
        for g in range(groups):
            out = width * 2**g
            for b in range(BLOCKS_PER_GROUP):
                layers.append(ChoiceBlock.from_ops(f"g{g}b{b}", op_list, channels, out))
                channels = out
            layers.append(nn.MaxPool2d(2))
        layers += [nn.Flatten(), nn.Linear(channels * final * final, num_classes)]
        super().__init__(layers)
        self.ops = op_list
        self.groups = groups
        self.in_channels = in_channels
        self.image_size = image_size
        self.width = width
        self.num_classes = num_classes
