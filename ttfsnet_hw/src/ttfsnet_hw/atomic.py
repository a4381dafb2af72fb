"""Atomic file writes: every file ``ttfsnet_hw`` writes goes through
[`atomic_write`][ttfsnet_hw.atomic.atomic_write].

A reader (or a crash) never sees a half-written file: the bytes go to a temporary file in the destination's
folder, are flushed to disk, and the temporary file then replaces the destination in one ``os.replace``.
The file gets the permissions a plain ``open(path, "w")`` would give it (``0o666`` minus the umask), unlike
``tempfile.mkstemp``'s private ``0o600``, so profiles and reports stay readable by whoever could read the
folder.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; parent folders are created.

    Args:
        path: destination file.
        data: its complete contents.

    Returns:
        The destination path.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    # os.open applies the umask to 0o666 itself: the same mode a plain open() gives, without the
    # process-wide os.umask() dance that would race with other threads
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest
