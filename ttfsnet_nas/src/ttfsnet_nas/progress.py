"""Progress reporting interface used by the search driver and by pipelines (epochs, rounds, batches).

Library code only talks to a :class:`Progress`; the CLI decides how it is shown (rich bars with ETA, or
plain log lines with ``--quiet``).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol, runtime_checkable

__all__ = ["LogProgress", "NullProgress", "Progress", "RichProgress"]

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


class LogProgress:
    """Plain log lines (``--quiet``): start, every ``every``-th step, and the end of each task."""

    def __init__(self, logger: logging.Logger | None = None, *, every: int = 10) -> None:
        self._log = logger or log
        self._every = max(1, every)
        self._state: dict[str, list[Any]] = {}

    def start(self, task: str, total: int | None = None, *, completed: int = 0) -> None:
        self._state[task] = [completed, total, time.monotonic()]
        self._log.info("%s: start (%s/%s)", task, completed, total if total is not None else "?")

    def advance(self, task: str, n: int = 1, **info: Any) -> None:
        st = self._state.setdefault(task, [0, None, time.monotonic()])
        st[0] += n
        if st[0] % self._every == 0 or (st[1] is not None and st[0] >= st[1]):
            self._log.info("%s: %s/%s %s", task, st[0], st[1] if st[1] is not None else "?", _fmt(info))

    def finish(self, task: str) -> None:
        st = self._state.pop(task, None)
        if st is not None:
            self._log.info("%s: done (%s steps, %.1f s)", task, st[0], time.monotonic() - st[2])

    def log(self, message: str) -> None:
        self._log.info("%s", message)


class RichProgress:
    """Rich progress bars with ETA; use as a context manager around the work."""

    def __init__(self) -> None:
        from rich.progress import (  # rich is a core dependency, but keep import-time cost off the library
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
