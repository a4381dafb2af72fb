"""A resumable stage runner for pipelines (torch-free).

A pipeline is a chain of [`Stage`][ttfsnet_nas.stages.Stage] s. Each stage declares the stages it needs and
the part of the recipe its result depends on (``config``). The runner keeps one completion marker per stage,
``<out>/stages/<name>.json`` (stage, fingerprint, seconds, summary), written atomically and last, so a stage
is complete exactly when its marker exists. From the markers it decides what to run:

* a stage runs when it is selected and either incomplete or ``resume`` is off (a rerun);
* a complete stage is skipped under ``resume`` or when it is not selected;
* an incomplete stage that is not selected but needed by a selected one is an error that says which stage
  to add;
* a marker written with another recipe (another fingerprint) is an error, not a silent reuse;
* under ``resume``, a stage that *started* with another recipe (its ``<name>.started.json`` marker, written
  when it starts and removed when it completes, holds another fingerprint) is an error too: its partial
  outputs (checkpoint, journal) would otherwise be dropped or continued silently. ``forced`` stages are
  exempt: they discard their partial outputs, say so in the log, and start over.

A stage's fingerprint hashes its ``config`` together with the fingerprints of the stages it needs, so a
changed setting reaches every stage downstream. When a stage runs, the markers of the stages that need it
(directly or not) and the run's summary files are removed first: their outputs no longer describe the new
result. Long stages checkpoint through [`StageRunner.checkpoint`][ttfsnet_nas.stages.StageRunner.checkpoint],
whose file name carries the fingerprint, so only the same recipe continues a checkpoint, and only under
``resume``.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp())
    >>> log = []
    >>> stages = [
    ...     Stage(name="train", config={"epochs": 3}, run=lambda: log.append("train") or {"loss": 0.1}),
    ...     Stage(name="test", needs=("train",), run=lambda: log.append("test") or {}),
    ... ]
    >>> StageRunner(out, stages).run()
    ['train', 'test']
    >>> StageRunner(out, stages, resume=True).run()  # both complete: nothing to do
    []
    >>> StageRunner(out, stages, selected=["test"]).run()  # a rerun of one stage keeps the others
    ['test']
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttfsnet_nas.config import RecipeError
from ttfsnet_nas.errors import PipelineError
from ttfsnet_nas.journal import atomic_write_json
from ttfsnet_nas.progress import NullProgress, Progress

__all__ = ["MARKERS", "RecipeChangedError", "Stage", "StageRunner", "fingerprint"]

MARKERS = "stages"
"""Folder of the completion markers inside a run folder."""


class RecipeChangedError(RecipeError):
    """A resume met a stage that started or finished under another recipe (a bad request: exit 2)."""


def fingerprint(obj: Any) -> str:
    """Short stable hash of ``obj`` (JSON with sorted keys; anything else by ``str``)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True, slots=True)
class Stage:
    """One stage of a pipeline.

    Attributes:
        name: stage name (``--stages`` value, marker file name).
        run: does the work and returns the summary stored in the marker (plain JSON data).
        needs: stages whose outputs this stage reads; they come earlier in the chain.
        config: what the result depends on besides ``needs`` (recipe sections, seeds), fingerprinted by
            ``repr``, which is stable for frozen dataclasses and plain data.
        journaled: the stage keeps its own journal, which records and checks its progress more finely
            than the marker (a search journal checks its header against the recipe and skips what it
            holds): under ``resume`` a selected journaled stage always runs and the journal decides what
            is left to do.
    """

    name: str
    run: Callable[[], Mapping[str, Any]]
    needs: tuple[str, ...] = ()
    config: Any = None
    journaled: bool = False


class StageRunner:
    """Runs a chain of stages in a run folder, resuming from their markers (see the module docstring).

    Args:
        out: the run folder.
        stages: the chain, in execution order.
        selected: stages to run (default: all); the chain runs up to the last selected one.
        resume: skip complete stages instead of rerunning selected ones.
        forced: stages that start over under ``resume`` although they started with another recipe (their
            partial outputs are discarded, and the log says so).
        progress: log sink for skipped and started stages.
        summaries: run-level files (relative to ``out``) that describe the whole run and go stale whenever
            a stage reruns.

    Raises:
        RecipeError: a selected or forced name that is not a stage of the chain (exit code 2 in the CLI).
        PipelineError: a stage that needs a later or unknown stage (a programming error of the pipeline).
    """

    def __init__(
        self,
        out: Path,
        stages: Sequence[Stage],
        *,
        selected: Sequence[str] | None = None,
        resume: bool = False,
        forced: Sequence[str] = (),
        progress: Progress | None = None,
        summaries: Sequence[str] = ("result.json",),
    ) -> None:
        self.out = Path(out)
        self.stages = {s.name: s for s in stages}
        if len(self.stages) != len(stages):
            raise PipelineError(f"stage names must be unique, got {[s.name for s in stages]}")
        order = list(self.stages)
        for i, stage in enumerate(stages):
            for need in stage.needs:
                if need not in order[:i]:
                    raise PipelineError(f"stage {stage.name!r} needs {need!r}, which is not an earlier stage")
        chosen = list(selected) if selected else order
        for key, names in (("--stages", chosen), ("--force-stage", forced)):
            for name in names:
                if name not in self.stages:
                    raise RecipeError(f"unknown stage {name!r}; expected some of {', '.join(order)}", key=key)
        self.selected = tuple(n for n in order if n in chosen)
        self.resume = resume
        self.forced = tuple(forced)
        self.progress = progress if progress is not None else NullProgress()
        self.summaries = tuple(summaries)
        self._fingerprints: dict[str, str] = {}

    # -- bookkeeping -------------------------------------------------------------------------------
    def fingerprint(self, name: str) -> str:
        """Hash of the stage's ``config`` and of the fingerprints of the stages it needs."""
        if name not in self._fingerprints:
            stage = self.stages[name]
            parts = {"config": repr(stage.config), "needs": {n: self.fingerprint(n) for n in stage.needs}}
            self._fingerprints[name] = fingerprint(parts)
        return self._fingerprints[name]

    def marker(self, name: str) -> Path:
        """The completion marker of stage ``name``."""
        return self.out / MARKERS / f"{name}.json"

    def started_marker(self, name: str) -> Path:
        """The marker of stage ``name`` having started (removed when it completes)."""
        return self.out / MARKERS / f"{name}.started.json"

    def resuming(self, name: str) -> bool:
        """Whether stage ``name`` continues its partial outputs (``resume`` and not forced to start over)."""
        return self.resume and name not in self.forced

    def _changed(self, path: Path, name: str, what: str) -> RecipeChangedError:
        return RecipeChangedError(
            f"{path}: stage '{name}' {what} with a different recipe; use a new --out, rerun it without "
            f"--resume (--stages {name}), or pass --force-stage {name} to discard its outputs"
        )

    def done(self, name: str) -> dict[str, Any] | None:
        """The marker of a complete stage, ``None`` when the stage is not complete.

        Raises:
            RecipeChangedError: the marker was written with another recipe.
        """
        path = self.marker(name)
        if not path.is_file():
            return None
        info: dict[str, Any] = json.loads(path.read_text())
        if info.get("fingerprint") != self.fingerprint(name):
            raise self._changed(path, name, "was produced")
        return info

    def _check_started(self, name: str) -> None:
        """Refuse to resume a stage whose partial outputs belong to another recipe."""
        path = self.started_marker(name)
        if path.is_file() and json.loads(path.read_text()).get("fingerprint") != self.fingerprint(name):
            raise self._changed(path, name, "started")

    def complete(self, *names: str) -> bool:
        """Whether every named stage (default: every stage of the chain) has its marker."""
        return all(self.marker(n).is_file() for n in (names or tuple(self.stages)))

    def seconds(self) -> dict[str, float]:
        """Wall seconds of every complete stage, from the markers."""
        return {
            name: json.loads(self.marker(name).read_text())["seconds"]
            for name in self.stages
            if self.marker(name).is_file()
        }

    def checkpoint(self, name: str, folder: Path, extra: str = "") -> Path:
        """A per-stage checkpoint file in ``folder`` that only this recipe continues, only under ``resume``.

        The file name carries the stage fingerprint (and ``extra``, e.g. the architecture when one stage
        trains several models). Any other checkpoint in ``folder`` is stale and removed, and without
        ``resume`` the matching one too, so a rerun starts from scratch.
        """
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"train-{fingerprint([self.fingerprint(name), extra])}.ckpt"
        for old in folder.glob("train-*.ckpt"):
            if old != path or not self.resuming(name):
                old.unlink()
        return path

    def dependents(self, name: str) -> list[str]:
        """``name`` and every stage that needs it, directly or not, in chain order."""
        hit = {name}
        for stage in self.stages.values():
            if hit.intersection(stage.needs):
                hit.add(stage.name)
        return [n for n in self.stages if n in hit]

    # -- driver --------------------------------------------------------------------------------------
    def _should_run(self, name: str) -> bool:
        if name in self.selected and not self.resume:
            return True  # a rerun on purpose
        if name in self.forced:
            self.progress.log(f"stage {name}: --force-stage discards its outputs and starts it over")
            return True
        self._check_started(name)
        info = self.done(name)
        if name in self.selected and self.stages[name].journaled:
            return True  # the journal decides what is left
        if info is None:
            if name not in self.selected:
                raise PipelineError(
                    f"{self.out}: stage '{name}' has no complete outputs; include it in --stages "
                    "(or run all stages)"
                )
            return True
        self.progress.log(f"stage {name}: complete in {self.out}, skipped")
        return False

    def _needed(self) -> list[str]:
        """The selected stages and everything they need, in chain order."""
        wanted = set(self.selected)
        for name in reversed(list(self.stages)):
            if name in wanted:
                wanted.update(self.stages[name].needs)
        return [n for n in self.stages if n in wanted]

    def run(self) -> list[str]:
        """Run what the selection and the markers call for; returns the names of the stages that ran."""
        ran: list[str] = []
        for name in self._needed():
            if not self._should_run(name):
                continue
            self.progress.log(f"stage {name}: running")
            # a rerun may change what later stages consumed (another best architecture, other weights)
            for stale in self.dependents(name):
                self.marker(stale).unlink(missing_ok=True)
                self.started_marker(stale).unlink(missing_ok=True)
            for summary in self.summaries:
                (self.out / summary).unlink(missing_ok=True)
            started = {"stage": name, "fingerprint": self.fingerprint(name)}
            atomic_write_json(self.started_marker(name), started)
            start = time.perf_counter()
            result = dict(self.stages[name].run())
            atomic_write_json(
                self.marker(name),
                {
                    "stage": name,
                    "fingerprint": self.fingerprint(name),
                    "seconds": round(time.perf_counter() - start, 3),
                    "summary": result,
                },
            )
            self.started_marker(name).unlink()
            ran.append(name)
        return ran
