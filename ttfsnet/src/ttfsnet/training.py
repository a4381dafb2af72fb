"""Training and fine-tuning of [`TTFSNetwork`][ttfsnet.nn.TTFSNetwork] in the SNN domain.

A TTFS network is an ordinary differentiable module: the B1 closed form gives exact spike-time
gradients, and with fixed windows and no robustness perturbations one optimiser step on the SNN is
the same step on its ReLU counterpart (``docs/ttfs-model.md`` §10).
[`finetune`][ttfsnet.training.finetune] adds the
hardware-aware options of the reference code through [`RobustnessConfig`][ttfsnet.RobustnessConfig]: Gaussian
spike-time noise and fake quantisation of spike times and weights, with straight-through gradients.
"""

# Public functions check argument types at run time for untyped callers.
# pyright: reportUnnecessaryIsInstance=false

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ttfsnet.errors import TTFSFloatingPointError, TTFSRuntimeError, TTFSValueError
from ttfsnet.nn import RobustnessConfig, TTFSNetwork

__all__ = ["EpochRecord", "FinetuneResult", "finetune", "train_step"]

LossFn = Callable[[Tensor, Tensor], Tensor]
OptimizerFactory = Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]
Batch = tuple[Tensor, Tensor]


@dataclass(frozen=True, kw_only=True, slots=True)
class EpochRecord:
    """Metrics of one fine-tuning epoch.

    Attributes:
        epoch: 1-based epoch index.
        train_loss: Mean training loss over samples (with the robustness perturbations active).
        train_accuracy: Training accuracy of the same forward passes.
        val_loss: Validation loss of the network as returned (``None`` without ``val_data``).
        val_accuracy: Validation accuracy (``None`` without ``val_data``).
        val_saturated: Saturated neurons on the validation data, summed over layers and samples
            (``None`` without ``val_data``); non-zero means the SNN no longer equals its ANN there.
        seconds: Wall time of the epoch.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    val_saturated: int | None
    seconds: float


@dataclass(frozen=True, kw_only=True, slots=True)
class FinetuneResult:
    """Outcome of [`finetune`][ttfsnet.training.finetune].

    Attributes:
        history: One record per completed epoch.
        stopped_early: Whether the callback ended training before ``epochs``.
    """

    history: tuple[EpochRecord, ...]
    stopped_early: bool = False

    @property
    def train_losses(self) -> list[float]:
        """Training loss per epoch."""
        return [r.train_loss for r in self.history]

    @property
    def val_accuracies(self) -> list[float | None]:
        """Validation accuracy per epoch."""
        return [r.val_accuracy for r in self.history]


def train_step(
    net: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    loss_fn: LossFn = F.cross_entropy,
) -> tuple[float, int]:
    """One optimiser step on a batch: zero grads, forward, loss, backward, step.

    Args:
        net: Any module mapping ``x`` to logits (a [`TTFSNetwork`][ttfsnet.training.TTFSNetwork] applies its
            ``robustness``).
        x: Inputs.
        y: Integer class targets ``(B,)``.
        optimizer: Optimiser over ``net``'s parameters.
        loss_fn: Loss on ``(logits, y)``; default cross-entropy on the membrane readout.

    Returns:
        ``(loss, correct)``: the batch loss (mean as returned by ``loss_fn``) and the number of
        correct argmax predictions.
    """
    optimizer.zero_grad(set_to_none=True)
    logits = net(x)
    loss = loss_fn(logits, y)
    if not torch.isfinite(loss):
        raise TTFSFloatingPointError(f"train_step: non-finite loss {float(loss.detach())}")
    loss.backward()  # pyright: ignore[reportUnknownMemberType] - torch leaves backward's parameters unannotated
    optimizer.step()
    correct = int((logits.detach().argmax(dim=1) == y).sum())
    return float(loss.detach()), correct


def _make_optimizer(
    optimizer: str | OptimizerFactory,
    params: list[torch.nn.Parameter],
    lr: float,
    weight_decay: float,
    momentum: float,
) -> torch.optim.Optimizer:
    if callable(optimizer):
        return optimizer(params)
    name = optimizer.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise TTFSValueError(
        f"finetune: optimizer must be 'adam', 'adamw', 'sgd' or a callable, got {optimizer!r}"
    )


def _batches(data: Iterable[Batch], device: torch.device, where: str) -> Iterable[tuple[Tensor, Tensor]]:
    for i, batch in enumerate(data):
        if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
            raise TTFSValueError(
                f"finetune: {where} batch {i} must be an (inputs, targets) pair, got {type(batch).__name__}"
            )
        x, y = batch[0], batch[1]
        yield x.to(device), y.to(device)


@torch.no_grad()
def _evaluate(
    net: TTFSNetwork, data: Iterable[Batch], loss_fn: LossFn, device: torch.device
) -> tuple[float, float, int]:
    was_training = net.training
    net.eval()
    total, loss_sum, correct, saturated = 0, 0.0, 0, 0
    try:
        for x, y in _batches(data, device, "val_data"):
            run = net.run(x)
            # run() is the exact model, so its logits are net(x)'s unless robustness perturbs the forward
            logits = run.logits if net.robustness is None else net(x)
            loss_sum += float(loss_fn(logits, y)) * y.shape[0]
            correct += int((logits.argmax(dim=1) == y).sum())
            saturated += run.total_saturated
            total += y.shape[0]
    finally:
        net.train(was_training)
    if total == 0:
        raise TTFSValueError("finetune: val_data yielded no samples")
    return loss_sum / total, correct / total, saturated


def finetune(
    net: TTFSNetwork,
    train_data: Iterable[Batch],
    *,
    epochs: int,
    lr: float,
    optimizer: str | OptimizerFactory = "adam",
    robustness: RobustnessConfig | None = None,
    val_data: Iterable[Batch] | None = None,
    callback: Callable[[EpochRecord, TTFSNetwork], bool | None] | None = None,
    device: str | torch.device = "cpu",
    loss_fn: LossFn = F.cross_entropy,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
) -> FinetuneResult:
    """Fine-tune a TTFS network in place on its membrane readout (windows stay fixed).

    All parameters are trained: hidden weights and thresholds, readout weights and bias. The windows
    are buffers and are never changed, so the schedule and latency of the network are preserved;
    training can push activations beyond a window, which the network then clips (saturation; see
    ``EpochRecord.val_saturated``). While training, ``net.robustness`` is set to ``robustness`` (time
    noise, time/weight fake quantisation with straight-through gradients); the previous value is
    restored afterwards, also on error. Validation runs on the network as returned (its original
    ``robustness``). Seed torch yourself for reproducible noise and batch order.

    Args:
        net: The network to train (modified in place and moved to ``device``).
        train_data: Re-iterable ``(inputs, targets)`` batches (a ``DataLoader`` or a list); inputs are
            raw values in the network's ``input_range``.
        epochs: Number of passes over ``train_data`` (>= 1).
        lr: Learning rate for the built-in optimisers.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` or a callable ``params -> Optimizer``.
        robustness: Perturbations applied during training; ``None`` trains the exact model.
        val_data: Optional validation batches, evaluated after every epoch.
        callback: Called as ``callback(record, net)`` after each epoch; returning ``True`` stops.
        device: Device to train on.
        loss_fn: Loss on ``(logits, targets)``; default cross-entropy.
        weight_decay: Weight decay of the built-in optimisers.
        momentum: Momentum of ``"sgd"``.

    Returns:
        A [`FinetuneResult`][ttfsnet.training.FinetuneResult] with per-epoch loss and accuracy.

    Raises:
        TTFSValueError: For invalid arguments or empty data.
        TTFSFloatingPointError: If the loss diverges (also a ``FloatingPointError``).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise TTFSValueError(f"finetune: epochs must be an int >= 1, got {epochs!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise TTFSValueError(f"finetune: lr must be a finite positive float, got {lr!r}")
    if not isinstance(net, TTFSNetwork):
        raise TTFSValueError(f"finetune: net must be a TTFSNetwork, got {type(net).__name__}")
    if epochs > 1 and iter(train_data) is train_data:
        raise TTFSValueError(
            "finetune: train_data is a one-shot iterator; pass a re-iterable (list or DataLoader)"
        )
    if robustness is not None and not isinstance(robustness, RobustnessConfig):
        raise TTFSValueError(
            f"finetune: robustness must be a RobustnessConfig or None, got {type(robustness).__name__}"
        )
    dev = torch.device(device)
    net.to(dev)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = _make_optimizer(optimizer, params, lr, weight_decay, momentum)
    windows_before = net.windows()
    saved_robustness = net.robustness
    was_training = net.training
    history: list[EpochRecord] = []
    stopped = False
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            net.robustness = robustness
            net.train()
            total, loss_sum, correct = 0, 0.0, 0
            for x, y in _batches(train_data, dev, "train_data"):
                loss, right = train_step(net, x, y, opt, loss_fn=loss_fn)
                loss_sum += loss * y.shape[0]
                correct += right
                total += y.shape[0]
            if total == 0:
                raise TTFSValueError("finetune: train_data yielded no samples")
            net.robustness = saved_robustness
            val_loss = val_acc = None
            val_sat = None
            if val_data is not None:
                val_loss, val_acc, val_sat = _evaluate(net, val_data, loss_fn, dev)
            record = EpochRecord(
                epoch=epoch,
                train_loss=loss_sum / total,
                train_accuracy=correct / total,
                val_loss=val_loss,
                val_accuracy=val_acc,
                val_saturated=val_sat,
                seconds=time.perf_counter() - start,
            )
            history.append(record)
            if callback is not None and callback(record, net):
                stopped = epoch < epochs
                break
    finally:
        net.robustness = saved_robustness
        net.train(was_training)
    if net.windows() != windows_before:  # pragma: no cover - guards against a buffer turning trainable
        raise TTFSRuntimeError("finetune: the network's windows changed during training")
    return FinetuneResult(history=tuple(history), stopped_early=stopped)
