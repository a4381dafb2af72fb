"""``data.event_framing``: raw event recordings framed by tonic's ``ToFrame`` give the frames of our own numpy
framing, for generated recordings (empty frames, events on frame boundaries, events before the start and
after the last frame, camera clocks in microseconds since 1970), in the frame cache and in the batches; a
missing tonic is one line naming the key, before anything runs.

tonic is a test dependency (the ``test`` extra), so every test here runs.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ttfsnet_nas.config import RecipeError
from ttfsnet_nas.emotion import synth
from ttfsnet_nas.emotion.data import EmotionData, EpochBatches, load_data
from ttfsnet_nas.emotion.events import (
    frame_events,
    require_tonic,
    tonic_frames,
    window_us_from_ms,
    with_event_framing,
    write_event_dataset,
)
from ttfsnet_nas.emotion.layouts import get_layout
from ttfsnet_nas.emotion.recipe import DataConfig, load_recipe, recipe_from_mapping
from ttfsnet_nas.emotion.see import DatasetError, load_see
from ttfsnet_nas.emotion.synth import SynthConfig
from ttfsnet_nas.progress import NullProgress

EVENTS = get_layout("events")
RECIPES = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes"
TONIC_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
EPOCH_US = 1_733_000_000_000_000  # a camera clock: microseconds since 1970
INSTALL = 'pip install "ttfsnet-nas[events]"'


def _events(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    return np.array(rows, dtype=TONIC_DTYPE)


def _no_tonic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import tonic.transforms`` fail as it does where tonic is not installed."""
    monkeypatch.setitem(sys.modules, "tonic", None)
    monkeypatch.setitem(sys.modules, "tonic.transforms", None)


# -- the two framings give the same counts -------------------------------------------------------------------


@st.composite
def _recordings(draw: st.DrawFn) -> dict[str, Any]:
    """A recording and a cut: events anywhere from before the start to after the last frame, many on frame
    boundaries (and one microsecond before one), sparse enough for empty frames, sometimes none at all."""
    width, height = draw(st.integers(1, 7)), draw(st.integers(1, 6))
    window = draw(st.integers(1, 70_000))
    frames = draw(st.integers(1, 30))
    base = draw(st.sampled_from([0, EPOCH_US])) + draw(st.integers(0, 10**6))
    start = base + draw(st.integers(0, 2 * window))
    boundary = st.integers(-1, frames + 1).flatmap(
        lambda k: st.sampled_from([start + k * window - 1, start + k * window])
    )
    anywhere = st.integers(base, start + (frames + 2) * window)
    n = draw(st.integers(0, 120))
    times = draw(st.lists(st.one_of(boundary, anywhere), min_size=n, max_size=n))
    ev = np.zeros(n, dtype=TONIC_DTYPE)
    ev["t"] = np.maximum(np.asarray(times, dtype=np.int64), 0)
    ev["x"] = draw(st.lists(st.integers(0, width - 1), min_size=n, max_size=n))
    ev["y"] = draw(st.lists(st.integers(0, height - 1), min_size=n, max_size=n))
    ev["p"] = draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n))
    # None: the defaults, from the first event to the last
    cut = draw(st.sampled_from(["given", "defaults"]))
    return {
        "events": ev,
        "sensor_size": (width, height),
        "window_us": window,
        "start_us": start if cut == "given" else None,
        "frames": frames if cut == "given" else None,
    }


@settings(max_examples=200, deadline=None)
@given(_recordings())
def test_tonic_frames_equal_numpy_frames(rec: dict[str, Any]) -> None:
    ours = frame_events(**rec)
    theirs = frame_events(**rec, framing="tonic")
    assert theirs.dtype == ours.dtype == np.int32 and theirs.shape == ours.shape
    np.testing.assert_array_equal(theirs, ours)
    if rec["frames"] is not None:
        assert len(theirs) == rec["frames"]


def test_tonic_framing_by_hand() -> None:
    # 4 x 3 sensor, 10 µs frames from t = 0 on a camera clock: the hand-placed frames of
    # test_emotion_events.py, through tonic; ON (p = 1) is channel 0
    ev = _events([(1, 2, 0, 1), (1, 2, 5, 1), (1, 2, 9, 0), (3, 0, 10, 0), (0, 0, 25, 1)])
    ev["t"] += EPOCH_US
    counts = frame_events(ev, (4, 3), window_us=10, start_us=EPOCH_US, framing="tonic")
    expected = np.zeros((3, 2, 3, 4), dtype=np.int32)
    expected[0, 0, 2, 1] = 2
    expected[0, 1, 2, 1] = 1
    expected[1, 1, 0, 3] = 1  # t = 10 opens frame 1
    expected[2, 0, 0, 0] = 1
    np.testing.assert_array_equal(counts, expected)
    # no events at all: empty frames in our layout (tonic alone gives one frame of another shape)
    empty = tonic_frames(np.zeros(0, dtype=TONIC_DTYPE), (4, 3), window_us=10, start_us=0, frames=5)
    assert empty.shape == (5, 2, 3, 4) and not empty.any()


def test_tonic_calls_to_frame_with_the_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """The counts come from ``tonic.transforms.ToFrame`` itself, with times from the start."""
    import tonic.transforms

    calls: list[dict[str, Any]] = []
    real = tonic.transforms.ToFrame

    def spy(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(tonic.transforms, "ToFrame", spy)
    ev = _events([(0, 0, EPOCH_US + 5, 1)])
    frame_events(ev, (1, 1), window_us=1000, start_us=EPOCH_US, frames=4, framing="tonic")
    assert calls == [
        {
            "sensor_size": (1, 1, 2),
            "time_window": 1000.0,
            "start_time": 0,
            "end_time": 4500.0,
            "include_incomplete": False,
        }
    ]


def test_tonic_needs_whole_microseconds() -> None:
    """1/60 ms: an event at 1050 µs is in frame 62 of ours (1050 / w = 62.99999999999999) and, through
    floating-point slice bounds, in both frames 62 and 63 of tonic's; whole microseconds never differ."""
    import tonic.transforms

    w = 1000 / 60
    late = _events([(0, 0, 1050, 1)])
    ours = frame_events(late, (1, 1), window_us=w, start_us=0, frames=70)
    to_frame = tonic.transforms.ToFrame(sensor_size=(1, 1, 2), time_window=w, start_time=0, end_time=70.5 * w)
    assert np.nonzero(ours)[0].tolist() == [62]
    # tonic 1.7 also counts it in frame 63: should tonic ever agree, the guard below could go
    assert not np.array_equal(to_frame(late.copy())[:, ::-1], ours)
    ev = _events([(0, 0, 0, 1)])
    with pytest.raises(DatasetError, match=r"^event_framing: tonic: expected a frame window of whole"):
        frame_events(ev, (1, 1), window_us=16_666.5, framing="tonic")
    assert frame_events(ev, (1, 1), window_us=16_666.5).sum() == 1  # numpy frames any window
    with pytest.raises(ValueError, match=r"framing: expected one of \('numpy', 'tonic'\), got 'torch'"):
        frame_events(ev, (1, 1), framing="torch")
    # three decimals of a millisecond are whole microseconds, floating point notwithstanding
    assert 1.001 * 1000 != 1001 and window_us_from_ms(1.001) == 1001.0 and window_us_from_ms(33) == 33_000.0


# -- a missing tonic ---------------------------------------------------------------------------------------


def test_missing_tonic_is_one_line_naming_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_tonic(monkeypatch)
    with pytest.raises(DatasetError) as info:
        require_tonic("target_data.event_framing")
    text = str(info.value)
    assert text.startswith("target_data.event_framing: 'tonic' needs the tonic package, which cannot be")
    assert text.endswith(INSTALL) and "\n" not in text
    with pytest.raises(DatasetError, match=r"^event_framing: 'tonic' needs the tonic package"):
        frame_events(_events([(0, 0, 0, 1)]), (1, 1), framing="tonic")
    # the data layer checks it before it reads or generates anything
    cfg = DataConfig(synthetic="tiny", layout="events", event_framing="tonic", root=str(tmp_path / "d"))
    with pytest.raises(DatasetError, match=r"^data\.event_framing: 'tonic' needs"):
        load_data(cfg, seed=0, with_search_split=False, progress=NullProgress(), where="data")
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("section", ["data", "target_data"])
def test_cli_reports_a_missing_tonic_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], section: str
) -> None:
    from ttfsnet_nas.cli import main

    _no_tonic(monkeypatch)
    monkeypatch.setenv("TTFSNET_DATA", str(tmp_path / "data"))
    data = {"synthetic": "tiny", "layout": "events", "channels": 8, "image_size": 16}
    recipe: dict[str, Any] = {"type": "emotion", "name": "t", "data": data, "space": {"groups": 1}}
    recipe[section] = {**data, "event_framing": "tonic"}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(SystemExit) as info:
        main(["--quiet", "search", str(path), "--out", str(tmp_path / "run")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert info.value.code == 2 and len(lines) == 1, lines
    assert f"{section}.event_framing: 'tonic' needs the tonic package" in lines[0] and INSTALL in lines[0]
    assert not (tmp_path / "run").exists() and not (tmp_path / "data").exists()


# -- the recipe key ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("section", "layout"), [("data", "see"), ("data", "dsee"), ("target_data", "see")])
def test_frame_layouts_refuse_tonic(section: str, layout: str) -> None:
    with pytest.raises(RecipeError) as info:
        recipe_from_mapping({section: {"layout": layout, "event_framing": "tonic"}})
    text = str(info.value)
    assert text.startswith(f"{section}.event_framing: ") and "\n" not in text
    assert "applies only to event-recording layouts" in text and repr(layout) in text
    # the default names our own framing, which every layout accepts
    assert recipe_from_mapping({section: {"layout": layout, "event_framing": "numpy"}})


def test_event_framing_values() -> None:
    assert DataConfig().event_framing == "numpy"
    with pytest.raises(RecipeError, match=r'^data\.event_framing: expected one of "numpy", "tonic", got "to'):
        recipe_from_mapping({"data": {"layout": "events", "event_framing": "torch"}})
    tonic = {"layout": "events", "event_framing": "tonic"}
    assert recipe_from_mapping({"data": {**tonic, "frame_window_ms": 1.001}}).data.event_framing == "tonic"
    with pytest.raises(RecipeError) as info:
        recipe_from_mapping({"data": {**tonic, "frame_window_ms": 1 / 60}})
    assert str(info.value).startswith("data.frame_window_ms: event_framing 'tonic' needs a whole number")
    assert recipe_from_mapping({"data": {"layout": "events", "frame_window_ms": 1 / 60}})  # numpy: any window


def test_index_window_of_fractional_microseconds_is_refused_for_tonic(tmp_path: Path) -> None:
    root = tmp_path / "data"
    ev = _events([(0, 0, 0, 1), (0, 0, 50_000, 0)])
    write_event_dataset(root, [("s", ev, "fear", "training")], sensor_size=(1, 1), window_ms=1 / 60)
    index = load_see(root, layout=EVENTS)
    assert with_event_framing(index, "numpy") == index
    with pytest.raises(DatasetError) as info:
        with_event_framing(index, "tonic")
    assert str(info.value).startswith(f"{root / 'events.json'}: sequence 's': event_framing 'tonic' needs")


# -- the data layer: cache and batches ----------------------------------------------------------------------

# four subjects, one of them held out for testing: every part of the demo's split has sequences
_SMALL = SynthConfig(
    subjects=4,
    takes=(1, 1),
    length_mean=7,
    length_sd=0,
    length_range=(7, 7),
    size=16,
    lighting_shares=(1.0, 0.0, 0.0, 0.0),
    test_fraction=0.25,
    substeps=2,
    write_frames=False,
)


def _demo_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **over: Any) -> EmotionData:
    """The ``demo-events`` recipe's data section on a small synthetic event set, at 16 px."""
    monkeypatch.setitem(synth.PRESETS, "small", _SMALL)
    monkeypatch.setenv("TTFSNET_DATA", str(tmp_path))
    recipe = load_recipe(RECIPES / "demo-events.yaml")
    assert recipe.data.layout == "events" and recipe.data.event_framing == "numpy"
    cfg = replace(recipe.data, image_size=16, workers=1, **over)
    return load_data(cfg, seed=0, with_search_split=True, progress=NullProgress(), where="data")


def _batches(data: EmotionData) -> list[tuple[torch.Tensor, torch.Tensor]]:
    assert data.supernet is not None
    return list(EpochBatches(data.supernet, batch_size=4, seed=1))


@pytest.mark.parametrize("window_ms", [None, 66])
def test_tonic_framing_gives_the_same_cached_frames_and_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window_ms: float | None
) -> None:
    ours = _demo_data(monkeypatch, tmp_path, frame_window_ms=window_ms)
    theirs = _demo_data(monkeypatch, tmp_path, frame_window_ms=window_ms, event_framing="tonic")
    assert ours.split == theirs.split and ours.classes == theirs.classes
    for part in ("train", "test"):
        a, b = getattr(ours, part), getattr(theirs, part)
        assert a.cache_path is not None and b.cache_path is not None
        # each framing has its own cache file, and the files hold the same frames
        assert "-tonic-" in b.cache_path.name and "tonic" not in a.cache_path.name
        assert a.cache_path.with_name(a.cache_path.name.replace("-tonic", "")) == a.cache_path
        cached = np.load(a.cache_path)
        assert cached.any()
        np.testing.assert_array_equal(np.load(b.cache_path), cached)
        assert all(s.recording is not None and s.recording.framing == "tonic" for s in b.sequences)
    for (xa, ya), (xb, yb) in zip(_batches(ours), _batches(theirs), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # uncached, the tonic frames are decoded again and still the same
    fresh = _demo_data(monkeypatch, tmp_path, frame_window_ms=window_ms, event_framing="tonic", cache=False)
    np.testing.assert_array_equal(fresh.test.materialize()[0], ours.test.materialize()[0])
