"""Progress reporting interface used by the search driver and by pipelines (epochs, rounds, batches).

Library code only talks to a [`Progress`][ttfsnet_nas.progress.Progress]; the CLI decides how it is shown
([`cli_progress`][ttfsnet_nas.progress.cli_progress]): rich bars with an ETA on a terminal, plain log lines
with the elapsed time and the ETA with ``--quiet`` or when standard error is not a terminal (logs, pipes, CI).
Neither shows a source location.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

__all__ = ["LogProgress", "NullProgress", "Progress", "RichProgress", "cli_progress"]

log = logging.getLogger("ttfsnet_nas")


@runtime_checkable
class Progress(Protocol):
    """Progress callback. Tasks are identified by name (``"search"``, ``"supernet epochs"``, ...)."""

    def start(self, task: str, total: int | None = None, *, completed: int = 0) -> None:
        """Begin (or restart) a task with ``total`` steps, ``completed`` of them already done (resume)."""
        ...

    def advance(self, task: str, n: int = 1, **info: Any) -> None:
        """Mark ``n`` more steps done; ``info`` (e.g. ``best=0.81``) is shown next to the bar."""
        ...

    def finish(self, task: str) -> None:
        """End a task."""
        ...

    def log(self, message: str) -> None:
        """A one-line message for the user."""
        ...


class NullProgress:
    """Discards everything (library default)."""

    def start(self, task: str, total: int | None = None, *, completed: int = 0) -> None:
        pass

    def advance(self, task: str, n: int = 1, **info: Any) -> None:
        pass

    def finish(self, task: str) -> None:
        pass

    def log(self, message: str) -> None:
        pass


def _fmt(info: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class LogProgress:
    """Plain log lines (``--quiet``, or no terminal): the start, each tenth of a task with a known total
    (every ``every``-th step without one), and its end; each line with the elapsed time and, with a total,
    the ETA, e.g. ``supernet: 40/400 (10%), 0:00:12 elapsed, eta 0:01:48 epoch=1 loss=1.912``."""

    def __init__(self, logger: logging.Logger | None = None, *, every: int = 10) -> None:
        self._log = logger or log
        self._every = max(1, every)
        self._state: dict[str, list[Any]] = {}  # done, total, start time, done at start, last tenth shown

    def start(self, task: str, total: int | None = None, *, completed: int = 0) -> None:
        shown = completed * 10 // total if total else -1  # the first line comes at the next tenth
        self._state[task] = [completed, total, time.monotonic(), completed, shown]
        self._log.info("%s: start (%s/%s)", task, completed, total if total is not None else "?")

    def advance(self, task: str, n: int = 1, **info: Any) -> None:
        st = self._state.get(task)
        if st is None:
            self.start(task)
            st = self._state[task]
        st[0] += n
        done, total, started, first = st[0], st[1], st[2], st[3]
        elapsed = time.monotonic() - started
        if total:
            tenth = min(10, done * 10 // total)
            if tenth <= st[4] and done < total:
                return
            st[4] = tenth
            rate = (done - first) / elapsed if elapsed > 0 else 0.0
            eta = _clock(max(0, total - done) / rate) if rate > 0 else "?"
            line = f"{task}: {done}/{total} ({100 * done // total}%), {_clock(elapsed)} elapsed, eta {eta}"
        elif done % self._every == 0:
            line = f"{task}: {done}/?, {_clock(elapsed)} elapsed"
        else:
            return
        self._log.info("%s", f"{line} {_fmt(info)}".rstrip())

    def finish(self, task: str) -> None:
        st = self._state.pop(task, None)
        if st is not None:
            self._log.info("%s: done (%s steps, %s)", task, st[0], _clock(time.monotonic() - st[2]))

    def log(self, message: str) -> None:
        self._log.info("%s", message)


class RichProgress:
    """Rich progress bars with ETA; use as a context manager around the work."""

    def __init__(self) -> None:
        # rich is a core dependency, but keep its import-time cost off the library
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as _RichProgress

        self._progress = _RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            # on standard error, so that results on standard output stay clean; log_path=False: messages
            # without the source location rich adds by default (``progress.py:136``)
            console=Console(stderr=True, log_path=False),
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, task: str, total: int | None = None, *, completed: int = 0) -> None:
        if task in self._tasks:
            self._progress.remove_task(self._tasks.pop(task))
        self._tasks[task] = self._progress.add_task(task, total=total, completed=completed, info="")

    def advance(self, task: str, n: int = 1, **info: Any) -> None:
        if task not in self._tasks:
            self.start(task)
        self._progress.update(self._tasks[task], advance=n, info=_fmt(info))

    def finish(self, task: str) -> None:
        if task in self._tasks:
            tid = self._tasks.pop(task)
            t = self._progress.tasks[[x.id for x in self._progress.tasks].index(tid)]
            if t.total is not None:
                self._progress.update(tid, completed=t.total)
            self._progress.stop_task(tid)

    def log(self, message: str) -> None:
        self._progress.console.log(message)


def _is_terminal() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def cli_progress(*, quiet: bool = False, logger: logging.Logger | None = None) -> Iterator[Progress]:
    """The progress display of a command: [`RichProgress`][ttfsnet_nas.progress.RichProgress] bars on a
    terminal; [`LogProgress`][ttfsnet_nas.progress.LogProgress] lines (elapsed time and ETA, no bars, no
    source locations) with ``quiet`` or when standard error is not a terminal, so logs and pipes get readable
    lines.

    Args:
        quiet: log lines even on a terminal (``--quiet``).
        logger: where the log lines go (default the ``ttfsnet_nas`` logger).
    """
    if quiet or not _is_terminal():
        yield LogProgress(logger)
        return
    with RichProgress() as prog:
        yield prog
