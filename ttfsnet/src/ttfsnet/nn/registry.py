"""Registry of TTFS layer kinds: the name a layer is stored and exported under, and its class.

Every layer class of [`ttfsnet.nn`][ttfsnet.nn] is a [`TTFSLayer`][ttfsnet.nn.base.TTFSLayer], registers
itself with [`register_layer`][ttfsnet.nn.registry.register_layer] and provides ``config()`` (its constructor
arguments as plain data: ints, floats, bools, strings, lists, ``None``). A class overrides
    ``from_config(config)`` when a constructor argument is
not plain data; the default is ``cls(**config)``. [`TTFSNetwork`][ttfsnet.nn.TTFSNetwork] accepts exactly the
registered classes, and the network file format ([`ttfsnet.save`][ttfsnet.save]) and the registry-driven tests
rely on nothing else, so a new layer kind is one class plus its registration.
"""

# Public functions check argument types at run time for untyped callers.
# pyright: reportUnnecessaryIsInstance=false

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from ttfsnet.errors import TTFSTypeError, TTFSValueError
from ttfsnet.nn.base import TTFSLayer

__all__ = ["build_layer", "layer_kind", "layer_kinds", "register_layer"]

_LAYERS: dict[str, type[TTFSLayer]] = {}
_KIND_OF: dict[type[nn.Module], str] = {}

L = TypeVar("L", bound=type[TTFSLayer])


def register_layer(kind: str) -> Callable[[L], L]:
    """Class decorator registering a TTFS layer class under ``kind``.

    Raises:
        TTFSTypeError: the class is not a [`TTFSLayer`][ttfsnet.nn.base.TTFSLayer].
        TTFSValueError: ``kind`` is already taken by another class.
    """

    def decorator(cls: L) -> L:
        if not (isinstance(cls, type) and issubclass(cls, TTFSLayer)):
            raise TTFSTypeError(f"register_layer: {cls!r} is not a subclass of TTFSLayer")
        if _LAYERS.get(kind, cls) is not cls:
            raise TTFSValueError(
                f"register_layer: kind {kind!r} is already registered to {_LAYERS[kind].__name__}"
            )
        _LAYERS[kind] = cls
        _KIND_OF[cls] = kind
        return cls

    return decorator


def layer_kinds() -> dict[str, type[TTFSLayer]]:
    """Registered kind → layer class, in registration order."""
    return dict(_LAYERS)


def layer_kind(layer: nn.Module) -> str:
    """The registered kind of ``layer``.

    Raises:
        TTFSValueError: ``layer`` is not a registered TTFS layer.
    """
    kind = _KIND_OF.get(type(layer))
    if kind is None:
        raise TTFSValueError(
            f"{type(layer).__name__} is not a registered TTFS layer; expected one of "
            f"{', '.join(c.__name__ for c in _LAYERS.values())}"
        )
    return kind


def build_layer(kind: str, config: dict[str, Any]) -> TTFSLayer:
    """A new layer of ``kind`` from its ``config()`` (fresh parameters: load a state dict into it).

    Raises:
        TTFSValueError: unknown kind, or a config its constructor rejects.
    """
    cls = _LAYERS.get(kind)
    if cls is None:
        raise TTFSValueError(f"unknown layer kind {kind!r}; expected one of {sorted(_LAYERS)}")
    try:
        return cls.from_config(dict(config))
    except TypeError as exc:
        raise TTFSValueError(f"layer kind {kind!r}: bad config {config}: {exc}") from None
