"""The ``hard`` synthetic preset (``pairs`` emotion model): which units move, and when; the older presets'
records unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ttfsnet_nas.emotion.names import EMOTIONS
from ttfsnet_nas.emotion.synth import PRESETS, SynthConfig, generate, plan_dataset
from ttfsnet_nas.emotion.synth_render import _AU, _PAIRS, _STREAM_SEQUENCE, _activations, _rng

HARD = PRESETS["hard"]


def _moving(acts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per unit of the pairs model: where its activation changes between two samples."""
    au = acts["au"]
    return {
        "brow": np.abs(np.diff(au[_AU["inner_raise"]])) > 1e-3,
        "cheek": np.abs(np.diff(au[_AU["cheek"]])) > 1e-3,
        "fold": np.abs(np.diff(acts["fold"])) > 1e-3,
    }


def test_pairs_move_together_or_alternately() -> None:
    plans = plan_dataset(HARD, 0)
    times = np.arange(64 * 2 + 1, dtype=np.float64) / 2 - 1.0
    seen: set[str] = set()
    for plan in plans[: 7 * 3 * 2]:  # two subjects: every emotion, three takes each
        acts = _activations(plan, times, _rng(0, _STREAM_SEQUENCE, plan.index), HARD)
        moving = _moving(acts)
        active = {unit for unit, m in moving.items() if m.any()}
        if plan.emotion == "neutral":
            assert len(active) == 1
            continue
        first, second, together = _PAIRS[plan.emotion]
        assert active == {first, second}
        both = np.mean(moving[first] & moving[second]) / np.mean(moving[first])
        if together:
            assert both > 0.8, plan.name
        else:
            assert both < 0.1, plan.name
        # The distractor (upper lid) moves in every emotion, whatever its class.
        assert np.abs(np.diff(acts["au"][_AU["lid_raise"]])).max() > 1e-3
        seen.add(plan.emotion)
    assert seen == set(EMOTIONS) - {"neutral"}


def test_every_unit_is_in_four_emotions() -> None:
    for unit in ("brow", "cheek", "fold"):
        assert sum(unit in pair[:2] for pair in _PAIRS.values()) == 4
    together = [pair[:2] for pair in _PAIRS.values() if pair[2]]
    apart = [pair[:2] for pair in _PAIRS.values() if not pair[2]]
    assert sorted(together) == sorted(apart)  # each pair once in phase, once in antiphase


def test_new_fields_default_to_the_old_generator(tmp_path: Path) -> None:
    cfg = dict(subjects=2, takes=(1, 1), length_range=(14, 14), length_mean=14.0, size=32, substeps=2)
    generate(tmp_path / "old", preset="tiny", seed=3, **cfg)
    meta = json.loads((tmp_path / "old" / "synth_config.json").read_text())
    # Fields at their default are not recorded: older sets' records stay byte-identical.
    later = {"emotion_model", "distractor_amplitude", "shot_noise_scale", "pair_period"}
    assert not later & set(meta["config"])
    generate(tmp_path / "new", preset="tiny", seed=3, emotion_model="pairs", **cfg)
    meta = json.loads((tmp_path / "new" / "synth_config.json").read_text())
    assert meta["config"]["emotion_model"] == "pairs"
    old = sorted((tmp_path / "old" / "event").rglob("*.jpg"))
    new = sorted((tmp_path / "new" / "event").rglob("*.jpg"))
    assert [p.relative_to(tmp_path / "old") for p in old] == [p.relative_to(tmp_path / "new") for p in new]
    assert any(a.read_bytes() != b.read_bytes() for a, b in zip(old, new, strict=True))


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="emotion_model"):
        SynthConfig(subjects=1, emotion_model="faces")
    with pytest.raises(ValueError, match="distractor_amplitude"):
        SynthConfig(subjects=1, distractor_amplitude=-1.0)
    assert HARD.emotion_model == "pairs" and HARD.size == 64 and not HARD.write_frames
