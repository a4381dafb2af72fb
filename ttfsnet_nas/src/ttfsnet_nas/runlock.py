"""One writer per run folder: an advisory lock on ``<out>/.lock`` (torch-free).

Two processes writing one run folder (a run and a ``--resume`` of it started by mistake) would interleave
journal records and replace each other's files. [`run_lock`][ttfsnet_nas.runlock.run_lock] takes an exclusive,
non-blocking ``flock`` (``msvcrt.locking`` on Windows) on the folder's ``.lock`` file for the whole run; a
second writer is refused at once with one line naming the holder (pid, host, start time), which the lock file
records.

The operating system releases the lock when its process ends in any way, SIGKILL included, so a lock left
by a killed run is never stale: the next run takes it over and logs that it did (the file still names the
dead holder, because only a clean exit empties it).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ttfsnet_nas.errors import InputError
from ttfsnet_nas.progress import NullProgress, Progress

__all__ = ["LOCK_FILE", "RunLockedError", "run_lock"]

LOCK_FILE = ".lock"
"""The lock file inside a run folder."""


class RunLockedError(InputError):
    """Another process holds the run folder (exit status 2)."""


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; ``False`` when another process holds it."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096).decode("utf-8", "replace").strip()


@contextmanager
def run_lock(folder: str | os.PathLike[str], progress: Progress | None = None) -> Iterator[Path]:
    """Hold the write lock of run folder ``folder`` (created if missing) for the ``with`` body.

    Args:
        folder: the run folder.
        progress: where taking over a killed run's lock is logged.

    Yields:
        The lock file.

    Raises:
        RunLockedError: another process holds the folder; the message names it.
    """
    path = Path(folder) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            holder = _read(fd) or "another process"
            raise RunLockedError(
                f"{Path(folder)}: in use by {holder}; wait for it to finish or choose another --out"
            )
        previous = _read(fd)
        if previous:
            (progress or NullProgress()).log(
                f"{Path(folder)}: the run of {previous} ended without releasing its lock (killed); taken over"
            )
        since = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}\n".encode())
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # an empty file marks a clean exit (see the module docstring)
    finally:
        os.close(fd)  # closing the descriptor releases the lock
