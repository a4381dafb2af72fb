"""What the ``paper`` artefacts read: run folders, SEEN-format result folders, method names and seeds.

A **run folder** is the output of ``ttfsnet-nas search RECIPE --out RUN``; its ``resolved_recipe.yaml`` gives
the method name (the recipe's ``name``), the seed and whether the data is synthetic. A **SEEN folder** holds
per-run result JSONs (read by [`load_results`][ttfsnet_nas.emotion.report.load_results]).

Runs form one method when they have the same name (the recipe's ``name``, or the ``--label NAME=PATH`` given
for them) **and** their recipes differ only in seed keys
([`SEED_KEYS`][ttfsnet_nas.emotion.paper.inputs.SEED_KEYS]) or keys that never change a result
([`IGNORED_KEYS`][ttfsnet_nas.emotion.paper.inputs.IGNORED_KEYS]). Runs
with one name but another difference are refused, naming the key, so that a "std across seeds" never mixes
two methods. Every missing input is an [`InputError`][ttfsnet_nas.errors.InputError] naming the file and the
recipe key whose stage writes it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ttfsnet_nas.emotion.report import load_results
from ttfsnet_nas.emotion.seed_stats import SeedSample
from ttfsnet_nas.errors import InputError

__all__ = [
    "BASELINES_PRODUCER",
    "IGNORED_KEYS",
    "RECIPE_FILE",
    "SEED_KEYS",
    "Method",
    "PaperInputs",
    "RunFolder",
    "baseline_samples",
    "group_methods",
    "is_run_folder",
    "parse_inputs",
    "read_json",
    "read_run_folder",
    "recipe_difference",
    "run_methods",
    "seen_methods",
    "snn_sample",
]

RECIPE_FILE = "resolved_recipe.yaml"
"""The recipe a run folder was produced with (written by ``ttfsnet-nas search``)."""

SEED_KEYS = ("seed", "search.seed")
"""Recipe keys in which runs of one method may differ: the seeds."""

IGNORED_KEYS = (
    "name", "out", "device",
    "data.workers", "data.loader_workers", "data.cache",
    "target_data.workers", "target_data.loader_workers", "target_data.cache",
    "search.workers", "search.gpus_per_worker",
)
"""Recipe keys that change where or how fast a run goes, never its result (and the name, which ``--label``
may override); they are not compared."""

BASELINES_PRODUCER = (
    "the baselines stage writes it when the recipe sets baselines.random_sampling, baselines.random_search "
    "or baselines.fixed"
)
"""Which recipe keys make a run write ``baselines/baselines.json``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PaperInputs:
    """The inputs of one artefact: the folders and the method names given for some of them.

    Attributes:
        paths: input folders (run folders or SEEN folders), in the order given, without repeats.
        labels: folder → method name (``--label NAME=PATH``).
    """

    paths: tuple[Path, ...]
    labels: Mapping[Path, str]

    def label(self, path: Path) -> str | None:
        """The method name given for ``path`` (``None``: none given)."""
        return self.labels.get(path)


def parse_inputs(paths: Sequence[str | os.PathLike[str]], labels: Sequence[str] = ()) -> PaperInputs:
    """Inputs from positional folders and ``NAME=PATH`` labels (a labelled folder need not be repeated).

    Raises:
        InputError: a label without ``=``, an empty name, a missing folder, or no folder at all.
    """
    named: dict[Path, str] = {}
    for text in labels:
        name, sep, path = text.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise InputError(f"--label {text!r}: expected NAME=PATH, e.g. --label 'SEEN=results/seen'")
        named[Path(path.strip()).resolve()] = name.strip()
    ordered = [Path(p).resolve() for p in paths] + list(named)
    unique = list(dict.fromkeys(ordered))
    if not unique:
        raise InputError("no input: give run folders or SEEN result folders (or --label NAME=PATH)")
    for p in unique:
        if not p.is_dir():
            raise InputError(f"{p}: folder not found (expected a run folder or a SEEN result folder)")
    return PaperInputs(paths=tuple(unique), labels=named)


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` is a run folder (has a ``resolved_recipe.yaml``)."""
    return (path / RECIPE_FILE).is_file()


def _synthetic(recipe: Mapping[str, Any]) -> bool:
    for key in ("data", "target_data"):
        section = recipe.get(key)
        if not isinstance(section, Mapping):
            continue
        if section.get("synthetic"):
            return True
        # a generated set given by its folder is still synthetic: the generator leaves its config there
        root = section.get("root")
        if isinstance(root, str) and (Path(root) / "synth_config.json").is_file():
            return True
    return False


@dataclass(frozen=True, kw_only=True, slots=True)
class RunFolder:
    """A finished (or partly finished) run folder.

    Attributes:
        path: the folder.
        recipe: its ``resolved_recipe.yaml`` as a mapping.
        name: the method name (``--label`` or the recipe's ``name``).
        seed: the recipe's master seed.
        synthetic: whether its search or target data is synthetic.
    """

    path: Path
    recipe: Mapping[str, Any]
    name: str
    seed: int
    synthetic: bool

    def get(self, dotted: str, default: Any = None) -> Any:
        """A recipe value by dotted key (``search.domain``); ``default`` when absent."""
        node: Any = self.recipe
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    def json(self, relative: str, producer: str) -> Any:
        """Read ``relative`` below the folder (see
        [`read_json`][ttfsnet_nas.emotion.paper.inputs.read_json])."""
        return read_json(self.path / relative, producer)


def read_json(path: Path, producer: str) -> Any:
    """Read a JSON file a stage wrote.

    Raises:
        InputError: one line naming the file and, when it is missing, ``producer`` (which stage and recipe
            key writes it).
    """
    if not path.is_file():
        raise InputError(f"{path}: not found; {producer}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None


def read_run_folder(path: Path, label: str | None = None) -> RunFolder:
    """Read a run folder's recipe.

    Raises:
        InputError: no or a malformed ``resolved_recipe.yaml``.
    """
    file = path / RECIPE_FILE
    if not file.is_file():
        raise InputError(f"{file}: not found; expected a run folder (ttfsnet-nas search RECIPE --out {path})")
    try:
        recipe = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{file}: cannot read ({type(exc).__name__})") from None
    if not isinstance(recipe, dict):
        raise InputError(f"{file}: expected a recipe mapping")
    seed = recipe.get("seed", 0)
    return RunFolder(
        path=path,
        recipe=recipe,
        name=label if label is not None else str(recipe.get("name", path.name)),
        seed=int(seed) if isinstance(seed, int) else 0,
        synthetic=_synthetic(recipe),
    )


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): node}


def _at(flat: Mapping[str, Any], key: str) -> Any:
    if key in flat:
        return flat[key]
    parent = next((k for k in flat if key.startswith(f"{k}.")), None)
    return flat[parent] if parent is not None else "<a section>"


def recipe_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """The first dotted key (sorted) where two recipes differ, other than
    [`SEED_KEYS`][ttfsnet_nas.emotion.paper.inputs.SEED_KEYS] and
    [`IGNORED_KEYS`][ttfsnet_nas.emotion.paper.inputs.IGNORED_KEYS]; ``None`` when they differ only there.

    Only keys that both recipes record are compared: a key that one of them lacks was added to (or removed
    from) the recipe schema between the two code versions, and the file cannot say which value was meant.
    """
    fa, fb = _flatten(a), _flatten(b)
    skip = set(SEED_KEYS) | set(IGNORED_KEYS)
    for key in sorted(set(fa) | set(fb)):
        if key in skip or any(key.startswith(f"{s}.") for s in skip):
            continue
        if key in fa and key in fb:
            if fa[key] != fb[key]:
                return key
            continue
        # a section set in one recipe and null in the other (target_data) is a difference, not a new key
        other = fb if key in fa else fa
        if any(k.startswith(f"{key}.") or key.startswith(f"{k}.") for k in other):
            return key
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class Method:
    """The runs of one method, one per seed.

    Attributes:
        name: the method name.
        runs: its run folders, in the order given.
    """

    name: str
    runs: tuple[RunFolder, ...]

    @property
    def synthetic(self) -> bool:
        """Whether any of its runs used synthetic data."""
        return any(r.synthetic for r in self.runs)


def group_methods(runs: Sequence[RunFolder]) -> list[Method]:
    """Runs grouped into methods by name, in the order of first appearance.

    Raises:
        InputError: two runs of one name whose recipes differ in more than the seed (the message names the
            key and both values), or two runs of one method with the same seed (not independent seeds).
    """
    groups: dict[str, list[RunFolder]] = {}
    for run in runs:
        groups.setdefault(run.name, []).append(run)
    for name, members in groups.items():
        first = members[0]
        seen_seeds: dict[tuple[Any, Any], Path] = {}
        for other in members:
            diff = recipe_difference(first.recipe, other.recipe)
            if diff is not None:
                fa, fb = _flatten(first.recipe), _flatten(other.recipe)
                raise InputError(
                    f"{other.path}: method {name!r} would mix runs that differ in {diff} "
                    f"({_at(fa, diff)!r} in {first.path}, {_at(fb, diff)!r} here), "
                    "not only in the seed; give them different names with --label NAME=PATH"
                )
            key = (other.get("seed"), other.get("search.seed"))
            if key in seen_seeds:
                raise InputError(
                    f"{other.path}: method {name!r} has seed {key[0]} twice (also {seen_seeds[key]}); "
                    "statistics across seeds need one run per seed"
                )
            seen_seeds[key] = other.path
    return [Method(name=n, runs=tuple(m)) for n, m in groups.items()]


def _values(part: Mapping[str, Any]) -> dict[str, float]:
    return {k: math.nan if v is None else float(v) for k, v in part.items() if isinstance(v, (int, float))
            or v is None}


_EFFICIENCY_KEYS = ("synops_per_sample", "params", "latency", "spikes_per_neuron", "spikes_per_sample")


def _efficiency(summary: Mapping[str, Any]) -> dict[str, float]:
    out = {k: float(summary[k]) for k in _EFFICIENCY_KEYS if isinstance(summary.get(k), (int, float))}
    hardware = summary.get("hardware")
    if isinstance(hardware, Mapping):
        for k, v in hardware.items():
            if isinstance(v, (int, float)):
                out[f"hardware/{k}"] = float(v)
    return out


def _summary_sample(summary: Mapping[str, Any], where: Path) -> SeedSample:
    try:
        snn = summary["snn"]
        mean = _values(snn["mean"])
        std = _values(snn["std"])
        runs = int(summary["runs"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(
            f"{where}: expected runs, snn.mean and snn.std ({type(exc).__name__}: {exc})"
        ) from None
    mean.update(_efficiency(summary))
    return SeedSample(mean=mean, std=std, runs=runs)


def snn_sample(run: RunFolder) -> SeedSample:
    """The run's final SNN on the test split (``test/summary.json``): metric means and test-window stds over
    its R test runs, plus SynOPs, parameters, latency, spikes and the hardware estimate (``hardware/<key>``)
    where recorded."""
    path = run.path / "test" / "summary.json"
    return _summary_sample(run.json("test/summary.json", "the test stage writes it (every recipe)"), path)


def baseline_samples(run: RunFolder) -> dict[str, tuple[SeedSample, int]]:
    """Baseline group (``random sampling``, ``random search``, ``fixed conv3x3``, ...) → (the group's SNN test
    result, number of architectures) from ``baselines/baselines.json``.

    A group of several architectures (random sampling) is their mean, as in TNAS-ER §4.5: every metric is the
    mean over the architectures of each one's mean over its test runs, its test-window std the mean of
    theirs, and ``arch_std/<metric>`` the std across the architectures (ddof = 1; NaN for one).

    Raises:
        InputError: the file is missing (naming the recipe keys that produce it) or malformed.
    """
    path = run.path / "baselines" / "baselines.json"
    rows = run.json("baselines/baselines.json", BASELINES_PRODUCER)
    if not isinstance(rows, list) or not rows:
        raise InputError(f"{path}: expected a non-empty list of baselines")
    groups: dict[str, list[SeedSample]] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or "group" not in row or "summary" not in row:
            raise InputError(f"{path}: entry {i}: expected group and summary")
        groups.setdefault(str(row["group"]), []).append(_summary_sample(row["summary"], path))
    out: dict[str, tuple[SeedSample, int]] = {}
    for group, samples in groups.items():
        keys = list(dict.fromkeys(k for s in samples for k in s.mean))
        mean: dict[str, float] = {}
        std: dict[str, float] = {}
        for k in keys:
            values = np.array([s.mean.get(k, math.nan) for s in samples], dtype=float)
            defined = values[~np.isnan(values)]
            mean[k] = float(defined.mean()) if len(defined) else math.nan
            if len(samples) > 1 and k in samples[0].std:
                mean[f"arch_std/{k}"] = float(defined.std(ddof=1)) if len(defined) > 1 else math.nan
            stds = np.array([s.std.get(k, math.nan) for s in samples], dtype=float)
            if not np.isnan(stds).all():
                std[k] = float(np.nanmean(stds))
        out[group] = (SeedSample(mean=mean, std=std, runs=samples[0].runs), len(samples))
    return out


def _recipe_above(folder: Path) -> RunFolder | None:
    # a SEEN folder inside a run folder (RUN/test) inherits the run's data kind
    for parent in (folder, *list(folder.parents)[:2]):
        if is_run_folder(parent):
            return read_run_folder(parent)
    return None


def seen_methods(path: Path, label: str | None) -> list[tuple[str, SeedSample, bool | None]]:
    """The methods of a SEEN folder (see [`load_results`][ttfsnet_nas.emotion.report.load_results]) as
    (name, result, synthetic): synthetic is ``None`` (unknown) unless the folder lies in a run folder.
    A ``label`` names the folder's single method, or prefixes the names of several.

    Raises:
        InputError: no SEEN result file in the folder or below it.
    """
    try:
        results = load_results(path)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    run = _recipe_above(path)
    synthetic = run.synthetic if run is not None else None
    out: list[tuple[str, SeedSample, bool | None]] = []
    for name, agg in results.items():
        if label is not None:
            name = label if len(results) == 1 else f"{label}/{name}"
        out.append((name, SeedSample(mean=dict(agg.mean), std=dict(agg.std), runs=agg.runs), synthetic))
    return out


def run_methods(inputs: PaperInputs, artefact: str) -> list[Method]:
    """The inputs as run folders grouped into methods (for artefacts that only run folders can feed).

    Raises:
        InputError: an input is not a run folder (naming ``artefact``), or the grouping fails.
    """
    runs = []
    for path in inputs.paths:
        if not is_run_folder(path):
            raise InputError(
                f"{path / RECIPE_FILE}: not found; {artefact} reads run folders (ttfsnet-nas search RECIPE "
                f"--out {path})"
            )
        runs.append(read_run_folder(path, inputs.label(path)))
    return group_methods(runs)
