"""WAR / UAR and per-lighting metrics on hand-computed cases (class imbalance makes WAR ≠ UAR)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ttfsnet_nas.emotion.metrics import aggregate_runs, compute_metrics, fitness
from ttfsnet_nas.emotion.see import EMOTIONS

# Metrics are ratios of counts ≤ 15 and means of ≤ 7 of them: float64 gives them to ≲ 7 ulp ≈ 1.5e-15
# relative (sample std: a square root more); 1e-14 is ~7x that. A counting error moves a metric by ≥ 1/105.
RATIO_REL = 1e-14


def test_imbalanced_case_by_hand() -> None:
    # 8 angry (6 right), 2 fear (0 right), one of each other class (all right).
    truth = ["angry"] * 8 + ["fear"] * 2 + ["disgust", "happiness", "neutral", "sadness", "surprise"]
    pred = (
        ["angry"] * 6
        + ["fear"] * 2
        + ["angry"] * 2
        + ["disgust", "happiness", "neutral", "sadness", "surprise"]
    )
    m = compute_metrics(truth, pred)
    assert m.war == pytest.approx(11 / 15, rel=RATIO_REL)
    assert m.uar == pytest.approx((0.75 + 0.0 + 5 * 1.0) / 7, rel=RATIO_REL)
    assert m.per_emotion["angry"] == pytest.approx(0.75, rel=RATIO_REL) and m.per_emotion["fear"] == 0.0
    assert m.count == 15 and m.war != pytest.approx(m.uar, rel=RATIO_REL)


def test_ids_and_names_are_equivalent_and_lighting_accuracy() -> None:
    truth = [0, 0, 0, 1, 6, 6]
    pred = [0, 1, 0, 1, 6, 0]
    light = ["normal", "normal", "Low", "Low", "HDR", None]
    m = compute_metrics(truth, pred, lighting=light)
    names = compute_metrics([EMOTIONS[i] for i in truth], [EMOTIONS[i] for i in pred], lighting=light)
    assert m.as_dict() == pytest.approx(names.as_dict(), nan_ok=True, rel=RATIO_REL)
    assert m.war == pytest.approx(4 / 6, rel=RATIO_REL)
    # Classes present: angry 2/3, disgust 1/1, surprise 1/2; absent classes are NaN and left out of UAR.
    assert m.uar == pytest.approx((2 / 3 + 1 + 0.5) / 3, rel=RATIO_REL)
    assert math.isnan(m.per_emotion["fear"])
    assert m.per_lighting == pytest.approx(
        {"normal": 0.5, "Low": 1.0, "HDR": 1.0, "Overexposed": math.nan}, nan_ok=True, rel=RATIO_REL
    )
    assert fitness(m) == pytest.approx((m.war + m.uar) / 2, rel=RATIO_REL)


def test_aggregation_mean_and_sample_std() -> None:
    runs = [
        compute_metrics(["angry", "fear"], ["angry", "fear"]),  # war 1, uar 1
        compute_metrics(["angry", "fear"], ["angry", "angry"]),  # war .5, uar .5
        compute_metrics(["angry", "fear"], ["fear", "angry"]),  # war 0, uar 0
    ]
    agg = aggregate_runs(runs)
    assert agg.runs == 3
    assert agg.mean["war"] == pytest.approx(0.5, rel=RATIO_REL)
    assert agg.std["war"] == pytest.approx(0.5, rel=RATIO_REL)  # ddof=1
    assert agg.mean["emotion/angry"] == pytest.approx(2 / 3, rel=RATIO_REL)
    assert math.isnan(agg.mean["emotion/happiness"])
    assert aggregate_runs(runs[:1]).std["war"] == 0.0


def test_errors() -> None:
    with pytest.raises(ValueError, match="y_true has 2 entries but y_pred has 1"):
        compute_metrics([0, 1], [0])
    with pytest.raises(ValueError, match="label id 9 outside 0..6"):
        compute_metrics([9], [0])
    with pytest.raises(ValueError, match="unknown class name"):
        compute_metrics(["joy"], ["angry"])
    with pytest.raises(ValueError, match="no runs"):
        aggregate_runs([])


def test_numpy_inputs() -> None:
    m = compute_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]))
    assert m.war == pytest.approx(2 / 3, rel=RATIO_REL) and m.uar == pytest.approx(0.75, rel=RATIO_REL)


def test_run_summaries_write_undefined_metrics_as_null() -> None:
    """A test split without lighting tokens (DSEE) or without some emotion: those recalls are undefined, and
    the stage summary must still be valid JSON (null, not NaN)."""
    import json

    from ttfsnet_nas.emotion.evaluate import summarize_runs

    runs = [compute_metrics([0, 1, 1], [0, 1, 0], lighting=[None, None, None]) for _ in range(2)]
    summary = summarize_runs(runs)
    assert summary["mean"]["lighting/normal"] is None and summary["mean"]["emotion/fear"] is None
    assert summary["mean"]["war"] == pytest.approx(2 / 3, rel=RATIO_REL) and summary["std"]["war"] == 0.0
    json.dumps(summary, allow_nan=False)
