"""The stages of the TNAS-ER pipeline (TNAS-ER §3.2, §4.1), run by the core
[`StageRunner`][ttfsnet_nas.stages.StageRunner].

1. ``supernet`` – train the weight-sharing ReLU supernet with uniform single-path sampling on the supernet
   part of the training split (``data.search_split``: a random 80 / 20 split by default, or whole subjects
   held out; the sequence names of both parts go to ``split.json``).
2. ``search`` – the recipe's strategy (evolution in TNAS-ER) scores candidates with inherited weights in
   the ANN domain (or, with ``search.domain: snn``, on their TTFS conversion) on the search part; every
   evaluation is journaled, so ``--resume`` continues inside a round.
3. ``retrain`` – retrain the best subnet from scratch (ANN domain) on the whole training split.
4. ``snn`` – transfer to the TTFS SNN with [`ttfsnet.convert`][ttfsnet.convert.convert], then SNN fine-tuning
with
   [`ttfsnet.finetune`][ttfsnet.finetune]; the network is written with [`ttfsnet.save`][ttfsnet.save].
5. ``test`` – R inference runs over the test split with fresh, seeded random temporal windows: the SNN
   event by event in closed form, its exact ANN counterpart and the retrained ANN alongside.

``baselines`` (TNAS-ER §4.5, Fig. 7), when the recipe asks for them, go through stages 3–5 with the same
budget; ``settings`` (TNAS-ER §4.3, Fig. 5), when enabled, compares the three retraining settings
([`ttfsnet_nas.emotion.settings`][ttfsnet_nas.emotion.settings]). Stages 1 and 3 checkpoint every epoch and
continue bit-identically under ``--resume``; stage 4 is built in ``snn.partial/`` and moved into place whole.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

import ttfsnet
from ttfsnet.models import MacroConfig
from ttfsnet_nas.emotion.baselines import run_baselines
from ttfsnet_nas.emotion.data import EmotionData, EpochBatches, load_data
from ttfsnet_nas.emotion.evaluate import evaluate_runs, hardware_estimate, robustness_of
from ttfsnet_nas.emotion.quantized import run_quantize
from ttfsnet_nas.emotion.recipe import EmotionRecipe, RetrainConfig, SupernetConfig
from ttfsnet_nas.emotion.results import search_summary
from ttfsnet_nas.emotion.scaleout import check_world_size, search_on_ray, train_supernet_distributed
from ttfsnet_nas.emotion.settings import run_settings
from ttfsnet_nas.emotion.space import backbone, make_search_space
from ttfsnet_nas.errors import PipelineError
from ttfsnet_nas.journal import atomic_write_json, sha256_file
from ttfsnet_nas.progress import NullProgress, Progress
from ttfsnet_nas.search import SearchResult, run_search
from ttfsnet_nas.space import Architecture, SearchSpace
from ttfsnet_nas.stages import Stage, StageRunner
from ttfsnet_nas.strategies import Strategy
from ttfsnet_nas.torch import (
    Evaluator,
    MacroSupernet,
    StepInfo,
    TrainConfig,
    TrainResult,
    load_artifact,
    save_model,
    save_torch_atomic,
    train_model,
    train_supernet,
)
from ttfsnet_nas.torch.device import resolve_device
from ttfsnet_nas.torch.files import read_tensors
from ttfsnet_nas.torch.rng import rng_hooks

if TYPE_CHECKING:
    from ttfsnet_nas.torch.distributed import TorchrunGroup

__all__ = ["STAGES", "EmotionStages"]

STAGES: tuple[str, ...] = ("supernet", "search", "retrain", "snn", "test")
"""The five pipeline stages, in order (``baselines`` runs after them when the recipe asks for it)."""


def _reset_parameters(model: nn.Module) -> None:
    for module in model.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()  # BatchNorm's also resets its running statistics


def _checkpoint_epochs(path: Path) -> int:
    """Epochs a training checkpoint holds (0 when there is none)."""
    if not path.is_file():
        return 0
    return len(read_tensors(path, what="training checkpoint")["epoch_losses"])


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


class EmotionStages:
    """The stages of one run folder ``out`` and what they share: the recipe, the data, the supernet.

    Args:
        recipe: the recipe.
        out: the run folder (an artifact folder for `test` alone).
        progress: progress sink (default: silent).
        resume: continue journals and checkpoints.
        record_split: write (or check) ``split.json`` when the search data is loaded.
        device: where the stages run (default: the recipe's ``device``, resolved on first use).
        ranks: the ``torchrun`` process group when the supernet trains on several processes (rank 0 runs
            the stages; [`follow_supernet`][ttfsnet_nas.emotion.scaleout.follow_supernet] runs the others).
    """

    def __init__(
        self,
        recipe: EmotionRecipe,
        out: Path,
        progress: Progress | None = None,
        *,
        resume: bool = False,
        record_split: bool = True,
        device: torch.device | None = None,
        ranks: TorchrunGroup | None = None,
    ) -> None:
        self.recipe = recipe
        self.out = out
        self.progress = progress if progress is not None else NullProgress()
        self.resume = resume
        self.record_split = record_split
        self._device = device
        self.ranks = ranks
        self._search_data: EmotionData | None = None
        self._eval_data: EmotionData | None = None
        self._runner: StageRunner | None = None

    @property
    def device(self) -> torch.device:
        """Where the stages run: the device given, else the recipe's (resolved now; see
        [`resolve_device`][ttfsnet_nas.torch.device.resolve_device])."""
        if self._device is None:
            self._device = resolve_device(self.recipe.device)
        return self._device

    def chain(self) -> list[Stage]:
        """The stages of a full run in order, each with the recipe sections its result depends on.

        The device is in no fingerprint (a run continues on another device); the precision of ANN training
        is, in the stages that train, once it is not the default (so earlier fp32 runs keep theirs).
        """
        r = self.recipe
        precision = {} if r.precision == "fp32" else {"precision": r.precision}
        supernet = {"seed": r.seed, "data": r.data, "space": r.space, "supernet": r.supernet, **precision}
        chain = [
            Stage(name="supernet", run=self.stage_supernet, config=supernet),
            Stage(name="search", run=self.stage_search, needs=("supernet",), config=r.search),
            Stage(
                name="retrain",
                run=self.stage_retrain,
                needs=("search",),
                config={"target": r.target_data, "retrain": r.retrain, **precision},
            ),
            Stage(name="snn", run=self.stage_snn, needs=("retrain",), config=r.snn),
            Stage(name="test", run=self.stage_test, needs=("snn",), config=r.test),
        ]
        if r.quantize.enabled:
            chain.append(
                Stage(name="quantize", run=lambda: run_quantize(self), needs=("test",), config=r.quantize)
            )
        if r.baselines.enabled:
            chain.append(
                Stage(name="baselines", run=lambda: run_baselines(self), needs=("test",), config=r.baselines)
            )
        if r.settings.enabled:
            chain.append(
                Stage(name="settings", run=lambda: run_settings(self), needs=("test",), config=r.settings)
            )
        return chain

    def runner(self, selected: list[str] | None = None, forced: Sequence[str] = ()) -> StageRunner:
        """The stage runner of this run folder (``self.checkpoint`` then names checkpoints through it)."""
        self._runner = StageRunner(
            self.out, self.chain(), selected=selected, resume=self.resume, forced=forced,
            progress=self.progress,
        )
        return self._runner

    def resuming(self, stage: str) -> bool:
        """Whether ``stage`` continues its journal, checkpoints and partial results."""
        return self._runner.resuming(stage) if self._runner is not None else self.resume

    def checkpoint(self, stage: str, folder: Path, extra: str = "") -> Path:
        """A training checkpoint of ``stage`` that only this recipe continues (see
        [`StageRunner.checkpoint`][ttfsnet_nas.StageRunner.checkpoint])."""
        assert self._runner is not None, "stages run through runner()"
        return self._runner.checkpoint(stage, folder, extra)

    # -- data --------------------------------------------------------------------------------------
    def search_data(self) -> EmotionData:
        """Search data with its supernet/search split (``split.json`` written on first use, then checked)."""
        if self._search_data is None:
            self._search_data = load_data(
                self.recipe.data, seed=self.recipe.seed, with_search_split=True, progress=self.progress,
                where="data",
            )
            if self.record_split:
                self._write_or_check_split(self._search_data)
        return self._search_data

    def _write_or_check_split(self, data: EmotionData) -> None:
        split_path = self.out / "split.json"
        split = {**(data.split or {}), "train": list(data.train.names), "test": list(data.test.names)}
        if not split_path.is_file():
            rule = self.recipe.data.search_split
            record = {"subject_disjoint": rule == "subject", "search_split": rule, **split}
            atomic_write_json(split_path, record)
            return
        saved = json.loads(split_path.read_text())
        if any(saved.get(k) != split[k] for k in ("supernet", "search")):
            raise PipelineError(f"{split_path}: the saved supernet/search split differs from this data")

    def eval_data(self) -> EmotionData:
        """Data for retraining, transfer and test (``target_data`` when set)."""
        if self.recipe.target_data is None:
            return self.search_data()
        if self._eval_data is None:
            self._eval_data = load_data(
                self.recipe.target_data, seed=self.recipe.seed, with_search_split=False,
                progress=self.progress, where="target_data",
            )
        return self._eval_data

    # -- models ------------------------------------------------------------------------------------
    def search_space(self) -> SearchSpace:
        """The search space: the backbone's genes (the class count does not change them)."""
        return make_search_space(self.backbone())

    def backbone(self, num_classes: int = 7) -> MacroConfig:
        """The TNAS-ER backbone at the recipe's geometry (``space`` and ``data`` sections)."""
        r = self.recipe
        return backbone(
            groups=r.space.groups, ops=r.space.ops, width=r.space.width, in_channels=r.data.channels,
            image_size=r.data.image_size, num_classes=num_classes,
        )

    def build_supernet(self, num_classes: int) -> MacroSupernet:
        torch.manual_seed(self.recipe.seed)
        return MacroSupernet(self.backbone(num_classes))

    def load_supernet(self) -> MacroSupernet:
        supernet = self.build_supernet(len(self.search_data().classes))
        state = read_tensors(self.out / "supernet" / "supernet.pt", what="supernet state dict")
        supernet.load_state_dict(state)
        return supernet.to(self.device).eval()

    def train(
        self,
        train_fn: Callable[..., TrainResult],
        model: nn.Module,
        dataset: Any,
        section: SupernetConfig | RetrainConfig,
        *,
        seed: int,
        checkpoint: Path | None,
        task: str,
    ) -> tuple[TrainResult, int]:
        """Train ``model`` on `device` under a recipe section's budget and the recipe's precision,
        continuing ``checkpoint``; returns the result and the epochs taken over from the checkpoint (0: from
        scratch)."""
        config = TrainConfig(
            epochs=section.epochs, batch_size=section.batch_size, lr=section.lr,
            weight_decay=section.weight_decay, seed=seed, precision=self.recipe.precision,
        )
        done_epochs = 0 if checkpoint is None else _checkpoint_epochs(checkpoint)
        steps = max(1, math.ceil(len(dataset) / section.batch_size))
        self.progress.start(task, section.epochs * steps, completed=done_epochs * steps)

        def hook(info: StepInfo) -> None:
            self.progress.advance(task, 1, epoch=info.epoch + 1, loss=f"{info.loss:.3f}")

        result = train_fn(model, dataset, config, progress=hook, checkpoint=checkpoint, device=self.device)
        self.progress.finish(task)
        return result, done_epochs

    # -- stage 1 -----------------------------------------------------------------------------------
    def stage_supernet(self) -> dict[str, Any]:
        r = self.recipe
        data = self.search_data()
        assert data.supernet is not None
        supernet = self.build_supernet(len(data.classes))
        folder = self.out / "supernet"
        checkpoint = self.checkpoint("supernet", folder)
        check_world_size(checkpoint, 1 if self.ranks is None else self.ranks.world)
        extra: dict[str, Any] = {}
        if self.ranks is None:
            result, done_epochs = self.train(
                train_supernet, supernet, data.supernet, r.supernet, seed=r.seed, checkpoint=checkpoint,
                task="supernet",
            )
        else:
            # The data is on disk by now: the other ranks load it and train alongside (follow_supernet),
            # continuing this rank's checkpoint under --resume.
            self.ranks.announce(True)
            result, done_epochs = self.train(
                train_supernet_distributed, supernet, data.supernet, r.supernet, seed=r.seed,
                checkpoint=checkpoint, task="supernet",
            )
            extra["world_size"] = self.ranks.world
        save_torch_atomic(
            {k: v.detach().cpu() for k, v in supernet.state_dict().items()}, folder / "supernet.pt"
        )
        summary = _training_summary(
            result, done_epochs, op_counts=result.op_counts, samples=len(data.supernet),
            sha256=sha256_file(folder / "supernet.pt"), **extra,
        )
        atomic_write_json(folder / "training.json", summary)
        checkpoint.unlink(missing_ok=True)  # the stage's outputs and marker now hold everything it had
        return {"final_loss": summary["epoch_losses"][-1], "steps": result.steps, **extra}

    # -- stage 2 -----------------------------------------------------------------------------------
    def evaluator_inputs(self) -> tuple[tuple[torch.Tensor, torch.Tensor], dict[str, Any]]:
        """The search split as scored (inputs, labels) and the other arguments of the candidates'
        [`Evaluator`][ttfsnet_nas.torch.Evaluator] (all but the device), for this process or Ray workers."""
        data = self.search_data()
        r = self.recipe
        s = r.search
        assert data.search is not None and data.supernet is not None
        # One fixed window per search sequence (epoch 0 of a dedicated seed): every candidate is scored on
        # exactly the same inputs, so fitness differences come from the architectures alone.
        search_xy = data.search.materialize(epoch=10_000)
        calib = data.supernet.materialize(epoch=10_001) if s.bn_recalibration else None
        kwargs: dict[str, Any] = {
            "batch_size": s.batch_size, "num_classes": len(data.classes),
            "recalibrate_bn": s.bn_recalibration, "calibration_data": calib,
        }
        if s.domain == "snn":
            # The windows of every candidate come from the same fixed supernet-split inputs: the first ones
            # of that window (a window depends on the seed, epoch and index only), gathered alone.
            n = min(r.snn.calibration_samples, len(data.supernet))
            data.supernet.set_epoch(10_001)
            kwargs.update(
                domain="snn", snn_calibration_data=data.supernet.gather_batch(np.arange(n)), zeta=r.snn.zeta,
                input_range=data.supernet.input_range,
            )
        return search_xy, kwargs

    def strategy(self, **changes: Any) -> Strategy:
        """The recipe's strategy (``changes``: other strategy or hyper-parameters) on the search space,
        seeded with the master seed plus ``search.seed``."""
        s = self.recipe.search
        return replace(s, seed=self.recipe.seed + s.seed, **changes).build_strategy(self.search_space())

    def journaled_search(
        self, journal: Path, make_strategy: Callable[[], Strategy], stage: str = "search"
    ) -> SearchResult:
        """Score the candidates of ``make_strategy()`` on the supernet, journaled in ``journal``.

        Without ``--resume`` an old journal is removed first. The journal header carries the supernet hash
        and the split rows, so a resume with other weights or data is refused.
        """
        journal.parent.mkdir(parents=True, exist_ok=True)
        resume = self.resuming(stage)
        if not resume:
            journal.unlink(missing_ok=True)
        supernet = self.load_supernet()
        search_xy, kwargs = self.evaluator_inputs()
        strategy = make_strategy()  # after the supernet, which reseeds torch: a fixed RNG state to start from
        header = {
            "supernet_sha256": sha256_file(self.out / "supernet" / "supernet.pt"),
            "split": self.search_data().split_rows(),
            "domain": self.recipe.search.domain,  # fitness values of the two domains never mix in a journal
        }
        r = self.recipe
        shape = (r.data.channels, r.data.image_size, r.data.image_size)

        def with_extras(metrics: Mapping[str, float], model: nn.Module) -> dict[str, Any]:
            # the candidate subnet goes along for objectives that need more than numbers (ttfsnet-hw)
            out: dict[str, Any] = {**metrics, "model": model, "input_shape": shape}
            if r.search.hardware_profile is not None:
                out["hw_profile"] = r.search.hardware_profile
            return out

        if r.search.workers > 0:
            return search_on_ray(
                self, strategy, supernet, search_xy, kwargs, with_extras,
                journal=journal, header=header, resume=resume,
            )
        evaluator = Evaluator(search_xy, device=self.device, **kwargs)

        def evaluate(arch: Architecture) -> dict[str, Any]:
            model = evaluator.subnet(supernet, arch)
            return with_extras(evaluator.run(model).metrics, model)

        return run_search(
            strategy, evaluate, journal=journal, header=header, resume=resume, progress=self.progress,
            rng_hooks=rng_hooks(),
        )

    def stage_search(self) -> dict[str, Any]:
        folder = self.out / "search"
        result = self.journaled_search(folder / "journal.jsonl", self.strategy)
        summary = search_summary(result)
        atomic_write_json(folder / "search.json", summary)
        return {"best": summary["best"]["architecture"], "evaluations": len(result.history)}

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
        checkpoint = self.checkpoint("retrain", folder.parent, Architecture(arch).key)
        result, done_epochs = self.train(
            train_model, model, data.train, r.retrain, seed=r.seed + 3, checkpoint=checkpoint, task=task
        )
        model.eval()
        save_model(model, folder, metadata={"architecture": dict(arch), "classes": list(data.classes)})
        checkpoint.unlink()
        return _training_summary(result, done_epochs)

    def stage_retrain(self) -> dict[str, Any]:
        arch = self.best_architecture()
        summary = self.retrain(arch, self.out / "retrain" / "ann", "retrain")
        atomic_write_json(self.out / "retrain" / "training.json", {"architecture": dict(arch), **summary})
        return {"final_loss": summary["epoch_losses"][-1]}

    # -- stage 4 -----------------------------------------------------------------------------------
    def transfer(
        self, ann_dir: Path, snn_path: Path, arch: Mapping[str, str], task: str, *, finetune: bool = True
    ) -> dict[str, Any]:
        """Convert the ANN in ``ann_dir`` to a TTFS SNN, fine-tune it unless ``finetune`` is off (both on
        `device`, in the ANN's float32), and save it as ``snn_path``."""
        r = self.recipe
        data = self.eval_data()
        model = load_artifact(ann_dir, map_location=self.device)
        n = min(r.snn.calibration_samples, len(data.train))
        calib_x, _ = data.train.materialize(epoch=20_000)
        calib = calib_x[:n].to(self.device)
        net = ttfsnet.convert(model, calib, zeta=r.snn.zeta, input_range=data.train.input_range)
        with torch.no_grad(), ttfsnet.exact_float32():  # TF32 alone would move float32 logits on a GPU
            ann_logits = model(calib)
            snn_logits = net(calib)
        transfer = {
            "calibration_samples": n,
            "max_abs_logit_diff": float((ann_logits - snn_logits).abs().max()),
            "agreement": float((ann_logits.argmax(1) == snn_logits.argmax(1)).double().mean()),
        }
        epochs = r.snn.finetune_epochs if finetune else 0
        finetune_info: dict[str, Any] = {"epochs": epochs}
        if epochs > 0:
            result = self.train_snn(
                net, epochs=epochs, lr=r.snn.finetune_lr, batch_size=r.snn.batch_size, seed=r.seed + 4,
                task=task,
            )
            finetune_info["losses"] = [round(float(x), 5) for x in result.train_losses]
        net.eval()
        ttfsnet.save(
            net, snn_path, input_shape=list(calib.shape[1:]), classes=list(data.classes),
            architecture=dict(arch), zeta=r.snn.zeta,
        )
        return {
            "transfer": transfer,
            "finetune": finetune_info,
            "windows": [float(w) for w in net.windows()],
            "latency": float(net.latency()),
        }

    def train_snn(
        self,
        net: ttfsnet.TTFSNetwork,
        *,
        epochs: int,
        lr: float,
        batch_size: int,
        seed: int,
        task: str,
        weight_decay: float = 0.0,
    ) -> ttfsnet.FinetuneResult:
        """Train ``net`` as a TTFS network ([`ttfsnet.finetune`][ttfsnet.finetune]: exact spike-time
        gradients, the recipe's non-idealities) on the training split of the evaluation data, fresh windows
        every epoch drawn with ``seed``; progress under ``task``."""
        torch.manual_seed(seed)
        batches = EpochBatches(self.eval_data().train, batch_size, seed)
        self.progress.start(task, epochs)

        def on_epoch(record: Any, _net: Any) -> None:
            self.progress.advance(task, 1, loss=f"{record.train_loss:.3f}")

        result = ttfsnet.finetune(
            net, batches, epochs=epochs, lr=lr, robustness=robustness_of(self.recipe), callback=on_epoch,
            device=self.device, weight_decay=weight_decay,
        )
        self.progress.finish(task)
        return result

    def stage_snn(self) -> dict[str, Any]:
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
        return {"transfer_agreement": info["transfer"]["agreement"]}

    # -- stage 5 -----------------------------------------------------------------------------------
    def test(self, ann_dir: Path, snn_path: Path, folder: Path | None, task: str) -> dict[str, Any]:
        """R test runs of the SNN (and its ANN counterpart, and the retrained ANN) with fresh windows."""
        return evaluate_runs(
            self.recipe, self.eval_data(), ann_dir, snn_path, folder, self.progress, task, device=self.device
        )

    def hardware(self, snn_path: Path) -> dict[str, Any] | None:
        """Hardware estimate of the SNN in ``snn_path`` on 64 fixed test windows (objective plugins; ``None``
        without one), so the searched network and every baseline are costed on the same inputs."""
        x, _ = self.eval_data().test.materialize(epoch=30_000)
        return hardware_estimate(
            snn_path, x[:64], self.progress, self.recipe.search.hardware_profile, device=self.device
        )

    def stage_test(self) -> dict[str, Any]:
        folder = self.out / "test"
        folder.mkdir(parents=True, exist_ok=True)
        snn_path = self.out / "snn" / "snn.pt"
        summary = self.test(self.out / "retrain" / "ann", snn_path, folder, "test")
        summary["hardware"] = self.hardware(snn_path)
        atomic_write_json(folder / "summary.json", summary)
        mean = summary["snn"]["mean"]
        return {"war": mean["war"], "uar": mean["uar"]}
