"""A synthetic, torch-free fitness landscape and the ``toy`` pipeline built on it.

The landscape is a chain of unary and neighbour-pair terms over a categorical space::

    f(a) = Σ_g u_g[a_g] + Σ_g v_g[a_g, a_{g+1}],   u ~ U(0, 1),  v ~ epistasis · U(0, 1)

Its exact optimum (and minimum) follow from dynamic programming along the chain, so tests know the answer
for any space size. The ``toy`` pipeline runs search (plus optional baselines) → export end to end with
the real journal, resume, stage runner, artifact and plotting code and writes ``result.json`` like the
real pipelines, which makes the CLI testable without torch and shows that the stage runner is generic.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ttfsnet_nas.artifact import read_artifact, write_artifact
from ttfsnet_nas.config import RecipeError, param, replace_path, to_dict
from ttfsnet_nas.errors import PipelineError
from ttfsnet_nas.journal import atomic_write_json
from ttfsnet_nas.pipelines import Pipeline, null_progress, open_run
from ttfsnet_nas.progress import Progress
from ttfsnet_nas.search import SearchConfig, SearchResult, result_from_journal, run_search
from ttfsnet_nas.space import Architecture, SearchSpace
from ttfsnet_nas.stages import Stage, StageRunner
from ttfsnet_nas.strategies import list_strategies

__all__ = ["Landscape", "ToyLandscapeConfig", "ToyPipeline", "ToyRecipe", "ToySpaceConfig", "toy_space"]


def toy_space(genes: int = 6, ops: int = 3) -> SearchSpace:
    """Space with genes ``b0..b{genes-1}``, each with ops ``op0..op{ops-1}``."""
    return SearchSpace({f"b{g}": [f"op{o}" for o in range(ops)] for g in range(genes)})


class Landscape:
    """Chain-structured synthetic landscape with a known optimum.

    Args:
        space: Search space (any gene/op counts).
        seed: Seed of the term values.
        epistasis: Scale of the neighbour-pair terms relative to the unary ones.
    """

    def __init__(self, space: SearchSpace, *, seed: int = 0, epistasis: float = 0.3) -> None:
        rng = np.random.default_rng(seed)
        self.space = space
        sizes = [len(ops) for ops in space.genes.values()]
        self.unary = [rng.random(n) for n in sizes]
        self.pair = [epistasis * rng.random((a, b)) for a, b in zip(sizes, sizes[1:], strict=False)]
        _, self._best_arch = self._extreme(maximise=True)
        _, worst_arch = self._extreme(maximise=False)
        # recompute with value()'s summation order so the optimum scores exactly best_value (and 100 %)
        self._best = self.value(self._best_arch)
        self._worst = self.value(worst_arch)

    def value(self, arch: Architecture) -> float:
        """Raw landscape value."""
        idx = self.space.encode(arch)
        v = sum(float(u[i]) for u, i in zip(self.unary, idx, strict=True))
        return v + sum(float(p[i, j]) for p, i, j in zip(self.pair, idx, idx[1:], strict=False))

    def _extreme(self, *, maximise: bool) -> tuple[float, Architecture]:
        pick = np.argmax if maximise else np.argmin
        best = self.unary[0].copy()
        back: list[np.ndarray] = []
        for g in range(1, len(self.unary)):
            # cand[i, j]: best chain ending with op i at gene g-1 then op j at gene g
            cand = best[:, None] + self.pair[g - 1] + self.unary[g][None, :]
            arg = pick(cand, axis=0)
            back.append(arg)
            best = cand[arg, np.arange(cand.shape[1])]
        last = int(pick(best))
        idx = [last]
        for arg in reversed(back):
            idx.append(int(arg[idx[-1]]))
        return float(best[last]), self.space.decode(list(reversed(idx)))

    @property
    def optimum(self) -> Architecture:
        """The best architecture."""
        return self._best_arch

    @property
    def best_value(self) -> float:
        """Value of the optimum."""
        return self._best

    def accuracy(self, arch: Architecture) -> float:
        """Value rescaled to [0, 100] between the landscape's minimum and maximum."""
        return 100.0 * (self.value(arch) - self._worst) / (self._best - self._worst)

    def params(self, arch: Architecture) -> float:
        """Synthetic parameter count: larger op indices cost more (exercises constraints)."""
        return float(sum((i + 1) * 100_000 for i in self.space.encode(arch)))

    def metrics(self, arch: Architecture, *, noise: float = 0.0) -> dict[str, float]:
        """Evaluator-style metrics. Noise comes from numpy's *global* RNG, like dropout or a shuffled
        evaluation split would in a real evaluator, so resume must restore that RNG to stay identical."""
        acc = self.accuracy(arch)
        if noise > 0:
            acc += float(np.random.normal(0.0, noise))
        return {"accuracy": acc, "war": acc, "uar": acc, "params": self.params(arch)}


@dataclass(frozen=True, kw_only=True, slots=True)
class ToySpaceConfig:
    """``space:`` section of a toy recipe.

    Attributes:
        genes: Number of searchable blocks.
        ops: Ops per block.
    """

    genes: int = param(6, ge=1)
    ops: int = param(3, ge=2)


@dataclass(frozen=True, kw_only=True, slots=True)
class ToyLandscapeConfig:
    """``landscape:`` section of a toy recipe.

    Attributes:
        seed: Seed of the landscape terms (not of the search).
        epistasis: Strength of neighbour interactions.
        noise: Std of Gaussian evaluation noise (percentage points).
        eval_seconds: Sleep per evaluation (simulates evaluation cost; used by the kill/resume test).
    """

    seed: int = param(0, ge=0)
    epistasis: float = param(0.3, ge=0.0)
    noise: float = param(0.0, ge=0.0)
    eval_seconds: float = param(0.0, ge=0.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class ToyRecipe:
    """Recipe of ``type: toy``.

    Attributes:
        space: Space size.
        landscape: Landscape definition.
        search: Strategy and fitness.
        baselines: Strategies run after the main search with the same seed and fitness, each with its own
            journal (``baselines/<name>.jsonl``), e.g. ``[random_search]`` (best of ``search.samples``,
            default 100). Their best candidates are reported in ``result.json``.
        plots: Write ``fitness.png`` and ``ops.png`` (needs matplotlib).
    """

    space: ToySpaceConfig = field(default_factory=ToySpaceConfig)
    landscape: ToyLandscapeConfig = field(default_factory=ToyLandscapeConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    baselines: tuple[str, ...] = ()
    plots: bool = False

    def __post_init__(self) -> None:
        known = list_strategies()
        for name in self.baselines:
            if name not in known:
                raise ValueError(f"baselines: expected registered strategy names {known}, got {name!r}")
        if len(set(self.baselines)) != len(self.baselines):
            raise ValueError(f"baselines: a strategy is listed twice: {list(self.baselines)}")


class ToyPipeline(Pipeline):
    """search → export on the synthetic landscape."""

    type_name = "toy"
    recipe_type = ToyRecipe
    stages = ("search", "export")

    def _setup(self, recipe: ToyRecipe) -> tuple[SearchSpace, Landscape]:
        space = toy_space(recipe.space.genes, recipe.space.ops)
        return space, Landscape(space, seed=recipe.landscape.seed, epistasis=recipe.landscape.epistasis)

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
        if device is not None:
            raise RecipeError("the toy pipeline runs no model; it has no device to choose", key="--device")
        progress = null_progress(progress)
        todo = self.check_stages(stages)
        if seed is not None:
            recipe = replace_path(recipe, "search.seed", seed)
        out = Path(out)
        chain = [
            Stage(
                name="search",
                run=lambda: self._search(recipe, out, resume, progress, fresh="search" in force),
                config=recipe,
                journaled=True,  # its journal header names a changed seed, space or strategy precisely
            ),
            Stage(
                name="export", needs=("search",),
                run=lambda: {"artifact": str(self.export(recipe, run_dir=out))},
            ),
        ]
        with open_run(out, self, recipe, resume=resume, stages=stages, progress=progress):
            # result.json belongs to the search stage here, so no run-level summary goes stale
            StageRunner(
                out, chain, selected=list(todo), resume=resume, forced=force, progress=progress, summaries=()
            ).run()
        return out / "artifact" if "export" in todo else out

    def _search(
        self, recipe: ToyRecipe, out: Path, resume: bool, progress: Progress, *, fresh: bool = False
    ) -> dict[str, Any]:
        space, land = self._setup(recipe)
        cfg = recipe.landscape

        def evaluate(arch: Architecture) -> dict[str, float]:
            if cfg.eval_seconds:
                time.sleep(cfg.eval_seconds)
            return land.metrics(arch, noise=cfg.noise)

        if fresh:  # --force-stage search: the journals of the old recipe go, the search starts over
            resume = False
            for journal in [out / "journal.jsonl", *out.glob("baselines/*.jsonl")]:
                journal.unlink(missing_ok=True)
        _seed_globals(recipe.search.seed)
        result = run_search(
            recipe.search.build_strategy(space),
            evaluate,
            journal=out / "journal.jsonl",
            header={"landscape": to_dict(cfg)},
            resume=resume,
            progress=progress,
        )
        baselines = {}
        for name in recipe.baselines:
            progress.log(f"baseline {name}")
            _seed_globals(recipe.search.seed)
            baselines[name] = run_search(
                dataclasses.replace(recipe.search, strategy=name).build_strategy(space),
                evaluate,
                journal=out / "baselines" / f"{name}.jsonl",
                header={"landscape": to_dict(cfg)},
                resume=resume,
                progress=progress,
            )
        self._summarise(recipe, out, result, baselines, land)
        return {"evaluations": len(result.history)}

    def _summarise(
        self,
        recipe: ToyRecipe,
        out: Path,
        result: SearchResult,
        baselines: dict[str, SearchResult],
        land: Landscape,
    ) -> None:
        summary = {
            **_result_summary(result, land),
            "resumed": result.resumed,
            "optimum": land.optimum.to_dict(),
            "rounds": [dataclasses.asdict(r) for r in result.round_stats()],
        }
        if baselines:
            summary["baselines"] = {name: _result_summary(res, land) for name, res in baselines.items()}
        atomic_write_json(out / "result.json", summary)
        if recipe.plots:
            from ttfsnet_nas.plots import plot_fitness, plot_op_counts

            plot_fitness(result.round_stats(), out / "fitness.png")
            plot_op_counts(result.op_counts(), out / "ops.png", title="evaluated ops per block")

    def export(
        self, recipe: Any, *, run_dir: Path, out: Path | None = None, progress: Progress | None = None
    ) -> Path:
        space, land = self._setup(recipe)
        journal = Path(run_dir) / "journal.jsonl"
        if not journal.exists():
            raise PipelineError(f"export: {journal} not found; run the 'search' stage first")
        result = result_from_journal(journal, recipe.search.build_strategy(space))
        if result.best is None:
            raise PipelineError(f"export: {journal} holds no evaluated candidate")
        best = result.best
        metrics = {
            "search": {**result.metrics[best.index], **best.values},
            "evaluations": len(result.history),
            "landscape_value": land.value(best.architecture),
        }
        return write_artifact(
            out or Path(run_dir) / "artifact",
            architecture=best.architecture,
            space=space,
            metrics=metrics,
            recipe={"type": self.type_name, **to_dict(recipe)},
            info={"pipeline": self.type_name},
            overwrite=True,
        )

    def evaluate(
        self, recipe: Any, *, artifact: Path, progress: Progress | None = None, device: str | None = None
    ) -> dict[str, Any]:
        if device is not None:
            raise RecipeError("the toy pipeline runs no model; it has no device to choose", key="--device")
        space, land = self._setup(recipe)
        art = read_artifact(artifact)
        if art.space.hash != space.hash and art.manifest.get("space_hash") != space.hash:
            raise PipelineError(
                f"evaluate: artifact {artifact} was searched in another space than the recipe's"
            )
        arch = space.architecture(art.architecture)
        metrics: dict[str, Any] = dict(land.metrics(arch))
        metrics["landscape_value"] = land.value(arch)
        metrics["is_optimum"] = arch == land.optimum
        return json.loads(json.dumps(metrics))


def _result_summary(result: SearchResult, land: Landscape) -> dict[str, Any]:
    best = result.best
    return {
        "evaluations": len(result.history),
        "best": best.architecture.to_dict() if best else None,
        "best_values": best.values if best else None,
        "best_metrics": result.metrics[best.index] if best else None,
        "found_optimum": bool(best and best.architecture == land.optimum),
    }


def _seed_globals(seed: int) -> None:
    # the evaluation noise comes from the global RNGs (like dropout in a real evaluator): seed them so a
    # fresh run is reproducible; on resume run_search then restores the journaled states over this
    random.seed(seed)
    np.random.seed(seed)
