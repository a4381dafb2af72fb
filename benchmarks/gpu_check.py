"""GPU check: what one machine does with the TNAS-ER workload, in about 8 minutes, offline.

Run on a machine with torch (CUDA build) and the project installed; it needs no network and installs
nothing (the synthetic data it uses is generated locally in a temporary folder)::

    python benchmarks/gpu_check.py                 # device auto: the GPU when there is one
    python benchmarks/gpu_check.py --device cuda:1
    python benchmarks/gpu_check.py --quick --device cpu   # a smoke test of this script on a CPU (minutes)

It prints, in order: the device; ``ttfsnet.convert`` exactness on it (float64, and float32 with TF32 off
and on); the closed-form SNN forward and ``run()`` with statistics against the ANN forward; supernet
training samples/s in fp32 and bf16; loader samples/s from the frame cache; a ``see-synthetic`` run with
its epochs cut to 3/3/1 on the ``small`` synthetic set with its stage times; and a projection of the full
``see-synthetic`` recipe's minutes from those figures. All data is synthetic.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

import ttfsnet
from ttfsnet.models import MacroConfig, macro_genes, macro_network
from ttfsnet_nas.emotion.dataset import EventEmotionDataset
from ttfsnet_nas.emotion.frame_cache import default_cache_dir
from ttfsnet_nas.emotion.pipeline import run_pipeline
from ttfsnet_nas.emotion.see import load_see
from ttfsnet_nas.emotion.synth import PRESETS, generate, plan_dataset
from ttfsnet_nas.errors import InputError
from ttfsnet_nas.pipelines import resolve_recipe
from ttfsnet_nas.torch import MacroSupernet
from ttfsnet_nas.torch.data import BatchLoader
from ttfsnet_nas.torch.device import resolve_device
from ttfsnet_nas.torch.train import supernet_train_step

BATCH = 96


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best(fn: Callable[[], object], device: torch.device, repeat: int) -> float:
    """Best wall time of ``repeat`` calls after one warm-up (GPU work waited for)."""
    fn()
    _sync(device)
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


@contextmanager
def _tf32(on: bool) -> Iterator[None]:
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = on
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def _backbone(size: int, width: int, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """The TNAS-ER backbone (every block the 3x3 conv block) with non-trivial BN statistics."""
    config = MacroConfig(
        in_channels=4, input_size=(size, size), stem_channels=(width, width), stage_blocks=(2, 2, 2),
        gene_names="g{stage}b{block}",
    )
    torch.manual_seed(0)
    model = macro_network(config, dict.fromkeys(macro_genes(config), "conv3x3"))
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model.eval().to(device=device, dtype=dtype)


def check_convert(device: torch.device, size: int, width: int) -> dict[str, Any]:
    """SNN-vs-ANN logit differences of ``ttfsnet.convert`` on ``device``."""
    out: dict[str, Any] = {}
    for dtype in (torch.float64, torch.float32):
        model = _backbone(size, width, device, dtype)
        x = torch.rand(256, 4, size, size, generator=torch.Generator().manual_seed(1)).to(device, dtype)
        net = ttfsnet.convert(model, x)
        settings = [("tf32 off", False), ("tf32 on", True)] if dtype == torch.float32 else [("", False)]
        for label, tf32 in settings:
            with torch.no_grad(), _tf32(tf32):
                diff = float((net(x) - model(x)).abs().max())
            out[f"{str(dtype).removeprefix('torch.')} {label}".strip()] = diff
    return out


def check_forward(device: torch.device, size: int, width: int, batches: list[int]) -> dict[str, Any]:
    """Closed-form SNN forward and ``run()`` with statistics, each over the ANN forward."""
    model = _backbone(size, width, device, torch.float32)
    calib = torch.rand(256, 4, size, size, generator=torch.Generator().manual_seed(1)).to(device)
    net = ttfsnet.convert(model, calib)
    out: dict[str, Any] = {}
    repeat = 5 if device.type == "cuda" else 2
    for batch in batches:
        x = torch.rand(batch, 4, size, size, generator=torch.Generator().manual_seed(2)).to(device)
        with torch.no_grad():
            ann, snn, run = (_best(lambda f=f, x=x: f(x), device, repeat) for f in (model, net, net.run))
        out[f"batch {batch}"] = {"ann_ms": 1e3 * ann, "snn/ann": snn / ann, "run()/ann": run / ann}
    return out


def check_supernet(device: torch.device, size: int, width: int, steps: int) -> dict[str, float]:
    """Supernet training samples/s (uniform single-path steps, batch 96) in fp32 and bf16 autocast."""
    config = MacroConfig(
        in_channels=4, num_classes=7, input_size=(size, size), stem_channels=(width, width),
        stage_blocks=(2, 2, 2), gene_names="g{stage}b{block}", ops=("conv3x3", "conv5x5", "skip"),
    )
    rates: dict[str, float] = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        supernet = MacroSupernet(config).to(device).train()
        opt = torch.optim.Adam(supernet.parameters(), lr=5e-3)
        g = torch.Generator().manual_seed(0)
        x = torch.rand(BATCH, 4, size, size, generator=g).to(device)
        y = torch.randint(0, 7, (BATCH,), generator=g).to(device)
        rng = np.random.default_rng(0)
        archs = itertools.cycle([supernet.sample(rng) for _ in range(8)])
        supernet_train_step(supernet, opt, x, y, next(archs), precision=precision)  # warm-up
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            supernet_train_step(supernet, opt, x, y, next(archs), precision=precision)
        _sync(device)
        rates[precision] = steps * BATCH / (time.perf_counter() - t0)
    return rates


def check_loader(device: torch.device, workdir: Path, workers: int) -> dict[str, float]:
    """Loader samples/s from the memory-mapped frame cache at 4 × 90 × 90, batch 96, onto ``device``."""
    root = workdir / "loader"
    generate(root, preset="tiny", seed=0, workers=max(1, workers), size=90)
    seqs = load_see(root).subset("training")
    EventEmotionDataset(seqs, size=90, cache_dir=default_cache_dir(root))  # builds the cache
    ds = EventEmotionDataset(seqs, size=90, cache_dir=default_cache_dir(root))
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, len(ds), (BATCH,), generator=g) for _ in range(40)]
    rates: dict[str, float] = {}
    for n in sorted({0, workers}):
        with BatchLoader(ds, device=device, workers=n) as loader:
            list(loader(batches[:2]))
            ds.set_epoch(1)
            t0 = time.perf_counter()
            count = sum(x.shape[0] for x, _ in loader(batches))
            _sync(device)
            rates[f"{n} workers"] = count / (time.perf_counter() - t0)
    return rates


def cut_down_recipe(device: str, quick: bool) -> dict[str, Any]:
    """``see-synthetic`` with epochs cut to 3/3/1 on the ``small`` set (``quick``: a CPU-sized smoke test)."""
    recipe: dict[str, Any] = yaml.safe_load(resolve_recipe("see-synthetic").read_text())
    recipe.update(name="gpu-check", device=device)
    recipe["data"]["synthetic"] = "small"
    recipe["supernet"]["epochs"] = 3
    recipe["retrain"]["epochs"] = 3
    recipe["snn"]["finetune_epochs"] = 1
    if quick:
        recipe["data"].update(synthetic="tiny", image_size=16, channels=8, loader_workers=0)
        recipe["space"].update(groups=1, width=4)
        recipe["search"].update(pool_size=4, elite_size=4, rounds=2)
        recipe["snn"]["calibration_samples"] = 64
        recipe["test"]["runs"] = 2
    return recipe


def _counts(preset: str) -> dict[str, int]:
    plans = plan_dataset(PRESETS[preset], seed=0)
    train = sum(p.subset == "training" for p in plans)
    return {"train": train, "test": len(plans) - train}


def project(result: dict[str, Any], recipe: dict[str, Any], supernet_rate: float) -> dict[str, float]:
    """Minutes of the full ``see-synthetic`` recipe, from this machine's figures.

    Supernet and retraining: the measured supernet samples/s over the full set's training samples times the
    epochs (a subnet trains at about a supernet path's cost). Search, SNN and test: the cut-down stage times
    scaled by the candidates, epochs, runs and set sizes of the full recipe.
    """
    full = yaml.safe_load(resolve_recipe("see-synthetic").read_text())
    small, big = _counts(recipe["data"]["synthetic"]), _counts("full")
    scale_train = big["train"] / small["train"]
    seconds = result["stage_seconds"]
    search_full = full["search"]["pool_size"] * full["search"]["rounds"]
    search_cut = recipe["search"]["pool_size"] * recipe["search"]["rounds"]
    supernet_part = 1 - full["data"]["search_fraction"]
    finetune = full["snn"]["finetune_epochs"] / recipe["snn"]["finetune_epochs"]
    runs = full["test"]["runs"] / recipe["test"]["runs"]
    minutes = {
        "supernet": full["supernet"]["epochs"] * big["train"] * supernet_part / supernet_rate / 60,
        "search": seconds["search"] * search_full / search_cut * scale_train / 60,
        "retrain": full["retrain"]["epochs"] * big["train"] / supernet_rate / 60,
        "snn": seconds["snn"] * finetune * scale_train / 60,
        "test": seconds["test"] * runs * big["test"] / small["test"] / 60,
    }
    minutes["total"] = sum(minutes.values())
    return minutes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test of this script")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args()
    try:
        device = resolve_device(args.device, key="--device")
    except InputError as exc:
        parser.exit(2, f"gpu_check: {exc}\n")
    quick = args.quick
    size, width = (32, 8) if quick else (90, 32)
    report: dict[str, Any] = {"device": str(device), "torch": torch.__version__, "quick": quick}
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
    print(f"device: {device} {report.get('gpu', '')} (torch {torch.__version__}, quick={quick})")

    def step(name: str, fn: Callable[[], Any]) -> None:
        t0 = time.perf_counter()
        report[name] = fn()
        print(f"{name} ({time.perf_counter() - t0:.0f} s): {json.dumps(report[name], indent=1)}", flush=True)

    step("convert max |SNN - ANN| logits", lambda: check_convert(device, size, width))
    batches = [BATCH] if quick or device.type == "cpu" else [BATCH, 1024]
    step("forward ratios", lambda: check_forward(device, size, width, batches))
    step("supernet samples/s", lambda: check_supernet(device, size, width, 5 if quick else 60))
    with tempfile.TemporaryDirectory(prefix="ttfsnet-gpu-check-") as tmp:
        work = Path(tmp)
        step("loader samples/s", lambda: check_loader(device, work, 2))
        recipe = cut_down_recipe(str(device), quick)
        preset = recipe["data"]["synthetic"]
        os.environ["TTFSNET_DATA"] = str(work / "data")  # where the recipe's synthetic set is looked for
        t0 = time.perf_counter()
        cores = os.cpu_count() or 1
        generate(work / "data" / f"synthetic-{preset}-seed0", preset=preset, seed=0, workers=cores)
        report["data generation s"] = time.perf_counter() - t0
        result = run_pipeline(recipe, out=work / "run")
        report["cut-down run"] = {
            "stage_seconds": result["stage_seconds"],
            "snn test WAR/UAR (synthetic)": [result["metrics"]["war"], result["metrics"]["uar"]],
        }
        figures = json.dumps(report["cut-down run"], indent=1)
        print(f"cut-down see-synthetic run (3/3/1 epochs, {preset} set): {figures}")
        report["projection minutes (full see-synthetic)"] = project(
            result, recipe, report["supernet samples/s"]["fp32"]
        )
    print(f"projection, full see-synthetic recipe on this device (minutes): "
          f"{json.dumps(report['projection minutes (full see-synthetic)'], indent=1)}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
