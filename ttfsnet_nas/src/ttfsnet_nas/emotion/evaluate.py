"""Testing a transferred TTFS network: R runs with fresh temporal windows (TNAS-ER/SEEN: 20), the exact
ANN counterpart and the retrained ANN alongside, and the hardware estimate from objective plugins."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

import ttfsnet
from ttfsnet_nas.emotion.data import EmotionData
from ttfsnet_nas.emotion.metrics import RunMetrics, aggregate_runs, compute_metrics
from ttfsnet_nas.emotion.recipe import EmotionRecipe
from ttfsnet_nas.emotion.seen_format import seen_filename, write_run
from ttfsnet_nas.progress import Progress
from ttfsnet_nas.torch import load_artifact
from ttfsnet_nas.torch.files import read_network

__all__ = ["evaluate_runs", "hardware_estimate", "robustness_of", "summarize_runs"]


def robustness_of(recipe: EmotionRecipe) -> ttfsnet.RobustnessConfig | None:
    """The recipe's hardware non-idealities for fine-tuning and test (``None`` when all are off)."""
    rob = recipe.snn.robustness
    if not rob.active:
        return None
    return ttfsnet.RobustnessConfig(
        time_noise_std=rob.time_noise_std, time_bits=rob.time_bits, weight_bits=rob.weight_bits,
        weight_range=rob.weight_range,
    )


def summarize_runs(runs: list[RunMetrics]) -> dict[str, dict[str, float | None]]:
    """Mean and std over runs of every metric; ``None`` (JSON ``null``) where a metric is undefined, e.g. the
    recall of a lighting condition or emotion that the test split does not contain (JSON has no NaN)."""
    agg = aggregate_runs(runs)
    return {
        part: {k: None if math.isnan(v) else v for k, v in values.items()}
        for part, values in (("mean", agg.mean), ("std", agg.std))
    }


def evaluate_runs(
    recipe: EmotionRecipe,
    data: EmotionData,
    ann_dir: Path,
    snn_path: Path,
    folder: Path | None,
    progress: Progress,
    task: str,
    *,
    device: torch.device | str = "cpu",
    extra: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
) -> dict[str, Any]:
    """R test runs (``recipe.test.runs``) of the SNN in ``snn_path`` with fresh, seeded temporal windows, with
    its exact ANN counterpart and the retrained ANN in ``ann_dir`` alongside.

    Args:
        recipe: the recipe (seed, test and robustness settings).
        data: the evaluation data (its test split is used).
        ann_dir: folder of the retrained ANN (``model.json`` + ``weights.pt``).
        snn_path: the fine-tuned SNN ([`ttfsnet.save`][ttfsnet.save] format).
        folder: where to write the SEEN-format predictions of every run (``None``: nowhere).
        progress: progress sink.
        task: progress task name.
        device: where the three networks run (in their own dtypes; the windows are drawn on the CPU).
        extra: more networks scored on exactly the same windows, by name: a function from an input batch (on
            ``device``) to its logits (any device), e.g. the quantised SNN of the ``quantize`` stage.

    Returns:
        ``test/summary.json``'s content: mean and std of the metrics of the three networks, SNN/ANN
        agreement, spike and SynOP counts, parameters, latency, windows and the architecture; with
        ``extra``, also ``extra[name]``: its ``mean`` and ``std`` and its ``agreement`` with the SNN's
        predictions (fraction of all test samples over all runs).
    """
    r = recipe
    net, meta = read_network(snn_path)
    net.to(device)
    counterpart = ttfsnet.to_ann(net).to(device).eval()  # the exact ReLU twin (no non-idealities)
    # The deployed SNN is tested under the same non-idealities it was fine-tuned for.
    net.robustness = robustness_of(recipe)
    retrained = load_artifact(ann_dir, map_location=device)
    names = data.test.names
    lighting = data.test.lightings
    classes = list(data.classes)
    runs: dict[str, list[RunMetrics]] = {"snn": [], "ann": [], "retrained": []}
    agreement: list[float] = []
    extras = dict(extra or {})
    extra_runs: dict[str, list[RunMetrics]] = {name: [] for name in extras}
    extra_agreement: dict[str, list[float]] = {name: [] for name in extras}
    spikes = synops = neurons = saturated = logit_diff = 0.0
    samples = 0
    progress.start(task, r.test.runs)
    for run in range(r.test.runs):
        # Fresh random windows per run, reproducible from the seed (SEEN/TNAS-ER: 20 runs).
        x, y = data.test.materialize(epoch=30_000 + run)
        torch.manual_seed(r.seed * 1_000 + run)  # spike-time noise, when configured, is reproducible too
        logits_snn, logits_ann, logits_ret = [], [], []
        logits_extra: dict[str, list[torch.Tensor]] = {name: [] for name in extras}
        # SNN ⇄ ANN agreement is checked without TF32, which alone moves float32 logits on a GPU
        with torch.no_grad(), ttfsnet.exact_float32():
            for xb in torch.split(x, r.test.batch_size):
                xb = xb.to(device)
                res = net.run(xb)  # the exact event simulation: spike counts, SynOPs, saturation
                # ``run`` ignores the non-idealities; the forward pass applies them to the logits.
                logits_snn.append((res.logits if net.robustness is None else net(xb)).cpu())
                logits_ann.append(counterpart(xb).cpu())
                logits_ret.append(retrained(xb).cpu())
                for name, forward in extras.items():
                    logits_extra[name].append(forward(xb).cpu())
                spikes += res.total_spikes
                synops += res.total_synops
                neurons += res.hidden_neurons * res.batch_size
                saturated += res.total_saturated
                samples += res.batch_size
        ls, la, lr_ = torch.cat(logits_snn), torch.cat(logits_ann), torch.cat(logits_ret)
        ps, pa, pr = ls.argmax(1), la.argmax(1), lr_.argmax(1)
        for key, pred in (("snn", ps), ("ann", pa), ("retrained", pr)):
            runs[key].append(compute_metrics(y.tolist(), pred.tolist(), lighting=lighting, classes=classes))
        agreement.append(float((ps == pa).double().mean()))
        for name, parts in logits_extra.items():
            pe = torch.cat(parts).argmax(1)
            extra_runs[name].append(
                compute_metrics(y.tolist(), pe.tolist(), lighting=lighting, classes=classes)
            )
            extra_agreement[name].append(float((pe == ps).double().mean()))  # every run has all test samples
        logit_diff = max(logit_diff, float((ls - la).abs().max()))
        if folder is not None:
            write_run(folder / seen_filename("test", 0, run + 1), names, ls.double().numpy(), classes=classes,
                      logits=True)
        progress.advance(task, 1, war=f"{runs['snn'][-1].war:.3f}")
    progress.finish(task)
    summaries = {k: summarize_runs(v) for k, v in runs.items()}
    out: dict[str, Any] = {
        "runs": r.test.runs,
        "sequences": len(names),
        "snn": summaries["snn"],
        "ann_counterpart": summaries["ann"],
        "ann_retrained": summaries["retrained"],
        "agreement": float(np.mean(agreement)),
        "max_abs_logit_diff": logit_diff,
        "agreement_per_run": agreement,
        "spikes_per_sample": spikes / samples,
        "synops_per_sample": synops / samples,
        "spikes_per_neuron": spikes / neurons if neurons else 0.0,
        "saturated_per_sample": saturated / samples,
        "params": int(sum(p.numel() for p in retrained.parameters())),
        "latency": float(net.latency()),
        "windows": [float(w) for w in net.windows()],
        "architecture": meta.get("architecture"),
    }
    if extras:
        out["extra"] = {
            name: {**summarize_runs(extra_runs[name]), "agreement": float(np.mean(extra_agreement[name]))}
            for name in extras
        }
    return out


def hardware_estimate(
    snn_path: Path,
    data: torch.Tensor,
    progress: Progress,
    profile: str | None = None,
    *,
    device: torch.device | str = "cpu",
) -> dict[str, Any] | None:
    """Hardware objectives (``latency_ms``, ``energy_mj``, ``pe_count``) of the SNN from objective plugins.

    Plugins of the ``ttfsnet_nas.objectives`` entry-point group (e.g. ``ttfsnet_hw``) receive the SNN and
    ``data`` as recorded inputs, both on ``device`` (``ttfsnet_hw`` records the spikes there and estimates
    on the CPU). Built-in objectives need evaluator metrics this context does not have and are skipped;
    ``None`` when no plugin produced a value.
    """
    from ttfsnet_nas.objectives import EvalContext, ObjectiveError, list_objectives, load_plugins

    for name, error in load_plugins().items():
        progress.log(f"hardware estimate: objective plugin {name} failed to load ({error})")
    net, meta = read_network(snn_path)
    net.to(device)
    data = data.to(device)
    extras: dict[str, Any] = {
        "snn": net, "data": data, "input_shape": tuple(meta.get("input_shape") or data.shape[1:])
    }
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
