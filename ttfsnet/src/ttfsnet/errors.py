"""The exceptions of ``ttfsnet``: one base class, each subclass also the builtin exception it refines.

Every error ``ttfsnet`` raises on purpose is a [`TTFSError`][ttfsnet.errors.TTFSError], so
``except ttfsnet.TTFSError`` catches exactly those. Each concrete class also derives from the builtin a caller
would expect (a bad argument is a ``ValueError``, a missing optional dependency an ``ImportError``, ...), so
code that catches the builtins keeps working.

The classes are defined in `ttfsnet.functional.errors` (the pure core imports nothing else of
``ttfsnet``, and raises them too); this is their public home.
"""

from ttfsnet.functional.errors import (
    FormatError,
    TTFSError,
    TTFSFloatingPointError,
    TTFSImportError,
    TTFSRuntimeError,
    TTFSTypeError,
    TTFSValueError,
    UnknownNameError,
)

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
