"""The exceptions of ``ttfsnet_hw``: one base class; each subclass also derives from the builtin it refines.

``except ttfsnet_hw.HardwareError`` catches every error the package raises on purpose. Problems with a value
the caller passed (a network, a profile, a file, an option) are also ``ValueError`` s, so code written
against the builtins keeps working; the CLI maps exactly those to exit code 2.

This module imports nothing, so every other module (the leaf [`ttfsnet_hw.types`][ttfsnet_hw.types] included)
may raise these.
"""

from __future__ import annotations

__all__ = [
    "DatapathOverflowError",
    "HardwareError",
    "HardwareObjectiveError",
    "HardwareValueError",
    "IRError",
    "MappingError",
    "MissingExtraError",
    "ModelLoadError",
    "ProfileError",
    "QuantizationError",
]


class HardwareError(Exception):
    """Base class of every error ``ttfsnet_hw`` raises on purpose."""


class HardwareValueError(HardwareError, ValueError):
    """An argument ``ttfsnet_hw`` cannot use (a mode, a target, mismatched inputs); the message names it."""


class IRError(HardwareValueError):
    """The network description is inconsistent (shapes, parameters) or a spike record violates TTFS."""


class ProfileError(HardwareValueError):
    """A profile file is missing, malformed, has an unknown key or an impossible value."""


class QuantizationError(HardwareValueError):
    """The network cannot be quantised to the requested widths, or a quantised-network file is unreadable."""


class ModelLoadError(HardwareValueError):
    """A model file or folder that is missing or in no format ``ttfsnet_hw`` reads; the message names it."""


class HardwareObjectiveError(HardwareValueError):
    """A NAS evaluation context carries nothing the hardware objectives can use, or contradicts itself."""


class MappingError(HardwareError):
    """The network does not fit the hardware profile (not a bad value: a bigger chip would take it)."""


class DatapathOverflowError(HardwareError, OverflowError):
    """An integer accumulator is too large for the float64 simulation to stay exact (beyond 2^52)."""


class MissingExtraError(HardwareError, ImportError):
    """A feature needs an optional dependency that is not installed; the message names the extra."""
