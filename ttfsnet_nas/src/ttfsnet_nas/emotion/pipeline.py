"""The TNAS-ER pipeline for event-based eye emotion recognition (``type: emotion`` recipes).

Five stages (TNAS-ER §3.2, §4.1), each resumable and each writing its outputs atomically, with a
``stages/<stage>.json`` completion marker written last:

1. ``supernet`` – train the weight-sharing ReLU supernet (:mod:`ttfsnet_nas.emotion.space`) with uniform
   single-path sampling on 80 % of the training split. The held-out 20 % is subject-disjoint inside the
   training split (whole training subjects move to the search part), so the fitness measures
   generalisation to unseen people as the test set does; its sequence names are saved in ``split.json``.
2. ``search`` – evolutionary search (pool P, elite k, R rounds) on the other 20 % with inherited weights
   in the ANN domain (TNAS-ER setting 2; the ReLU ↔ TTFS mapping makes ANN and SNN fitness identical) and
   the WAR/UAR fitness; every evaluation is journaled, so ``--resume`` continues inside a round.
3. ``retrain`` – retrain the best subnet from scratch in the ANN domain on the whole training split.
4. ``snn`` – transfer to the TTFS SNN with :func:`ttfsnet.convert` (windows calibrated on training data,
   BN fused), then SNN fine-tuning with :func:`ttfsnet.finetune`.
5. ``test`` – R inference runs over the test split with fresh, seeded random temporal windows; the SNN is
   run event by event in closed form (spike counts, SynOPs, saturation) and its ANN counterpart
   (:func:`ttfsnet.to_ann`) alongside, to show that they agree.

Optional ``baselines`` (TNAS-ER §4.5, Fig. 7) go through stages 3–5 with the same budget. The run ends
with ``result.json``, tables (Tables 1–3 layout), plots and an exported artifact directory.

Resume: stages 1 and 3 checkpoint every epoch (``train-<fingerprint>.ckpt`` in the stage folder, deleted
once the stage is complete) and continue bit-identically under ``--resume``; stage 2 continues its journal
(strategy state and Python/numpy/torch RNGs per record; supernet hash and split rows in the header);
stage 4 is built in ``snn.partial/`` and moved into place whole. With ``search.objectives`` naming two or
more objectives (e.g. ``energy_mj`` of ttfsnet-hw) the search is a Pareto search (``pareto.png``).

Outputs in ``OUT``::

    resolved_recipe.yaml  split.json  result.json  fitness.png  ops.png  comparison.png (baselines)
    pareto.png (Pareto searches)
    results.md/.csv  efficiency.md/.csv  comparison.md/.csv (baselines)
    stages/<stage>.json                      completion markers (fingerprint, seconds, summary)
    supernet/supernet.pt                     supernet state_dict (+ op counts, losses)
    search/journal.jsonl  search/search.json
    retrain/ann/model.json, weights.pt       retrained ANN (ttfsnet_nas.torch.save_model)
    snn/snn.pt                               the fine-tuned TTFS network (format below)
    test/test_epoch_0_<r>.json               SEEN-format predictions of the SNN, one file per run
    test/summary.json
    artifact/                                architecture.json, model.json, weights.pt, snn.pt, metrics.json

``snn.pt`` (``SNN_FORMAT``) is ``torch.save`` of a dict: ``format`` (``"ttfsnet_nas.snn/1"``), ``network``
(the :class:`ttfsnet.TTFSNetwork` module itself; load with ``torch.load(path, weights_only=False)``),
``state_dict`` (its tensors), ``input_shape`` ([C, H, W]), ``input_range`` ([p, q]), ``windows`` (T per
spiking layer), ``latency`` (time units), ``classes`` (label names), ``architecture`` (gene → op) and
``zeta``. :func:`load_snn` reads it back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ttfsnet_nas.artifact import write_artifact
from ttfsnet_nas.config import RecipeError
from ttfsnet_nas.emotion.dataset import EventEmotionDataset, subset_view
from ttfsnet_nas.emotion.metrics import RunMetrics, aggregate_runs, compute_metrics
from ttfsnet_nas.emotion.recipe import (
    DataConfig,
    EmotionRecipe,
    RetrainConfig,
    SearchConfig,
    SupernetConfig,
    load_recipe,
    recipe_from_mapping,
    recipe_to_dict,
)
from ttfsnet_nas.emotion.sampling import TemporalSampling
from ttfsnet_nas.emotion.see import (
    DSEE_LAYOUT,
    SEE_LAYOUT,
    DatasetError,
    DatasetLayout,
    SequenceInfo,
    load_see,
    split_training,
)
from ttfsnet_nas.emotion.seen_format import seen_filename, write_run
from ttfsnet_nas.emotion.space import EyeEmotionSupernet, make_search_space
from ttfsnet_nas.journal import (
    JournalExistsError,
    TorchRngHook,
    atomic_write_json,
    atomic_write_text,
    default_rng_hooks,
    sha256_file,
)
from ttfsnet_nas.pipelines import Pipeline, PipelineError, null_progress, resolved_recipe
from ttfsnet_nas.plots import new_figure, plot_fitness, plot_op_counts, save_figure
from ttfsnet_nas.progress import Progress
from ttfsnet_nas.search import RoundStats, SearchResult, run_search
from ttfsnet_nas.space import Architecture
from ttfsnet_nas.strategies import create_strategy
from ttfsnet_nas.torch import (
    Evaluator,
    StepInfo,
    TrainConfig,
    TrainResult,
    load_artifact,
    save_model,
    save_torch_atomic,
    train_model,
    train_supernet,
)
from ttfsnet_nas.torch.data import gather

__all__ = [
    "SNN_FORMAT",
    "STAGES",
    "EmotionPipeline",
    "load_snn",
    "print_summary",
    "run_pipeline",
    "save_snn",
]

STAGES: tuple[str, ...] = ("supernet", "search", "retrain", "snn", "test")
"""The five pipeline stages, in order (``baselines`` runs after them when the recipe asks for it)."""

_ALL_STAGES: tuple[str, ...] = (*STAGES, "baselines")

SNN_FORMAT = "ttfsnet_nas.snn/1"
_MARKERS = "stages"


def _stage_order(recipe: EmotionRecipe) -> list[str]:
    """The stages a full run of ``recipe`` goes through, in order."""
    return list(STAGES) + (["baselines"] if recipe.baselines.enabled else [])


def _rng_hooks() -> list[Any]:
    """Global RNGs journaled per evaluation: Python, numpy and torch (BN recalibration and plugins may
    draw from torch's generator), so a resumed search continues exactly."""
    return [*default_rng_hooks(), TorchRngHook()]


# ---------------------------------------------------------------------------------------------- data


@dataclass(slots=True)
class _Data:
    """The datasets of one data source."""

    classes: tuple[str, ...]
    train: EventEmotionDataset
    test: EventEmotionDataset
    supernet: EventEmotionDataset | None = None
    search: EventEmotionDataset | None = None
    split: dict[str, list[str]] | None = None


def _layout(cfg: DataConfig) -> DatasetLayout:
    """The SEE folder layout that ``cfg.layout`` names."""
    return DSEE_LAYOUT if cfg.layout == "dsee" else SEE_LAYOUT


def _ensure_dataset(cfg: DataConfig, progress: Progress, where: str) -> Path:
    """The dataset folder of ``cfg``; a synthetic preset is generated there first when absent."""
    root = cfg.resolved_root(where)
    layout = _layout(cfg)
    has_json = any((root / name).is_file() for name in layout.json_names)
    if has_json:
        return root
    if cfg.synthetic is None:
        raise DatasetError(
            f"{where}.root: {root} holds no {' / '.join(layout.json_names)} (not a SEE-layout dataset)"
        )
    from ttfsnet_nas.emotion.synth import generate

    progress.log(f"generating the synthetic '{cfg.synthetic}' set (seed {cfg.synthetic_seed}) in {root}")
    progress.start("generate data")

    def tick(done: int, total: int) -> None:
        progress.advance("generate data", 1, sequences=f"{done}/{total}")

    try:
        # An interrupted generation leaves frames but no split JSON (written last); the generator wipes
        # such a folder only when it holds nothing but its own outputs.
        generate(
            root, preset=cfg.synthetic, seed=cfg.synthetic_seed, workers=cfg.workers, overwrite=True, progress=tick
        )
    except ValueError as exc:
        raise PipelineError(f"{where}.root: {exc}") from None
    progress.finish("generate data")
    return root


def _subject_split(
    sequences: Sequence[SequenceInfo], fraction: float, seed: int
) -> tuple[list[SequenceInfo], list[SequenceInfo]]:
    """Split training sequences into (supernet, search) parts with whole subjects on one side.

    Subjects are shuffled with ``seed`` and moved to the search part until it holds about ``fraction`` of
    the sequences. Sequences without a subject token (DSEE conversions) are split per sequence, stratified
    by emotion.
    """
    with_subject = [s for s in sequences if s.subject is not None]
    without = [s for s in sequences if s.subject is None]
    supernet: list[SequenceInfo] = []
    search: list[SequenceInfo] = []
    if with_subject:
        by_subject: dict[str, list[SequenceInfo]] = {}
        for s in with_subject:
            by_subject.setdefault(str(s.subject), []).append(s)
        subjects = sorted(by_subject)
        order = np.random.default_rng(seed).permutation(len(subjects))
        target = fraction * len(with_subject)
        taken = 0
        for i in order:
            subject = subjects[int(i)]
            n = len(by_subject[subject])
            # Stop before overshooting by more than half a subject, but always hold out at least one.
            if search and taken + n / 2 > target:
                supernet.extend(by_subject[subject])
            else:
                search.extend(by_subject[subject])
                taken += n
        if not supernet:
            raise PipelineError("data.search_fraction: no training subject left for the supernet part")
    if without:
        first, second = split_training(without, fraction=1.0 - fraction, seed=seed)
        supernet.extend(first)
        search.extend(second)
    return sorted(supernet, key=lambda s: s.name), sorted(search, key=lambda s: s.name)


def _load_data(
    cfg: DataConfig, *, seed: int, with_search_split: bool, progress: Progress, where: str
) -> _Data:
    root = _ensure_dataset(cfg, progress, where)
    # a DatasetError is bad input: the CLI exits with 2
    index = load_see(root, layout=_layout(cfg), strict=cfg.strict)
    train_seqs = index.subset("training")
    test_seqs = index.subset("testing")
    if not train_seqs or not test_seqs:
        raise DatasetError(
            f"{index.json_path}: need 'training' and 'testing' sequences, "
            f"found {len(train_seqs)} and {len(test_seqs)}"
        )
    sampling = TemporalSampling.from_name(cfg.sampling, legacy_quirks=cfg.legacy_quirks)
    kwargs: dict[str, Any] = {
        "sampling": sampling,
        "strict": cfg.strict,
        "size": cfg.image_size,
        "polarity_split": cfg.polarity_split,
        "cache": cfg.cache,
        "seed": seed,
    }
    progress.start(f"load {where}", len(train_seqs) + len(test_seqs))

    def tick(done: int, total: int) -> None:
        progress.advance(f"load {where}", 1)

    train = EventEmotionDataset(train_seqs, progress=tick, **kwargs)
    test = EventEmotionDataset(test_seqs, progress=tick, **kwargs)
    progress.finish(f"load {where}")
    skipped = dict(index.skipped)
    for part, ds in (("train", train), ("test", test)):
        if ds.skipped_frames or ds.skipped_sequences:
            skipped[f"{part} frames"] = ds.skipped_frames
            skipped[f"{part} sequences"] = ds.skipped_sequences
    if skipped:
        progress.log(f"{where}: skipped and counted: {skipped}")
    data = _Data(classes=tuple(index.labels), train=train, test=test)
    if with_search_split:
        sup, sea = _subject_split(list(train.sequences), cfg.search_fraction, seed)
        rows = {s.name: i for i, s in enumerate(train.sequences)}
        data.supernet = subset_view(train, [rows[s.name] for s in sup])
        data.search = subset_view(train, [rows[s.name] for s in sea])
        data.split = {
            "supernet": [s.name for s in sup],
            "search": [s.name for s in sea],
        }
    return data


class _EpochBatches:
    """Re-iterable shuffled batches that draw fresh temporal windows on every pass (for fine-tuning)."""

    def __init__(self, data: EventEmotionDataset, batch_size: int, seed: int) -> None:
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.data.set_epoch(self.epoch)
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(len(self.data), generator=generator)
        self.epoch += 1
        for chunk in torch.split(order, self.batch_size):
            yield gather(self.data, chunk)


# ------------------------------------------------------------------------------------------ helpers


def _fingerprint(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _seconds(start: float) -> float:
    return round(time.perf_counter() - start, 3)


def _reset_parameters(model: nn.Module) -> None:
    for module in model.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()  # BatchNorm's also resets its running statistics


def _epoch_hook(progress: Progress, task: str) -> Callable[[StepInfo], None]:
    """Progress callback for the :mod:`ttfsnet_nas.torch` training loops (which also call the data set's
    ``set_epoch``, so each epoch draws its own windows, resumed or not)."""

    def hook(info: StepInfo) -> None:
        progress.advance(task, 1, epoch=info.epoch + 1, loss=f"{info.loss:.3f}")

    return hook


def _checkpoint_epochs(path: Path) -> int:
    """Epochs a training checkpoint holds (0 when there is none)."""
    if not path.is_file():
        return 0
    return len(torch.load(path, map_location="cpu", weights_only=True)["epoch_losses"])


def _steps(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))


def _training_summary(result: TrainResult, resumed_from_epoch: int, **extra: Any) -> dict[str, Any]:
    """``training.json`` content: losses per epoch, steps, ``extra``, and the resume point if any."""
    summary: dict[str, Any] = {
        "epoch_losses": [round(x, 5) for x in result.epoch_losses],
        "steps": result.steps,
        **extra,
    }
    if resumed_from_epoch:
        summary["resumed_from_epoch"] = resumed_from_epoch
    return summary


def save_snn(path: str | os.PathLike[str], net: Any, **metadata: Any) -> Path:
    """Write a TTFS network as ``snn.pt`` (see the module docstring for the format), atomically.

    Args:
        path: target file.
        net: the :class:`ttfsnet.TTFSNetwork`.
        **metadata: ``input_shape``, ``classes``, ``architecture``, ``zeta``, ... stored alongside.
    """
    payload = {
        "format": SNN_FORMAT,
        "network": net,
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "input_range": list(net.input_range),
        "windows": [float(w) for w in net.windows()],
        "latency": float(net.latency()),
        **metadata,
    }
    target = Path(path)
    save_torch_atomic(payload, target)
    return target


def load_snn(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """Read ``snn.pt``: returns ``(network, metadata)`` (the network in eval mode).

    Raises:
        PipelineError: if the file is missing or not in ``SNN_FORMAT``.
    """
    target = Path(path)
    if not target.is_file():
        raise PipelineError(f"{target}: missing SNN file")
    payload = torch.load(target, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != SNN_FORMAT:
        raise PipelineError(f"{target}: key 'format' is not {SNN_FORMAT!r}")
    net = payload.pop("network")
    net.eval()
    return net, payload


# ------------------------------------------------------------------------------------------ pipeline


class _Pipeline:
    """The stages of one run folder ``out`` (see the module docstring), with their markers and data."""

    def __init__(
        self,
        recipe: EmotionRecipe,
        out: Path,
        progress: Progress | None,
        resume: bool,
        stages: Sequence[str],
        *,
        record_split: bool = True,
    ) -> None:
        self.record_split = record_split
        self.recipe = recipe
        self.out = out
        self.progress = null_progress(progress)
        self.resume = resume
        self.stages = tuple(stages)
        self._search_data: _Data | None = None
        self._eval_data: _Data | None = None

    # -- bookkeeping -------------------------------------------------------------------------------
    def fingerprint(self, stage: str) -> str:
        r = self.recipe
        parts: dict[str, Any] = {"seed": r.seed, "data": r.data, "space": r.space, "supernet": r.supernet}
        if stage in ("search", "retrain", "snn", "test", "baselines"):
            parts["search"] = r.search
        if stage in ("retrain", "snn", "test", "baselines"):
            parts.update(target=r.target_data, retrain=r.retrain)
        if stage in ("snn", "test", "baselines"):
            parts["snn"] = r.snn
        if stage in ("test", "baselines"):
            parts["test"] = r.test
        if stage == "baselines":
            parts["baselines"] = r.baselines
        return _fingerprint({k: repr(v) for k, v in parts.items()})

    def marker(self, stage: str) -> Path:
        return self.out / _MARKERS / f"{stage}.json"

    def done(self, stage: str) -> dict[str, Any] | None:
        path = self.marker(stage)
        if not path.is_file():
            return None
        info = json.loads(path.read_text())
        if info.get("fingerprint") != self.fingerprint(stage):
            raise PipelineError(
                f"{path}: stage '{stage}' was produced with a different recipe; use a new --out, or rerun "
                f"the stage without --resume (--stages {stage})"
            )
        return info

    def mark(self, stage: str, seconds: float, summary: Mapping[str, Any]) -> None:
        atomic_write_json(
            self.marker(stage),
            {
                "stage": stage,
                "fingerprint": self.fingerprint(stage),
                "seconds": seconds,
                "summary": dict(summary),
            },
        )

    def should_run(self, stage: str) -> bool:
        """Run the stage unless it is complete and either --resume is set or the stage was not selected."""
        info = self.done(stage)
        if info is None:
            if stage not in self.stages:
                raise PipelineError(
                    f"{self.out}: stage '{stage}' has no complete outputs; include it in --stages "
                    "(or run all stages)"
                )
            return True
        if stage in self.stages and not self.resume:
            return True
        self.progress.log(f"stage {stage}: complete in {self.out}, skipped")
        return False

    def checkpoint(self, folder: Path, stage: str, extra: str = "") -> Path:
        """Per-epoch training checkpoint of ``stage`` inside ``folder``, named by the stage fingerprint.

        A checkpoint is continued only under ``--resume`` and only by the same recipe (its name carries
        the fingerprint); any other checkpoint file in ``folder`` is stale and removed, so a rerun
        without ``--resume`` trains from scratch.
        """
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"train-{_fingerprint([self.fingerprint(stage), extra])}.ckpt"
        for old in folder.glob("train-*.ckpt"):
            if old != path or not self.resume:
                old.unlink()
        return path

    # -- data --------------------------------------------------------------------------------------
    def search_data(self) -> _Data:
        if self._search_data is None:
            self._search_data = _load_data(
                self.recipe.data,
                seed=self.recipe.seed,
                with_search_split=True,
                progress=self.progress,
                where="data",
            )
            if self.record_split:
                self.write_or_check_split(self._search_data)
        return self._search_data

    def write_or_check_split(self, data: _Data) -> None:
        """Write ``split.json`` on first use; afterwards refuse data whose supernet/search split differs."""
        split_path = self.out / "split.json"
        split = {**(data.split or {}), "train": list(data.train.names), "test": list(data.test.names)}
        if not split_path.is_file():
            atomic_write_json(split_path, {"subject_disjoint": True, **split})
            return
        saved = json.loads(split_path.read_text())
        if any(saved.get(k) != split[k] for k in ("supernet", "search")):
            raise PipelineError(f"{split_path}: the saved supernet/search split differs from this data")

    def eval_data(self) -> _Data:
        if self.recipe.target_data is None:
            return self.search_data()
        if self._eval_data is None:
            self._eval_data = _load_data(
                self.recipe.target_data,
                seed=self.recipe.seed,
                with_search_split=False,
                progress=self.progress,
                where="target_data",
            )
        return self._eval_data

    def build_supernet(self, num_classes: int) -> EyeEmotionSupernet:
        r = self.recipe
        torch.manual_seed(r.seed)
        return EyeEmotionSupernet(
            in_channels=r.data.channels,
            image_size=r.data.image_size,
            groups=r.space.groups,
            ops=r.space.ops,
            width=r.space.width,
            num_classes=num_classes,
        )

    def load_supernet(self) -> EyeEmotionSupernet:
        data = self.search_data()
        supernet = self.build_supernet(len(data.classes))
        state = torch.load(self.out / "supernet" / "supernet.pt", map_location="cpu", weights_only=True)
        supernet.load_state_dict(state)
        return supernet.eval()

    # -- stage 1 -----------------------------------------------------------------------------------
    def train(
        self,
        train_fn: Callable[..., TrainResult],
        model: nn.Module,
        dataset: EventEmotionDataset,
        section: SupernetConfig | RetrainConfig,
        *,
        seed: int,
        checkpoint: Path,
        task: str,
    ) -> tuple[TrainResult, int]:
        """Train ``model`` with ``train_fn`` under the budget of a recipe section, continuing ``checkpoint``.

        Returns:
            The training result and the number of epochs taken over from the checkpoint (0: from scratch).
        """
        config = TrainConfig(
            epochs=section.epochs,
            batch_size=section.batch_size,
            lr=section.lr,
            weight_decay=section.weight_decay,
            seed=seed,
        )
        done_epochs = _checkpoint_epochs(checkpoint)
        steps = _steps(len(dataset), section.batch_size)
        self.progress.start(task, section.epochs * steps, completed=done_epochs * steps)
        hook = _epoch_hook(self.progress, task)
        result = train_fn(model, dataset, config, progress=hook, checkpoint=checkpoint)
        self.progress.finish(task)
        return result, done_epochs

    def stage_supernet(self) -> None:
        r = self.recipe
        start = time.perf_counter()
        data = self.search_data()
        assert data.supernet is not None
        supernet = self.build_supernet(len(data.classes))
        folder = self.out / "supernet"
        checkpoint = self.checkpoint(folder, "supernet")
        result, done_epochs = self.train(
            train_supernet,
            supernet,
            data.supernet,
            r.supernet,
            seed=r.seed,
            checkpoint=checkpoint,
            task="supernet",
        )
        save_torch_atomic({k: v.detach().cpu() for k, v in supernet.state_dict().items()}, folder / "supernet.pt")
        summary = _training_summary(
            result,
            done_epochs,
            op_counts=result.op_counts,
            samples=len(data.supernet),
            sha256=sha256_file(folder / "supernet.pt"),
        )
        atomic_write_json(folder / "training.json", summary)
        self.mark(
            "supernet", _seconds(start), {"final_loss": summary["epoch_losses"][-1], "steps": result.steps}
        )
        checkpoint.unlink(missing_ok=True)  # the stage's outputs and marker now hold everything it had

    # -- stage 2 -----------------------------------------------------------------------------------
    def candidate_metrics(self, evaluator: Any, supernet: Any, arch: Mapping[str, str]) -> dict[str, Any]:
        """Evaluator metrics plus what hardware objectives need: the candidate's geometry (ttfsnet-hw builds
        the TNAS-ER family member from it and checks it against the metric ``neurons``) and the profile."""
        r = self.recipe
        out: dict[str, Any] = dict(evaluator.evaluate(supernet, arch))
        out.update(image_size=float(r.data.image_size), in_channels=float(r.data.channels),
                   width=float(r.space.width), num_classes=float(len(self.search_data().classes)))
        if r.search.hardware_profile is not None:
            out["hw_profile"] = r.search.hardware_profile  # a str: as_context puts it into extras
        return out

    def make_evaluator(self) -> Evaluator:
        r = self.recipe
        data = self.search_data()
        assert data.search is not None and data.supernet is not None
        # One fixed window per search sequence (epoch 0 of a dedicated seed): every candidate is scored on
        # exactly the same inputs, so fitness differences come from the architectures alone.
        search_xy = data.search.materialize(epoch=10_000)
        calib = data.supernet.materialize(epoch=10_001) if r.search.bn_recalibration else None
        return Evaluator(
            search_xy,
            batch_size=r.search.batch_size,
            num_classes=len(data.classes),
            recalibrate_bn=r.search.bn_recalibration,
            calibration_data=calib,
        )

    def make_strategy(self, name: str, **kwargs: Any) -> Any:
        r = self.recipe
        space = make_search_space(r.space.groups, r.space.ops)
        return create_strategy(name, space=space, fitness=r.search.make_fitness(), seed=r.seed, **kwargs)

    def main_strategy(self) -> Any:
        s = self.recipe.search
        if s.strategy == "evolution":
            return self.make_strategy(
                "evolution",
                pool_size=s.pool_size,
                elite_size=s.elite_size,
                rounds=s.rounds,
                mutation_prob=s.mutation_prob,
            )
        if s.strategy == "random_search":
            return self.make_strategy("random_search", samples=s.pool_size * s.rounds)
        return self.make_strategy("exhaustive")

    def journaled_search(self, journal: Path, make_strategy: Callable[[], Any]) -> SearchResult:
        """Score the candidates of ``make_strategy()`` on the supernet, journaled in ``journal``.

        Without ``--resume`` an old journal is removed first. The journal header carries the supernet hash
        and the split rows, so a resume with other weights or data is refused.
        """
        journal.parent.mkdir(parents=True, exist_ok=True)
        if not self.resume:
            journal.unlink(missing_ok=True)
        supernet = self.load_supernet()
        evaluator = self.make_evaluator()
        strategy = make_strategy()  # after the supernet, which reseeds torch: a fixed RNG state to start from
        header = {
            "supernet_sha256": sha256_file(self.out / "supernet" / "supernet.pt"),
            "split": self.split_rows(),
        }
        return run_search(
            strategy,
            lambda arch: self.candidate_metrics(evaluator, supernet, arch),
            journal=journal,
            header=header,
            resume=self.resume,
            progress=self.progress,
            rng_hooks=_rng_hooks(),
        )

    def stage_search(self) -> None:
        start = time.perf_counter()
        folder = self.out / "search"
        result = self.journaled_search(folder / "journal.jsonl", self.main_strategy)
        summary = _search_summary(result)
        atomic_write_json(folder / "search.json", summary)
        self.mark(
            "search",
            _seconds(start),
            {"best": summary["best"]["architecture"], "evaluations": len(result.history)},
        )

    def split_rows(self) -> dict[str, list[int]]:
        """Row indices of the supernet and search parts in the training split (sequence order of
        ``split.json``'s ``train``): journal headers carry them, so a resume on other data is refused."""
        data = self.search_data()
        rows = {name: i for i, name in enumerate(data.train.names)}
        split = data.split or {}
        return {part: [rows[n] for n in split.get(part, [])] for part in ("supernet", "search")}

    def best_architecture(self) -> Architecture:
        info = json.loads((self.out / "search" / "search.json").read_text())
        return Architecture(info["best"]["architecture"])

    # -- stage 3 -----------------------------------------------------------------------------------
    def retrain(self, arch: Mapping[str, str], folder: Path, task: str) -> dict[str, Any]:
        """Retrain ``arch`` on the whole training split (of the target data) and save it under ``folder``.

        Training checkpoints every epoch next to ``folder`` and continues from there under ``--resume``;
        the checkpoint is removed once the model is saved.
        """
        r = self.recipe
        data = self.eval_data()
        supernet = self.load_supernet() if r.retrain.inherit else self.build_supernet(len(data.classes))
        model = supernet.subnet(arch)
        if not r.retrain.inherit:
            torch.manual_seed(r.seed + 3)
            _reset_parameters(model)
        checkpoint = self.checkpoint(folder.parent, "retrain", Architecture(arch).key)
        result, done_epochs = self.train(
            train_model, model, data.train, r.retrain, seed=r.seed + 3, checkpoint=checkpoint, task=task
        )
        model.eval()
        save_model(model, folder, metadata={"architecture": dict(arch), "classes": list(data.classes)})
        checkpoint.unlink()
        return _training_summary(result, done_epochs)

    def stage_retrain(self) -> None:
        start = time.perf_counter()
        arch = self.best_architecture()
        summary = self.retrain(arch, self.out / "retrain" / "ann", "retrain")
        atomic_write_json(self.out / "retrain" / "training.json", {"architecture": dict(arch), **summary})
        self.mark("retrain", _seconds(start), {"final_loss": summary["epoch_losses"][-1]})

    # -- stage 4 -----------------------------------------------------------------------------------
    def transfer(self, ann_dir: Path, snn_path: Path, arch: Mapping[str, str], task: str) -> dict[str, Any]:
        """Convert the ANN in ``ann_dir`` to a TTFS SNN, fine-tune it, and save it as ``snn_path``."""
        import ttfsnet

        r = self.recipe
        data = self.eval_data()
        model = load_artifact(ann_dir)
        n = min(r.snn.calibration_samples, len(data.train))
        calib_x, _ = data.train.materialize(epoch=20_000)
        calib = calib_x[:n]
        net = ttfsnet.convert(model, calib, zeta=r.snn.zeta, input_range=data.train.input_range)
        with torch.no_grad():
            ann_logits = model(calib)
            snn_logits = net(calib)
        transfer = {
            "calibration_samples": n,
            "max_abs_logit_diff": float((ann_logits - snn_logits).abs().max()),
            "agreement": float((ann_logits.argmax(1) == snn_logits.argmax(1)).double().mean()),
        }
        finetune_info: dict[str, Any] = {"epochs": r.snn.finetune_epochs}
        if r.snn.finetune_epochs > 0:
            robustness = self.robustness()
            torch.manual_seed(r.seed + 4)
            batches = _EpochBatches(data.train, r.snn.batch_size, r.seed + 4)
            self.progress.start(task, r.snn.finetune_epochs)

            def on_epoch(record: Any, _net: Any) -> None:
                self.progress.advance(task, 1, loss=f"{record.train_loss:.3f}")

            result = ttfsnet.finetune(
                net,
                batches,
                epochs=r.snn.finetune_epochs,
                lr=r.snn.finetune_lr,
                robustness=robustness,
                callback=on_epoch,
            )
            self.progress.finish(task)
            finetune_info["losses"] = [round(float(x), 5) for x in result.train_losses]
        net.eval()
        sample_shape = list(calib.shape[1:])
        save_snn(
            snn_path,
            net,
            input_shape=sample_shape,
            classes=list(data.classes),
            architecture=dict(arch),
            zeta=r.snn.zeta,
        )
        return {
            "transfer": transfer,
            "finetune": finetune_info,
            "windows": [float(w) for w in net.windows()],
            "latency": float(net.latency()),
        }

    def robustness(self) -> Any:
        """The recipe's hardware non-idealities as a ``ttfsnet.RobustnessConfig`` (``None`` when all off)."""
        import ttfsnet

        rob = self.recipe.snn.robustness
        if not rob.active:
            return None
        return ttfsnet.RobustnessConfig(
            time_noise_std=rob.time_noise_std,
            time_bits=rob.time_bits,
            weight_bits=rob.weight_bits,
            weight_range=rob.weight_range,
        )

    def stage_snn(self) -> None:
        start = time.perf_counter()
        arch = self.best_architecture()
        # Fine-tuning has no checkpoints (it is short): the stage is built in a scratch folder and moved
        # into place whole, so ``snn/`` never holds a partial stage and an interrupted stage reruns.
        folder = self.out / "snn"
        scratch = self.out / "snn.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        info = self.transfer(self.out / "retrain" / "ann", scratch / "snn.pt", arch, "snn finetune")
        atomic_write_json(scratch / "transfer.json", info)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(scratch, folder)
        self.mark("snn", _seconds(start), {"transfer_agreement": info["transfer"]["agreement"]})

    # -- stage 5 -----------------------------------------------------------------------------------
    def test(self, ann_dir: Path, snn_path: Path, folder: Path | None, task: str) -> dict[str, Any]:
        """R test runs of the SNN (and its ANN counterpart, and the retrained ANN) with fresh windows."""
        import ttfsnet

        r = self.recipe
        data = self.eval_data()
        net, meta = load_snn(snn_path)
        counterpart = ttfsnet.to_ann(net).eval()  # the exact ReLU twin (no non-idealities)
        # The deployed SNN is tested under the same non-idealities it was fine-tuned for.
        net.robustness = self.robustness()
        retrained = load_artifact(ann_dir)
        names = data.test.names
        lighting = data.test.lightings
        classes = list(data.classes)
        runs: dict[str, list[RunMetrics]] = {"snn": [], "ann": [], "retrained": []}
        agreement: list[float] = []
        spikes = synops = neurons = saturated = logit_diff = 0.0
        samples = 0
        self.progress.start(task, r.test.runs)
        for run in range(r.test.runs):
            # Fresh random windows per run, reproducible from the seed (SEEN/TNAS-ER: 20 runs).
            x, y = data.test.materialize(epoch=30_000 + run)
            torch.manual_seed(r.seed * 1_000 + run)  # spike-time noise, when configured, is reproducible too
            logits_snn, logits_ann, logits_ret = [], [], []
            with torch.no_grad():
                for xb in torch.split(x, r.test.batch_size):
                    res = net.run(xb)  # the exact event simulation: spike counts, SynOPs, saturation
                    # ``run`` ignores the non-idealities; the forward pass applies them to the logits.
                    logits_snn.append(res.logits if net.robustness is None else net(xb))
                    logits_ann.append(counterpart(xb))
                    logits_ret.append(retrained(xb))
                    spikes += res.total_spikes
                    synops += res.total_synops
                    neurons += res.hidden_neurons * res.batch_size
                    saturated += res.total_saturated
                    samples += res.batch_size
            ls, la, lr_ = torch.cat(logits_snn), torch.cat(logits_ann), torch.cat(logits_ret)
            ps, pa, pr = ls.argmax(1), la.argmax(1), lr_.argmax(1)
            for key, pred in (("snn", ps), ("ann", pa), ("retrained", pr)):
                metrics = compute_metrics(y.tolist(), pred.tolist(), lighting=lighting, classes=classes)
                runs[key].append(metrics)
            agreement.append(float((ps == pa).double().mean()))
            logit_diff = max(logit_diff, float((ls - la).abs().max()))
            if folder is not None:
                path = folder / seen_filename("test", 0, run + 1)
                write_run(path, names, ls.double().numpy(), classes=classes, logits=True)
            self.progress.advance(task, 1, war=f"{runs['snn'][-1].war:.3f}")
        self.progress.finish(task)
        aggregated = {k: aggregate_runs(v) for k, v in runs.items()}
        params = sum(p.numel() for p in retrained.parameters())
        return {
            "runs": r.test.runs,
            "sequences": len(names),
            "snn": {"mean": aggregated["snn"].mean, "std": aggregated["snn"].std},
            "ann_counterpart": {"mean": aggregated["ann"].mean, "std": aggregated["ann"].std},
            "ann_retrained": {"mean": aggregated["retrained"].mean, "std": aggregated["retrained"].std},
            "agreement": float(np.mean(agreement)),
            "max_abs_logit_diff": logit_diff,
            "agreement_per_run": agreement,
            "spikes_per_sample": spikes / samples,
            "synops_per_sample": synops / samples,
            "spikes_per_neuron": spikes / neurons if neurons else 0.0,
            "saturated_per_sample": saturated / samples,
            "params": int(params),
            "latency": float(net.latency()),
            "windows": [float(w) for w in net.windows()],
            "architecture": meta.get("architecture"),
        }

    def stage_test(self) -> None:
        start = time.perf_counter()
        folder = self.out / "test"
        folder.mkdir(parents=True, exist_ok=True)
        summary = self.test(self.out / "retrain" / "ann", self.out / "snn" / "snn.pt", folder, "test")
        x, _ = self.eval_data().test.materialize(epoch=30_000)
        summary["hardware"] = _hardware_estimate(
            self.out / "snn" / "snn.pt", x[:64], self.progress, self.recipe.search.hardware_profile
        )
        atomic_write_json(folder / "summary.json", summary)
        mean = summary["snn"]["mean"]
        self.mark("test", _seconds(start), {"war": mean["war"], "uar": mean["uar"]})

    # -- baselines ---------------------------------------------------------------------------------
    def baseline_archs(self) -> list[tuple[str, str, Architecture]]:
        """(group, name, architecture) of every requested baseline."""
        b = self.recipe.baselines
        space = make_search_space(self.recipe.space.groups, self.recipe.space.ops)
        out: list[tuple[str, str, Architecture]] = []
        if b.random_sampling:
            rng = np.random.default_rng(self.recipe.seed + 7)
            for i in range(b.random_sampling):
                out.append(("random sampling", f"random_sampling_{i + 1:02d}", space.sample(rng)))
        if b.random_search:
            result = self.journaled_search(
                self.out / "baselines" / "random_search.jsonl",
                lambda: self.make_strategy("random_search", samples=b.random_search),
            )
            assert result.best is not None
            out.append(("random search", "random_search", result.best.architecture))
        genes = space.gene_names
        for op in b.fixed:
            out.append((f"fixed {op}", f"fixed_{op}", Architecture({g: op for g in genes})))
        return out

    def stage_baselines(self) -> None:
        start = time.perf_counter()
        rows: list[dict[str, Any]] = []
        for group, name, arch in self.baseline_archs():
            folder = self.out / "baselines" / name
            done = folder / "summary.json"
            if done.is_file() and self.resume:
                rows.append(json.loads(done.read_text()))
                continue
            folder.mkdir(parents=True, exist_ok=True)
            self.retrain(arch, folder / "ann", f"{name}: retrain")
            self.transfer(folder / "ann", folder / "snn.pt", arch, f"{name}: finetune")
            summary = self.test(folder / "ann", folder / "snn.pt", None, f"{name}: test")
            row = {"group": group, "name": name, "architecture": arch.key, "summary": summary}
            atomic_write_json(done, row)
            rows.append(row)
        atomic_write_json(self.out / "baselines" / "baselines.json", rows)
        self.mark("baselines", _seconds(start), {"baselines": len(rows)})

    # -- driver --------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        order = _stage_order(self.recipe)
        last = max(order.index(s) for s in self.stages if s in order)
        for i, stage in enumerate(order[: last + 1]):
            if self.should_run(stage):
                self.progress.log(f"stage {stage}: running")
                # A rerun stage may change what later stages consumed (another best architecture, other
                # weights): their outputs are no longer complete.
                for later in [*order[i:], "baselines"]:
                    self.marker(later).unlink(missing_ok=True)
                (self.out / "result.json").unlink(missing_ok=True)
                getattr(self, f"stage_{stage}")()
        if all(self.marker(s).is_file() for s in STAGES):
            return _finalize(self)
        return {"stages": {s: self.marker(s).is_file() for s in order}}


# ------------------------------------------------------------------------------------------ outputs


def _search_summary(result: SearchResult) -> dict[str, Any]:
    assert result.best is not None
    best = result.best
    history = [
        {"index": t.index, "round": t.round, "architecture": t.architecture.key, "values": t.values,
         "metrics": {k: v for k, v in m.items() if not k.startswith("recall/")}}
        for t, m in zip(result.history, result.metrics, strict=True)
    ]
    return {
        "best": {
            "architecture": best.architecture.to_dict(),
            "key": best.architecture.key,
            "values": best.values,
            "fitness": best.score.value,
        },
        "rounds": [
            {"round": s.round, "evaluations": s.evaluations, "best": s.best, "mean": s.mean,
             "best_so_far": s.best_so_far}
            for s in result.round_stats()
        ],
        "op_counts": result.op_counts(),
        "evaluations": len(result.history),
        "history": history,
        "front": [{"architecture": t.architecture.key, "values": t.values} for t in result.front],
    }


def _hardware_estimate(
    snn_path: Path, data: torch.Tensor, progress: Progress, profile: str | None = None
) -> dict[str, Any] | None:
    """Hardware objectives (``latency_ms``, ``energy_mj``, ``pe_count``) of the SNN from objective plugins.

    Plugins of the ``ttfsnet_nas.objectives`` entry-point group (e.g. ``ttfsnet_hw``) receive the SNN and
    ``data`` as recorded inputs. Built-in objectives need evaluator metrics this context does not have and
    are skipped; ``None`` when no plugin produced a value.
    """
    from ttfsnet_nas.objectives import EvalContext, ObjectiveError, list_objectives, load_plugins

    for name, error in load_plugins().items():
        progress.log(f"hardware estimate: objective plugin {name} failed to load ({error})")
    net, meta = load_snn(snn_path)
    extras = {"snn": net, "data": data, "input_shape": tuple(meta.get("input_shape") or data.shape[1:])}
    if profile is not None:
        extras["hw_profile"] = profile
    ctx = EvalContext(metrics={}, extras=extras)
    out: dict[str, Any] = {}
    for objective in list_objectives():
        try:
            out[objective.name] = float(objective(ctx))
        except ObjectiveError:
            continue  # an evaluator metric (accuracy, spikes, ...) that this context does not carry
        except Exception as exc:  # a plugin failing must not fail the finished run
            progress.log(f"hardware objective {objective.name} skipped: {type(exc).__name__}: {exc}")
    return out or None


def _pct(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.1f}"


def _write_table(
    out: Path, stem: str, header: Sequence[str], rows: Sequence[Sequence[str]], title: str
) -> str:
    md = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join(md) + "\n"
    atomic_write_text(out / f"{stem}.md", text)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(out / f"{stem}.csv", buffer.getvalue())
    return text


def _results_table(pipe: _Pipeline, test: Mapping[str, Any]) -> str:
    from ttfsnet_nas.emotion.see import EMOTION_ABBREV, LIGHTING_ABBREV, LIGHTINGS, PAPER_EMOTION_ORDER

    # the test metrics name every class (NaN when absent), so a finished run need not load its data again
    classes = [k.removeprefix("emotion/") for k in test["snn"]["mean"] if k.startswith("emotion/")]
    emotions = [e for e in PAPER_EMOTION_ORDER if e in classes] + [e for e in classes if e not in PAPER_EMOTION_ORDER]
    header = ["Method", "Network"] + [EMOTION_ABBREV.get(e, e) for e in emotions]
    header += [LIGHTING_ABBREV[lt] for lt in LIGHTINGS] + ["WAR", "UAR"]
    label = f"TNAS-ER ({pipe.recipe.name})"
    rows = []
    for net, key in (
        ("SNN", "snn"), ("ANN counterpart", "ann_counterpart"), ("ANN before fine-tuning", "ann_retrained")
    ):
        mean = test[key]["mean"]
        row = [label, net] + [_pct(mean.get(f"emotion/{e}")) for e in emotions]
        row += [_pct(mean.get(f"lighting/{lt}")) for lt in LIGHTINGS] + [_pct(mean["war"]), _pct(mean["uar"])]
        rows.append(row)
    title = f"Test results, mean of {test['runs']} runs (%)"
    if pipe.recipe.eval_data.synthetic is not None:
        title += " — SYNTHETIC data, not SEE/DSEE results"
    return _write_table(pipe.out, "results", header, rows, title)


def _efficiency_table(pipe: _Pipeline, test: Mapping[str, Any]) -> str:
    hw = test.get("hardware") or {}
    header = ["Method", "WAR (%)", "UAR (%)", "OPs (G SynOPs)", "Params (M)", "Latency (time units)",
              "Latency (ms, est.)", "Spikes/neuron"]
    ms = next((v for k, v in hw.items() if "latency" in k), None)
    row = [
        f"TNAS-ER ({pipe.recipe.name})",
        _pct(test["snn"]["mean"]["war"]),
        _pct(test["snn"]["mean"]["uar"]),
        f"{test['synops_per_sample'] / 1e9:.6f}",
        f"{test['params'] / 1e6:.4f}",
        f"{test['latency']:.3f}",
        "–" if ms is None else f"{ms:.3f}",
        f"{test['spikes_per_neuron']:.3f}",
    ]
    title = "Efficiency (Table 3 layout)"
    if pipe.recipe.eval_data.synthetic is not None:
        title += " — SYNTHETIC data"
    return _write_table(pipe.out, "efficiency", header, [row], title)


def _comparison(pipe: _Pipeline, test: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    rows_path = pipe.out / "baselines" / "baselines.json"
    if not rows_path.is_file():
        return "", []
    rows = json.loads(rows_path.read_text())
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row["summary"])
    mean = test["snn"]["mean"]
    table = [{"method": "TNAS-ER", "war": mean["war"], "uar": mean["uar"], "n": 1}]
    for group, summaries in groups.items():
        table.append({
            "method": group,
            "war": float(np.mean([s["snn"]["mean"]["war"] for s in summaries])),
            "uar": float(np.mean([s["snn"]["mean"]["uar"] for s in summaries])),
            "n": len(summaries),
        })
    text = _write_table(
        pipe.out,
        "comparison",
        ["Method", "Architectures", "WAR (%)", "UAR (%)"],
        [[t["method"], str(t["n"]), _pct(t["war"]), _pct(t["uar"])] for t in table],
        "Searched architecture vs baselines (TNAS-ER Fig. 7 layout, SNN test metrics)",
    )
    _plot_comparison(pipe.out / "comparison.png", table)
    return text, table


def _plot_comparison(path: Path, table: Sequence[Mapping[str, Any]]) -> None:
    fig, ax = new_figure((5, 3.2))
    xs = np.arange(len(table))
    ax.bar(xs - 0.2, [100 * t["war"] for t in table], width=0.4, label="WAR")
    ax.bar(xs + 0.2, [100 * t["uar"] for t in table], width=0.4, label="UAR")
    ax.set_xticks(xs, [t["method"] for t in table], rotation=20, fontsize=7)
    ax.set_ylabel("%")
    ax.legend()
    save_figure(fig, path)


def _plot_front(
    path: Path, search: Mapping[str, Any], objectives: Sequence[str], constraints: Sequence[Any] = ()
) -> None:
    """Every evaluated candidate and the Pareto front: second objective (x, e.g. energy) vs first (y), with
    the recipe's budgets on either axis as dashed lines."""
    y_name, x_name = objectives[0], objectives[1]

    def points(rows: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float]]:
        rows = [r for r in rows if x_name in r["values"] and y_name in r["values"]]
        rows = sorted(rows, key=lambda r: r["values"][x_name])
        return [r["values"][x_name] for r in rows], [r["values"][y_name] for r in rows]

    fig, ax = new_figure((5, 3.5))
    ax.scatter(*points(search["history"]), s=12, alpha=0.4, label="evaluated")
    ax.plot(*points(search["front"]), marker="o", color="C3", label="Pareto front")
    for c in constraints:
        for bound in (c.min, c.max):
            if bound is not None and c.objective == x_name:
                ax.axvline(bound, color="grey", linestyle="--", label=f"{x_name} budget")
            elif bound is not None and c.objective == y_name:
                ax.axhline(bound, color="grey", linestyle="--", label=f"{y_name} budget")
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def _export_artifact(pipe: _Pipeline, arch: Architecture, metrics: Mapping[str, Any], target: Path) -> Path:
    """The core artifact (architecture, space, metrics, recipe, manifest) plus the ANN and SNN model files."""
    r = pipe.recipe
    space = make_search_space(r.space.groups, r.space.ops)

    def add_models(stage: Path) -> None:
        for name in ("model.json", "weights.pt"):
            shutil.copy2(pipe.out / "retrain" / "ann" / name, stage / name)
        shutil.copy2(pipe.out / "snn" / "snn.pt", stage / "snn.pt")

    return write_artifact(
        target,
        architecture=arch,
        space=space,
        metrics=json.loads(json.dumps(metrics)),
        recipe={"type": "emotion", **recipe_to_dict(r)},
        hooks=[add_models],
        info={"pipeline": "emotion", "snn_format": SNN_FORMAT},
        overwrite=True,
    )


def _plot_search(out: Path, search: Mapping[str, Any], s: SearchConfig) -> None:
    """``fitness.png`` and ``ops.png`` from ``search.json``'s content; ``pareto.png`` for Pareto searches."""
    rounds = [
        RoundStats(r["round"], r["evaluations"], r["best"], r["mean"], r["best_so_far"])
        for r in search["rounds"]
    ]
    plot_fitness(rounds, out / "fitness.png", label=f"fitness ({s.fitness})")
    plot_op_counts(search["op_counts"], out / "ops.png", title="ops evaluated per block during the search")
    if len(s.objectives) >= 2:
        _plot_front(out / "pareto.png", search, s.objectives, s.constraints)


def _finalize(pipe: _Pipeline) -> dict[str, Any]:
    """Tables, plots, ``result.json`` and the artifact of a run whose five stages are complete."""
    out = pipe.out
    search = json.loads((out / "search" / "search.json").read_text())
    test = json.loads((out / "test" / "summary.json").read_text())
    transfer = json.loads((out / "snn" / "transfer.json").read_text())
    arch = Architecture(search["best"]["architecture"])
    results_md = _results_table(pipe, test)
    efficiency_md = _efficiency_table(pipe, test)
    comparison_md, comparison = _comparison(pipe, test)
    _plot_search(out, search, pipe.recipe.search)
    stage_seconds = {
        stage: json.loads(pipe.marker(stage).read_text())["seconds"]
        for stage in _ALL_STAGES
        if pipe.marker(stage).is_file()
    }
    metrics = {
        "war": test["snn"]["mean"]["war"],
        "uar": test["snn"]["mean"]["uar"],
        "war_std": test["snn"]["std"]["war"],
        "uar_std": test["snn"]["std"]["uar"],
        "ann_war": test["ann_counterpart"]["mean"]["war"],
        "ann_uar": test["ann_counterpart"]["mean"]["uar"],
        "snn_ann_agreement": test["agreement"],
        "synops_per_sample": test["synops_per_sample"],
        "spikes_per_sample": test["spikes_per_sample"],
        "spikes_per_neuron": test["spikes_per_neuron"],
        "params": test["params"],
        "latency": test["latency"],
        "hardware": test.get("hardware"),
    }
    result = {
        "name": pipe.recipe.name,
        "synthetic": pipe.recipe.data.synthetic is not None or pipe.recipe.eval_data.synthetic is not None,
        "best_architecture": arch.to_dict(),
        "best_key": arch.key,
        "search_fitness": search["best"]["fitness"],
        "fitness_history": search["rounds"],
        "evaluations": search["evaluations"],
        "metrics": metrics,
        "test": {k: test[k] for k in ("runs", "sequences", "snn", "ann_counterpart", "ann_retrained")},
        "transfer": transfer,
        "baselines": comparison or None,
        "stage_seconds": stage_seconds,
    }
    atomic_write_json(out / "result.json", result)
    _export_artifact(pipe, arch, metrics, out / "artifact")
    result["tables"] = {"results": results_md, "efficiency": efficiency_md, "comparison": comparison_md}
    return result


# ------------------------------------------------------------------------------------------ entry


def run_pipeline(
    recipe: EmotionRecipe | Mapping[str, Any] | str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    stages: Sequence[str] | None = None,
    resume: bool = False,
    seed: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run (or continue) the TNAS-ER pipeline.

    Args:
        recipe: an :class:`EmotionRecipe`, its YAML mapping, or a YAML file path.
        out: output folder (default: the recipe's ``out``).
        stages: stages to run (default: all, plus ``baselines`` when the recipe asks for them). Earlier
            stages must then be complete in ``out``.
        resume: skip complete stages and continue the search journal.
        seed: override the recipe's seed.
        progress: progress sink (default: silent).

    Returns:
        ``result.json``'s content plus ``tables`` (the markdown tables) and ``out`` once every stage is
        complete; otherwise which stages are complete.

    Raises:
        RecipeError: a bad recipe or stage name.
        PipelineError: missing inputs of a stage, a stage made with another recipe, or an output folder
            that already holds a run while neither ``resume`` nor ``stages`` is given.
    """
    rec = _as_recipe(recipe)
    if seed is not None:
        if seed < 0:
            raise RecipeError(f"expected an integer >= 0, got {seed}", key="--seed")
        rec = replace(rec, seed=seed)
    folder = Path(out if out is not None else rec.out).expanduser()
    if out is not None:
        rec = replace(rec, out=str(folder))
    chosen = list(stages) if stages else _stage_order(rec)
    for s in chosen:
        if s not in _ALL_STAGES:
            raise RecipeError(
                f"unknown stage {s!r}; expected some of {', '.join(_ALL_STAGES)}", key="--stages"
            )
    if "baselines" in chosen and not rec.baselines.enabled:
        raise RecipeError("stage 'baselines' selected but the recipe's baselines section requests none",
                          key="--stages")
    resolved = folder / "resolved_recipe.yaml"
    if resolved.is_file() and not resume and not stages:
        raise JournalExistsError(
            f"{folder}: already holds a run; pass --resume to continue it or choose another --out"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with resolved_recipe(resolved, EmotionPipeline(), rec, started=resolved.is_file()):
        pipe = _Pipeline(rec, folder, progress, resume, chosen)
        result = pipe.run()
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


class EmotionPipeline(Pipeline):
    """The ``type: emotion`` pipeline as the ``ttfsnet-nas`` CLI sees it (see :func:`run_pipeline`)."""

    type_name = "emotion"
    recipe_type = EmotionRecipe
    stages = _ALL_STAGES

    def search(
        self,
        recipe: Any,
        *,
        out: Path,
        resume: bool = False,
        stages: Sequence[str] | None = None,
        seed: int | None = None,
        progress: Progress | None = None,
    ) -> Path:
        """Run the selected stages into ``out``, print the tables, return ``result.json`` (or ``out``)."""
        chosen = list(self.check_stages(stages)) if stages else None
        result = run_pipeline(recipe, out=out, stages=chosen, resume=resume, seed=seed, progress=progress)
        print_summary(result)
        done = Path(out) / "result.json"
        return done if "best_key" in result else Path(out)

    def export(
        self, recipe: Any, *, run_dir: Path, out: Path | None = None, progress: Progress | None = None
    ) -> Path:
        """Re-export the artifact of a finished run (to ``out``, default ``RUN_DIR/artifact``)."""
        run_dir = Path(run_dir)
        result_path = run_dir / "result.json"
        if not result_path.is_file():
            raise PipelineError(f"export: {result_path} not found; run all stages first")
        result = json.loads(result_path.read_text())
        pipe = _Pipeline(recipe, run_dir, progress, True, ())
        arch = Architecture(result["best_architecture"])
        target = Path(out) if out is not None else run_dir / "artifact"
        return _export_artifact(pipe, arch, result["metrics"], target)

    def evaluate(self, recipe: Any, *, artifact: Path, progress: Progress | None = None) -> dict[str, Any]:
        """Test an exported artifact (``snn.pt`` and the ANN) on the recipe's test split (``test.runs``)."""
        artifact = Path(artifact)
        for name in ("snn.pt", "model.json"):
            if not (artifact / name).is_file():
                raise PipelineError(f"evaluate: {artifact / name} not found (not an emotion artifact)")
        pipe = _Pipeline(recipe, artifact, progress, True, (), record_split=False)
        summary = pipe.test(artifact, artifact / "snn.pt", None, "evaluate")
        keep = (
            "runs", "sequences", "agreement", "spikes_per_neuron", "synops_per_sample", "params", "latency"
        )
        return {
            "war": summary["snn"]["mean"]["war"],
            "uar": summary["snn"]["mean"]["uar"],
            "ann_war": summary["ann_counterpart"]["mean"]["war"],
            **{k: summary[k] for k in keep},
        }
