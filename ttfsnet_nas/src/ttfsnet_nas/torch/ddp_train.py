"""Entry point for data-parallel supernet training under ``torchrun``.

Usage::

    torchrun --nproc_per_node=2 -m ttfsnet_nas.torch.ddp_train \\
        --data train.pt --macro-config macro.json --out supernet.pt --epochs 10 --batch-size 96

``--data`` is a ``torch.save`` d dict with ``"inputs"`` and ``"labels"`` tensors (the same file on every
node). The supernet is either a [`MacroSupernet`][ttfsnet_nas.torch.supernet.MacroSupernet] built from a JSON
file of [`MacroConfig`][ttfsnet_nas.torch.supernet.MacroConfig] fields (``--macro-config``), or any supernet
returned by a zero-argument factory given as ``module:function`` (``--factory``). ``--init`` loads a starting
``state_dict``; otherwise the weights come from ``torch.manual_seed(--seed)`` on rank 0 (DDP broadcasts
them). Rank 0 writes ``--out`` atomically: ``{"state_dict", "op_counts", "epoch_losses", "steps",
"world_size", "config"}``, with CPU tensors. ``--device cuda`` trains with NCCL and SyncBatchNorm on the GPU
of each ``LOCAL_RANK``; ``--precision bf16`` runs the forward passes under bfloat16 autocast.
``--checkpoint FILE``: rank 0 writes the training state there after every epoch, a restarted run with the
same command and world size continues from it, and rank 0 removes it once ``--out`` is written.

A TNAS-ER recipe's supernet stage needs none of these files:
``torchrun --nproc-per-node N -m ttfsnet_nas search RECIPE --stages supernet`` (see ``docs/distributed.md``).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.distributed as dist

from ttfsnet_nas.config import RecipeError, from_dict
from ttfsnet_nas.torch.distributed import local_rank, train_supernet_ddp
from ttfsnet_nas.torch.files import read_tensors
from ttfsnet_nas.torch.supernet import MacroConfig, MacroSupernet, Supernet
from ttfsnet_nas.torch.train import StepInfo, TrainConfig, save_torch_atomic


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ttfsnet_nas.torch.ddp_train", description=(__doc__ or "").splitlines()[0]
    )
    p.add_argument("--data", type=Path, required=True, help="torch.save'd dict with 'inputs' and 'labels'")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--macro-config", type=Path, help="JSON file with MacroConfig fields")
    group.add_argument("--factory", help="'module:function' returning a Supernet")
    p.add_argument("--init", type=Path, help="initial state_dict (torch.save'd)")
    p.add_argument("--out", type=Path, required=True, help="where rank 0 writes the trained supernet")
    p.add_argument(
        "--checkpoint", type=Path,
        help="rank 0 writes the training state here after every epoch; a restart continues from it",
    )
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=96, help="global batch size")
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--drop-last", action="store_true")
    p.add_argument("--device", default="cpu", help="'cpu' or 'cuda' (uses LOCAL_RANK's GPU)")
    p.add_argument(
        "--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: autocast forward passes"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument(
        "--log-every", type=int, default=0, help="print the loss every N steps on rank 0 (0: never)"
    )
    return p


def _build(args: argparse.Namespace) -> Supernet:
    if args.macro_config is not None:
        fields = json.loads(args.macro_config.read_text())
        try:
            return MacroSupernet(from_dict(MacroConfig, fields))
        except RecipeError as exc:
            raise exc.with_file(args.macro_config) from None
    module_name, _, attr = args.factory.partition(":")
    if not attr:
        raise ValueError(f"--factory {args.factory!r}: expected 'module:function'")
    net = getattr(importlib.import_module(module_name), attr)()
    if not isinstance(net, Supernet):
        raise TypeError(f"--factory {args.factory!r}: returned {type(net).__name__}, expected a Supernet")
    return net


def main(argv: Sequence[str] | None = None) -> int:
    """Run one rank of DDP supernet training; returns the process exit code."""
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank())
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        rank = dist.get_rank()
        payload = read_tensors(args.data, what="training data")
        if not isinstance(payload, dict) or not {"inputs", "labels"} <= set(payload):
            raise ValueError(f"{args.data}: expected a dict with 'inputs' and 'labels' tensors")
        torch.manual_seed(args.seed)
        supernet = _build(args)
        if args.init is not None:
            supernet.load_state_dict(read_tensors(args.init, what="initial state dict"))
        config = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            seed=args.seed,
            drop_last=args.drop_last,
            precision=args.precision,
        )

        def log(info: StepInfo) -> None:
            if args.log_every and info.step % args.log_every == 0:
                print(
                    f"epoch {info.epoch} step {info.step}/{info.steps_per_epoch} loss {info.loss:.4f}",
                    flush=True,
                )

        result = train_supernet_ddp(
            supernet, (payload["inputs"], payload["labels"]), config, progress=log, device=device,
            checkpoint=args.checkpoint,
        )
        if rank == 0:
            save_torch_atomic(
                {
                    "state_dict": {k: v.detach().cpu() for k, v in supernet.state_dict().items()},
                    "op_counts": result.op_counts,
                    "epoch_losses": list(result.epoch_losses),
                    "steps": result.steps,
                    "world_size": dist.get_world_size(),
                    "config": dataclasses.asdict(config),
                },
                args.out,
            )
            if args.checkpoint is not None:
                args.checkpoint.unlink(missing_ok=True)  # --out holds everything a restart would need
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The process group is destroyed and rank 0's output is written and fsynced; skip interpreter
    # finalization, where gloo's worker threads can still be tearing down and abort the process
    # ("terminate called without an active exception", SIGABRT) after a run that succeeded.
    os._exit(code)
