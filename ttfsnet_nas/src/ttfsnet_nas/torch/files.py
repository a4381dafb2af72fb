"""The one place ``ttfsnet_nas`` reads torch files: as data only, onto the CPU.

Run folders and artifacts travel between people and machines, so every network, state dict and checkpoint
is read through [`ttfsnet.load_tensors`][ttfsnet.load_tensors] / [`ttfsnet.load`][ttfsnet.load]
(``weights_only=True``: a pickled object is refused before any of its code runs), and a refusal becomes a
[`FileFormatError`][ttfsnet_nas.torch.files.FileFormatError], which the CLI reports in one line with exit
status 2. Tensors land on the CPU whatever device wrote them, so a run started on a GPU resumes on a CPU and
the other way round.
"""

from __future__ import annotations

import os
from typing import Any

import ttfsnet
from ttfsnet.errors import FormatError
from ttfsnet_nas.errors import FileFormatError

__all__ = ["read_network", "read_tensors"]


def read_tensors(source: str | os.PathLike[str] | bytes, *, what: str, name: str = "") -> Any:
    """A ``torch.save`` file (or its bytes) as plain data and CPU tensors.

    Args:
        source: the path, or the file's bytes.
        what: what the file should be (``"supernet checkpoint"``), for the message.
        name: the file's name when ``source`` is bytes.

    Raises:
        FileFormatError: one line naming the file: missing, pickled objects, or not a torch file.
    """
    try:
        return ttfsnet.load_tensors(source, what=what, name=name)
    except FormatError as exc:
        raise FileFormatError(str(exc)) from None


def read_network(path: str | os.PathLike[str]) -> tuple[ttfsnet.TTFSNetwork, dict[str, Any]]:
    """A network file of [`ttfsnet.save`][ttfsnet.save] (``snn.pt``) on the CPU, in eval mode, with its
    metadata.

    Raises:
        FileFormatError: one line naming the file.
    """
    try:
        return ttfsnet.load(path)
    except FormatError as exc:
        raise FileFormatError(str(exc)) from None
