"""The TNAS-ER macro backbone (TNAS-ER §3.3, §4.2; AutoSNN style): the one definition of the network family.

Layout::

    stem:    conv3x3+BN+ReLU per entry of stem_channels          (C_in → s₀ → … → s)
    stage 0: its searchable blocks (width s), then a 2×2 pooling
    stage 1: its searchable blocks (width 2s; the first block changes the width), then a 2×2 pooling
    …        (the width doubles after every pooling)
    flatten → linear head (→ num_classes)

Each searchable block picks one op of the op registry ([`ttfsnet.models.ops`][ttfsnet.models.ops]). Odd sizes
are floored by the pooling (90 → 45 → 22 → 11), as ``nn.MaxPool2d`` does.

Three consumers build from [`macro_layout`][ttfsnet.models.macro.macro_layout]: the weight-sharing supernet of
``ttfsnet_nas`` (a choice block per [`Choice`][ttfsnet.models.macro.Choice]),
[`macro_network`][ttfsnet.models.macro.macro_network] (one fixed architecture, a plain ``nn.Sequential`` that
[`ttfsnet.convert`][ttfsnet.convert.convert] maps exactly), and the paper-sized hardware estimates of
``ttfsnet_hw``. Fixed layers are built lazily in chain order, so every consumer draws initial weights in the
same order.

Example:
    >>> import torch
    >>> from ttfsnet.models import MacroConfig, macro_network
    >>> config = MacroConfig(in_channels=2, input_size=(16, 16), stem_channels=(8,), stage_blocks=(1, 1))
    >>> net = macro_network(config, {"block0": "conv3x3", "block1": "skip"})
    >>> net(torch.rand(3, 2, 16, 16)).shape
    torch.Size([3, 7])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

from torch import nn

from ttfsnet.errors import TTFSValueError
from ttfsnet.models.ops import available_ops, conv_bn_relu, create_op, get_op, primitives

__all__ = ["Choice", "Fixed", "MacroConfig", "Slot", "macro_genes", "macro_layout", "macro_network"]


class Fixed(NamedTuple):
    """A fixed position of the chain; ``build()`` makes its module (called once, in chain order)."""

    build: Callable[[], nn.Module]


class Choice(NamedTuple):
    """A searchable position: gene name and the block's geometry."""

    gene: str
    in_channels: int
    out_channels: int
    stride: int = 1


Slot = Fixed | Choice


@dataclass(frozen=True, kw_only=True, slots=True)
class MacroConfig:
    """Geometry of one TNAS-ER backbone.

    Attributes:
        in_channels: input channels (event frames stacked along channels: 4 for E4-Sy).
        num_classes: output classes (7 emotions).
        input_size: input height and width; each must survive ``len(stage_blocks)`` halvings.
        stem_channels: output width of each stem convolution (TNAS-ER: 32, 32).
        stage_blocks: searchable blocks per stage (TNAS-ER: G = 3 groups of two).
        ops: candidate ops of every block (registered names; an op whose placement rules out a block is
            not offered there).
        pool: ``"max"`` (TNAS-ER) or ``"avg"`` pooling after every stage.
        gene_names: format of a block's gene name; ``{stage}``, ``{block}`` (within the stage) and
            ``{index}`` (over the whole chain) are filled in.
    """

    in_channels: int = 4
    num_classes: int = 7
    input_size: tuple[int, int] = (64, 64)
    stem_channels: tuple[int, ...] = (32, 32)
    stage_blocks: tuple[int, ...] = (1, 2, 2)
    ops: tuple[str, ...] = ("conv3x3", "conv5x5", "skip")
    pool: Literal["max", "avg"] = "max"
    gene_names: str = "block{index}"

    def __post_init__(self) -> None:
        for name in ("in_channels", "num_classes"):
            if getattr(self, name) < 1:
                raise TTFSValueError(f"MacroConfig.{name}: must be >= 1, got {getattr(self, name)}")
        if not self.stem_channels or any(c < 1 for c in self.stem_channels):
            raise TTFSValueError(f"MacroConfig.stem_channels: need positive widths, got {self.stem_channels}")
        if not self.stage_blocks or any(n < 0 for n in self.stage_blocks) or sum(self.stage_blocks) == 0:
            raise TTFSValueError(
                f"MacroConfig.stage_blocks: need non-negative counts, sum > 0, got {self.stage_blocks}"
            )
        if not self.ops:
            raise TTFSValueError("MacroConfig.ops: needs at least one op")
        if len(set(self.ops)) != len(self.ops):
            raise TTFSValueError(f"MacroConfig.ops: duplicate ops in {list(self.ops)}")
        unknown = [op for op in self.ops if op not in available_ops()]
        if unknown:
            raise TTFSValueError(
                f"MacroConfig.ops: unknown op {unknown[0]!r}; registered ops: {available_ops()}"
            )
        if self.pool not in ("max", "avg"):
            raise TTFSValueError(f"MacroConfig.pool: expected 'max' or 'avg', got {self.pool!r}")
        factor = 2 ** len(self.stage_blocks)
        if len(self.input_size) != 2 or any(s // factor < 1 for s in self.input_size):
            raise TTFSValueError(
                f"MacroConfig.input_size: {tuple(self.input_size)} px is too small for "
                f"{len(self.stage_blocks)} stages (each halves the size; need at least {factor} px)"
            )
        blocks = [(s, b) for s, n in enumerate(self.stage_blocks) for b in range(n)]
        names = [self.gene(s, b, i) for i, (s, b) in enumerate(blocks)]
        if len(set(names)) != len(names):
            raise TTFSValueError(f"MacroConfig.gene_names: {self.gene_names!r} gives duplicate gene names")

    def gene(self, stage: int, block: int, index: int) -> str:
        """The gene name of block ``block`` of stage ``stage`` (``index``: position over the chain)."""
        try:
            return self.gene_names.format(stage=stage, block=block, index=index)
        except (KeyError, IndexError, ValueError) as exc:
            raise TTFSValueError(
                f"MacroConfig.gene_names: {self.gene_names!r} is not a format with {{stage}}, {{block}}, "
                f"{{index}} ({exc})"
            ) from None

    @property
    def final_size(self) -> tuple[int, int]:
        """Height and width after the last pooling (floored)."""
        factor = 2 ** len(self.stage_blocks)
        return self.input_size[0] // factor, self.input_size[1] // factor


def macro_layout(config: MacroConfig) -> list[Slot]:
    """The chain of ``config`` as fixed slots and searchable [`Choice`][ttfsnet.models.macro.Choice] slots, in
    order."""
    slots: list[Slot] = []
    width = config.in_channels
    for out in config.stem_channels:
        slots.append(Fixed(lambda cin=width, cout=out: nn.Sequential(*conv_bn_relu(cin, cout, 3))))
        width = out
    index = 0
    for stage, n_blocks in enumerate(config.stage_blocks):
        stage_width = config.stem_channels[-1] * 2**stage
        for block in range(n_blocks):
            slots.append(Choice(config.gene(stage, block, index), width, stage_width))
            width = stage_width
            index += 1
        slots.append(Fixed(lambda pool=config.pool: nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)))
    h, w = config.final_size
    slots.append(Fixed(nn.Flatten))
    slots.append(Fixed(lambda features=width * h * w: nn.Linear(features, config.num_classes)))
    return slots


def macro_genes(config: MacroConfig) -> dict[str, tuple[str, ...]]:
    """Gene → the ops that may stand there, in chain order (the input of ``ttfsnet_nas.SearchSpace``).

    Raises:
        TTFSValueError: a block where none of ``config.ops`` may stand.
    """
    genes: dict[str, tuple[str, ...]] = {}
    for slot in macro_layout(config):
        if isinstance(slot, Choice):
            ops = tuple(
                op for op in config.ops if get_op(op).fits(slot.in_channels, slot.out_channels, slot.stride)
            )
            if not ops:
                raise TTFSValueError(
                    f"MacroConfig.ops: none of {list(config.ops)} may stand at block {slot.gene} "
                    f"({slot.in_channels} -> {slot.out_channels} channels)"
                )
            genes[slot.gene] = ops
    return genes


def macro_network(config: MacroConfig, arch: Mapping[str, str]) -> nn.Sequential:
    """One member of the family as a plain ``nn.Sequential`` of primitive layers (fresh weights).

    Args:
        config: the backbone geometry.
        arch: gene → op for every searchable block.

    Raises:
        TTFSValueError: a gene is missing or unknown, or its op is not offered at that block.
    """
    genes = macro_genes(config)
    unknown = sorted(set(arch) - set(genes))
    missing = [g for g in genes if g not in arch]
    if unknown or missing:
        raise TTFSValueError(
            f"macro_network: architecture genes do not match; missing {missing}, unknown {unknown}"
        )
    layers: list[nn.Module] = []
    for slot in macro_layout(config):
        if isinstance(slot, Choice):
            op = arch[slot.gene]
            if op not in genes[slot.gene]:
                raise TTFSValueError(
                    f"macro_network: gene {slot.gene!r} has op {op!r}; "
                    f"expected one of {list(genes[slot.gene])}"
                )
            module = create_op(op, slot.in_channels, slot.out_channels, slot.stride)
            layers.extend(get_op(op).lower(module))
        else:
            layers.extend(primitives(slot.build()))
    return nn.Sequential(*layers)
