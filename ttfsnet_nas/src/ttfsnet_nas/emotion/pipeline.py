"""The TNAS-ER pipeline for event-based eye emotion recognition (``type: emotion`` recipes).

A thin composition: the data ([`data`][ttfsnet_nas.emotion.data]), the five stages plus baselines
([`stages`][ttfsnet_nas.emotion.stages]) run by the core stage runner
([`ttfsnet_nas.stages`][ttfsnet_nas.stages]), and the tables, plots, ``result.json`` and artifact of a
finished run ([`results`][ttfsnet_nas.emotion.results]).

Outputs in ``OUT``::

    resolved_recipe.yaml  split.json  result.json  fitness.png  ops.png  comparison.png (baselines)
    pareto.png (Pareto searches)
    results.md/.csv  efficiency.md/.csv  comparison.md/.csv (baselines)
    stages/<stage>.json                      completion markers (fingerprint, seconds, summary)
    supernet/supernet.pt                     supernet state_dict (+ op counts, losses)
    search/journal.jsonl  search/search.json
    retrain/ann/model.json, weights.pt       retrained ANN (ttfsnet_nas.torch.save_model)
    snn/snn.pt                               the fine-tuned TTFS network (ttfsnet.save)
    test/test_epoch_0_<r>.json               SEEN-format predictions of the SNN, one file per run
    test/summary.json
    quantized/summary.json                   quantised vs float SNN (optional ``quantize`` stage)
    artifact/                                architecture.json, model.json, weights.pt, snn.pt, metrics.json
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ttfsnet_nas.artifact import read_artifact
from ttfsnet_nas.config import RecipeError, replace_path
from ttfsnet_nas.emotion.data import check_event_framing
from ttfsnet_nas.emotion.quantized import load_quantizer
from ttfsnet_nas.emotion.recipe import EmotionRecipe, load_recipe, recipe_from_mapping
from ttfsnet_nas.emotion.results import SNN_FILE, export_artifact, finalize
from ttfsnet_nas.emotion.scaleout import follow_supernet, torchrun_ranks
from ttfsnet_nas.emotion.stages import STAGES, EmotionStages
from ttfsnet_nas.errors import PipelineError
from ttfsnet_nas.pipelines import Pipeline, open_run
from ttfsnet_nas.progress import Progress
from ttfsnet_nas.space import Architecture
from ttfsnet_nas.torch.device import resolve_device

__all__ = ["STAGES", "EmotionPipeline", "print_summary", "run_pipeline", "synthetic_note"]


def run_pipeline(
    recipe: EmotionRecipe | Mapping[str, Any] | str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    stages: Sequence[str] | None = None,
    resume: bool = False,
    seed: int | None = None,
    progress: Progress | None = None,
    device: str | None = None,
    force: Sequence[str] = (),
) -> dict[str, Any]:
    """Run (or continue) the TNAS-ER pipeline.

    Args:
        recipe: an [`EmotionRecipe`][ttfsnet_nas.emotion.pipeline.EmotionRecipe], its YAML mapping, or a YAML
            file path.
        out: output folder (default: the recipe's ``out``).
        stages: stages to run (default: all, plus ``baselines`` when the recipe asks for them). Earlier
            stages must then be complete in ``out``.
        resume: skip complete stages and continue journals and checkpoints.
        seed: override the recipe's master seed.
        progress: progress sink (default: silent).
        device: override the recipe's ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``).
        force: stages whose partial outputs (checkpoint, journal) a ``resume`` discards and starts over,
            although the recipe changed under them (without it such a resume is refused).

    Returns:
        ``result.json``'s content plus ``tables`` (the markdown tables) and ``out`` once every stage is
        complete; otherwise which stages are complete.

    Raises:
        RecipeError: a bad recipe or stage name.
        PipelineError: missing inputs of a stage, or a stage made with another recipe.
        DatasetError: ``event_framing: tonic`` without tonic installed (checked before anything runs).
        JournalExistsError: ``out`` already holds a run while neither ``resume`` nor ``stages`` is given.
    """
    rec = _as_recipe(recipe)
    if seed is not None:
        if seed < 0:
            raise RecipeError(f"expected an integer >= 0, got {seed}", key="--seed")
        rec = replace(rec, seed=seed)
    if device is not None:
        resolve_device(device, key="--device")  # here, so that a message names the option
        rec = replace_path(rec, "device", device)
    folder = Path(out if out is not None else rec.out).expanduser().resolve()
    if out is not None:
        rec = replace(rec, out=str(folder))
    if stages and "baselines" in stages and not rec.baselines.enabled:
        raise RecipeError(
            "stage 'baselines' selected but the recipe's baselines section requests none", key="--stages"
        )
    if stages and "settings" in stages and not rec.settings.enabled:
        raise RecipeError(
            "stage 'settings' selected but the recipe does not set settings.enabled: true", key="--stages"
        )
    if stages and "quantize" in stages and not rec.quantize.enabled:
        raise RecipeError(
            "stage 'quantize' selected but the recipe does not set quantize.enabled: true", key="--stages"
        )
    if rec.quantize.enabled and (not stages or "quantize" in stages):
        load_quantizer()  # a missing ttfsnet-hw is reported now, not after hours of training
    for where, data_cfg in (("data", rec.data), ("target_data", rec.target_data)):
        if data_cfg is not None:
            check_event_framing(data_cfg, where)  # likewise a missing tonic
    dev = resolve_device(rec.device)  # before the run folder is touched: a missing GPU is an input error
    ranks = torchrun_ranks(stages, dev)
    if ranks is not None and ranks.rank > 0:
        # another torchrun rank: trains the supernet alongside rank 0, which alone opens and writes the run
        with contextlib.closing(ranks):
            follow_supernet(EmotionStages(rec, folder, record_split=False, device=ranks.device, ranks=ranks))
        return {"out": str(folder), "rank": ranks.rank}
    closing = contextlib.nullcontext() if ranks is None else contextlib.closing(ranks)
    with closing, open_run(folder, EmotionPipeline(), rec, resume=resume, stages=stages, progress=progress):
        run = EmotionStages(
            rec, folder, progress, resume=resume, device=dev if ranks is None else ranks.device, ranks=ranks
        )
        runner = run.runner(list(stages) if stages else None, forced=force)
        runner.run()
        result: dict[str, Any]
        if runner.complete(*STAGES):
            result = finalize(folder, rec, run.search_space(), runner.seconds())
        else:
            result = {"stages": {name: runner.complete(name) for name in runner.stages}}
    result["out"] = str(folder)
    return result


def _as_recipe(recipe: EmotionRecipe | Mapping[str, Any] | str | os.PathLike[str]) -> EmotionRecipe:
    """``recipe`` itself, or the recipe built from a YAML mapping or read from a YAML file."""
    if isinstance(recipe, EmotionRecipe):
        return recipe
    if isinstance(recipe, Mapping):
        return recipe_from_mapping(recipe)
    return load_recipe(recipe)


def print_summary(result: Mapping[str, Any], echo: Callable[[str], None] = print) -> None:
    """Print the tables and the output folder of a finished run."""
    tables = result.get("tables") or {}
    for key in ("results", "efficiency", "comparison"):
        if tables.get(key):
            echo(tables[key])
    if "best_key" in result:
        echo(f"best architecture: {result['best_key']}")
        m = result["metrics"]
        echo(
            f"SNN test WAR {100 * m['war']:.1f} % / UAR {100 * m['uar']:.1f} %, SNN↔ANN agreement "
            f"{100 * m['snn_ann_agreement']:.2f} %, {m['spikes_per_neuron']:.3f} spikes/neuron"
        )
    echo(f"outputs: {result.get('out')}")


#: How the synthetic presets compare with a real study, for the note under a finished run's tables.
_PRESET_SIZES = {"tiny": "smoke-test size", "small": "demo size", "wide": "demo size"}


def synthetic_note(recipe: EmotionRecipe, result: Mapping[str, Any]) -> str | None:
    """The one-line note printed under the tables of a finished run on synthetic test data (``None`` for real
    data): the figures come from the synthetic generator, at smoke-test or demo size for the ``tiny``,
    ``small`` and ``wide`` presets, and are not SEE/DSEE results; chance level is given for scale."""
    preset = recipe.eval_data.synthetic
    if preset is None:
        return None
    mean = result.get("test", {}).get("snn", {}).get("mean", {})
    classes = sum(1 for key in mean if key.startswith("emotion/")) or 7
    size = _PRESET_SIZES.get(preset)
    data = f"synthetic '{preset}' data" + (f" at {size}" if size else "")
    meaning = "show that the pipeline runs and learns" if size else "describe the synthetic generator"
    chance = f"chance {100 / classes:.1f} %"
    return f"note: {data} ({chance}): these figures {meaning}, they are not SEE/DSEE results"


class EmotionPipeline(Pipeline):
    """The ``type: emotion`` pipeline as the ``ttfsnet-nas`` CLI sees it (see
    [`run_pipeline`][ttfsnet_nas.emotion.pipeline.run_pipeline])."""

    type_name = "emotion"
    recipe_type = EmotionRecipe
    stages = (*STAGES, "quantize", "baselines", "settings")

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
        """Run the selected stages into ``out``, print the tables, return ``result.json`` (or ``out``)."""
        chosen = list(self.check_stages(stages)) if stages else None
        self.check_stages(force)
        result = run_pipeline(
            recipe, out=out, stages=chosen, resume=resume, seed=seed, progress=progress, device=device,
            force=force,
        )
        print_summary(result)
        note = synthetic_note(_as_recipe(recipe), result) if "best_key" in result else None
        if note is not None:
            print(note)
        return Path(out) / "result.json" if "best_key" in result else Path(out)

    def export(
        self, recipe: Any, *, run_dir: Path, out: Path | None = None, progress: Progress | None = None
    ) -> Path:
        """Re-export the artifact of a finished run (to ``out``, default ``RUN_DIR/artifact``)."""
        result_path = Path(run_dir) / "result.json"
        if not result_path.is_file():
            raise PipelineError(f"export: {result_path} not found; run all stages first")
        result = json.loads(result_path.read_text())
        space = EmotionStages(recipe, Path(run_dir)).search_space()
        target = Path(out) if out is not None else Path(run_dir) / "artifact"
        arch = Architecture(result["best_architecture"])
        return export_artifact(Path(run_dir), recipe, space, arch, result["metrics"], target)

    def evaluate(
        self, recipe: Any, *, artifact: Path, progress: Progress | None = None, device: str | None = None
    ) -> dict[str, Any]:
        """Test an exported artifact (``snn.pt`` and the ANN) on the recipe's test split (``test.runs``)."""
        if device is not None:
            resolve_device(device, key="--device")  # here, so that a message names the option
            recipe = replace_path(recipe, "device", device)
        dev = resolve_device(recipe.device)
        artifact = Path(artifact)
        for name in (SNN_FILE, "model.json"):
            if not (artifact / name).is_file():
                raise PipelineError(f"evaluate: {artifact / name} not found (not an emotion artifact)")
        read_artifact(artifact, verify=True)  # every file against manifest.json before any is loaded
        run = EmotionStages(recipe, artifact, progress, resume=True, record_split=False, device=dev)
        summary = run.test(artifact, artifact / SNN_FILE, None, "evaluate")
        keep = (
            "runs", "sequences", "agreement", "spikes_per_neuron", "synops_per_sample", "params", "latency"
        )
        return {
            "war": summary["snn"]["mean"]["war"],
            "uar": summary["snn"]["mean"]["uar"],
            "ann_war": summary["ann_counterpart"]["mean"]["war"],
            **{k: summary[k] for k in keep},
        }
