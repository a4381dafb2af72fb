"""Append-only JSONL journal with fsync, atomic file helpers and pluggable RNG-state hooks.

A journal file starts with one ``{"type": "header", ...}`` line (written atomically) followed by one
``{"type": "eval", ...}`` line per evaluated candidate, each flushed and fsync'ed before the search goes on.
A process killed in the middle of a write leaves at most one torn last line;
[`read_journal`][ttfsnet_nas.journal.read_journal] drops it and
[`Journal.open`][ttfsnet_nas.journal.Journal.open] truncates it away before appending.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ttfsnet_nas.errors import InputError, NASError

__all__ = [
    "JOURNAL_FORMAT",
    "Journal",
    "JournalContents",
    "JournalError",
    "JournalExistsError",
    "NumpyGlobalRngHook",
    "PythonRandomHook",
    "RngHook",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "capture_rng",
    "default_rng_hooks",
    "read_journal",
    "restore_rng",
    "sha256_bytes",
    "sha256_file",
]

JOURNAL_FORMAT = 1


class JournalError(NASError, RuntimeError):
    """A journal cannot be read, is corrupt before its last line, or does not match the current run."""


class JournalExistsError(JournalError, InputError):
    """A new run would overwrite an existing journal (a usage error: resume it or pick another folder)."""


# -- atomic files ---------------------------------------------------------------------------------


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync and ``os.replace``.

    Readers see either the old or the new content, never a partial file, even if the process dies.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    # results are shared like any other output file: os.open applies the umask to 0o666 as a plain open()
    # would (mkstemp's files are private 0600, and reading the umask to fix that races with other threads)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """UTF-8 text version of [`atomic_write_bytes`][ttfsnet_nas.journal.atomic_write_bytes]."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON atomically (keys keep their insertion order)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


def _fsync_dir(folder: Path) -> None:
    # the rename itself is durable only once the directory entry is flushed (POSIX); not possible on Windows
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's content, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# -- RNG hooks ------------------------------------------------------------------------------------


@runtime_checkable
class RngHook(Protocol):
    """Captures and restores one global RNG as JSON-serialisable data (``ttfsnet_nas.torch.rng`` adds
    torch's)."""

    name: str

    def get_state(self) -> Any:
        """Current state, JSON-serialisable."""
        ...

    def set_state(self, state: Any) -> None:
        """Restore a state produced by `get_state`."""
        ...


def _pack_u32(words: Any) -> str:
    # 624-word Mersenne Twister states as base64 keep journal lines ~3x smaller than JSON int lists
    return base64.b64encode(np.asarray(words, dtype="<u4").tobytes()).decode("ascii")


def _unpack_u32(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<u4")


class PythonRandomHook:
    """State of Python's global `random` generator."""

    name = "python"

    def get_state(self) -> Any:
        version, internal, gauss = random.getstate()
        return [version, _pack_u32(internal), gauss]

    def set_state(self, state: Any) -> None:
        version, internal, gauss = state
        random.setstate((version, tuple(int(x) for x in _unpack_u32(internal)), gauss))


class NumpyGlobalRngHook:
    """State of numpy's legacy global generator (``np.random.*`` functions)."""

    name = "numpy"

    def get_state(self) -> Any:
        kind, key, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
        return [str(kind), _pack_u32(key), int(pos), int(has_gauss), float(cached)]

    def set_state(self, state: Any) -> None:
        kind, key, pos, has_gauss, cached = state
        np.random.set_state(
            (kind, _unpack_u32(key).astype(np.uint32), int(pos), int(has_gauss), float(cached))
        )


def default_rng_hooks() -> list[RngHook]:
    """Hooks for Python's ``random`` and numpy's global generator."""
    return [PythonRandomHook(), NumpyGlobalRngHook()]


def capture_rng(hooks: Iterable[RngHook]) -> dict[str, Any]:
    """``{hook.name: state}`` for every hook."""
    return {h.name: h.get_state() for h in hooks}


def restore_rng(hooks: Iterable[RngHook], states: Mapping[str, Any]) -> None:
    """Restore every hook whose name is in ``states``.

    Raises:
        JournalError: A hook has no saved state (the run that wrote the journal did not capture it).
    """
    for h in hooks:
        if h.name not in states:
            raise JournalError(f"journal has no RNG state for hook {h.name!r}; saved: {sorted(states)}")
        h.set_state(states[h.name])


# -- journal --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JournalContents:
    """Parsed journal.

    Attributes:
        header: The header record.
        records: Every complete record after the header, in file order.
        torn: Whether an incomplete last line was dropped.
        valid_bytes: Length of the file prefix made of complete lines.
    """

    header: dict[str, Any]
    records: list[dict[str, Any]]
    torn: bool
    valid_bytes: int


def read_journal(path: str | os.PathLike[str]) -> JournalContents:
    """Parse a journal, tolerating a torn last line.

    Raises:
        JournalError: Missing file, missing header, or a corrupt line that is not the last one.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise JournalError(f"journal {path}: file not found") from None
    lines = data.split(b"\n")
    # after the final newline split() yields b""; anything else there is an unterminated (torn) line
    tail = lines.pop()
    torn = bool(tail)
    parsed: list[dict[str, Any]] = []
    offset = 0
    valid = 0
    for lineno, raw in enumerate(lines, start=1):
        offset += len(raw) + 1
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            if lineno == len(lines) and not torn:
                # a newline made it to disk but the record did not parse: also a torn write
                torn = True
                break
            raise JournalError(f"journal {path}:{lineno}: corrupt record ({exc})") from None
        parsed.append(rec)
        valid = offset
    if not parsed or parsed[0].get("type") != "header":
        raise JournalError(f"journal {path}: first line is not a header record")
    return JournalContents(header=parsed[0], records=parsed[1:], torn=torn, valid_bytes=valid)


class Journal:
    """Append-only JSONL journal.

    Use `create` for a new run and `open` to continue one. Every `append` writes one line,
    flushes and fsyncs it before returning.
    """

    def __init__(self, path: Path, header: dict[str, Any], records: list[dict[str, Any]]) -> None:
        self.path = path
        self.header = header
        self.records = records
        self._fh = open(path, "ab")  # noqa: SIM115 - kept open for the journal's lifetime

    @classmethod
    def create(cls, path: str | os.PathLike[str], header: Mapping[str, Any]) -> Journal:
        """Start a new journal whose first line is ``header`` (written atomically).

        Raises:
            JournalError: When ``path`` already exists (resume instead, or choose another output folder).
        """
        path = Path(path)
        if path.exists():
            raise JournalExistsError(
                f"journal {path} already exists; resume it (--resume) or choose another --out"
            )
        head = {"type": "header", "format": JOURNAL_FORMAT, **header}
        atomic_write_text(path, json.dumps(head, allow_nan=False) + "\n")
        return cls(path, head, [])

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Journal:
        """Open an existing journal for appending, truncating a torn last line."""
        path = Path(path)
        contents = read_journal(path)
        if contents.header.get("format") != JOURNAL_FORMAT:
            raise JournalError(
                f"journal {path}: format {contents.header.get('format')!r}, expected {JOURNAL_FORMAT}"
            )
        if contents.torn:
            with open(path, "r+b") as fh:
                fh.truncate(contents.valid_bytes)
                fh.flush()
                os.fsync(fh.fileno())
        return cls(path, contents.header, contents.records)

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record durably."""
        line = json.dumps(dict(record), allow_nan=False, separators=(",", ":")) + "\n"
        self._fh.write(line.encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.records.append(dict(record))

    def close(self) -> None:
        """Close the file handle (idempotent)."""
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def evaluations(self) -> Sequence[dict[str, Any]]:
        """The ``eval`` records."""
        return [r for r in self.records if r.get("type") == "eval"]
