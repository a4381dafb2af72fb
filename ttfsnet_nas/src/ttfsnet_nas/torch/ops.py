"""Registry of candidate operations for searchable blocks.

An *op factory* builds one candidate of a :class:`~ttfsnet_nas.torch.supernet.ChoiceBlock` from
``(in_channels, out_channels, stride)``. Factories must return modules made only of standard torch layers
(``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.ReLU``, pooling, ``nn.Identity``...), either a single layer or a
(possibly nested) ``nn.Sequential``: :meth:`Supernet.subnet` flattens the chosen candidates into one plain
``nn.Sequential`` that ``ttfsnet.convert`` can map, so anything else (custom ``forward`` code, residual
additions) would be lost or rejected there.

Built-in ops (TNAS-ER §3.3, AutoSNN-style):

* ``conv3x3`` / ``conv5x5``: two convolutions of that kernel, each followed by BatchNorm and ReLU, with
  "same" padding (``k // 2``); the first convolution applies the stride and changes the width. BN sits
  *before* ReLU so it folds into its own convolution at ReLU→TTFS transfer.
* ``skip``: ``nn.Identity`` when the block keeps the shape (``in == out`` and ``stride == 1``); otherwise a
  1x1 convolution (with the stride) + BatchNorm + ReLU projection, because an identity cannot change the
  width. The projection ends with ReLU so every activation entering a spiking layer stays non-negative.

Example:
    >>> import torch
    >>> from ttfsnet_nas.torch.ops import create_op, register_op
    >>> @register_op("conv1x1")
    ... def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> torch.nn.Module:
    ...     return torch.nn.Sequential(
    ...         torch.nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
    ...         torch.nn.BatchNorm2d(out_channels), torch.nn.ReLU())
    >>> create_op("conv1x1", 4, 8)(torch.zeros(1, 4, 6, 6)).shape
    torch.Size([1, 8, 6, 6])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from torch import nn

__all__ = ["OpFactory", "available_ops", "conv_bn_relu", "create_op", "register_op", "unregister_op"]


class OpFactory(Protocol):
    """Builds one candidate op mapping ``(B, in, H, W)`` to ``(B, out, H/stride, W/stride)``."""

    def __call__(self, in_channels: int, out_channels: int, stride: int = 1) -> nn.Module: ...


_OPS: dict[str, OpFactory] = {}


def register_op(name: str, *, overwrite: bool = False) -> Callable[[OpFactory], OpFactory]:
    """Decorator registering an op factory under ``name``.

    Args:
        name: Op name used in architectures (the gene's value).
        overwrite: Replace an existing registration instead of raising.

    Returns:
        A decorator returning the factory unchanged.

    Raises:
        ValueError: If ``name`` is empty or already registered and ``overwrite`` is false.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"register_op: op name must be a non-empty string, got {name!r}")

    def decorator(factory: OpFactory) -> OpFactory:
        if name in _OPS and not overwrite:
            raise ValueError(
                f"register_op: op {name!r} is already registered (pass overwrite=True to replace it)"
            )
        _OPS[name] = factory
        return factory

    return decorator


def unregister_op(name: str) -> None:
    """Remove a registered op (mainly for tests registering temporary ops).

    Raises:
        KeyError: If ``name`` is not registered.
    """
    if name not in _OPS:
        raise KeyError(f"unregister_op: unknown op {name!r}; registered: {sorted(_OPS)}")
    del _OPS[name]


def available_ops() -> list[str]:
    """Names of all registered ops, sorted."""
    return sorted(_OPS)


def create_op(name: str, in_channels: int, out_channels: int, stride: int = 1) -> nn.Module:
    """Build a fresh candidate op.

    Args:
        name: A registered op name.
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Spatial stride applied by the op.

    Returns:
        A new module with freshly initialised parameters.

    Raises:
        KeyError: If ``name`` is not registered.
        ValueError: If a size is not a positive integer.
    """
    if name not in _OPS:
        raise KeyError(f"create_op: unknown op {name!r}; registered ops: {available_ops()}")
    for label, value in (("in_channels", in_channels), ("out_channels", out_channels), ("stride", stride)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"create_op({name!r}): {label} must be a positive int, got {value!r}")
    return _OPS[name](in_channels, out_channels, stride)


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> list[nn.Module]:
    """Conv (no bias: the following BN makes it redundant) → BatchNorm → ReLU with "same" padding.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Odd kernel size.
        stride: Convolution stride.

    Returns:
        The three layers as a list, ready to be spliced into an ``nn.Sequential``.
    """
    if kernel_size % 2 != 1:
        raise ValueError(f"conv_bn_relu: kernel_size must be odd for 'same' padding, got {kernel_size}")
    return [
        nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    ]


def _double_conv(kernel_size: int) -> OpFactory:
    def factory(in_channels: int, out_channels: int, stride: int = 1) -> nn.Module:
        return nn.Sequential(
            *conv_bn_relu(in_channels, out_channels, kernel_size, stride),
            *conv_bn_relu(out_channels, out_channels, kernel_size, 1),
        )

    factory.__name__ = f"conv{kernel_size}x{kernel_size}"
    factory.__doc__ = f"Two {kernel_size}x{kernel_size} conv+BN+ReLU layers (the first applies the stride)."
    return factory


register_op("conv3x3")(_double_conv(3))
register_op("conv5x5")(_double_conv(5))


@register_op("skip")
def skip(in_channels: int, out_channels: int, stride: int = 1) -> nn.Module:
    """Identity, or a 1x1 conv+BN+ReLU projection when the width or the resolution changes."""
    if in_channels == out_channels and stride == 1:
        return nn.Identity()
    return nn.Sequential(*conv_bn_relu(in_channels, out_channels, 1, stride))
