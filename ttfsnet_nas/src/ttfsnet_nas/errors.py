"""The ``ttfsnet_nas`` exceptions: one base class, one [`InputError`][ttfsnet_nas.errors.InputError] for
everything the user got wrong.

The CLI exits with status 2 on an [`InputError`][ttfsnet_nas.errors.InputError] (a bad recipe, file, folder or
option value) and 1 on any other error. Value problems also subclass ``ValueError``, runtime problems
``RuntimeError``.
"""

from __future__ import annotations

__all__ = ["FileFormatError", "InputError", "NASError", "PipelineError"]


class NASError(Exception):
    """Base class of every error ``ttfsnet_nas`` raises on purpose."""


class InputError(NASError, ValueError):
    """Bad user input (a recipe, file, folder or value the user supplied): the CLIs exit with status 2."""


class FileFormatError(InputError):
    """A file the user handed over (an artifact, a run folder's network or checkpoint) is not in the expected
    format, e.g. it holds pickled objects, which are never loaded: that would run code from the file."""


class PipelineError(NASError, RuntimeError):
    """A pipeline cannot run as asked: missing stage outputs, outputs of another recipe, an unknown
    pipeline."""
