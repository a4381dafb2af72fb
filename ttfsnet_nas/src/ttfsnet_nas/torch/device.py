"""Where the torch stages run, and in what precision the ANN trains.

A recipe's ``device`` (or the CLI's ``--device``, which overrides it) is one of ``auto`` (CUDA when
available, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``.
[`resolve_device`][ttfsnet_nas.torch.device.resolve_device] is the one place that turns it into a
``torch.device``; a device this machine does not have is an
[`InputError`][ttfsnet_nas.torch.device.InputError] (CLI exit status 2) with one line. The device is never
part of a stage's fingerprint and every file is written with CPU tensors, so a run started on a GPU continues
on a CPU and the other way round.

``precision: bf16`` runs the forward passes of ANN *training* under ``torch.autocast`` with bfloat16
([`training_autocast`][ttfsnet_nas.torch.device.training_autocast]); scoring, conversion, fine-tuning and
testing stay in float32 (the SNN's own dtype, float32 or float64).
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Literal

import torch

from ttfsnet_nas.errors import InputError

__all__ = ["DEVICE_SPEC", "PRECISIONS", "Precision", "resolve_device", "torchrun_world", "training_autocast"]

DEVICE_SPEC = re.compile(r"auto|cpu|cuda(:\d+)?")
"""The accepted device strings."""

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")


def resolve_device(spec: str | torch.device, *, key: str = "device") -> torch.device:
    """The ``torch.device`` of a device string (``auto``, ``cpu``, ``cuda``, ``cuda:N``).

    ``auto`` and ``cuda`` name the current CUDA device with its index (``cuda:0`` unless
    ``torch.cuda.set_device`` chose another, as a ``torchrun`` rank does), so devices compare equal.

    Args:
        spec: the device string, or a ``torch.device`` (returned as it is).
        key: the recipe key or CLI option the string came from, for the message.

    Raises:
        InputError: an unknown string, CUDA asked for on a machine without it, or ``cuda:N`` beyond the
            visible GPUs.
    """
    if isinstance(spec, torch.device):
        return spec
    text = str(spec).strip()
    if not DEVICE_SPEC.fullmatch(text):
        raise InputError(f"{key}: expected auto, cpu, cuda or cuda:N, got {text!r}")
    if text == "cpu" or (text == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise InputError(
            f"{key}: {text!r} asked for, but CUDA is not available here (torch {torch.__version__}); "
            "use cpu or auto"
        )
    count = torch.cuda.device_count()
    index = torch.cuda.current_device() if text in ("auto", "cuda") else int(text.split(":")[1])
    if index >= count:
        raise InputError(f"{key}: {text!r} asked for, but this machine has {count} CUDA device(s)")
    return torch.device("cuda", index)


def training_autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[object]:
    """The context the forward passes of ANN training run in: bfloat16 autocast for ``bf16`` (on CPU and
    CUDA alike), nothing for ``fp32``.

    Raises:
        ValueError: an unknown precision.
    """
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    raise ValueError(f"precision: expected one of {list(PRECISIONS)}, got {precision!r}")


def torchrun_world() -> tuple[int, int, int]:
    """``(rank, world size, local rank)`` from the variables ``torchrun`` sets; ``(0, 1, 0)`` outside it."""
    return (
        int(os.environ.get("RANK", "0")),
        int(os.environ.get("WORLD_SIZE", "1")),
        int(os.environ.get("LOCAL_RANK", "0")),
    )
