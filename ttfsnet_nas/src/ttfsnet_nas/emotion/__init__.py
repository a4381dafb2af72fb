"""Event-camera eye-emotion data layer: SEE/DSEE loading, E×-S× sampling, a synthetic dataset generator,
WAR/UAR metrics, SEEN result files and report tables.

Importing this package needs numpy and Pillow only; the torch dataset
([`ttfsnet_nas.emotion.dataset`][ttfsnet_nas.emotion.dataset]) is imported on first access of
``EventEmotionDataset`` / ``load_splits``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ttfsnet_nas.emotion.metrics import AggregateMetrics, RunMetrics, aggregate_runs, compute_metrics, fitness
from ttfsnet_nas.emotion.report import EfficiencyRow, efficiency_table, load_results, report, results_table
from ttfsnet_nas.emotion.sampling import TemporalSampling
from ttfsnet_nas.emotion.see import (
    DATA_ENV_VAR,
    DSEE_LAYOUT,
    EMOTIONS,
    LIGHTINGS,
    PAPER_EMOTION_ORDER,
    SEE_LAYOUT,
    DatasetError,
    DatasetLayout,
    NameSchema,
    SEEIndex,
    SequenceInfo,
    load_see,
)
from ttfsnet_nas.emotion.seen_format import metrics_from_run, read_run, seen_filename, write_run
from ttfsnet_nas.emotion.splits import split_training
from ttfsnet_nas.emotion.synth import PRESETS, SynthConfig, generate

if TYPE_CHECKING:
    from ttfsnet_nas.emotion.dataset import INPUT_RANGE, EmotionSplits, EventEmotionDataset, load_splits

__all__ = [
    "DATA_ENV_VAR",
    "DSEE_LAYOUT",
    "EMOTIONS",
    "INPUT_RANGE",
    "LIGHTINGS",
    "PAPER_EMOTION_ORDER",
    "PRESETS",
    "SEE_LAYOUT",
    "AggregateMetrics",
    "DatasetError",
    "DatasetLayout",
    "EfficiencyRow",
    "EmotionSplits",
    "EventEmotionDataset",
    "NameSchema",
    "RunMetrics",
    "SEEIndex",
    "SequenceInfo",
    "SynthConfig",
    "TemporalSampling",
    "aggregate_runs",
    "compute_metrics",
    "efficiency_table",
    "fitness",
    "generate",
    "load_results",
    "load_see",
    "load_splits",
    "metrics_from_run",
    "read_run",
    "report",
    "results_table",
    "seen_filename",
    "split_training",
    "write_run",
]

_TORCH_NAMES = {"INPUT_RANGE", "EmotionSplits", "EventEmotionDataset", "load_splits"}


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        from ttfsnet_nas.emotion import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'ttfsnet_nas.emotion' has no attribute {name!r}")
