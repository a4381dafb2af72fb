"""Eye-emotion metrics as defined by SEEN (``code/result.py``) and used by TNAS-ER (numpy only).

* per-emotion accuracy = recall of that class (correct / sequences of that class);
* **WAR** (weighted average recall) = correct / all sequences = plain accuracy;
* **UAR** (unweighted average recall) = mean of the per-class recalls over the classes (7 for SEE). A class
  with no test sequence has an undefined recall (NaN) and is left out of the mean; with all classes present
  this is SEEN's fixed ``/7``;
* per-lighting accuracy = accuracy within each lighting condition;
* R inference runs (R = 20 in the papers) are aggregated by mean and sample standard deviation (ddof = 1;
  0 for a single run).

Values are fractions in [0, 1]; tables convert to percent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ttfsnet_nas.emotion.see import EMOTIONS, LIGHTINGS

__all__ = ["AggregateMetrics", "RunMetrics", "aggregate_runs", "compute_metrics", "fitness"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RunMetrics:
    """Metrics of one inference run.

    Attributes:
        war: weighted average recall (accuracy).
        uar: unweighted average recall.
        per_emotion: recall per class name (NaN when the class has no sample).
        per_lighting: accuracy per lighting (NaN when absent); empty when no lighting was given.
        count: number of sequences.
    """

    war: float
    uar: float
    per_emotion: dict[str, float]
    per_lighting: dict[str, float] = field(default_factory=dict)
    count: int = 0

    def as_dict(self) -> dict[str, float]:
        """Flat mapping: ``war``, ``uar``, ``emotion/<name>``, ``lighting/<name>``."""
        out = {"war": self.war, "uar": self.uar}
        out.update({f"emotion/{k}": v for k, v in self.per_emotion.items()})
        out.update({f"lighting/{k}": v for k, v in self.per_lighting.items()})
        return out


def _as_names(values: Iterable[int | str | np.integer], classes: Sequence[str], what: str) -> np.ndarray:
    out = []
    for v in values:
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            if not 0 <= int(v) < len(classes):
                raise ValueError(f"{what}: label id {v} outside 0..{len(classes) - 1}")
            out.append(classes[int(v)])
        else:
            out.append(str(v))
    return np.asarray(out, dtype=object)


def compute_metrics(
    y_true: Sequence[int | str] | np.ndarray,
    y_pred: Sequence[int | str] | np.ndarray,
    *,
    lighting: Sequence[str | None] | None = None,
    classes: Sequence[str] = EMOTIONS,
    lightings: Sequence[str] = LIGHTINGS,
) -> RunMetrics:
    """WAR, UAR, per-emotion and per-lighting accuracy of one run.

    Args:
        y_true: true labels, as ids into ``classes`` or as class names.
        y_pred: predicted labels, same convention.
        lighting: lighting of each sequence (``None`` entries are left out of the per-lighting table).
        classes: class names (id order).
        lightings: lighting names reported (in this order).

    Raises:
        ValueError: on length mismatch, an empty run, an unknown true class or a label id out of range.
    """
    truth = _as_names(y_true, classes, "y_true")
    pred = _as_names(y_pred, classes, "y_pred")
    if len(truth) != len(pred):
        raise ValueError(f"y_true has {len(truth)} entries but y_pred has {len(pred)}")
    if len(truth) == 0:
        raise ValueError("compute_metrics: no sequences")
    unknown = sorted(set(truth) - set(classes))
    if unknown:
        raise ValueError(f"y_true: unknown class name(s) {unknown}, expected some of {list(classes)}")
    correct = truth == pred
    per_emotion: dict[str, float] = {}
    for c in classes:
        mask = truth == c
        per_emotion[c] = float(correct[mask].mean()) if mask.any() else float("nan")
    recalls = np.array([v for v in per_emotion.values() if not np.isnan(v)])
    per_lighting: dict[str, float] = {}
    if lighting is not None:
        if len(lighting) != len(truth):
            raise ValueError(f"lighting has {len(lighting)} entries but y_true has {len(truth)}")
        light = np.asarray([str(x) if x is not None else "" for x in lighting], dtype=object)
        for name in lightings:
            mask = light == name
            per_lighting[name] = float(correct[mask].mean()) if mask.any() else float("nan")
    return RunMetrics(
        war=float(correct.mean()),
        uar=float(recalls.mean()),
        per_emotion=per_emotion,
        per_lighting=per_lighting,
        count=len(truth),
    )


def fitness(metrics: RunMetrics | Mapping[str, float]) -> float:
    """TNAS-ER search fitness: WAR and UAR jointly, here their mean ``(WAR + UAR) / 2``."""
    if isinstance(metrics, RunMetrics):
        return 0.5 * (metrics.war + metrics.uar)
    return 0.5 * (float(metrics["war"]) + float(metrics["uar"]))


@dataclass(frozen=True, kw_only=True, slots=True)
class AggregateMetrics:
    """Mean and standard deviation over R runs of every metric in
    [`RunMetrics.as_dict`][ttfsnet_nas.emotion.metrics.RunMetrics.as_dict].

    Attributes:
        mean: metric → mean over runs (NaN-aware: runs where the metric is undefined are left out).
        std: metric → sample standard deviation (ddof = 1; 0 with one defined value).
        runs: number of runs.
    """

    mean: dict[str, float]
    std: dict[str, float]
    runs: int


def aggregate_runs(runs: Sequence[RunMetrics]) -> AggregateMetrics:
    """Aggregate R runs (mean, sample std).

    Raises:
        ValueError: if ``runs`` is empty.
    """
    if not runs:
        raise ValueError("aggregate_runs: no runs")
    keys: list[str] = []
    for r in runs:
        keys.extend(k for k in r.as_dict() if k not in keys)
    mean: dict[str, float] = {}
    std: dict[str, float] = {}
    for k in keys:
        vals = np.array([r.as_dict().get(k, float("nan")) for r in runs], dtype=float)
        vals = vals[~np.isnan(vals)]
        mean[k] = float(vals.mean()) if len(vals) else float("nan")
        std[k] = float(vals.std(ddof=1)) if len(vals) > 1 else (0.0 if len(vals) else float("nan"))
    return AggregateMetrics(mean=mean, std=std, runs=len(runs))
