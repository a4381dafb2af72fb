"""Registry of candidate operations: one entry is the whole op.

An entry ([`OpSpec`][ttfsnet.models.ops.OpSpec]) carries

* ``build(in_channels, out_channels, stride) -> nn.Module``: the module a supernet's choice block holds and
  a fixed network uses, made only of primitive ReLU-network layers (``nn.Conv2d``, ``nn.BatchNorm2d``,
  ``nn.ReLU``, pooling, ``nn.Identity``, nested ``nn.Sequential``);
* ``placement(in_channels, out_channels, stride) -> bool``: where the op may stand (an op that cannot change
  the width is not offered at a block that must);
* ``lower(module) -> list[nn.Module]``: its lowering to a plain chain of primitive layers. That chain is
  what [`ttfsnet.convert`][ttfsnet.convert.convert] maps exactly to TTFS layers, and what ``ttfsnet_hw``
  lowers to its hardware IR, so one lowering serves the spiking network and the hardware model. The default
  ([`primitives`][ttfsnet.models.ops.primitives]) flattens nested ``nn.Sequential`` s and drops
  ``nn.Identity``.

Built-in ops live one per file in this package (``conv.py``: ``conv3x3``, ``conv5x5``; ``skip.py``:
``skip``). A new op is one new file that decorates its builder with
[`register_op`][ttfsnet.models.ops.register_op], plus its import at the end of this module (or an import in
user code before the search starts).

Example:
    >>> import torch
    >>> from ttfsnet.models.ops import conv_bn_relu, create_op, register_op, unregister_op
    >>> @register_op("conv1x1", placement=lambda cin, cout, stride: True)
    ... def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> torch.nn.Module:
    ...     return torch.nn.Sequential(*conv_bn_relu(in_channels, out_channels, 1, stride))
    >>> create_op("conv1x1", 4, 8)(torch.zeros(1, 4, 6, 6)).shape
    torch.Size([1, 8, 6, 6])
    >>> unregister_op("conv1x1")
"""

# Public functions check argument types at run time for untyped callers.
# pyright: reportUnnecessaryIsInstance=false

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from torch import nn

from ttfsnet.errors import TTFSValueError, UnknownNameError

__all__ = [
    "OpFactory",
    "OpSpec",
    "anywhere",
    "available_ops",
    "conv_bn_relu",
    "create_op",
    "get_op",
    "primitives",
    "register_op",
    "unregister_op",
]


class OpFactory(Protocol):
    """Builds one candidate op mapping ``(B, in, H, W)`` to ``(B, out, H/stride, W/stride)``."""

    def __call__(self, in_channels: int, out_channels: int, stride: int = 1) -> nn.Module: ...


def anywhere(in_channels: int, out_channels: int, stride: int) -> bool:
    """Placement of an op that fits every block (it can change the width and apply a stride)."""
    return True


def primitives(module: nn.Module) -> list[nn.Module]:
    """Expand nested ``nn.Sequential`` s into a flat list of layers, dropping ``nn.Identity``."""
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in primitives(child)]
    if isinstance(module, nn.Identity):
        return []
    return [module]


@dataclass(frozen=True, kw_only=True, slots=True)
class OpSpec:
    """One registered candidate op (see the module docstring).

    Attributes:
        name: the op name used in architectures (a gene's value).
        build: module builder ``(in_channels, out_channels, stride) -> nn.Module``.
        placement: ``(in_channels, out_channels, stride) -> bool``: whether the op may stand there.
        lower: ``module -> list of primitive layers`` (default [`primitives`][ttfsnet.models.ops.primitives]).
        description: one line for listings and docs.
    """

    name: str
    build: OpFactory
    placement: Callable[[int, int, int], bool] = anywhere
    lower: Callable[[nn.Module], list[nn.Module]] = primitives
    description: str = ""

    def fits(self, in_channels: int, out_channels: int, stride: int = 1) -> bool:
        """Whether the op may stand at a block with this geometry."""
        return bool(self.placement(in_channels, out_channels, stride))


_OPS: dict[str, OpSpec] = {}


def register_op(
    name: str,
    *,
    placement: Callable[[int, int, int], bool] = anywhere,
    lower: Callable[[nn.Module], list[nn.Module]] = primitives,
    description: str = "",
    overwrite: bool = False,
) -> Callable[[OpFactory], OpFactory]:
    """Decorator registering an op builder under ``name`` (see [`OpSpec`][ttfsnet.models.ops.OpSpec] for the
    other fields).

    Args:
        name: op name used in architectures.
        placement: where the op may stand (default: everywhere).
        lower: lowering to primitive layers (default: [`primitives`][ttfsnet.models.ops.primitives]).
        description: one line (default: the builder's docstring's first line).
        overwrite: replace an existing registration instead of raising.

    Returns:
        A decorator returning the builder unchanged.

    Raises:
        TTFSValueError: ``name`` is empty, contains a dot, or is taken and ``overwrite`` is false.
    """
    if not name or not isinstance(name, str) or "." in name:
        raise TTFSValueError(f"register_op: op name must be a non-empty string without '.', got {name!r}")

    def decorator(factory: OpFactory) -> OpFactory:
        if name in _OPS and not overwrite:
            raise TTFSValueError(
                f"register_op: op {name!r} is already registered (pass overwrite=True to replace it)"
            )
        doc = description or next(iter((factory.__doc__ or "").strip().splitlines()), "")
        _OPS[name] = OpSpec(name=name, build=factory, placement=placement, lower=lower, description=doc)
        return factory

    return decorator


def unregister_op(name: str) -> None:
    """Remove a registered op (mainly for tests that register temporary ops).

    Raises:
        UnknownNameError: ``name`` is not registered.
    """
    if name not in _OPS:
        raise UnknownNameError(f"unregister_op: unknown op {name!r}; registered: {sorted(_OPS)}")
    del _OPS[name]


def available_ops() -> list[str]:
    """Names of all registered ops, sorted."""
    return sorted(_OPS)


def get_op(name: str) -> OpSpec:
    """The registry entry of ``name``.

    Raises:
        UnknownNameError: ``name`` is not registered (the message lists the registered ops).
    """
    if name not in _OPS:
        raise UnknownNameError(f"unknown op {name!r}; registered ops: {available_ops()}")
    return _OPS[name]


def create_op(name: str, in_channels: int, out_channels: int, stride: int = 1) -> nn.Module:
    """Build a fresh candidate op.

    Raises:
        UnknownNameError: ``name`` is not registered.
        TTFSValueError: a size is not a positive integer, or the op may not
            stand at this geometry.
    """
    spec = get_op(name)
    for label, value in (("in_channels", in_channels), ("out_channels", out_channels), ("stride", stride)):
        if not isinstance(value, int) or value < 1:
            raise TTFSValueError(f"create_op({name!r}): {label} must be a positive int, got {value!r}")
    if not spec.fits(in_channels, out_channels, stride):
        raise TTFSValueError(
            f"create_op({name!r}): the op may not stand at a block {in_channels} -> {out_channels} channels, "
            f"stride {stride}"
        )
    return spec.build(in_channels, out_channels, stride)


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> list[nn.Module]:
    """Conv (no bias: the following BN makes it redundant) → BatchNorm → ReLU with "same" padding.

    BN sits *before* ReLU, so it folds into its own convolution at ReLU → TTFS transfer.

    Raises:
        TTFSValueError: an even kernel size (no "same" padding).
    """
    if kernel_size % 2 != 1:
        raise TTFSValueError(f"conv_bn_relu: kernel_size must be odd for 'same' padding, got {kernel_size}")
    return [
        nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    ]


# The built-in ops register themselves on import; a new op file is one more line here.
from ttfsnet.models.ops import conv as conv  # noqa: E402
from ttfsnet.models.ops import skip as skip  # noqa: E402
