"""Pipeline registry: the recipe's top-level ``type:`` key picks the code that runs it.

The CLI only parses arguments, loads the recipe through the selected pipeline's recipe dataclass and calls
the pipeline. Pipelines are registered by *module path strings* (``"pkg.module:Attr"``) so that importing
the core never imports torch; the target is imported on first use. Third-party packages can also register
pipelines through the entry-point group ``"ttfsnet_nas.pipelines"`` (name = recipe type, value = target).

The core registers ``toy`` ([`ttfsnet_nas.toy.ToyPipeline`][ttfsnet_nas.toy.ToyPipeline], a synthetic
landscape, torch-free).
Task pipelines register through the entry point: this distribution's own ``emotion`` pipeline (TNAS-ER,
``ttfsnet_nas.emotion.pipeline:EmotionPipeline``, needs the ``[torch]`` extra) does so in its
``pyproject.toml``, exactly as a third-party task would, so the core knows no task by name.

Built-in recipe files (``tiny``, ``demo``, ``see``, ...) are package data in ``ttfsnet_nas/recipes/``;
[`resolve_recipe`][ttfsnet_nas.pipelines.resolve_recipe] finds them by name.
"""

from __future__ import annotations

import abc
import importlib
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

from ttfsnet_nas.config import RecipeError, from_dict, load_yaml, to_dict, write_yaml
from ttfsnet_nas.errors import PipelineError
from ttfsnet_nas.journal import JournalExistsError
from ttfsnet_nas.progress import NullProgress, Progress
from ttfsnet_nas.runlock import run_lock
from ttfsnet_nas.stages import RecipeChangedError

__all__ = [
    "ENTRY_POINT_GROUP",
    "Pipeline",
    "PipelineError",
    "builtin_recipes",
    "get_pipeline",
    "list_pipelines",
    "load_recipe",
    "null_progress",
    "open_run",
    "register_pipeline",
    "resolve_recipe",
    "resolved_recipe",
    "write_resolved_recipe",
]

ENTRY_POINT_GROUP = "ttfsnet_nas.pipelines"


class Pipeline(abc.ABC):
    """What the CLI calls for one recipe type.

    Attributes:
        type_name: The recipe ``type`` this pipeline is registered under (written to resolved recipes).
        recipe_type: Frozen dataclass of the recipe (the top-level ``type`` key is removed before loading).
        stages: Stage names accepted by ``search --stages`` in execution order.
    """

    type_name: ClassVar[str] = ""
    recipe_type: ClassVar[type]
    stages: ClassVar[tuple[str, ...]] = ("search", "export")

    @abc.abstractmethod
    def search(
        self,
        recipe: Any,
        *,
        out: Path,
        resume: bool = False,
        stages: Sequence[str] | None = None,
        seed: int | None = None,
        progress: Progress | None = None,
        device: str | None = None,
        force: Sequence[str] = (),
    ) -> Path:
        """Run the selected stages into run folder ``out``; return the main result path.

        ``device`` overrides the recipe's device (pipelines without one refuse it); ``force`` names stages
        whose partial outputs a ``resume`` discards although the recipe changed under them.
        """

    def evaluate(
        self, recipe: Any, *, artifact: Path, progress: Progress | None = None, device: str | None = None
    ) -> dict[str, Any]:
        """Evaluate an exported artifact; return its metrics."""
        raise PipelineError(f"pipeline {type(self).__name__} does not implement 'evaluate'")

    def export(
        self, recipe: Any, *, run_dir: Path, out: Path | None = None, progress: Progress | None = None
    ) -> Path:
        """Export the best architecture of a finished run as an artifact folder; return its path."""
        raise PipelineError(f"pipeline {type(self).__name__} does not implement 'export'")

    def check_stages(self, stages: Sequence[str] | None) -> tuple[str, ...]:
        """Validate ``--stages`` and return them in execution order (all stages when ``None``).

        Raises:
            RecipeError: An unknown stage name (usage error).
        """
        if not stages:
            return self.stages
        unknown = [s for s in stages if s not in self.stages]
        if unknown:
            raise RecipeError(
                f"unknown stage {unknown[0]!r}; stages of this pipeline: {', '.join(self.stages)}"
            )
        return tuple(s for s in self.stages if s in stages)


_PIPELINES: dict[str, Pipeline | type[Pipeline] | str] = {}
_EP_LOADED = False


def register_pipeline(
    type_name: str, runner: Pipeline | type[Pipeline] | str, *, replace: bool = False
) -> None:
    """Register a pipeline for recipes with ``type: type_name``.

    Args:
        type_name: Value of the recipe's top-level ``type`` key.
        runner: A [`Pipeline`][ttfsnet_nas.pipelines.Pipeline] instance or class, or ``"module.path:Attr"``
            imported on first use.
        replace: Allow replacing an existing registration.
    """
    if type_name in _PIPELINES and not replace and _PIPELINES[type_name] != runner:
        raise PipelineError(f"pipeline type {type_name!r} is already registered")
    _PIPELINES[type_name] = runner


def _load_entry_points() -> None:
    global _EP_LOADED
    if _EP_LOADED:
        return
    _EP_LOADED = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        _PIPELINES.setdefault(ep.name, ep.value)


def list_pipelines() -> list[str]:
    """Registered recipe types."""
    _load_entry_points()
    return sorted(_PIPELINES)


def get_pipeline(type_name: str) -> Pipeline:
    """The pipeline for a recipe type, importing it on first use.

    Raises:
        RecipeError: Unknown type (a recipe error: exit code 2 in the CLI).
        PipelineError: The registered module cannot be imported or the target is not a Pipeline.
    """
    _load_entry_points()
    if type_name not in _PIPELINES:
        raise RecipeError(f"expected one of {sorted(_PIPELINES)}, got {type_name!r}", key="type")
    runner = _PIPELINES[type_name]
    if isinstance(runner, str):
        module_name, _, attr = runner.partition(":")
        try:
            module = importlib.import_module(module_name)
            runner = getattr(module, attr) if attr else module
        except (ImportError, AttributeError) as exc:
            raise PipelineError(
                f"pipeline {type_name!r} ({_PIPELINES[type_name]}) could not be imported: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    if isinstance(runner, type) and issubclass(runner, Pipeline):
        runner = runner()
    if not isinstance(runner, Pipeline):
        raise PipelineError(f"pipeline {type_name!r}: registered object {runner!r} is not a Pipeline")
    _PIPELINES[type_name] = runner
    return runner


def load_recipe(path: str | Path) -> tuple[Pipeline, Any]:
    """Read a recipe file, select its pipeline by ``type`` and build the recipe dataclass.

    Raises:
        RecipeError: Bad YAML, missing/unknown ``type``, or any field error (message names file and key).
    """
    data = load_yaml(path)
    if not isinstance(data, Mapping):
        raise RecipeError("expected a mapping at the top level", file=path)
    data = dict(data)
    type_name = data.pop("type", None)
    if type_name is None:
        raise RecipeError(f"missing key 'type'; expected one of {list_pipelines()}", file=path)
    try:
        pipeline = get_pipeline(str(type_name))
        recipe = from_dict(pipeline.recipe_type, data)
    except RecipeError as exc:
        raise exc.with_file(path) from None
    return pipeline, recipe


def write_resolved_recipe(path: str | Path, pipeline: Pipeline, recipe: Any) -> Path:
    """Write ``{"type": pipeline.type_name, **recipe}`` as YAML, atomically
    ([`load_recipe`][ttfsnet_nas.pipelines.load_recipe] reads it)."""
    return write_yaml(path, {"type": pipeline.type_name, **to_dict(recipe)})


@contextmanager
def resolved_recipe(path: str | Path, pipeline: Pipeline, recipe: Any, *, started: bool) -> Iterator[Path]:
    """Keep ``resolved_recipe.yaml`` describing the run whose outputs lie next to it.

    A new run (``started`` false) writes the file at once, so an interrupted run can be recognised and
    resumed. When the folder already holds a run (a resume or a stage rerun), the file is rewritten only
    after the body finished: a resume refused because the recipe changed must leave the file of the run
    the outputs belong to.

    Args:
        path: the ``resolved_recipe.yaml`` path.
        pipeline: the pipeline (its ``type_name`` is written).
        recipe: the recipe dataclass.
        started: whether the run folder already holds (possibly partial) outputs of a run.

    Yields:
        ``path``.
    """
    target = Path(path)
    if not started:
        write_resolved_recipe(target, pipeline, recipe)
    yield target
    write_resolved_recipe(target, pipeline, recipe)


def null_progress(progress: Progress | None) -> Progress:
    """``progress`` or a [`NullProgress`][ttfsnet_nas.pipelines.NullProgress]."""
    return progress if progress is not None else NullProgress()


@contextmanager
def open_run(
    out: str | Path,
    pipeline: Pipeline,
    recipe: Any,
    *,
    resume: bool,
    stages: Sequence[str] | None,
    progress: Progress | None = None,
) -> Iterator[Path]:
    """Open run folder ``out`` for a run of ``recipe``; keep ``resolved_recipe.yaml`` describing it.

    The folder is resolved to an absolute path (logged, and yielded) and locked for the whole body
    ([`run_lock`][ttfsnet_nas.runlock.run_lock]: a second writer is refused). A folder that already holds a
    run is refused unless the run is resumed (``resume``) or stages are rerun on purpose (``stages``); see
    [`resolved_recipe`][ttfsnet_nas.pipelines.resolved_recipe] for when the file is written. A resume logs the
    recipe keys that changed since the run started, and a refusal because a started stage's recipe changed
    names them.

    Raises:
        JournalExistsError: ``out`` holds a run and neither ``resume`` nor ``stages`` is given.
        RunLockedError: another process holds ``out``.
        RecipeChangedError: a resume met a stage started or finished under another recipe.
    """
    log = null_progress(progress)
    folder = Path(out).expanduser().resolve()
    with run_lock(folder, log):
        log.log(f"run folder: {folder}")
        _remove_stale_temporaries(folder)
        path = folder / "resolved_recipe.yaml"
        started = path.is_file()
        if started and not resume and not stages:
            raise JournalExistsError(
                f"{folder}: already holds a run; pass --resume to continue it or choose another --out"
            )
        now = {"type": pipeline.type_name, **to_dict(recipe)}
        # the folder may have been moved or copied since: its old ``out`` says nothing about the outputs
        changed = [k for k in _changed_keys(load_yaml(path), now) if k != "out"] if started else []
        if changed and resume:
            log.log(f"recipe changed since the run started: {', '.join(changed)}")
        try:
            with resolved_recipe(path, pipeline, recipe, started=started):
                yield folder
        except RecipeChangedError as exc:
            if not changed:
                raise
            raise RecipeChangedError(f"{exc.args[0]} (changed: {', '.join(changed)})") from None


def _remove_stale_temporaries(folder: Path) -> None:
    # Atomic writes stage into ``.<name>.<random>.tmp`` beside their target; a writer SIGKILLed mid-write
    # leaves one behind. Under the run lock no other writer exists, so every such file is stale.
    if not folder.is_dir():
        return
    for tmp in sorted(folder.rglob(".*.tmp"), reverse=True):
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two plain recipe trees."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        keys = list(new) + [k for k in old if k not in new]
        return [
            change
            for k in keys
            for change in _changed_keys(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        ]
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        old, new = list(old), list(new)
    return [] if old == new else [prefix or "(recipe)"]


def builtin_recipes() -> dict[str, Path]:
    """Recipes shipped as package data in ``ttfsnet_nas/recipes/`` (name → file: ``tiny``, ``demo``, ...)."""
    from importlib import resources

    folder = resources.files("ttfsnet_nas") / "recipes"
    if not folder.is_dir():
        return {}
    return {
        Path(entry.name).stem: Path(str(entry))
        for entry in sorted(folder.iterdir(), key=lambda e: Path(e.name).stem)
        if entry.name.endswith((".yaml", ".yml"))
    }


def resolve_recipe(name_or_path: str | Path) -> Path:
    """The recipe file for a CLI argument: an existing file path, else a built-in recipe name.

    Raises:
        RecipeError: neither a file nor a built-in name (the message lists the built-ins).
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    builtins = builtin_recipes()
    name = str(name_or_path)
    if name in builtins:
        return builtins[name]
    if path.exists():
        raise RecipeError("expected a recipe YAML file, got a folder", file=path)
    raise RecipeError(
        "no such recipe file, and no built-in recipe of that name "
        f"(built-ins: {', '.join(builtins) or 'none'})",
        file=path,
    )


register_pipeline("toy", "ttfsnet_nas.toy:ToyPipeline")
