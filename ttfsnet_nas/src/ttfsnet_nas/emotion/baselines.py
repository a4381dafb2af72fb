"""The baselines of TNAS-ER §4.5 / Fig. 7 (``baselines`` stage): random sampling, random search on the
supernet and fixed backbones, each retrained, transferred and tested with the budget of the searched
network (stages 3–5) and costed on the same hardware profile (``summary["hardware"]``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from ttfsnet_nas.journal import atomic_write_json
from ttfsnet_nas.space import Architecture

if TYPE_CHECKING:
    from ttfsnet_nas.emotion.stages import EmotionStages

__all__ = ["baseline_archs", "run_baselines"]


def baseline_archs(stages: EmotionStages) -> list[tuple[str, str, Architecture]]:
    """(group, name, architecture) of every requested baseline."""
    b = stages.recipe.baselines
    space = stages.search_space()
    out: list[tuple[str, str, Architecture]] = []
    if b.random_sampling:
        rng = np.random.default_rng(stages.recipe.seed + 7)
        for i in range(b.random_sampling):
            out.append(("random sampling", f"random_sampling_{i + 1:02d}", space.sample(rng)))
    if b.random_search:
        result = stages.journaled_search(
            stages.out / "baselines" / "random_search.jsonl",
            lambda: stages.strategy(strategy="random_search", samples=b.random_search),
            stage="baselines",
        )
        assert result.best is not None
        out.append(("random search", "random_search", result.best.architecture))
    for op in b.fixed:
        out.append((f"fixed {op}", f"fixed_{op}", Architecture({g: op for g in space.gene_names})))
    return out


def run_baselines(stages: EmotionStages) -> dict[str, Any]:
    """Retrain, transfer and test every baseline architecture; write ``baselines/baselines.json``.

    The progress task ``baselines`` counts the architectures (resumed ones as done), next to the retrain,
    fine-tune and test tasks of each."""
    rows: list[dict[str, Any]] = []
    archs = baseline_archs(stages)
    finished = {
        name for _, name, _ in archs
        if (stages.out / "baselines" / name / "summary.json").is_file() and stages.resuming("baselines")
    }
    stages.progress.start("baselines", len(archs), completed=len(finished))
    for group, name, arch in archs:
        folder = stages.out / "baselines" / name
        done = folder / "summary.json"
        if name in finished:
            rows.append(json.loads(done.read_text()))
            continue
        folder.mkdir(parents=True, exist_ok=True)
        stages.retrain(arch, folder / "ann", f"{name}: retrain")
        stages.transfer(folder / "ann", folder / "snn.pt", arch, f"{name}: finetune")
        summary = stages.test(folder / "ann", folder / "snn.pt", None, f"{name}: test")
        summary["hardware"] = stages.hardware(folder / "snn.pt")
        row = {"group": group, "name": name, "architecture": arch.key, "summary": summary}
        atomic_write_json(done, row)
        rows.append(row)
        stages.progress.advance("baselines", 1, war=f"{summary['snn']['mean']['war']:.3f}")
    stages.progress.finish("baselines")
    atomic_write_json(stages.out / "baselines" / "baselines.json", rows)
    return {"baselines": len(rows)}
