"""The ``wide`` synthetic preset (``wide`` emotion model): the orientation of two distant identical marks
names the class; sizes, determinism, the cue in the events, and the older presets' records unchanged."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from ttfsnet_nas.emotion.names import EMOTIONS
from ttfsnet_nas.emotion.synth import PRESETS, SynthConfig, generate, plan_dataset, render_sequence
from ttfsnet_nas.emotion.synth_render import (
    _MARK_MARGIN,
    _STREAM_SEQUENCE,
    _WIDE_ANGLE_DEG,
    _WIDE_JITTER_DEG,
    _activations,
    _rng,
)

WIDE = PRESETS["wide"]
SMALL_CFG = dict(subjects=2, takes=(1, 1), length_range=(14, 14), length_mean=14.0, size=32, substeps=2)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _acts(plan_index: int = 0) -> tuple[object, dict[str, np.ndarray], np.ndarray]:
    plan = plan_dataset(WIDE, 0)[plan_index]
    times = np.arange(plan.length * WIDE.substeps + 1, dtype=np.float64) / WIDE.substeps - 1.0
    return plan, _activations(plan, times, _rng(0, _STREAM_SEQUENCE, plan.index), WIDE), times


def test_preset_sizes_and_labels() -> None:
    plans = plan_dataset(WIDE, 0)
    assert len(plans) == 672 and WIDE.size == 64 and not WIDE.write_frames
    assert sum(p.subset == "training" for p in plans) == 504
    for emotion in EMOTIONS:
        assert sum(p.emotion == emotion for p in plans) == 96
    train = {p.subject.sid for p in plans if p.subset == "training"}
    test = {p.subject.sid for p in plans if p.subset == "testing"}
    assert not train & test  # subject-disjoint
    # Seven orientations 180/7° apart, more than twice the jitter: the classes do not overlap.
    angles = sorted(_WIDE_ANGLE_DEG.values())
    assert len(angles) == 7 and min(np.diff(angles)) > 2 * _WIDE_JITTER_DEG + 15


def test_the_orientation_of_the_two_marks_names_the_class() -> None:
    plans = plan_dataset(WIDE, 0)
    low, high = WIDE.mark_distance
    seen: set[str] = set()
    for plan in plans[: 7 * 3 * 2]:  # two subjects: every emotion, three takes each
        times = np.arange(plan.length * 2 + 1, dtype=np.float64) / 2 - 1.0
        acts = _activations(plan, times, _rng(0, _STREAM_SEQUENCE, plan.index), WIDE)
        marks = acts["marks"]  # (mark, x/y, time)
        assert marks.shape == (2, 2, len(times))
        centres = marks.mean(axis=2)
        dx, dy = centres[1] - centres[0]
        # The mean over the oscillation is within its amplitude (0.09) of the mark's rest position.
        assert low - 0.2 < math.hypot(dx, dy) < high + 0.2, plan.name
        angle = math.degrees(math.atan2(dy, dx)) % 180.0
        off = (angle - _WIDE_ANGLE_DEG[plan.emotion] + 90.0) % 180.0 - 90.0
        assert abs(off) < _WIDE_JITTER_DEG + 8.0, (plan.name, angle)
        assert np.abs(marks).max() <= _MARK_MARGIN + 0.09 + 1e-9
        # Both marks move in every emotion; the eye region is moved by at most eye_shift.
        assert (np.ptp(marks, axis=2) > 0.02).any(axis=1).all()
        assert np.abs(acts["shift"]).max() <= WIDE.eye_shift
        seen.add(plan.emotion)
    assert seen == set(EMOTIONS)


def test_marks_make_events_where_they_are() -> None:
    plan, acts, _ = _acts(3)
    events, _frames = render_sequence(plan, WIDE, 0)
    size = WIDE.size
    active = events != 128
    near = np.zeros((size, size), dtype=bool)
    yy, xx = np.mgrid[0:size, 0:size]
    for mark in acts["marks"]:
        # pixel of the mark's mean position (image coordinates run from -1 to 1 across the image)
        cx, cy = ((mark.mean(axis=1) + 1.0) * size / 2.0).tolist()
        near |= np.hypot(xx + 0.5 - cx, yy + 0.5 - cy) < 6.0
    per_frame_near = active[:, near].mean(axis=1)
    per_frame_far = active[:, ~near].mean(axis=1)
    # The marks' neighbourhoods fire far more often than the rest of the image, in most frames.
    assert np.mean(per_frame_near > 3 * per_frame_far) > 0.6


def test_generation_is_deterministic_and_worker_independent(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", preset="wide", seed=2, workers=1, **SMALL_CFG)
    b = generate(tmp_path / "b", preset="wide", seed=2, workers=2, **SMALL_CFG)
    c = generate(tmp_path / "c", preset="wide", seed=3, workers=1, **SMALL_CFG)
    assert a.sequences == 14
    assert _digest(a.root) == _digest(b.root) != _digest(c.root)
    meta = json.loads((a.root / "synth_config.json").read_text())
    assert meta["preset"] == "wide" and meta["config"]["emotion_model"] == "wide"
    assert meta["config"]["mark_distance"] == list(WIDE.mark_distance)


def test_new_fields_default_to_the_old_generator(tmp_path: Path) -> None:
    generate(tmp_path / "old", preset="tiny", seed=3, **SMALL_CFG)
    meta = json.loads((tmp_path / "old" / "synth_config.json").read_text())
    # Fields at their default are not recorded: older sets' records stay byte-identical.
    assert not {"eye_shift", "mark_distance"} & set(meta["config"])
    # eye_shift and mark_distance act only in the wide model: the profiles model ignores them.
    generate(tmp_path / "same", preset="tiny", seed=3, eye_shift=0.4, mark_distance=(0.5, 1.0), **SMALL_CFG)
    old = sorted((tmp_path / "old" / "event").rglob("*.jpg"))
    same = sorted((tmp_path / "same" / "event").rglob("*.jpg"))
    assert [p.read_bytes() for p in old] == [p.read_bytes() for p in same]


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="mark_distance"):
        SynthConfig(subjects=1, emotion_model="wide")  # the wide model needs a distance range
    with pytest.raises(ValueError, match="mark_distance"):
        SynthConfig(subjects=1, emotion_model="wide", mark_distance=(1.2, 1.0))
    with pytest.raises(ValueError, match="eye_shift"):
        SynthConfig(subjects=1, eye_shift=-0.1)
    assert WIDE.emotion_model == "wide" and WIDE.eye_shift > 0
