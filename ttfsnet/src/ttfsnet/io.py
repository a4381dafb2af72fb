"""The TTFS network file format: [`save`][ttfsnet.io.save] and [`load`][ttfsnet.io.load].

A file is ``torch.save`` of a dictionary that holds only plain data and tensors, so [`load`][ttfsnet.io.load]
reads it with ``torch.load(weights_only=True)``: opening a file someone sent you never runs code from it.

Keys (format version 1):

* ``format``: ``"ttfsnet.network"``; ``version``: ``1``.
* ``layers``: one ``{"kind": ..., "config": {...}}`` per layer, in order (the kinds and configs of
  [`ttfsnet.nn.registry`][ttfsnet.nn.registry]).
* ``input_range``: ``[p, q]``; ``input_shape``: ``[C, H, W]`` or ``None``.
* ``state_dict``: every parameter and buffer (CPU tensors; their dtypes are kept on load).
* ``windows`` and ``latency``: the schedule, for readers that do not rebuild the network.
* ``metadata``: what the caller passed to [`save`][ttfsnet.io.save] (plain data only: class names,
  architecture, ...).

A file of a newer version than this ``ttfsnet`` knows is refused with a message that says so, instead of
being misread.

[`load_tensors`][ttfsnet.io.load_tensors] is the one safe reader of any torch file (checkpoints, state dicts)
that the other ``ttfsnet`` packages use: plain data and tensors only, on the CPU.
"""

# Public functions check argument types at run time for untyped callers.
# pyright: reportUnnecessaryIsInstance=false

from __future__ import annotations

import io
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import torch

from ttfsnet.errors import FormatError, TTFSValueError
from ttfsnet.nn.network import TTFSNetwork
from ttfsnet.nn.registry import build_layer, layer_kind

__all__ = ["FORMAT", "FORMAT_VERSION", "load", "load_tensors", "save"]

FORMAT = "ttfsnet.network"
FORMAT_VERSION = 1


def _check_plain(value: object, where: str) -> None:
    """Refuse metadata that ``torch.load(weights_only=True)`` could not read back (or that is code)."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TTFSValueError(f"save: metadata {where} is {value}; expected a finite number")
        return
    if isinstance(value, (list, tuple)):
        items: Sequence[object] = cast("list[object] | tuple[object, ...]", value)
        for i, item in enumerate(items):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        mapping: Mapping[object, object] = cast("Mapping[object, object]", value)
        for key, item in mapping.items():
            if not isinstance(key, str):
                raise TTFSValueError(f"save: metadata {where} has key {key!r}; expected string keys")
            _check_plain(item, f"{where}.{key}" if where else key)
        return
    raise TTFSValueError(
        f"save: metadata {where} is a {type(value).__name__}; expected plain data "
        "(None, bool, int, float, str, list, dict)"
    )


def _plain(value: object) -> object:
    """Tuples become lists, so the file reads back the same whatever sequence type was passed."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in cast("list[object] | tuple[object, ...]", value)]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in cast("Mapping[str, object]", value).items()}
    return value


def save(net: TTFSNetwork, path: str | os.PathLike[str], **metadata: Any) -> Path:
    """Write ``net`` to ``path`` in the ``ttfsnet`` format, atomically (readers see the old file or the new).

    Args:
        net: the network.
        path: target file (conventionally ``*.pt``); parent folders are created.
        **metadata: plain data stored alongside (e.g. ``classes=[...]``, ``architecture={...}``).

    Returns:
        ``path``.

    Raises:
        TTFSValueError: ``net`` is not a [`TTFSNetwork`][ttfsnet.io.TTFSNetwork], or metadata is not plain
            data.
    """
    if not isinstance(net, TTFSNetwork):
        raise TTFSValueError(f"save: expected a TTFSNetwork, got {type(net).__name__}")
    _check_plain(dict(metadata), "")
    payload: dict[str, object] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "layers": [{"kind": layer_kind(layer), "config": layer.config()} for layer in net.ttfs_layers()],
        "input_range": list(net.input_range),
        "input_shape": None if net.input_shape is None else list(net.input_shape),
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "windows": [float(w) for w in net.windows()],
        "latency": float(net.latency()),
        "metadata": _plain(dict(metadata)),
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A fresh temp name, created with mode 0o666 so the umask applies as for a plain open() (mkstemp would
    # leave it 0600, and reading the umask to fix that up races with other threads).
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def load(path: str | os.PathLike[str]) -> tuple[TTFSNetwork, dict[str, Any]]:
    """Read a network written by [`save`][ttfsnet.io.save], as data only (``weights_only=True``).

    Args:
        path: the file.

    Returns:
        ``(network in eval mode on the CPU, metadata)``.

    Raises:
        FormatError: missing file, not a ``ttfsnet`` network file, a newer format version, or a file whose
            layers or tensors do not fit together. The message names the file.
    """
    target = Path(path)
    if not target.is_file():
        raise FormatError(f"{target}: no such network file")
    loaded = load_tensors(target, what="ttfsnet network file")
    payload: dict[str, Any] = cast("dict[str, Any]", loaded) if isinstance(loaded, dict) else {}
    if not isinstance(loaded, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(loaded, dict) else type(loaded).__name__
        raise FormatError(
            f"{target}: key 'format' is {found!r}, expected {FORMAT!r} (a file of ttfsnet.save)"
        )
    version = payload.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise FormatError(f"{target}: key 'version' is {version!r}, expected a positive integer")
    if version > FORMAT_VERSION:
        raise FormatError(
            f"{target}: format version {version} is newer than this ttfsnet reads ({FORMAT_VERSION}); "
            "upgrade ttfsnet"
        )
    try:
        layers = [build_layer(str(entry["kind"]), dict(entry["config"])) for entry in payload["layers"]]
        net = TTFSNetwork(layers, tuple(payload["input_range"]), input_shape=payload.get("input_shape"))
        net.load_state_dict(payload["state_dict"], assign=True)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise FormatError(f"{target}: layers and tensors do not fit together ({_first_line(exc)})") from None
    metadata: object = payload.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise FormatError(f"{target}: key 'metadata' is a {type(metadata).__name__}, expected a mapping")
    return net.eval(), cast("dict[str, Any]", metadata)


def load_tensors(
    source: str | os.PathLike[str] | bytes, *, what: str = "torch data file", name: str = ""
) -> Any:
    """Read a ``torch.save`` file as data only (tensors, numbers, strings, lists, dicts) onto the CPU.

    ``weights_only=True`` refuses any pickled object (a whole ``nn.Module``, a class, a function), so a
    received file never runs code; tensors land on the CPU whatever device saved them.

    Args:
        source: a path, or the file's bytes.
        what: what the file should be, for the error message (``"supernet checkpoint"``).
        name: the file's name in messages when ``source`` is bytes.

    Raises:
        FormatError: one line naming the file: it is missing, holds pickled objects, or is not a torch file.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    try:
        return torch.load(
            io.BytesIO(source) if isinstance(source, bytes) else Path(source),
            map_location="cpu",
            weights_only=True,
        )
    except FileNotFoundError:
        raise FormatError(f"{label}: no such {what}") from None
    except Exception as exc:  # whatever the safe unpickler refuses or cannot parse is not data we read
        reason = _first_line(exc)
        if "Weights only load failed" in reason:
            reason = (
                "it holds pickled objects (e.g. a whole nn.Module), which are never loaded because that "
                "would run code from the file"
            )
        raise FormatError(f"{label}: not a {what}: {reason}") from None


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
