"""The optional ``quantize`` stage: the final SNN quantised to a hardware profile's widths (TNAS-ER §4.6:
"Before deployment, the trained TNAS-ER model is quantized") and tested on the ``test`` stage's R runs,
next to the float SNN.

The quantisation and the integer datapath belong to ``ttfsnet-hw``, which this package never imports: a
quantizer plugin of the entry-point group ``ttfsnet_nas.quantizers`` (``ttfsnet-hw`` registers
``hardware``) is a callable ``(net, calibration, profile, *, bias_correction) -> mapping`` that returns
plain data: ``profile`` (name), ``widths`` (a mapping of bit widths) and ``forward`` (an input batch → the
quantised network's logits), optionally ``overflow`` (membrane saturation events per layer).

Output ``quantized/summary.json``::

    {"profile": "yoso", "widths": {...}, "runs": R,
     "float": {"mean": {...}, "std": {...}}, "quantized": {"mean": {...}, "std": {...}},
     "agreement": <fraction of test samples whose class the quantised and the float SNN agree on>}

``float`` is the ``snn`` part of ``test/summary.json``, recomputed on the same seeded windows by
[`evaluate_runs`][ttfsnet_nas.emotion.evaluate.evaluate_runs], which scores the quantised network alongside.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ttfsnet_nas.emotion.evaluate import evaluate_runs
from ttfsnet_nas.emotion.recipe import EmotionRecipe
from ttfsnet_nas.errors import PipelineError
from ttfsnet_nas.journal import atomic_write_json
from ttfsnet_nas.stages import MARKERS
from ttfsnet_nas.torch.files import read_network

if TYPE_CHECKING:
    from ttfsnet_nas.emotion.stages import EmotionStages

__all__ = ["QUANTIZERS_GROUP", "load_quantizer", "quantized_metrics", "run_quantize"]

QUANTIZERS_GROUP = "ttfsnet_nas.quantizers"
"""Entry-point group of quantizer plugins (``ttfsnet-hw`` registers ``hardware``)."""

_MISSING = "the quantize stage needs ttfsnet-hw: pip install ttfsnet-hw[torch]"


def load_quantizer(name: str = "hardware") -> Callable[..., Mapping[str, Any]]:
    """The quantizer plugin ``name`` of the group ``ttfsnet_nas.quantizers``.

    Raises:
        PipelineError: no such plugin is installed, or it fails to load (one line).
    """
    found = [ep for ep in metadata.entry_points(group=QUANTIZERS_GROUP) if ep.name == name]
    if not found:
        raise PipelineError(_MISSING)
    try:
        return found[0].load()
    except Exception as exc:  # a broken install: say which plugin and why, in one line
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PipelineError(f"quantizer plugin {name!r} ({found[0].value}) failed to load: {first}") from None


def run_quantize(stages: EmotionStages) -> dict[str, Any]:
    """Quantise ``snn/snn.pt``, run the recipe's R test runs on the quantised and the float SNN, and write
    ``quantized/summary.json`` (see the module docstring); returns the stage's marker summary."""
    r = stages.recipe
    q = r.quantize
    quantizer = load_quantizer()
    data = stages.eval_data()
    snn_path = stages.out / "snn" / "snn.pt"
    net, _ = read_network(snn_path)
    # training windows, as the transfer calibrates on (a test window would leak into the quantisation)
    calib_x, _ = data.train.materialize(epoch=20_000)
    calib = calib_x[: min(q.calibration_samples, len(data.train))]
    plugin = quantizer(net, calib, q.profile, bias_correction=q.bias_correction)
    summary = evaluate_runs(
        r, data, stages.out / "retrain" / "ann", snn_path, None, stages.progress, "quantize",
        device=stages.device, extra={"quantized": plugin["forward"]},
    )
    quant = summary["extra"]["quantized"]
    out = {
        "profile": str(plugin["profile"]),
        "widths": {k: int(v) for k, v in dict(plugin["widths"]).items()},
        "runs": summary["runs"],
        "float": summary["snn"],
        "quantized": {"mean": quant["mean"], "std": quant["std"]},
        "agreement": quant["agreement"],
    }
    atomic_write_json(stages.out / "quantized" / "summary.json", out)
    overflow = plugin.get("overflow") or {}
    return {
        "profile": out["profile"],
        "war": quant["mean"]["war"],
        "uar": quant["mean"]["uar"],
        "agreement": quant["agreement"],
        "membrane_overflow_events": int(sum(overflow.values())),
    }


def quantized_metrics(out: Path, recipe: EmotionRecipe) -> dict[str, Any] | None:
    """The quantised WAR/UAR of a run for ``result.json`` (``None`` unless the recipe enables the stage and
    it is complete: a summary left from an earlier recipe is not reported)."""
    path = out / "quantized" / "summary.json"
    if not (recipe.quantize.enabled and (out / MARKERS / "quantize.json").is_file() and path.is_file()):
        return None
    s = json.loads(path.read_text())
    mean, std = s["quantized"]["mean"], s["quantized"]["std"]
    return {
        "profile": s["profile"], "war": mean["war"], "uar": mean["uar"], "war_std": std["war"],
        "uar_std": std["uar"], "agreement": s["agreement"],
    }
