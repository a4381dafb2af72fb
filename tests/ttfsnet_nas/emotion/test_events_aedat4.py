"""AEDAT4 recordings decoded from real files: written here by iniVation's dv-processing (the library of the
cameras' own software) from events generated in the test, read back through ``read_events`` and the ``events``
layout, and compared with the same events saved as ``.npy``.

dv-processing is a test dependency wherever it ships wheels (the marker in ttfsnet_nas/pyproject.toml);
there these tests must run, elsewhere they skip.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from packaging.markers import Marker

from ttfsnet_nas.emotion.dataset import EventEmotionDataset
from ttfsnet_nas.emotion.events import frame_source, read_events, with_event_framing, write_event_dataset
from ttfsnet_nas.emotion.layouts import get_layout
from ttfsnet_nas.emotion.sampling import TemporalSampling
from ttfsnet_nas.emotion.see import DatasetError, load_see

PYPROJECT = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "pyproject.toml"
# Where dv-processing has wheels; the test extra installs it there (the same marker as in the pyproject).
DV_MARKER = (
    "(sys_platform == 'linux' and (platform_machine == 'x86_64' or platform_machine == 'aarch64')) "
    "or (sys_platform == 'win32' and platform_machine == 'AMD64') "
    "or (sys_platform == 'darwin' and platform_release >= '24')"
)
EVENTS = get_layout("events")
SENSOR = (12, 9)  # width, height
EPOCH_US = 1_733_000_000_000_000  # camera clocks count microseconds since 1970
TONIC_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])


def _dv() -> ModuleType:
    """dv_processing: imported where the test extra installs it, skipped only elsewhere."""
    if Marker(DV_MARKER).evaluate():
        return importlib.import_module("dv_processing")  # by name: the type checker need not find it
    return pytest.importorskip("dv_processing", reason="dv-processing ships no wheel for this platform")


def _random_events(seed: int, n: int, start: int, span: int, size: tuple[int, int] = SENSOR) -> np.ndarray:
    """``n`` events in ``[start, start + span)``, time-sorted, with simultaneous events."""
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=TONIC_DTYPE)
    ev["x"], ev["y"] = rng.integers(0, size[0], n), rng.integers(0, size[1], n)
    ev["t"] = np.sort(rng.integers(start, start + span, n))
    ev["t"][1::7] = ev["t"][0:-1:7]  # some events share a timestamp with the previous one
    ev["p"] = rng.integers(0, 2, n)
    return ev


def _store(dv: ModuleType, events: np.ndarray) -> Any:
    store = dv.EventStore()
    for x, y, t, p in events.tolist():
        store.push_back(t, x, y, bool(p))
    return store


def _write_aedat4(path: Path, events: np.ndarray, size: tuple[int, int] = SENSOR, packets: int = 3) -> Path:
    """A camera file with one event stream; the events go in as ``packets`` separate writes."""
    dv = _dv()
    writer = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("DVXplorer_test", size))
    for part in np.array_split(events, packets):
        if len(part):
            writer.writeEvents(_store(dv, part))
    del writer  # the file is finalised when the writer is destroyed
    return path


def test_the_marker_is_the_pyprojects() -> None:
    assert f'"dv-processing>=2; {DV_MARKER}"' in PYPROJECT.read_text(encoding="utf-8")


# -- read_events -------------------------------------------------------------------------------------------


def test_real_aedat4_reads_as_the_same_events_as_npy(tmp_path: Path) -> None:
    import aedat

    ev = _random_events(0, 500, EPOCH_US, 400_000)
    path = _write_aedat4(tmp_path / "cam.aedat4", ev, packets=4)
    np.save(tmp_path / "cam.npy", ev)
    # the real decoder's layout: several packets of unsigned fields, the polarity named 'on' (titled 'p')
    packets = [pk for pk in aedat.Decoder(str(path)) if "events" in pk]
    dtype = packets[0]["events"].dtype
    assert len(packets) > 1 and dtype.names == ("t", "x", "y", "on") and "p" in dtype.fields
    assert dtype["t"] == np.dtype("<u8") and dtype["x"] == np.dtype("<u2")
    got = read_events(path)
    assert got.tolist() == read_events(tmp_path / "cam.npy").tolist()
    assert got.tolist() == ev.tolist() and int(got["t"][0]) >= EPOCH_US


def test_two_event_streams_read_the_first(tmp_path: Path) -> None:
    """A file with a frame stream and two event streams (say, two sensors): the first event stream is read."""
    import aedat

    dv = _dv()
    main, other = _random_events(1, 80, EPOCH_US, 50_000), _random_events(2, 40, EPOCH_US, 50_000, (6, 5))
    cfg = dv.io.MonoCameraWriter.Config("DVXplorer_test")
    cfg.addFrameStream(SENSOR)
    cfg.addEventStream(SENSOR, "events")
    cfg.addEventStream((6, 5), "second")
    path = tmp_path / "two.aedat4"
    writer = dv.io.MonoCameraWriter(str(path), cfg)
    for a, b in zip(np.array_split(main, 2), np.array_split(other, 2), strict=True):
        writer.writeEvents(_store(dv, a), "events")
        writer.writeEvents(_store(dv, b), "second")
    del writer
    streams = aedat.Decoder(str(path)).id_to_stream()
    event_ids = sorted(i for i, s in streams.items() if s["type"] == "events")
    assert len(event_ids) == 2 and any(s["type"] == "frame" for s in streams.values())
    assert (streams[event_ids[0]]["width"], streams[event_ids[0]]["height"]) == SENSOR  # 'events' comes first
    assert read_events(path).tolist() == main.tolist()


def test_aedat4_without_events(tmp_path: Path) -> None:
    dv = _dv()
    # an event stream that never got a packet: a recording of nothing, like an empty .npy
    empty = _write_aedat4(tmp_path / "empty.aedat4", np.zeros(0, dtype=TONIC_DTYPE))
    assert len(read_events(empty)) == 0
    # no event stream at all (a frame camera's file): an error naming the file
    writer = dv.io.MonoCameraWriter(
        str(tmp_path / "frames.aedat4"), dv.io.MonoCameraWriter.FrameOnlyConfig("DAVIS_test", SENSOR)
    )
    del writer
    with pytest.raises(DatasetError) as info:
        read_events(tmp_path / "frames.aedat4")
    assert str(info.value) == f"{tmp_path / 'frames.aedat4'}: the AEDAT4 file has no polarity-event stream"


def test_truncated_aedat4_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = _write_aedat4(tmp_path / "cam.aedat4", _random_events(3, 200, EPOCH_US, 100_000))
    data = path.read_bytes()
    cut = tmp_path / "cut.aedat4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError) as info:
        read_events(cut)
    text = str(info.value)
    assert text.startswith(f"{cut}: cannot decode the AEDAT4 file (") and "\n" not in text


# -- the events layout over AEDAT4 recordings ---------------------------------------------------------------


def test_events_layout_over_aedat4_gives_the_npy_frames(tmp_path: Path) -> None:
    """The same recordings as ``.npy`` and as ``.aedat4``: the same index, frames and dataset windows, with
    either framing; an ``.aedat4`` without events is skipped like an empty ``.npy``, or framed empty when
    the index gives its span."""
    recordings = {
        "a": _random_events(4, 400, EPOCH_US, 300_000),
        "b": _random_events(5, 300, EPOCH_US + 7_000_000, 200_000),
        "c": _random_events(6, 250, EPOCH_US, 250_000),
        "quiet": np.zeros(0, dtype=TONIC_DTYPE),
        "silent": np.zeros(0, dtype=TONIC_DTYPE),
    }
    split = {"a": "training", "b": "training", "c": "testing", "quiet": "training", "silent": "testing"}
    npy = tmp_path / "npy"
    write_event_dataset(
        npy,
        [(name, ev, "fear" if name != "b" else "angry", split[name]) for name, ev in recordings.items()],
        sensor_size=SENSOR,
        extra={"silent": {"start_us": EPOCH_US, "end_us": EPOCH_US + 99_000}},
    )
    cam = tmp_path / "aedat4"
    (cam / "events").mkdir(parents=True)
    index = json.loads((npy / "events.json").read_text())
    for name, entry in index["sequences"].items():
        entry["file"] = f"events/{name}.aedat4"
        _write_aedat4(cam / entry["file"], recordings[name])
    (cam / "events.json").write_text(json.dumps(index))

    from_npy, from_cam = load_see(npy, layout=EVENTS), load_see(cam, layout=EVENTS)
    assert from_cam.skipped == from_npy.skipped == {"empty recording": 1}  # 'quiet': no events, no span
    rows = [(s.name, s.label, s.subset, s.length) for s in from_npy.sequences]
    assert rows == [(s.name, s.label, s.subset, s.length) for s in from_cam.sequences]
    assert [r[0] for r in rows] == ["a", "b", "c", "silent"]
    for a, b in zip(from_npy.sequences, from_cam.sequences, strict=True):
        assert a.recording is not None and b.recording is not None
        assert b.recording.path.suffix == ".aedat4"
        assert (a.recording.start_us, a.recording.end_us) == (b.recording.start_us, b.recording.end_us)
        np.testing.assert_array_equal(frame_source(b.recording), frame_source(a.recording))
    silent = from_cam.sequences[3].recording
    assert silent is not None and silent.frames == 3 and not frame_source(silent).any()

    def windows(root: Path, framing: str) -> np.ndarray:
        seqs = with_event_framing(load_see(root, layout=EVENTS), framing).sequences
        ds = EventEmotionDataset(
            seqs,
            sampling=TemporalSampling.from_name("E4-S3"),
            size=SENSOR[1],
            polarity_split=True,
            cache_dir=root / ".frame-cache",
            seed=2,
        )
        return ds.materialize(epoch=1)[0].numpy()

    reference = windows(npy, "numpy")
    assert reference.any()
    for root, framing in ((cam, "numpy"), (cam, "tonic"), (npy, "tonic")):
        np.testing.assert_array_equal(windows(root, framing), reference, err_msg=f"{root.name} {framing}")
