"""Per-run prediction files in the SEEN result-JSON format (``docs/emotion-data.md``, SEEN result files).

One file per inference run, named ``<subset>_epoch_<e>_<run>.json`` (e.g. ``test_epoch_163_1.json``)::

    {"results": {"<sequence name>": [{"label": "<emotion>", "score": <float>}, ...]}}

The list is the top-k of the softmax, sorted by score (SEEN writes k = 7; its published files keep only the
top-1 entry). Entry 0 is the prediction. Ground truth is not stored: as in SEEN's ``result.py`` it is parsed
from the sequence name (token 6 = emotion, token 5 = lighting), so files from other methods that use SEE names
can be scored the same way.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttfsnet_nas.emotion.metrics import RunMetrics, compute_metrics
from ttfsnet_nas.emotion.see import EMOTIONS, SEE_SCHEMA, NameSchema, canonical_emotion
from ttfsnet_nas.journal import atomic_write_text

__all__ = [
    "SEEN_FILENAME",
    "SeenRun",
    "metrics_from_run",
    "read_run",
    "seen_filename",
    "softmax",
    "to_seen_results",
    "write_run",
]

#: SEEN's per-run result file name ``<subset>_epoch_<e>_<run>.json``.
SEEN_FILENAME = re.compile(r"^(?P<subset>[A-Za-z]+)_epoch_(?P<epoch>\d+)_(?P<run>\d+)\.json$")


def seen_filename(subset: str = "test", epoch: int = 0, run: int = 1) -> str:
    """SEEN's result file name, e.g. ``test_epoch_163_1.json`` (runs are numbered from 1)."""
    return f"{subset}_epoch_{epoch}_{run}.json"


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, C)`` logits (numerically stable)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def to_seen_results(
    names: Sequence[str],
    scores: np.ndarray,
    *,
    classes: Sequence[str] = EMOTIONS,
    topk: int = 7,
    logits: bool = False,
) -> dict[str, dict[str, list[dict[str, float | str]]]]:
    """Build the SEEN result mapping from per-sequence class scores.

    Args:
        names: sequence names (one per row of ``scores``).
        scores: ``(N, C)`` probabilities, or logits with ``logits=True`` (softmax applied, as SEEN does).
        classes: class names in column order.
        topk: entries kept per sequence (sorted by score, highest first; ties keep column order).
        logits: apply a softmax first.

    Raises:
        ValueError: on shape mismatch or duplicate names.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape != (len(names), len(classes)):
        raise ValueError(f"scores: expected shape ({len(names)}, {len(classes)}), got {s.shape}")
    if len(set(names)) != len(names):
        raise ValueError("names: duplicate sequence names")
    if logits:
        s = softmax(s)
    k = max(1, min(topk, len(classes)))
    results: dict[str, list[dict[str, float | str]]] = {}
    for name, row in zip(names, s, strict=True):
        order = np.argsort(-row, kind="stable")[:k]
        results[name] = [{"label": str(classes[i]), "score": float(row[i])} for i in order]
    return {"results": results}


def write_run(
    path: str | os.PathLike[str],
    names: Sequence[str],
    scores: np.ndarray,
    *,
    classes: Sequence[str] = EMOTIONS,
    topk: int = 7,
    logits: bool = False,
) -> Path:
    """Write one run's predictions atomically (tmp file, fsync, ``os.replace``); returns the path."""
    data = to_seen_results(names, scores, classes=classes, topk=topk, logits=logits)
    return atomic_write_text(path, json.dumps(data, indent=1))


@dataclass(frozen=True, slots=True)
class SeenRun:
    """One parsed result file.

    Attributes:
        path: the file.
        names: sequence names (file order).
        predicted: top-1 emotion per sequence (canonical folder names).
        scores: top-1 score per sequence.
        epoch: epoch parsed from a SEEN file name, else ``None``.
        run: run number parsed from a SEEN file name, else ``None``.
    """

    path: Path
    names: tuple[str, ...]
    predicted: tuple[str, ...]
    scores: tuple[float, ...]
    epoch: int | None
    run: int | None


def read_run(path: str | os.PathLike[str]) -> SeenRun:
    """Read a SEEN result file (ours or another method's).

    Raises:
        ValueError: naming the file and key when the JSON does not follow the format.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p}: cannot read SEEN result JSON ({exc})") from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict) or not results:
        raise ValueError(
            f"{p}: expected a non-empty 'results' mapping of sequence name → [{{label, score}}, ...]"
        )
    names, predicted, scores = [], [], []
    for name, entries in results.items():
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
            raise ValueError(f"{p}: results[{name!r}]: expected a non-empty list of {{label, score}} objects")
        top = entries[0]
        try:
            label = canonical_emotion(str(top["label"]))
            score = float(top.get("score", float("nan")))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{p}: results[{name!r}][0]: {exc}") from None
        names.append(name)
        predicted.append(label)
        scores.append(score)
    match = SEEN_FILENAME.match(p.name)
    return SeenRun(
        path=p,
        names=tuple(names),
        predicted=tuple(predicted),
        scores=tuple(scores),
        epoch=int(match["epoch"]) if match else None,
        run=int(match["run"]) if match else None,
    )


def metrics_from_run(
    run: SeenRun | str | os.PathLike[str],
    *,
    schema: NameSchema = SEE_SCHEMA,
    truth: Mapping[str, str] | None = None,
    classes: Sequence[str] = EMOTIONS,
) -> RunMetrics:
    """Score a run; ground truth (emotion, lighting) is parsed from the sequence names.

    Args:
        run: a parsed run or a path.
        schema: token schema of the names.
        truth: optional name → emotion map for names without an emotion token (e.g. DSEE conversions).
        classes: class names.

    Raises:
        ValueError: naming the file, if a sequence name does not follow ``schema`` or its true emotion cannot
            be determined.
    """
    r = run if isinstance(run, SeenRun) else read_run(run)
    y_true: list[str] = []
    light: list[str | None] = []
    for name in r.names:
        try:
            parsed = schema.parse(name)
        except ValueError as exc:
            raise ValueError(f"{r.path}: {exc}") from None
        emotion = parsed.emotion
        if emotion is None and truth is not None and name in truth:
            emotion = canonical_emotion(truth[name])
        if emotion is None:
            raise ValueError(
                f"{r.path}: sequence {name!r}: no emotion token in the name and no ground truth given"
            )
        y_true.append(emotion)
        light.append(parsed.lighting)
    has_light = any(x is not None for x in light)
    return compute_metrics(y_true, list(r.predicted), lighting=light if has_light else None, classes=classes)
