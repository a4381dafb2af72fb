"""Torch part of ttfsnet_nas: supernet, training, candidate evaluation, scale-out and model export.

Candidate ops come from the op registry of ``ttfsnet.models`` (re-exported here: ``register_op`` ...).

Needs the ``[torch]`` extra; Ray (``[ray]`` extra) is imported only when a
[`RayEvaluator`][ttfsnet_nas.torch.distributed.RayEvaluator] is created.
"""

from typing import TYPE_CHECKING

from ttfsnet.models import available_ops, create_op, register_op, unregister_op
from ttfsnet_nas.torch.artifact_torch import build_model, load_artifact, model_hook, model_spec, save_model
from ttfsnet_nas.torch.data import LabelledData
from ttfsnet_nas.torch.evaluate import AnnStatsCollector, Evaluation, Evaluator, classification_metrics
from ttfsnet_nas.torch.supernet import (
    ChoiceBlock,
    MacroConfig,
    MacroSupernet,
    Supernet,
    flatten_sequential,
    layout_layers,
    recalibrate_bn,
)
from ttfsnet_nas.torch.train import (
    CheckpointError,
    StepInfo,
    TrainConfig,
    TrainResult,
    save_torch_atomic,
    train_model,
    train_supernet,
)

__all__ = [
    "AnnStatsCollector",
    "CheckpointError",
    "ChoiceBlock",
    "Evaluation",
    "Evaluator",
    "LabelledData",
    "MacroConfig",
    "MacroSupernet",
    "RayEvaluator",
    "StepInfo",
    "Supernet",
    "TrainConfig",
    "TrainResult",
    "available_ops",
    "build_model",
    "classification_metrics",
    "create_op",
    "drive_ask_tell",
    "flatten_sequential",
    "layout_layers",
    "load_artifact",
    "model_hook",
    "model_spec",
    "recalibrate_bn",
    "register_op",
    "save_model",
    "save_torch_atomic",
    "train_model",
    "train_supernet",
    "train_supernet_ddp",
    "unregister_op",
]


if TYPE_CHECKING:
    from ttfsnet_nas.torch.distributed import RayEvaluator, drive_ask_tell, train_supernet_ddp


def __getattr__(name: str) -> object:
    # The distributed helpers import torch.distributed (and, when used, Ray); load them on first access.
    if name in ("RayEvaluator", "drive_ask_tell", "train_supernet_ddp"):
        from ttfsnet_nas.torch import distributed

        return getattr(distributed, name)
    raise AttributeError(f"module 'ttfsnet_nas.torch' has no attribute {name!r}")
