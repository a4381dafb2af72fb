"""Raw event input: recordings, framing, the event index (layout ``events``), the frames the dataset draws
from them, the synthetic generator's event streams, ``data synth --events`` and the ``demo-events`` recipe.

Every recording is built here by hand, so each expected frame is stated independently of the framing code.
"""

from __future__ import annotations

import json
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from ttfsnet_nas.emotion.cli import data_app
from ttfsnet_nas.emotion.dataset import EventEmotionDataset, map_event_counts
from ttfsnet_nas.emotion.events import (
    DEFAULT_WINDOW_US,
    EVENT_DTYPE,
    as_events,
    frame_events,
    read_events,
    write_event_dataset,
    write_events,
)
from ttfsnet_nas.emotion.layouts import get_layout
from ttfsnet_nas.emotion.recipe import DataConfig
from ttfsnet_nas.emotion.sampling import TemporalSampling
from ttfsnet_nas.emotion.see import DatasetError, load_see, verify_frames
from ttfsnet_nas.emotion.synth import SynthConfig, generate, plan_dataset, render_sequence

EVENTS = get_layout("events")
RECIPES = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes"
# tonic's own event dtype (int64 fields, integer polarity)
TONIC_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])


def _events(rows: list[tuple[int, int, int, int]], dtype: np.dtype[Any] = TONIC_DTYPE) -> np.ndarray:
    """Events from ``(x, y, t, p)`` rows."""
    return np.array(rows, dtype=dtype)


# -- reading and framing ------------------------------------------------------------------------------------


def test_hand_placed_events_give_known_frames() -> None:
    # 4 x 3 sensor, 10 µs frames from t = 0: three frames
    ev = _events([(1, 2, 0, 1), (1, 2, 5, 1), (1, 2, 9, 0), (3, 0, 10, 0), (0, 0, 25, 1)])
    counts = frame_events(ev, (4, 3), window_us=10, start_us=0)
    expected = np.zeros((3, 2, 3, 4), dtype=np.int32)  # (frame, ON/OFF, row y, column x)
    expected[0, 0, 2, 1] = 2  # two ON events at x=1, y=2 in [0, 10)
    expected[0, 1, 2, 1] = 1  # one OFF there
    expected[1, 1, 0, 3] = 1  # t = 10 opens frame 1
    expected[2, 0, 0, 0] = 1
    np.testing.assert_array_equal(counts, expected)
    # a later start and a fixed frame count: events before the start and after the last frame are left out
    late = frame_events(ev, (4, 3), window_us=10, start_us=5, frames=1)
    assert late.shape == (1, 2, 3, 4) and int(late.sum()) == 3  # [5, 15): t = 5, 9 and 10 only
    assert late[0, 0, 2, 1] == 1 and late[0, 1, 2, 1] == 1 and late[0, 1, 0, 3] == 1


def test_default_window_is_33_ms_from_the_first_event() -> None:
    ev = _events([(0, 0, 1_000, 1), (0, 0, 33_999, 0), (0, 0, 34_000, 1), (0, 0, 67_000, 1)])
    counts = frame_events(ev, (1, 1))
    assert DEFAULT_WINDOW_US == 33_000
    assert counts[:, :, 0, 0].tolist() == [[1, 1], [1, 0], [1, 0]]


def test_counts_match_tonic_to_frame() -> None:
    """docs/events.md: for one start and frame count, the counts are tonic's ``ToFrame``, called as its
    documentation shows, with the polarity channels swapped (tonic is a test dependency; the framing through
    tonic, ``data.event_framing``, is tested in test_events_framing.py)."""
    import tonic.transforms as transforms

    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 200))
        ev = np.zeros(n, dtype=TONIC_DTYPE)
        ev["x"], ev["y"] = rng.integers(0, 6, n), rng.integers(0, 5, n)
        ev["t"], ev["p"] = np.sort(rng.integers(0, 400_000, n)), rng.integers(0, 2, n)
        start, frames = int(rng.integers(0, 33_000)), int(rng.integers(1, 14))
        ours = frame_events(ev, (6, 5), start_us=start, frames=frames)
        to_frame = transforms.ToFrame(
            sensor_size=(6, 5, 2), time_window=33_000, start_time=start, end_time=start + frames * 33_000
        )
        np.testing.assert_array_equal(ours, to_frame(ev.copy())[:, ::-1])


def test_tonic_and_aedat_style_arrays_are_accepted() -> None:
    rows = [(2, 1, 30, 1), (0, 0, 10, 0)]  # out of time order: sorted on reading
    for ev in (
        _events(rows),
        _events([(x, y, t, -1 if p == 0 else 1) for x, y, t, p in rows]),
        np.array(
            [(x, y, t, bool(p)) for x, y, t, p in rows],
            dtype=[("x", "<u2"), ("y", "<u2"), ("t", "<u8"), ("p", "?")],
        ),
        np.array(
            [(t, x, y, bool(p)) for x, y, t, p in rows],
            dtype=[("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")],
        ),
        {"x": [2, 0], "y": [1, 0], "t": [30, 10], "p": [1, 0]},
    ):
        out = as_events(ev)
        assert out.dtype == EVENT_DTYPE
        assert out.tolist() == [(0, 0, 10, 0), (2, 1, 30, 1)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros(3, dtype=[("x", int), ("y", int), ("t", int)]), "event fields ['p'] missing"),
        (
            np.zeros(3, dtype=[("x", int), ("y", int), ("t", float), ("p", int)]),
            "field 't' must be a 1-D integer",
        ),
        (_events([(0, 0, 0, 2)]), "field 'p' must hold polarities"),
        (_events([(-1, 0, 0, 1)]), "field 'x' has negative pixel coordinates"),
        ([1, 2, 3], "expected a structured array"),
    ],
)
def test_bad_event_arrays_are_one_line_errors(data: Any, message: str) -> None:
    with pytest.raises(DatasetError, match="^rec.npy: ") as info:
        as_events(data, where="rec.npy")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_events_outside_the_sensor_are_refused() -> None:
    with pytest.raises(DatasetError, match=r"outside the sensor size 4x3"):
        frame_events(_events([(4, 0, 0, 1)]), (4, 3))


def test_npy_and_npz_recordings_round_trip(tmp_path: Path) -> None:
    ev = _events([(0, 1, 5, 1), (3, 2, 7, 0)])
    np.save(tmp_path / "tonic.npy", ev)  # what a tonic user saves
    np.savez(tmp_path / "one.npz", events=ev)
    np.savez(tmp_path / "cols.npz", x=ev["x"], y=ev["y"], t=ev["t"], p=ev["p"])
    write_events(tmp_path / "ours.npy", ev)
    for name in ("tonic.npy", "one.npz", "cols.npz", "ours.npy"):
        assert read_events(tmp_path / name).tolist() == [(0, 1, 5, 1), (3, 2, 7, 0)], name
    np.save(tmp_path / "objects.npy", np.array([{"x": 1}], dtype=object))  # would need unpickling
    with pytest.raises(DatasetError, match=r"objects.npy: cannot read the recording"):
        read_events(tmp_path / "objects.npy")
    with pytest.raises(DatasetError, match=r"unknown recording type"):
        read_events(tmp_path / "rec.h5")


def test_aedat4_needs_the_extra_and_reads_the_first_event_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cam.aedat4"
    path.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "aedat", None)  # not installed
    with pytest.raises(DatasetError) as info:
        read_events(path)
    assert str(info.value) == (
        f'{path}: reading AEDAT4 files needs the aedat package: pip install "ttfsnet-nas[events]"'
    )

    # A stand-in for the aedat package's decoder, with its packet layout (real files written by iniVation's
    # dv-processing are read in test_events_aedat4.py).
    aedat_dtype = [("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")]
    packets = [
        {"stream_id": 1, "frame": {}},
        {"stream_id": 0, "events": np.array([(10, 1, 2, True), (20, 0, 0, False)], dtype=aedat_dtype)},
        {"stream_id": 2, "events": np.array([(15, 3, 3, True)], dtype=aedat_dtype)},  # a second DVS
        {"stream_id": 0, "events": np.array([(30, 2, 1, True)], dtype=aedat_dtype)},
    ]

    class Decoder:
        def __init__(self, p: Path) -> None:
            assert Path(p) == path

        def id_to_stream(self) -> dict[int, dict[str, Any]]:
            return {0: {"type": "events"}, 1: {"type": "frame"}, 2: {"type": "events"}}

        def __iter__(self) -> Any:
            return iter(packets)

    fake = types.ModuleType("aedat")
    fake.Decoder = Decoder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aedat", fake)
    assert read_events(path).tolist() == [(1, 2, 10, 1), (0, 0, 20, 0), (2, 1, 30, 1)]


def test_event_counts_map_like_see_frames() -> None:
    counts = np.zeros((1, 2, 1, 4), dtype=np.int32)
    counts[0, :, 0, 0] = (3, 0)  # ON only
    counts[0, :, 0, 1] = (0, 2)  # OFF only
    counts[0, :, 0, 2] = (1, 1)  # both, as many
    split = map_event_counts(counts, polarity_split=True)
    assert split[0, 0, 0].tolist() == [1, 0, 1, 0] and split[0, 1, 0].tolist() == [0, 1, 1, 0]
    grey = map_event_counts(counts, polarity_split=False)
    np.testing.assert_allclose(grey[0, 0, 0], [1.0, 0.0, 128 / 255, 128 / 255])


# -- the index -------------------------------------------------------------------------------------------


def _dataset(root: Path) -> Path:
    """Two recordings of a 4 x 4 sensor: ``a`` (training, 3 frames), ``b`` (testing, 2 frames)."""
    a = _events([(0, 0, 0, 1), (1, 0, 40_000, 0), (2, 0, 70_000, 1)])
    b = _events([(3, 3, 500, 0), (3, 3, 34_000, 1)])
    write_event_dataset(
        root,
        [("a", a, "fear", "training"), ("b", b, "angry", "testing")],
        sensor_size=(4, 4),
        extra={"a": {"subject": "001", "lighting": "Low"}},
    )
    return root


def test_json_index_gives_labels_split_and_frame_counts(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    index = load_see(root, layout=EVENTS)
    assert index.labels == ("angry", "fear")  # sorted names without a "labels" key
    a, b = index.sequences
    assert (a.name, a.emotion, a.label, a.subset, a.subject, a.lighting) == (
        "a",
        "fear",
        1,
        "training",
        "001",
        "Low",
    )
    assert (b.name, b.label, b.subset, b.subject) == ("b", 0, "testing", None)
    assert a.length == 3 and b.length == 2  # [0, 70 001) and [500, 34 001) in 33 ms frames
    assert index.json_path == root / "events.json" and not index.unlisted
    assert verify_frames(index).ok


def test_csv_index(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    (root / "events.json").unlink()
    (root / "events.csv").write_text(
        "name,file,label,subset,width,height,start_us,end_us\n"
        "a,events/a.npy,fear,train,4,4,0,99000\n"
        "b,events/b.npy,angry,test,4,4,,\n"
    )
    index = load_see(root, layout=EVENTS)
    assert [(s.name, s.subset, s.length) for s in index.sequences] == [
        ("a", "training", 3),
        ("b", "testing", 2),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(window_ms=0), "key 'window_ms': expected a positive number"),
        (lambda d: d.update(colour=1), "unknown key(s) ['colour']"),
        (
            lambda d: d["sequences"]["a"].update(subset="val"),
            "sequences['a']: key 'subset': expected 'training'",
        ),
        (
            lambda d: d["sequences"]["a"].update(sensor_size=[4]),
            "sequences['a']: key 'sensor_size': expected [width, height]",
        ),
        (lambda d: d["sequences"]["a"].update(stat="x"), "sequences['a']: unknown key(s) ['stat']"),
        (
            lambda d: d["sequences"]["a"].update(start_us="soon"),
            "sequences['a']: key 'start_us': expected an integer",
        ),
        (lambda d: d.update(labels=["fear"]), "sequences['b']: label 'angry' is not in 'labels'"),
    ],
)
def test_bad_index_entries_are_one_line_errors_naming_file_and_key(
    tmp_path: Path, change: Any, message: str
) -> None:
    root = _dataset(tmp_path)
    data = json.loads((root / "events.json").read_text())
    change(data)
    (root / "events.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError) as info:
        load_see(root, layout=EVENTS)
    text = str(info.value)
    assert text.startswith(str(root / "events.json")) and message in text and "\n" not in text


def test_missing_recording_strict_and_lenient(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    (root / "events" / "b.npy").unlink()
    with pytest.raises(DatasetError, match=r"b.npy: recording listed in events.json does not exist"):
        load_see(root, layout=EVENTS)
    index = load_see(root, layout=EVENTS, strict=False)
    assert [s.name for s in index.sequences] == ["a"] and index.skipped == {"missing file": 1}
    (root / "events.json").unlink()
    with pytest.raises(
        DatasetError, match=r"no event index found \(expected one of events.json, events.csv\)"
    ):
        load_see(root, layout=EVENTS)
    with pytest.raises(DatasetError, match=r"bad.csv: expected a header row"):
        from ttfsnet_nas.emotion.events import load_event_index

        (root / "bad.csv").write_text("name,file\n")
        load_event_index(root, ("bad.csv",))


# -- the dataset ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cache", ["memory", "disk", "none"])
def test_dataset_windows_are_the_hand_placed_events(tmp_path: Path, cache: str) -> None:
    # one 4-frame recording on a 2 x 2 sensor: frame i has an ON event at pixel i (row-major) and frame 3
    # an OFF event at (0, 0) too; E4-S0 takes all four frames
    rows = [(0, 0, 0, 1), (1, 0, 33_000, 1), (0, 1, 66_000, 1), (1, 1, 99_000, 1), (0, 0, 99_500, 0)]
    root = tmp_path / "data"
    write_event_dataset(root, [("s", _events(rows), "fear", "training")], sensor_size=(2, 2))
    (seq,) = load_see(root, layout=EVENTS).sequences
    ds = EventEmotionDataset(
        [seq],
        sampling=TemporalSampling.from_name("E4-S0"),
        size=2,
        polarity_split=True,
        cache=cache != "none",
        cache_dir=tmp_path / "cache" if cache == "disk" else None,
    )
    x, label = ds[0]
    assert label == 0 and tuple(x.shape) == (8, 2, 2)
    on = x[0::2].numpy()
    off = x[1::2].numpy()
    for i in range(4):
        assert on[i].reshape(-1).tolist() == [1.0 if j == i else 0.0 for j in range(4)], i
    assert off[:3].sum() == 0 and off[3].tolist() == [[1.0, 0.0], [0.0, 0.0]]
    # resizing to one pixel gives the share of pixels with an event (area resampling, as for SEE frames)
    small = EventEmotionDataset(
        [seq], sampling=TemporalSampling.from_name("E4-S0"), size=1, polarity_split=True
    )
    # the frame cache stores uint8: 0.25·255 = 63.75 is stored as 64, an error ≤ 1/510 < 1/500
    np.testing.assert_allclose(small[0][0][0::2].reshape(-1).numpy(), [0.25] * 4, atol=1 / 500)


def test_frame_cache_follows_the_recording(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_event_dataset(
        root,
        [("s", _events([(0, 0, 0, 1)] * 4), "fear", "training")],
        sensor_size=(2, 2),
        extra={"s": {"start_us": 0, "end_us": 4 * 33_000}},
    )
    (seq,) = load_see(root, layout=EVENTS).sequences
    kwargs: dict[str, Any] = {
        "sampling": TemporalSampling.from_name("E4-S0"),
        "size": 2,
        "polarity_split": True,
        "cache_dir": tmp_path / "cache",
    }
    first = EventEmotionDataset([seq], **kwargs)[0][0]
    assert first[0].sum() == 1 and first[2:].sum() == 0
    time.sleep(0.01)
    write_events(seq.recording.path if seq.recording else Path(), _events([(1, 1, 40_000, 0)]))
    second = EventEmotionDataset([seq], **kwargs)[0][0]  # a rewritten recording rebuilds the cache
    assert second[0].sum() == 0 and second[3, 1, 1] == 1.0


# -- the synthetic generator --------------------------------------------------------------------------------

_SMALL = SynthConfig(
    subjects=2,
    takes=(1, 1),
    length_mean=6,
    length_sd=0,
    length_range=(6, 6),
    size=16,
    substeps=2,
    write_frames=False,
)


def test_synthetic_events_reproduce_the_synthetic_frames() -> None:
    """A pixel's last event in each 33 ms window is the one its ternary frame shows, and no other pixel
    has an event."""
    for plan in plan_dataset(_SMALL, 3)[:3]:
        blocks: list[np.ndarray] = []
        frames, _ = render_sequence(plan, _SMALL, 3, events_out=blocks)
        plain, _ = render_sequence(plan, _SMALL, 3)
        np.testing.assert_array_equal(frames, plain)  # collecting the events changes nothing
        table = np.concatenate(blocks)
        table = table[np.argsort(table[:, 0], kind="stable")]
        last = np.full(frames.shape, 128, dtype=np.uint8)
        for t, x, y, p in table:  # later events overwrite earlier ones, as in the renderer
            last[t // DEFAULT_WINDOW_US, y, x] = 255 if p else 0
        np.testing.assert_array_equal(last, frames)


def test_generate_with_events_writes_a_dataset_the_events_layout_reads(tmp_path: Path) -> None:
    plain = generate(tmp_path / "plain", preset=_SMALL, seed=1)
    both = generate(tmp_path / "both", preset=_SMALL, seed=1, events=True)
    assert not (plain.root / "events.json").exists()
    for jpg in sorted((plain.root / "event").rglob("*.jpg")):  # the frame trees are byte-identical
        assert (both.root / jpg.relative_to(plain.root)).read_bytes() == jpg.read_bytes()
    frames = load_see(both.root)
    events = load_see(both.root, layout=EVENTS)
    assert [(s.name, s.label, s.subset, s.subject, s.lighting, s.length) for s in events.sequences] == [
        (s.name, s.label, s.subset, s.subject, s.lighting, s.length) for s in frames.sequences
    ]
    ds = EventEmotionDataset(
        events.sequences, sampling=TemporalSampling.from_name("E4-S0"), size=16, polarity_split=True
    )
    assert ds.materialize()[0].sum() > 0
    # overwriting an event set is allowed: its files are all generator outputs
    generate(both.root, preset=_SMALL, seed=1, events=True, overwrite=True)


def test_data_synth_events_cli_then_info(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ttfsnet_nas.emotion import synth

    monkeypatch.setitem(synth.PRESETS, "tiny", _SMALL)  # a few small sequences: this checks the wiring
    runner = CliRunner()
    out = tmp_path / "syn"
    result = runner.invoke(
        data_app, ["synth", "--preset", "tiny", "--out", str(out), "--events", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    count = len(plan_dataset(_SMALL, 0))
    assert (out / "events.json").is_file() and len(list((out / "events").glob("*.npy"))) == count
    info = runner.invoke(data_app, ["info", str(out), "--layout", "events", "--format", "json", "--verify"])
    assert info.exit_code == 0, info.output
    payload = json.loads(info.output)
    assert payload["sequences"] == count and payload["verify"]["undecodable"] == 0
    assert payload["frames"] == 6 * count  # 33 ms frames, one per simulated frame


# -- recipes ---------------------------------------------------------------------------------------------


def test_events_layout_has_its_own_synthetic_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TTFSNET_DATA", str(tmp_path))
    assert DataConfig(synthetic="tiny").resolved_root() == tmp_path / "synthetic-tiny-seed0"
    assert (
        DataConfig(synthetic="tiny", layout="events").resolved_root()
        == tmp_path / "synthetic-tiny-seed0-events"
    )
    with pytest.raises(ValueError, match=r"layout: expected one of \['dsee', 'events', 'see'"):
        DataConfig(layout="event")


def test_demo_events_runs_end_to_end_at_tiny_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in ``demo-events`` recipe with the ``tiny`` recipe's sizes: raw events are generated,
    indexed, framed and windowed, then all five stages run (about 20 s on one CPU core)."""
    from ttfsnet_nas.cli import main

    monkeypatch.setenv("TTFSNET_DATA", str(tmp_path / "data"))
    demo = yaml.safe_load((RECIPES / "demo-events.yaml").read_text())
    tiny = yaml.safe_load((RECIPES / "tiny.yaml").read_text())
    assert demo["data"]["layout"] == "events"
    recipe = {**tiny, "name": "demo-events", "data": {**tiny["data"], "layout": demo["data"]["layout"]}}
    path = tmp_path / "demo-events-tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as info:
        main(["--quiet", "search", str(path), "--out", str(out)])
    assert info.value.code in (0, None)
    assert (tmp_path / "data" / "synthetic-tiny-seed0-events" / "events.json").is_file()
    assert not (tmp_path / "data" / "synthetic-tiny-seed0").exists()
    result = json.loads((out / "result.json").read_text())
    assert result["synthetic"] is True
    assert result["metrics"]["war"] > 1 / 7 + 0.2  # it learned from the framed events (chance: 1/7)
