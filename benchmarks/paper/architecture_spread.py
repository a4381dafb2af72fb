"""How much does the architecture matter on a synthetic set? (issue 11, item 3)

Trains random architectures of the demo's search space standalone, each with several training seeds, at the
demo recipe's retraining budget and geometry, and tests each on the test split. Reports, per architecture,
the mean ± std over training seeds of the test WAR/UAR, and the spread of the architectures (max − min WAR)
computed per seed, then its mean ± std over seeds. **Synthetic data: not SEE/DSEE results.**

The accuracy is that of the retrained ReLU network (ANN domain). Its TTFS conversion is exact (the
converted network's logits equal the ANN's up to float rounding; docs/ttfs-model.md), so these are also the
accuracies of the converted SNN before fine-tuning. Each (architecture, seed) is tested on R test runs with
fresh random E4-S3 windows (the pipeline's test windows, epochs 30000…); the figure per training is the mean
over the R runs.

The table also gives each architecture's theoretical receptive field (`receptive_field`), the quantity the
``wide`` preset's cue is designed around (docs/synthetic-benchmark.md).

Usage::

    python benchmarks/paper/architecture_spread.py --preset wide --archs 12 --seeds 3 --out DIR \\
        [--searched RUN_DIR]

Every finished (architecture, seed) is written atomically to ``DIR/results/``; a rerun skips it, so an
interrupted measurement continues where it stopped. ``DIR/spread.json`` and ``DIR/spread.md`` hold the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ttfsnet_nas.journal import atomic_write_json, atomic_write_text

# A trainer: (architecture, training seed) → {"war": ..., "uar": ..., ...} on the test split.
Trainer = Callable[[Mapping[str, str], int], Mapping[str, float]]


def arch_key(arch: Mapping[str, str]) -> str:
    """Stable text of an architecture: ``gene=op`` pairs in gene order."""
    return ",".join(f"{g}={arch[g]}" for g in sorted(arch))


_KERNEL = {"conv3x3": 3, "conv5x5": 5, "skip": 1}


def receptive_field(arch: Mapping[str, str], stem_convs: int = 2) -> int | None:
    """Theoretical receptive field (input pixels) of one cell of the last feature map before the head.

    For the demo backbone (``stem_convs`` 3x3 stem convolutions, then per stage its blocks and a 2x2 max
    pooling; genes named ``g<stage>b<block>``): r = 1 + 2·stem_convs + Σ_stages (2^s) + Σ_blocks
    (k − 1)·2^stage, with k = 3, 5 or 1 (``skip``). At 32×32 with 3 stages: 12 px for all-``skip``, 40 for
    all-conv3x3, 68 for all-conv5x5. ``None`` for an op or gene it does not know.
    """
    stages: dict[int, list[int]] = {}
    for gene, op in arch.items():
        if op not in _KERNEL or not gene.startswith("g") or "b" not in gene:
            return None
        stage, _, block = gene[1:].partition("b")
        if not (stage.isdigit() and block.isdigit()):
            return None
        stages.setdefault(int(stage), []).append(_KERNEL[op])
    r, jump = 1 + 2 * stem_convs, 1
    for stage in sorted(stages):
        r += sum((k - 1) * jump for k in stages[stage]) + jump  # the blocks, then the 2x2 pooling
        jump *= 2
    return r


def _result_path(out: Path, arch: Mapping[str, str], seed: int) -> Path:
    digest = hashlib.sha256(arch_key(arch).encode()).hexdigest()[:12]
    return out / "results" / f"{digest}_seed{seed}.json"


def measure(
    archs: Sequence[Mapping[str, str]],
    seeds: Sequence[int],
    trainer: Trainer,
    out: Path,
    log: Callable[[str], None] = lambda _msg: None,
    *,
    train: bool = True,
) -> dict[str, dict[int, dict[str, float]]]:
    """Train and test every (architecture, seed) not yet in ``out/results``; return all results.

    Args:
        train: ``False``: only read the finished results (the missing ones are left out).

    Returns:
        architecture key → seed → the trainer's metrics.
    """
    results: dict[str, dict[int, dict[str, float]]] = {arch_key(arch): {} for arch in archs}
    # Seed-major: an interrupted measurement has every architecture at the first seeds, so the spread of
    # those seeds is already complete.
    for seed in seeds:
        for i, arch in enumerate(archs):
            key = arch_key(arch)
            path = _result_path(out, arch, seed)
            if path.is_file():
                saved = json.loads(path.read_text())
                if saved["architecture"] != key or saved["seed"] != seed:
                    raise SystemExit(f"error: {path}: holds {saved['architecture']} seed {saved['seed']}")
                results[key][seed] = saved["metrics"]
                continue
            if not train:
                continue
            start = time.perf_counter()
            metrics = {k: float(v) for k, v in trainer(arch, seed).items()}
            metrics["seconds"] = round(time.perf_counter() - start, 1)
            atomic_write_json(path, {"architecture": key, "seed": seed, "metrics": metrics})
            results[key][seed] = metrics
            log(f"arch {i + 1}/{len(archs)} seed {seed}: WAR {metrics['war']:.4f} ({metrics['seconds']} s)")
    return results


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof 1; 0 for a single value)."""
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def spread_statistics(
    results: Mapping[str, Mapping[int, Mapping[str, float]]], metric: str = "war"
) -> dict[str, Any]:
    """Statistics of the architectures' ``metric`` over training seeds.

    Args:
        results: architecture key → seed → metrics; every architecture must have the same seeds.

    Returns:
        ``per_arch`` (key → mean, std over seeds), ``spread_per_seed`` (seed → max − min over the
        architectures of that seed's value), ``spread`` (mean and std of those spreads over seeds),
        ``spread_of_means`` (max − min of the per-architecture means), ``seed_std`` (mean and max of the
        per-architecture std over seeds) and ``ranking`` (keys by mean, best first).
    """
    seed_sets = {tuple(sorted(by_seed)) for by_seed in results.values()}
    if len(seed_sets) != 1:
        raise ValueError("spread_statistics: every architecture needs the same training seeds")
    seeds = seed_sets.pop()
    per_arch: dict[str, dict[str, float]] = {}
    for key, by_seed in results.items():
        mean, std = _mean_std([by_seed[s][metric] for s in seeds])
        per_arch[key] = {"mean": mean, "std": std}
    spread_per_seed = {
        s: max(results[k][s][metric] for k in results) - min(results[k][s][metric] for k in results)
        for s in seeds
    }
    spread_mean, spread_std = _mean_std(list(spread_per_seed.values()))
    means = [v["mean"] for v in per_arch.values()]
    stds = [v["std"] for v in per_arch.values()]
    return {
        "metric": metric,
        "seeds": list(seeds),
        "per_arch": per_arch,
        "spread_per_seed": spread_per_seed,
        "spread": {"mean": spread_mean, "std": spread_std},
        "spread_of_means": max(means) - min(means),
        "seed_std": {"mean": statistics.fmean(stds), "max": max(stds)},
        "ranking": sorted(per_arch, key=lambda k: -per_arch[k]["mean"]),
    }


def rank_of(value: float, others: Sequence[float]) -> int:
    """1-based rank of ``value`` among ``others`` (1 = better than all of them; ties count as better)."""
    return 1 + sum(1 for v in others if v > value)


def _short(key: str) -> str:
    """``g0b0=conv3x3,g0b1=skip,...`` → ``3 s ...`` (3 = conv3x3, 5 = conv5x5, s = skip)."""
    code = {"conv3x3": "3", "conv5x5": "5", "skip": "s"}
    return " ".join(code.get(pair.split("=")[1], pair.split("=")[1]) for pair in key.split(","))


def markdown(report: Mapping[str, Any]) -> str:
    """The Markdown table of a report written by `main`."""
    war = report["war"]  # the random architectures only: the spread figures
    table, uar = report["table_war"], report["table_uar"]  # the table also ranks the searched network
    pct = 100.0
    lines = [
        f"# Architecture spread on the synthetic `{report['preset']}` set",
        "",
        "Synthetic data, not SEE/DSEE results.",
        f"Command: `{report['command']}`; {report['date']}; {report['machine']}.",
        f"Retraining budget of demo.yaml: {report['budget']}. Test: mean over {report['test_runs']} runs of "
        "fresh E4-S3 windows; ANN accuracy (the TTFS transfer is exact).",
        "",
        "| # | architecture (g0b0 … g2b1; 3 = conv3x3, 5 = conv5x5, s = skip) | RF (px) "
        "| WAR % (mean ± std over seeds) | UAR % | per seed WAR % |",
        "|---|---|---|---|---|---|",
    ]
    for i, key in enumerate(table["ranking"], 1):
        w, u = table["per_arch"][key], uar["per_arch"][key]
        per_seed = ", ".join(f"{pct * report['results'][key][str(s)]['war']:.1f}" for s in war["seeds"])
        label = " (searched)" if key == report.get("searched") else ""
        label += " (--arch)" if key in report.get("extra_ranks", {}) else ""
        rf = receptive_field(dict(pair.split("=", 1) for pair in key.split(",")))
        lines.append(
            f"| {i} | `{_short(key)}`{label} | {'—' if rf is None else rf} "
            f"| {pct * w['mean']:.1f} ± {pct * w['std']:.1f} "
            f"| {pct * u['mean']:.1f} ± {pct * u['std']:.1f} | {per_seed} |"
        )
    spread = war["spread"]
    per_seed_spread = ", ".join(f"{pct * v:.1f}" for v in war["spread_per_seed"].values())
    lines += [
        "",
        f"- Random architectures: {report['random_archs']}; training seeds: {war['seeds']}.",
        f"- Spread (max − min WAR over the random architectures), per seed: {per_seed_spread} points; "
        f"mean ± std over seeds: **{pct * spread['mean']:.1f} ± {pct * spread['std']:.1f}** points.",
        f"- Spread of the per-architecture means: {pct * war['spread_of_means']:.1f} points.",
        f"- Seed std per architecture: mean {pct * war['seed_std']['mean']:.1f}, "
        f"max {pct * war['seed_std']['max']:.1f} points.",
        "- RF: theoretical receptive field of a last-map cell in input pixels (`receptive_field`).",
    ]
    for key, rank in report.get("extra_ranks", {}).items():
        lines.append(
            f"- Extra architecture `{_short(key)}` (--arch): rank {rank} of {report['random_archs'] + 1} "
            "by mean WAR among the random architectures."
        )
    if report.get("searched"):
        lines.append(
            f"- Searched architecture ({report['searched_from']}): rank {report['searched_rank']} of "
            f"{report['random_archs'] + 1} by mean WAR among the random architectures."
        )
    return "\n".join(lines) + "\n"


def _searched_architecture(run_dir: Path) -> dict[str, str]:
    path = run_dir / "search" / "search.json"
    try:
        return dict(json.loads(path.read_text())["best"]["architecture"])
    except (OSError, KeyError, ValueError) as exc:
        raise SystemExit(f"error: {path}: no best architecture ({exc})") from None


def _torch_trainer(preset: str, runs: int, epochs: int | None, log: Callable[[str], None]) -> tuple[
    Trainer, Any, dict[str, Any]
]:
    """The real trainer: demo.yaml's data geometry and retraining budget on the ``preset`` set."""
    import torch

    from ttfsnet.models import macro_network
    from ttfsnet_nas.emotion.data import load_data
    from ttfsnet_nas.emotion.metrics import aggregate_runs, compute_metrics
    from ttfsnet_nas.emotion.recipe import load_recipe
    from ttfsnet_nas.emotion.space import backbone, make_search_space
    from ttfsnet_nas.pipelines import builtin_recipes
    from ttfsnet_nas.progress import NullProgress
    from ttfsnet_nas.torch import TrainConfig, train_model

    recipe = load_recipe(builtin_recipes()["demo"])
    data_cfg = dataclasses.replace(recipe.data, synthetic=preset)  # type: ignore[arg-type]
    log(f"data: {data_cfg.resolved_root()}")
    data = load_data(
        data_cfg, seed=recipe.seed, with_search_split=False, progress=NullProgress(), where="data"
    )
    config = backbone(
        groups=recipe.space.groups, ops=recipe.space.ops, width=recipe.space.width,
        in_channels=data_cfg.channels, image_size=data_cfg.image_size, num_classes=len(data.classes),
    )
    rt = recipe.retrain
    n_epochs = rt.epochs if epochs is None else epochs
    tests = [data.test.materialize(epoch=30_000 + run) for run in range(runs)]

    def trainer(arch: Mapping[str, str], seed: int) -> dict[str, float]:
        torch.manual_seed(seed)
        model = macro_network(config, arch)
        train_model(
            model, data.train,
            TrainConfig(epochs=n_epochs, batch_size=rt.batch_size, lr=rt.lr, weight_decay=rt.weight_decay,
                        seed=seed),
        )
        model.eval()
        runs = []
        with torch.no_grad():
            for x, y in tests:
                pred = torch.cat([model(xb).argmax(1) for xb in torch.split(x, 256)])
                runs.append(compute_metrics(y.tolist(), pred.tolist(), lighting=data.test.lightings,
                                            classes=list(data.classes)))
        # war, uar, emotion/<name>, lighting/<name>: each the mean over the R test runs
        return {k: v for k, v in aggregate_runs(runs).mean.items() if not math.isnan(v)}

    budget = {
        "groups": recipe.space.groups, "width": recipe.space.width, "ops": list(recipe.space.ops),
        "image_size": data_cfg.image_size, "channels": data_cfg.channels, "sampling": data_cfg.sampling,
        "epochs": n_epochs, "lr": rt.lr, "batch_size": rt.batch_size, "weight_decay": rt.weight_decay,
        "train_sequences": len(data.train), "test_sequences": len(data.test),
        "torch_threads": torch.get_num_threads(),
    }
    return trainer, make_search_space(config), budget


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: measure, then write ``spread.json`` and ``spread.md`` into ``--out``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--preset", default="hard", choices=["tiny", "small", "hard", "wide"])
    parser.add_argument("--archs", type=int, default=12, help="random architectures (>= 2)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per architecture (>= 1)")
    parser.add_argument("--arch-seed", type=int, default=0, help="seed of the architecture draw")
    parser.add_argument("--runs", type=int, default=5, help="test runs (fresh windows) per training")
    parser.add_argument("--epochs", type=int, default=None, help="override demo.yaml's retrain epochs")
    parser.add_argument("--searched", type=Path, default=None, help="a finished search run folder")
    parser.add_argument(
        "--arch", action="append", default=[], metavar="KEY",
        help="an extra architecture to tabulate and rank, as g0b0=op,g0b1=op,... (repeatable)",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--report-only", action="store_true",
        help="train nothing: tabulate the seeds that every architecture has finished",
    )
    args = parser.parse_args(argv)
    if args.archs < 2 or args.seeds < 1 or args.runs < 1:
        parser.error("--archs must be >= 2, --seeds and --runs >= 1")

    def log(msg: str) -> None:
        print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)

    start = time.perf_counter()
    trainer, space, budget = _torch_trainer(args.preset, args.runs, args.epochs, log)
    rng = np.random.default_rng(args.arch_seed)
    archs: list[dict[str, str]] = []
    while len(archs) < args.archs:  # distinct architectures, drawn uniformly
        arch = dict(space.sample(rng))
        if arch_key(arch) not in {arch_key(a) for a in archs}:
            archs.append(arch)
    seeds = list(range(args.seeds))
    args.out.mkdir(parents=True, exist_ok=True)
    train = not args.report_only
    results = measure(archs, seeds, trainer, args.out, log, train=train)
    searched_key = None
    if args.searched is not None:
        searched = _searched_architecture(args.searched)
        searched_key = arch_key(searched)
        results.update(measure([searched], seeds, trainer, args.out, log, train=train))
    extra = [dict(pair.split("=", 1) for pair in key.split(",")) for key in args.arch]
    results.update(measure(extra, seeds, trainer, args.out, log, train=train))
    seeds = [s for s in seeds if all(s in by_seed for by_seed in results.values())]
    if not seeds:
        raise SystemExit(f"error: {args.out}/results: no seed is finished for every architecture")
    results = {k: {s: by_seed[s] for s in seeds} for k, by_seed in results.items()}
    random_results = {arch_key(a): results[arch_key(a)] for a in archs}
    war = spread_statistics(random_results, "war")
    report: dict[str, Any] = {
        "synthetic": True,
        "preset": args.preset,
        "command": "python " + " ".join(["benchmarks/paper/architecture_spread.py", *(argv or sys.argv[1:])]),
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (may be shared), "
        f"{budget['torch_threads']} torch threads",
        "budget": budget,
        "test_runs": args.runs,
        "random_archs": len(archs),
        "war": war,
        "uar": spread_statistics(random_results, "uar"),
        "results": {k: {str(s): v for s, v in by_seed.items()} for k, by_seed in results.items()},
        "wall_seconds_this_call": round(time.perf_counter() - start, 1),
    }
    report["table_war"] = spread_statistics(results, "war")
    report["table_uar"] = spread_statistics(results, "uar")
    random_means = [v["mean"] for v in war["per_arch"].values()]
    if searched_key is not None:
        mean = statistics.fmean(results[searched_key][s]["war"] for s in seeds)
        report["searched"] = searched_key
        report["searched_from"] = str(args.searched)
        report["searched_war"] = mean
        report["searched_rank"] = rank_of(mean, random_means)
    report["extra_ranks"] = {
        arch_key(a): rank_of(statistics.fmean(results[arch_key(a)][s]["war"] for s in seeds), random_means)
        for a in extra
    }
    atomic_write_json(args.out / "spread.json", report)
    text = markdown(report)
    atomic_write_text(args.out / "spread.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
