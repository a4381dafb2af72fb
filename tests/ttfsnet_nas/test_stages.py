"""The generic stage runner: markers, fingerprints, dependencies, reruns, checkpoints (torch-free)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ttfsnet_nas.config import RecipeError
from ttfsnet_nas.errors import PipelineError
from ttfsnet_nas.progress import NullProgress
from ttfsnet_nas.stages import RecipeChangedError, Stage, StageRunner


class Chain:
    """Three stages a → b → c (c needs b, b needs a) that log their runs and write one output file each."""

    def __init__(self, out: Path, config: dict[str, Any] | None = None) -> None:
        self.out = out
        self.config = {"a": 1, "b": 2, "c": 3, **(config or {})}
        self.log: list[str] = []

    def stage(self, name: str, needs: tuple[str, ...] = (), **kw: Any) -> Stage:
        def run() -> dict[str, Any]:
            self.log.append(name)
            (self.out / f"{name}.txt").write_text(str(self.config[name]))
            return {"value": self.config[name]}

        return Stage(name=name, run=run, needs=needs, config=self.config[name], **kw)

    def stages(self, **kw: Any) -> list[Stage]:
        return [self.stage("a", **kw), self.stage("b", ("a",)), self.stage("c", ("b",))]

    def runner(self, **kw: Any) -> StageRunner:
        return StageRunner(self.out, self.stages(), **kw)


def test_runs_in_order_and_writes_markers(tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    assert chain.runner().run() == ["a", "b", "c"]
    marker = json.loads((tmp_path / "stages" / "b.json").read_text())
    assert marker["stage"] == "b" and marker["summary"] == {"value": 2} and marker["seconds"] >= 0
    assert set(chain.runner().seconds()) == {"a", "b", "c"}
    assert chain.runner().complete() and chain.runner().complete("a", "c")


def test_resume_skips_complete_stages_and_continues_incomplete_ones(tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    chain.runner(selected=["a", "b"]).run()
    assert not chain.runner().complete("c")
    chain.log.clear()
    assert chain.runner(resume=True).run() == ["c"]
    assert chain.runner(resume=True).run() == []


def test_rerun_of_a_stage_invalidates_what_needs_it_and_the_summaries(tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    chain.runner().run()
    (tmp_path / "result.json").write_text("{}")
    assert chain.runner(selected=["b"]).run() == ["b"]
    assert not (tmp_path / "result.json").exists()  # a run-level summary of the old outputs
    assert not chain.runner().complete("c") and chain.runner().complete("a", "b")
    # c is incomplete now and not selected: a later selection that needs it says what to add
    later = StageRunner(tmp_path, [*chain.stages(), chain_stage_d(chain)], selected=["d"])
    with pytest.raises(PipelineError, match="stage 'c' has no complete outputs; include it in --stages"):
        later.run()


def chain_stage_d(chain: Chain) -> Stage:
    chain.config["d"] = 4
    return chain.stage("d", ("c",))


def test_a_changed_setting_reaches_every_stage_downstream(tmp_path: Path) -> None:
    Chain(tmp_path).runner().run()
    changed = Chain(tmp_path, {"a": 10})
    for name in ("a", "b", "c"):
        assert changed.runner().fingerprint(name) != Chain(tmp_path).runner().fingerprint(name)
    with pytest.raises(RecipeChangedError, match="stage 'a' was produced with a different recipe"):
        changed.runner(resume=True).run()
    # only the settings of c changed: a and b are still this recipe's
    late = Chain(tmp_path, {"c": 30})
    assert late.runner().fingerprint("b") == Chain(tmp_path).runner().fingerprint("b")
    with pytest.raises(RecipeChangedError, match="stage 'c'"):
        late.runner(resume=True).run()
    assert late.runner(selected=["c"]).run() == ["c"]  # rerunning it on purpose is fine


class Killed(Exception):
    """Stands in for a process killed inside a stage."""


def _kill_in_b(chain: Chain) -> list[Stage]:
    """The chain with a b that dies half-way (its partial output written, no marker)."""

    def dying() -> dict[str, Any]:
        (chain.out / "b.partial").write_text(str(chain.config["b"]))
        raise Killed

    a, b, c = chain.stages()
    return [a, Stage(name="b", run=dying, needs=b.needs, config=b.config), c]


def test_a_started_stage_refuses_a_changed_recipe_until_forced(tmp_path: Path) -> None:
    with pytest.raises(Killed):
        StageRunner(tmp_path, _kill_in_b(Chain(tmp_path))).run()
    markers = tmp_path / "stages"
    assert (markers / "b.started.json").is_file() and not (markers / "b.json").exists()
    changed = Chain(tmp_path, {"b": 20})
    # the partial output of b belongs to b = 2: continuing or dropping it silently would both be wrong
    with pytest.raises(RecipeChangedError, match="'b' started with a different recipe.*--force-stage b"):
        changed.runner(resume=True).run()
    assert changed.log == []
    # the same recipe resumes as before
    same = Chain(tmp_path)
    assert same.runner(resume=True).run() == ["b", "c"]
    assert not (tmp_path / "stages" / "b.started.json").exists()


def test_force_stage_discards_partial_outputs_and_logs_it(tmp_path: Path) -> None:
    with pytest.raises(Killed):
        StageRunner(tmp_path, _kill_in_b(Chain(tmp_path))).run()
    changed = Chain(tmp_path, {"b": 20})
    runner = changed.runner(resume=True, forced=["b"])
    ckpt = runner.checkpoint("b", tmp_path / "ckpt")
    ckpt.write_text("old")
    # under resume a forced stage's checkpoint is not continued
    assert not runner.checkpoint("b", tmp_path / "ckpt").exists()
    log = _Log()
    assert changed.runner(resume=True, forced=["b"], progress=log).run() == ["b", "c"]
    assert any("stage b: --force-stage discards" in line for line in log.lines)
    assert (tmp_path / "b.txt").read_text() == "20"
    with pytest.raises(RecipeError, match="--force-stage.*unknown stage 'x'"):
        changed.runner(resume=True, forced=["x"])


class _Log(NullProgress):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


def test_journaled_stages_always_run_under_resume(tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    runner = StageRunner(tmp_path, chain.stages(journaled=True))
    runner.run()
    chain.log.clear()
    # the journal of a decides what is left; b and c need a, so they rerun after it
    assert StageRunner(tmp_path, chain.stages(journaled=True), resume=True).run() == ["a", "b", "c"]


def test_unknown_and_badly_ordered_stages(tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    with pytest.raises(RecipeError, match="--stages: unknown stage 'z'; expected some of a, b, c"):
        chain.runner(selected=["z"])
    stages = chain.stages()
    with pytest.raises(PipelineError, match="stage 'b' needs 'c', which is not an earlier stage"):
        StageRunner(tmp_path, [stages[0], Stage(name="b", run=lambda: {}, needs=("c",)), stages[2]])
    with pytest.raises(PipelineError, match="unique"):
        StageRunner(tmp_path, [stages[0], stages[0]])


def test_checkpoints_carry_the_fingerprint_and_survive_only_a_resume(tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    folder = tmp_path / "ckpt"
    path = chain.runner(resume=True).checkpoint("b", folder, "arch-1")
    path.write_bytes(b"state")
    stale = folder / "train-0000.ckpt"
    stale.write_bytes(b"old")
    assert chain.runner(resume=True).checkpoint("b", folder, "arch-1") == path
    assert path.exists() and not stale.exists()  # another recipe's checkpoint is removed
    assert chain.runner(resume=True).checkpoint("b", folder, "arch-2") != path
    assert not path.exists()  # only one checkpoint per folder
    fresh: Callable[[], Path] = lambda: chain.runner().checkpoint("b", folder, "arch-2")  # noqa: E731
    fresh().write_bytes(b"x")
    assert not fresh().exists()  # without resume a rerun starts from scratch


def test_the_toy_pipeline_runs_on_the_same_runner(tmp_path: Path) -> None:
    """The runner is generic: the torch-free toy task uses it exactly like the emotion pipeline."""
    from ttfsnet_nas.pipelines import get_pipeline
    from ttfsnet_nas.toy import ToyRecipe

    recipe = ToyRecipe()
    out = tmp_path / "toy"
    get_pipeline("toy").search(recipe, out=out, stages=["search"])
    assert sorted(p.stem for p in (out / "stages").glob("*.json")) == ["search"]
    get_pipeline("toy").search(recipe, out=out, resume=True)
    markers = {p.stem: json.loads(p.read_text()) for p in (out / "stages").glob("*.json")}
    assert set(markers) == {"search", "export"} and (out / "artifact").is_dir()
    runner = StageRunner(out, [Stage(name="search", run=dict, config=recipe)])
    assert markers["search"]["fingerprint"] == runner.fingerprint("search")
