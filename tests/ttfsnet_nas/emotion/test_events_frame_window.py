"""``data.frame_window_ms``: a recipe cuts raw event recordings at another frame window than the index's.

The expected frames come from an independent per-event loop (`_oracle_frames`), the expected frame counts
are stated by hand, and the E4-S3 windows are drawn again here from the expected frame counts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ttfsnet_nas.config import RecipeError
from ttfsnet_nas.emotion.data import EmotionData, load_data
from ttfsnet_nas.emotion.events import frame_source, with_frame_window, write_event_dataset
from ttfsnet_nas.emotion.frame_cache import CACHE_FORMAT
from ttfsnet_nas.emotion.layouts import get_layout
from ttfsnet_nas.emotion.recipe import DataConfig, recipe_from_mapping
from ttfsnet_nas.emotion.sampling import TemporalSampling
from ttfsnet_nas.emotion.see import load_see
from ttfsnet_nas.progress import NullProgress

EVENTS = get_layout("events")
SENSOR = (4, 4)  # width, height: square, so image_size 4 resizes nothing
TONIC_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])


def _random_events(seed: int, first: int, last: int, n: int = 300) -> np.ndarray:
    """``n`` events on the sensor, the first at ``first`` µs and the last at ``last`` µs."""
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=TONIC_DTYPE)
    ev["x"], ev["y"] = rng.integers(0, SENSOR[0], n), rng.integers(0, SENSOR[1], n)
    ev["t"] = np.sort(np.concatenate([[first, last], rng.integers(first, last, n - 2)]))
    ev["p"] = rng.integers(0, 2, n)
    return ev


# recording -> (events, start_us, end_us); "long" has its span in the index, the others get theirs from the
# first and last event (end = last + 1)
RECORDINGS: dict[str, tuple[np.ndarray, int, int]] = {
    "long": (_random_events(0, 5_000, 780_000), 0, 24 * 33_000),
    "odd": (_random_events(1, 1_000, 331_000), 1_000, 331_001),
    "test": (_random_events(2, 0, 400_000), 0, 400_001),
}
# frames per recording and window (ms), by hand: ceil(span / window), at least one
FRAMES = {
    33: {"long": 24, "odd": 11, "test": 13},  # 792 000 / 33 000; 330 001 / 33 000 = 10.00003; 12.12
    66: {"long": 12, "odd": 6, "test": 7},  # 12; 5.000015; 6.06
    10: {"long": 80, "odd": 34, "test": 41},  # 79.2; 33.0001; 40.0001
}


def _write(root: Path, window_ms: float = 33) -> Path:
    write_event_dataset(
        root,
        [
            ("long", RECORDINGS["long"][0], "fear", "training"),
            ("odd", RECORDINGS["odd"][0], "angry", "training"),
            ("test", RECORDINGS["test"][0], "fear", "testing"),
        ],
        sensor_size=SENSOR,
        window_ms=window_ms,
        extra={"long": {"start_us": 0, "end_us": 24 * 33_000}},
    )
    return root


def _oracle_frames(name: str, window_us: int) -> np.ndarray:
    """ON / OFF maps ``(frames, 2, H, W)`` of a recording: 1 where a pixel had an event of that polarity."""
    events, start, end = RECORDINGS[name]
    frames = -(-(end - start) // window_us)
    out = np.zeros((frames, 2, SENSOR[1], SENSOR[0]), dtype=np.uint8)
    for x, y, t, p in events.tolist():
        i = (t - start) // window_us
        if 0 <= i < frames:
            out[i, 0 if p else 1, y, x] = 1
    return out


def _load(root: Path, **kwargs: Any) -> EmotionData:
    cfg = DataConfig(
        root=str(root), layout="events", sampling="E4-S3", channels=8, image_size=SENSOR[0], **kwargs
    )
    return load_data(cfg, seed=3, with_search_split=False, progress=NullProgress(), where="data")


def _lengths(data: EmotionData) -> dict[str, int]:
    return {s.name: s.length for s in (*data.train.sequences, *data.test.sequences)}


# -- frame counts and frames -------------------------------------------------------------------------------


def test_window_override_scales_the_frame_counts(tmp_path: Path) -> None:
    root = _write(tmp_path / "data")
    assert _lengths(_load(root, cache=False)) == FRAMES[33]
    for window in (66, 10):
        assert _lengths(_load(root, cache=False, frame_window_ms=window)) == FRAMES[window], window
    # twice the window: ceil(n / 2) frames, as the framing rounds
    assert FRAMES[66] == {k: -(-n // 2) for k, n in FRAMES[33].items()}


@pytest.mark.parametrize("cache", [True, False])
def test_frames_and_windows_under_the_override_are_the_events_framed_at_that_window(
    tmp_path: Path, cache: bool
) -> None:
    root = _write(tmp_path / "data")
    data = _load(root, frame_window_ms=66, cache=cache)
    sampler = TemporalSampling.from_name("E4-S3")
    for ds in (data.train, data.test):
        for row, seq in enumerate(ds.sequences):
            oracle = _oracle_frames(seq.name, 66_000)
            assert seq.recording is not None
            counts = frame_source(seq.recording)
            np.testing.assert_array_equal(counts > 0, oracle.astype(bool))
            for epoch in range(3):
                ds.set_epoch(epoch)
                idx = sampler.sample(len(oracle), np.random.default_rng([3, epoch, row]))
                np.testing.assert_array_equal(ds.indices(row), idx)
                window = ds.windows([row])[0].reshape(4, 2, SENSOR[1], SENSOR[0])
                np.testing.assert_array_equal(window, oracle[idx] * 255, err_msg=f"{seq.name} {epoch}")


# -- frame cache ------------------------------------------------------------------------------------------


def _legacy_name(data: EmotionData) -> str:
    """The cache file name of the 33 ms frames as it was before the window became a setting."""
    settings = {
        "size": SENSOR[0],
        "resample": "area",
        "polarity_split": True,
        "dead_zone": 16,
        "strict": True,
    }
    head = json.dumps([CACHE_FORMAT, settings, data.train.names], sort_keys=True).encode()
    return f"frames-{SENSOR[0]}px-onoff-area-{hashlib.sha256(head).hexdigest()[:16]}.npy"


def test_each_window_has_its_own_cache(tmp_path: Path) -> None:
    root = _write(tmp_path / "data")
    plain = _load(root)
    assert plain.train.cache_path is not None and plain.train.cache_path.name == _legacy_name(plain)
    built = plain.train.cache_path.stat().st_mtime_ns
    wide = _load(root, frame_window_ms=66)
    assert wide.train.cache_path is not None and "-66ms-" in wide.train.cache_path.name
    assert wide.train.cache_path != plain.train.cache_path
    assert len(np.load(wide.train.cache_path)) == FRAMES[66]["long"] + FRAMES[66]["odd"]
    # the 33 ms cache is still there, untouched, and opened (not rebuilt) by the next unset run
    again = _load(root)
    assert again.train.cache_path == plain.train.cache_path
    assert plain.train.cache_path.stat().st_mtime_ns == built
    assert len(np.load(plain.train.cache_path)) == FRAMES[33]["long"] + FRAMES[33]["odd"]
    # 33 ms set explicitly is the index's window: the same frames, the same cache
    assert _load(root, frame_window_ms=33).train.cache_path == plain.train.cache_path


# -- unset, and the index's window ------------------------------------------------------------------------


def test_unset_keeps_the_index_and_the_override_beats_the_index_window(tmp_path: Path) -> None:
    root = _write(tmp_path / "data")
    index = load_see(root, layout=EVENTS)
    assert DataConfig(layout="events").frame_window_ms is None
    data = _load(root, cache=False)
    assert list(data.train.sequences) + list(data.test.sequences) == [
        *index.train_test()[0],
        *index.train_test()[1],
    ]
    assert with_frame_window(index, 33_000) == index  # the index's own window changes nothing
    wide = _write(tmp_path / "wide", window_ms=66)
    assert _lengths(_load(wide, cache=False)) == FRAMES[66]  # unset: the index's window_ms
    assert _lengths(_load(wide, cache=False, frame_window_ms=33)) == FRAMES[33]


def test_with_frame_window_refuses_a_bad_window(tmp_path: Path) -> None:
    index = load_see(_write(tmp_path / "data"), layout=EVENTS)
    with pytest.raises(ValueError, match=r"window_us: expected > 0, got 0"):
        with_frame_window(index, 0)


# -- the recipe key ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("section", "layout"), [("data", "see"), ("data", "dsee"), ("target_data", "see")])
def test_frame_layouts_refuse_the_key(section: str, layout: str) -> None:
    with pytest.raises(RecipeError) as info:
        recipe_from_mapping({section: {"layout": layout, "frame_window_ms": 66}})
    text = str(info.value)
    assert text.startswith(f"{section}.frame_window_ms: ") and "\n" not in text
    assert "applies only to event-recording layouts" in text and repr(layout) in text


@pytest.mark.parametrize(("value", "fragment"), [(0, "> 0"), (-5, "> 0"), (float("inf"), "finite")])
def test_the_window_must_be_a_positive_number(value: float, fragment: str) -> None:
    with pytest.raises(RecipeError) as info:
        recipe_from_mapping({"data": {"layout": "events", "frame_window_ms": value}})
    assert str(info.value).startswith("data.frame_window_ms: ") and fragment in str(info.value)
    assert (
        recipe_from_mapping({"data": {"layout": "events", "frame_window_ms": 66}}).data.frame_window_ms == 66
    )
