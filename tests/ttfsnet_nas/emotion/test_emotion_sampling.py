"""E×-S× temporal sampler: exact indices for fixed seeds, window coverage, and the legacy quirks flag."""

from __future__ import annotations

import numpy as np
import pytest

from ttfsnet_nas.emotion.sampling import TemporalSampling, loop_pad


def draw(sampler: TemporalSampling, length: int, seed: int = 7) -> list[int]:
    return sampler.sample(length, np.random.default_rng(seed)).tolist()


def test_e4_s3_is_the_default_and_spans_13_frames() -> None:
    s = TemporalSampling()
    assert (s.frames, s.skip, s.stride, s.span, s.name) == (4, 3, 4, 13, "E4-S3")
    assert TemporalSampling.from_name("e7-s1") == TemporalSampling(frames=7, skip=1)
    with pytest.raises(ValueError, match="expected the form 'E<x>-S<y>'"):
        TemporalSampling.from_name("E4S3")


def test_exact_indices_for_seed_7() -> None:
    s = TemporalSampling()
    # default_rng(7).integers(0, 8) == 7 → start 7 in a 20-frame sequence (starts 0..7 fit).
    assert draw(s, 20) == [7, 11, 15, 19]
    assert draw(s, 13) == [0, 4, 8, 12]  # exactly one window fits
    assert draw(s, 10) == [3, 7, 3, 7]  # short: strided from a start in 0..3, then loop-padded
    assert draw(s, 1) == [0, 0, 0, 0]
    assert draw(TemporalSampling(skip=0), 20) == [16, 17, 18, 19]


def test_legacy_quirks_exact_indices() -> None:
    s = TemporalSampling(legacy_quirks=True)
    # Offset default_rng(7).integers(0, 5) == 4 → kept 4, 8, 12, 16; crop start in 0..max(0, 4-4-1) = 0.
    assert draw(s, 20) == [4, 8, 12, 16]
    assert draw(s, 13) == [4, 8, 12, 4]  # the offset can push the window out: loop padding
    # S0: no offset; crop start drawn from 0..n-x-1 = 0..15, here 15 (16 is never possible).
    assert draw(TemporalSampling(skip=0, legacy_quirks=True), 20) == [15, 16, 17, 18]


def test_every_fitting_window_is_reachable_without_quirks_and_the_last_is_not_with_them() -> None:
    starts = {draw(TemporalSampling(), 20, seed)[0] for seed in range(400)}
    assert starts == set(range(8))
    legacy = {draw(TemporalSampling(skip=0, legacy_quirks=True), 10, seed)[0] for seed in range(400)}
    assert legacy == set(range(6))  # n - x = 6 would be the last window: never drawn
    plain = {draw(TemporalSampling(skip=0), 10, seed)[0] for seed in range(400)}
    assert plain == set(range(7))


def test_legacy_offset_ignores_the_stride() -> None:
    # E4-S1 on 7 frames: exactly one window fits (start 0); SEEN's offset in {0..4} still shifts it.
    firsts = {draw(TemporalSampling(skip=1, legacy_quirks=True), 7, seed)[0] for seed in range(300)}
    assert firsts == {0, 1, 2, 3, 4}
    assert {draw(TemporalSampling(skip=1), 7, seed)[0] for seed in range(300)} == {0}


def test_indices_are_in_range_and_strided() -> None:
    rng = np.random.default_rng(0)
    for sampler in (
        TemporalSampling(),
        TemporalSampling(legacy_quirks=True),
        TemporalSampling(frames=7, skip=1),
    ):
        for length in range(1, 60):
            idx = sampler.sample(length, rng)
            assert len(idx) == sampler.frames and idx.min() >= 0 and idx.max() < length
            if length >= sampler.span + 4:
                assert np.all(np.diff(idx) == sampler.stride)


def test_validation_and_helpers() -> None:
    with pytest.raises(ValueError, match="frames: expected >= 1"):
        TemporalSampling(frames=0)
    with pytest.raises(ValueError, match="length must be >= 1"):
        TemporalSampling().sample(0, np.random.default_rng(0))
    assert loop_pad(np.array([1, 2, 3]), 7).tolist() == [1, 2, 3, 1, 2, 3, 1]
    assert TemporalSampling().center(21).tolist() == [4, 8, 12, 16]
