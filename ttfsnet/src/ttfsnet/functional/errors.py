"""The exception classes of ``ttfsnet`` (public home: [`ttfsnet.errors`][ttfsnet.errors]).

They are defined here, in the pure core, because [`ttfsnet.functional`][ttfsnet.functional] imports nothing
else of ``ttfsnet`` (an import-linter contract) while every part of ``ttfsnet``, this core included, raises
them. This module imports nothing.
"""

from __future__ import annotations

__all__ = [
    "FormatError",
    "TTFSError",
    "TTFSFloatingPointError",
    "TTFSImportError",
    "TTFSRuntimeError",
    "TTFSTypeError",
    "TTFSValueError",
    "UnknownNameError",
]


class TTFSError(Exception):
    """Base class of every error ``ttfsnet`` raises on purpose."""


class TTFSValueError(TTFSError, ValueError):
    """An argument, layer, shape, range or tensor that ``ttfsnet`` cannot use; the message names it."""


class FormatError(TTFSValueError):
    """A network file that is missing, not in the ``ttfsnet`` format, or of a newer format version."""


class TTFSTypeError(TTFSError, TypeError):
    """An argument of the wrong kind for the call (e.g. state passed to a module that keeps its own)."""


class TTFSRuntimeError(TTFSError, RuntimeError):
    """An invariant broken while an operation ran (e.g. training changed a network's fixed windows)."""


class TTFSFloatingPointError(TTFSError, FloatingPointError):
    """A computation that became non-finite (e.g. a diverging training loss)."""


class TTFSImportError(TTFSError, ImportError):
    """An optional dependency that a feature needs is not installed; the message names the extra."""


class UnknownNameError(TTFSError, KeyError):
    """A name that is not in a registry (an op, a layer kind): a failed lookup, hence also ``KeyError``."""

    def __str__(self) -> str:  # KeyError would quote the message; show the plain sentence
        return str(self.args[0]) if self.args else ""
