"""Raw event recordings: reading, writing, framing, and the label index of an event dataset.

An event dataset (layout ``events``, `ttfsnet_nas.emotion.layouts.events`) is a folder with one
recording per sequence and a small index file that gives each recording its label and split::

    <root>/events.json            (or events.csv)
    <root>/events/<name>.npy      one recording per sequence (.npy, .npz or .aedat4)

**Recordings.** A recording is a structured array with the fields ``x``, ``y`` (pixel column and row),
``t`` (microseconds) and ``p`` (polarity: 1 or ``True`` = ON, 0, ``False`` or -1 = OFF), the layout tonic
uses for its event arrays, so ``numpy.save("a.npy", events)`` of a tonic sample is a valid file. ``.npz``
files hold either such an array under the key ``events`` or four plain arrays ``x``, ``y``, ``t``, ``p``.
``.aedat4`` files (iniVation cameras) are read through the optional ``aedat`` package
(``pip install "ttfsnet-nas[events]"``). Nothing is unpickled (``allow_pickle=False``).

**Index.** ``events.json``::

    {"sensor_size": [width, height],          # pixels; events outside are an error
     "window_ms": 33,                         # optional frame window (default 33 ms, as SEE's frames)
     "labels": ["angry", ...],                # optional: label order (ids); default sorted label names
     "sequences": {"<name>": {"file": "events/<name>.npy", "label": "angry", "subset": "training",
                              "subject": "001", "lighting": "normal",      # optional
                              "start_us": 0, "end_us": 660000}}}          # optional

``events.csv`` has one row per sequence with the columns ``name, file, label, subset, width, height`` and
optionally ``subject, lighting, start_us, end_us`` (frame window: the default).

**Frames.** A recording becomes frames of ``window_ms`` each: frame *i* holds the events with
``start + i·w <= t < start + (i + 1)·w``, where ``start`` is ``start_us`` or the first event's time and the
last frame ends at ``end_us`` (default: just after the last event). A recipe's ``data.frame_window_ms`` cuts
every recording at another window than the index's (`with_frame_window`). `frame_events` counts the events
per pixel and polarity (``(N, 2, H, W)``, ON then OFF); with ``framing="tonic"`` (a recipe's
``data.event_framing: tonic``, `with_event_framing`) the counts come from tonic's ``ToFrame`` transform
instead, set up to give the same frames. The dataset then keeps what SEE's accumulated frames show, whether a
pixel had an ON / OFF event in the window (see `ttfsnet_nas.emotion.dataset.map_event_counts`), and draws its
E4-S3 windows from these frames exactly as from SEE's.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ttfsnet_nas.emotion.see import DatasetError, SEEIndex, SequenceInfo
from ttfsnet_nas.journal import atomic_write_bytes, atomic_write_text

__all__ = [
    "DEFAULT_WINDOW_US",
    "EVENT_DTYPE",
    "EVENT_FRAMINGS",
    "EVENT_SUFFIXES",
    "EventSource",
    "as_events",
    "frame_events",
    "frame_source",
    "load_event_index",
    "read_events",
    "require_tonic",
    "tonic_frames",
    "window_us_from_ms",
    "with_event_framing",
    "with_frame_window",
    "write_event_dataset",
    "write_events",
]

#: Dtype of the recordings this module writes (tonic's field names; any integer or bool types are read).
EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
#: Frame window: SEE's event frames accumulate 33 ms each.
DEFAULT_WINDOW_US = 33_000
#: Recording file suffixes the reader understands.
EVENT_SUFFIXES = (".npy", ".npz", ".aedat4")
#: What cuts recordings into frames: our own numpy code, or tonic's ``ToFrame`` (the optional extra).
EVENT_FRAMINGS = ("numpy", "tonic")
#: The install line of the optional extra that reads AEDAT4 files and frames through tonic.
_EXTRA = 'pip install "ttfsnet-nas[events]"'
_INDEX_JSON, _INDEX_CSV = "events.json", "events.csv"


@dataclass(frozen=True, slots=True)
class EventSource:
    """Where one sequence's frames come from: a recording and how it is cut into frames.

    Attributes:
        path: the recording file.
        sensor_size: ``(width, height)`` in pixels.
        window_us: frame length in microseconds.
        start_us: start of frame 0 (``None``: the first event's time).
        frames: number of frames (the last one ends at ``start + frames · window_us``).
        end_us: end of the recorded span the frames cover (the index's ``end_us``, or just after the last
            event), kept so the recording can be cut again at another window; ``None``: not known.
        framing: what counts the events into frames, one of `EVENT_FRAMINGS` (see `frame_events`).
    """

    path: Path
    sensor_size: tuple[int, int]
    window_us: float
    start_us: int | None
    frames: int
    end_us: int | None = None
    framing: str = "numpy"


# -- reading and writing recordings --------------------------------------------------------------------


def as_events(data: Any, *, where: str = "events") -> np.ndarray:
    """Check and convert event data to a time-sorted array of `EVENT_DTYPE`.

    Args:
        data: a structured array with fields ``x, y, t, p`` (tonic's layout; ``on`` instead of ``p`` as the
            ``aedat`` package writes it), or a mapping of those names to equal-length 1-D arrays.
        where: the file or object named in error messages.

    Raises:
        DatasetError: a missing field, a non-integer field, negative coordinates or an unknown polarity.
    """
    if isinstance(data, np.ndarray) and data.dtype.names is not None:
        names = data.dtype.names
        columns = {k: data[k] for k in names}
    elif isinstance(data, Mapping):
        columns = {str(k): np.asarray(v) for k, v in data.items()}
        names = tuple(columns)
    else:
        raise DatasetError(
            f"{where}: expected a structured array with fields x, y, t, p (got {type(data).__name__})"
        )
    if "p" not in columns and "on" in columns:
        columns["p"] = columns["on"]
    missing = [k for k in ("x", "y", "t", "p") if k not in columns]
    if missing:
        raise DatasetError(
            f"{where}: event fields {missing} missing (expected x, y, t, p; found {list(names)})"
        )
    n = len(columns["t"])
    out = np.empty(n, dtype=EVENT_DTYPE)
    for key in ("x", "y", "t", "p"):
        col = np.asarray(columns[key])
        if col.shape != (n,) or not (np.issubdtype(col.dtype, np.integer) or col.dtype == np.bool_):
            raise DatasetError(
                f"{where}: field {key!r} must be a 1-D integer array of {n} values, "
                f"got {col.dtype} {col.shape}"
            )
        if key == "p":
            if col.dtype != np.bool_ and n and not np.isin(col, (-1, 0, 1)).all():
                raise DatasetError(f"{where}: field 'p' must hold polarities 0/1 (or -1/1, or bool)")
            col = col > 0
        elif key in ("x", "y") and n and int(col.min()) < 0:
            raise DatasetError(f"{where}: field {key!r} has negative pixel coordinates")
        out[key] = col
    if n > 1 and (np.diff(out["t"]) < 0).any():
        # Framing needs time order; a stable sort keeps the order of simultaneous events.
        out = out[np.argsort(out["t"], kind="stable")]
    return out


def read_events(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one recording (``.npy``, ``.npz`` or ``.aedat4``) as a time-sorted `EVENT_DTYPE` array.

    Raises:
        DatasetError: a missing, unreadable or malformed file, or an ``.aedat4`` file without the ``aedat``
            package; the message names the file.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".aedat4":
        return _read_aedat4(p)
    if suffix not in (".npy", ".npz"):
        raise DatasetError(f"{p}: unknown recording type (expected one of {', '.join(EVENT_SUFFIXES)})")
    try:
        loaded = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{p}: cannot read the recording ({type(exc).__name__}: {exc})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if "events" in loaded.files:
                return as_events(loaded["events"], where=str(p))
            return as_events({k: loaded[k] for k in loaded.files}, where=str(p))
    return as_events(loaded, where=str(p))


def _read_aedat4(path: Path) -> np.ndarray:
    try:
        # Imported by name: the optional extra may be absent, and the type checker need not know it.
        aedat = importlib.import_module("aedat")
    except ImportError:
        raise DatasetError(f"{path}: reading AEDAT4 files needs the aedat package: {_EXTRA}") from None
    try:
        decoder = aedat.Decoder(path)
        streams = decoder.id_to_stream()
        event_ids = sorted(i for i, s in streams.items() if s.get("type") == "events")
        # A camera file may hold several streams; the first polarity-event stream is the DVS output.
        chunks = [
            pk["events"]
            for pk in decoder
            if event_ids and pk.get("stream_id") == event_ids[0] and "events" in pk
        ]
    except (OSError, RuntimeError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot decode the AEDAT4 file ({type(exc).__name__}: {exc})") from None
    if not event_ids:
        raise DatasetError(f"{path}: the AEDAT4 file has no polarity-event stream")
    if not chunks:  # an event stream without packets: a recording of nothing
        return np.empty(0, dtype=EVENT_DTYPE)
    return as_events(np.concatenate(chunks), where=str(path))


def write_events(path: str | os.PathLike[str], events: Any) -> Path:
    """Write a recording as ``.npy`` of `EVENT_DTYPE`, atomically (readers never see half a file).

    Args:
        path: target file; must end in ``.npy``.
        events: anything `as_events` accepts.
    """
    p = Path(path)
    if p.suffix != ".npy":
        raise ValueError(f"{p}: write_events writes .npy files")
    buf = io.BytesIO()
    np.save(buf, as_events(events, where=str(p)), allow_pickle=False)
    return atomic_write_bytes(p, buf.getvalue())


# -- framing ---------------------------------------------------------------------------------------------


def window_us_from_ms(window_ms: float) -> float:
    """A frame window in milliseconds as microseconds, rounded to the nanosecond.

    A window written with up to three decimals is then a whole number of microseconds (``1.001 * 1000`` is
    ``1000.9999999999999`` in floating point), the windows ``event_framing: tonic`` accepts.
    """
    return round(float(window_ms) * 1000.0, 3)


def _frame_count(start: float, end: float, window_us: float) -> int:
    return max(1, math.ceil((end - start) / window_us))


def frame_events(
    events: Any,
    sensor_size: tuple[int, int],
    *,
    window_us: float = DEFAULT_WINDOW_US,
    start_us: int | None = None,
    frames: int | None = None,
    framing: str = "numpy",
) -> np.ndarray:
    """Count events per frame, polarity and pixel.

    Args:
        events: anything `as_events` accepts.
        sensor_size: ``(width, height)``; an event outside is an error.
        window_us: frame length in microseconds (default 33 ms).
        start_us: start of frame 0 (``None``: the first event's time).
        frames: number of frames (``None``: up to and including the last event); events after the last
            frame are left out.
        framing: ``numpy`` (our own code) or ``tonic`` (tonic's ``ToFrame`` with the same frame boundaries
            and count, `tonic_frames`); both give the same counts for a window of whole microseconds.

    Returns:
        ``int32`` counts ``(frames, 2, height, width)``, channel 0 = ON, 1 = OFF (tonic's ``ToFrame`` puts
        polarity 0, OFF, first).

    Raises:
        DatasetError: bad events or events outside the sensor; ``framing="tonic"`` without tonic installed,
            or with a window that is not a whole number of microseconds.
    """
    ev = as_events(events)
    width, height = sensor_size
    if window_us <= 0:
        raise ValueError(f"window_us: expected > 0, got {window_us}")
    if framing not in EVENT_FRAMINGS:
        raise ValueError(f"framing: expected one of {EVENT_FRAMINGS}, got {framing!r}")
    if len(ev) and (int(ev["x"].max()) >= width or int(ev["y"].max()) >= height):
        raise DatasetError(
            f"events: pixel ({int(ev['x'].max())}, {int(ev['y'].max())}) outside the sensor size "
            f"{width}x{height}"
        )
    start = int(ev["t"][0]) if start_us is None and len(ev) else int(start_us or 0)
    if frames is None:
        frames = _frame_count(start, int(ev["t"][-1]) + 1, window_us) if len(ev) else 1
    if framing == "tonic":
        return tonic_frames(ev, sensor_size, window_us=window_us, start_us=start, frames=frames)
    out = np.zeros((frames, 2, height, width), dtype=np.int32)
    index = np.floor((ev["t"] - start) / window_us).astype(np.int64)
    keep = (index >= 0) & (index < frames)
    # ON (p = 1) goes to channel 0, OFF to channel 1: the dataset's channel order per frame.
    np.add.at(out, (index[keep], 1 - ev["p"][keep].astype(np.int64), ev["y"][keep], ev["x"][keep]), 1)
    return out


# Tonic's event layout: a structured array with integer fields; ``p`` is the frame channel (0 = OFF, 1 = ON).
_TONIC_EVENT_DTYPE = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])


def require_tonic(key: str = "event_framing") -> ModuleType:
    """``tonic.transforms``, imported by name: tonic is an optional extra.

    Args:
        key: the recipe key that asked for tonic, named in the error.

    Raises:
        DatasetError: tonic cannot be imported; one line naming ``key`` and the install command.
    """
    try:
        return importlib.import_module("tonic.transforms")
    except ImportError as exc:
        raise DatasetError(
            f"{key}: 'tonic' needs the tonic package, which cannot be imported ({exc}): {_EXTRA}"
        ) from None


def tonic_frames(
    events: np.ndarray, sensor_size: tuple[int, int], *, window_us: float, start_us: int, frames: int
) -> np.ndarray:
    """The `frame_events` counts of checked events, computed by tonic's ``ToFrame`` transform.

    Frame *i* is tonic's slice ``[start + i·w, start + (i + 1)·w)``, the rule `frame_events` follows, and
    tonic's polarity channels are swapped to ours (ON first). Tonic accumulates in ``int16``, so a pixel with
    more than 32 767 events of one polarity in one frame wraps around (the dataset keeps only whether a count
    is positive).

    Args:
        events: a time-sorted `EVENT_DTYPE` array (`as_events`) inside the sensor.
        sensor_size: ``(width, height)``.
        window_us: frame length, a whole number of microseconds.
        start_us: start of frame 0.
        frames: number of frames.

    Raises:
        DatasetError: tonic is missing, or the window is not a whole number of microseconds.
    """
    transforms = require_tonic()
    if not float(window_us).is_integer():
        # Tonic puts slice i at start + i·w, ours puts an event at floor((t − start) / w): in floating point
        # the two are certain to agree on every event only for a whole w (1/60 ms, say, does differ).
        raise DatasetError(
            f"event_framing: tonic: expected a frame window of whole microseconds, got {window_us} µs"
        )
    width, height = sensor_size
    if not len(events):  # ToFrame returns a single frame, of another layout, for no events
        return np.zeros((frames, 2, height, width), dtype=np.int32)
    tonic_events = np.empty(len(events), dtype=_TONIC_EVENT_DTYPE)
    for key in ("x", "y", "p"):
        tonic_events[key] = events[key]
    # Times from the start (tonic's start_time is then 0), so the slice bounds i·w stay small exact floats
    # whatever the camera clock (microseconds since 1970).
    tonic_events["t"] = events["t"] - start_us
    to_frame = transforms.ToFrame(
        sensor_size=(width, height, 2),
        time_window=float(window_us),
        start_time=0,
        # Half a window past the last frame's end: tonic counts floor((end − start − w) / w) + 1 complete
        # slices, exactly `frames` here whatever the rounding of the division.
        end_time=(frames + 0.5) * window_us,
        include_incomplete=False,
    )
    counts = np.asarray(to_frame(tonic_events))
    return np.ascontiguousarray(counts[:, ::-1], dtype=np.int32)


def frame_source(source: EventSource) -> np.ndarray:
    """The frames of one indexed recording (`frame_events` of the file with its settings and framing).

    Raises:
        DatasetError: naming the file, when it cannot be read or has events outside the sensor.
    """
    events = read_events(source.path)
    try:
        return frame_events(
            events,
            source.sensor_size,
            window_us=source.window_us,
            start_us=source.start_us,
            frames=source.frames,
            framing=source.framing,
        )
    except DatasetError as exc:
        raise DatasetError(f"{source.path}: {str(exc).removeprefix('events: ')}") from None


# -- the index ---------------------------------------------------------------------------------------------


def _int_or_none(value: object, where: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        raise DatasetError(f"{where}: expected an integer number of microseconds, got {value!r}") from None


def _read_index(path: Path) -> tuple[list[str] | None, float, list[tuple[str, dict[str, Any]]]]:
    """``(labels, window_us, [(name, entry)])`` of an ``events.json`` or ``events.csv``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the event index ({exc})") from None
    if path.suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        need = ("name", "file", "label", "subset", "width", "height")
        missing = [c for c in need if not rows or c not in rows[0]]
        if missing:
            raise DatasetError(
                f"{path}: expected a header row with the columns {', '.join(need)} (missing {missing})"
            )
        entries: list[tuple[str, dict[str, Any]]] = []
        for row in rows:
            entry: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
            try:
                entry["sensor_size"] = [int(entry.pop("width")), int(entry.pop("height"))]
            except (KeyError, ValueError):
                raise DatasetError(
                    f"{path}: row {row.get('name')!r}: width and height must be integers"
                ) from None
            entries.append((str(entry.pop("name")), entry))
        return None, float(DEFAULT_WINDOW_US), entries
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("sequences"), dict):
        raise DatasetError(f"{path}: expected a JSON object with a 'sequences' mapping (name -> entry)")
    unknown = sorted(set(data) - {"sensor_size", "window_ms", "labels", "sequences", "format"})
    if unknown:
        raise DatasetError(
            f"{path}: unknown key(s) {unknown}; expected sensor_size, window_ms, labels, sequences"
        )
    window = data.get("window_ms", DEFAULT_WINDOW_US / 1000)
    if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
        raise DatasetError(
            f"{path}: key 'window_ms': expected a positive number of milliseconds, got {window!r}"
        )
    labels = data.get("labels")
    if labels is not None and (
        not isinstance(labels, list)
        or not labels
        or not all(isinstance(x, str) for x in labels)
        or len(set(labels)) != len(labels)
    ):
        raise DatasetError(f"{path}: key 'labels': expected a list of distinct class names, got {labels!r}")
    default_size = data.get("sensor_size")
    entries = []
    for name, entry in data["sequences"].items():
        if not isinstance(entry, dict):
            raise DatasetError(f"{path}: sequences[{name!r}]: expected an object with file, label and subset")
        entry = dict(entry)
        entry.setdefault("sensor_size", default_size)
        entries.append((str(name), entry))
    return labels, window_us_from_ms(window), entries


_ENTRY_KEYS = {"file", "label", "subset", "subject", "lighting", "start_us", "end_us", "sensor_size"}


def load_event_index(
    root: Path, json_names: Iterable[str] = (_INDEX_JSON, _INDEX_CSV), *, strict: bool = True
) -> SEEIndex:
    """Index an event dataset: every recording's label, split and frame count.

    Only the recordings without both ``start_us`` and ``end_us`` are read (for their time span).

    Args:
        root: dataset root.
        json_names: index file names tried in order (the layout's ``json_names``).
        strict: raise on the first bad entry or missing file; ``False`` skips and counts them.

    Raises:
        DatasetError: a missing or malformed index, or (strict) a bad entry; the message names the file and
            key and what was expected.
    """
    path = next((root / n for n in json_names if (root / n).is_file()), None)
    if path is None:
        raise DatasetError(f"{root}: no event index found (expected one of {', '.join(json_names)})")
    labels, window_us, entries = _read_index(path)
    skipped: Counter[str] = Counter()
    parsed: list[tuple[str, str, str, str | None, str | None, EventSource]] = []

    def bad(reason: str, message: str) -> None:
        if strict:
            raise DatasetError(message)
        skipped[reason] += 1

    for name, entry in sorted(entries):
        where = f"{path}: sequences[{name!r}]"
        unknown = sorted(set(entry) - _ENTRY_KEYS)
        if unknown:
            bad(
                "malformed entry",
                f"{where}: unknown key(s) {unknown}; expected some of {sorted(_ENTRY_KEYS)}",
            )
            continue
        label, file, size = entry.get("label"), entry.get("file"), entry.get("sensor_size")
        subset = str(entry.get("subset", "")).strip().lower()
        if not isinstance(label, str) or not label:
            bad("malformed entry", f"{where}: key 'label': expected a class name, got {label!r}")
            continue
        if subset not in ("training", "train", "testing", "test"):
            bad(
                "malformed entry",
                f"{where}: key 'subset': expected 'training' or 'testing', got {entry.get('subset')!r}",
            )
            continue
        if not isinstance(file, str) or not file:
            bad("malformed entry", f"{where}: key 'file': expected a recording path relative to {root}")
            continue
        if (
            not isinstance(size, list | tuple)
            or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            bad(
                "malformed entry",
                f"{where}: key 'sensor_size': expected [width, height] in pixels, got {size!r}",
            )
            continue
        try:
            start = _int_or_none(entry.get("start_us"), f"{where}: key 'start_us'")
            end = _int_or_none(entry.get("end_us"), f"{where}: key 'end_us'")
        except DatasetError as exc:
            bad("malformed entry", str(exc))
            continue
        rec = root / file
        if rec.suffix.lower() not in EVENT_SUFFIXES:
            bad("malformed entry", f"{where}: key 'file': {file!r} is not one of {', '.join(EVENT_SUFFIXES)}")
            continue
        if not rec.is_file():
            bad("missing file", f"{rec}: recording listed in {path.name} does not exist")
            continue
        if start is None or end is None:
            try:
                events = read_events(rec)
            except DatasetError as exc:
                bad("unreadable file", str(exc))
                continue
            if not len(events):  # nothing to frame and no time span given
                skipped["empty recording"] += 1
                continue
            start = int(events["t"][0]) if start is None else start
            end = int(events["t"][-1]) + 1 if end is None else end
        if end <= start:
            skipped["empty recording"] += 1
            continue
        source = EventSource(
            path=rec,
            sensor_size=(int(size[0]), int(size[1])),
            window_us=window_us,
            start_us=start,
            frames=_frame_count(start, end, window_us),
            end_us=end,
        )
        subject, lighting = entry.get("subject"), entry.get("lighting")
        parsed.append(
            (
                name,
                label,
                "training" if subset.startswith("train") else "testing",
                None if subject is None else str(subject),
                None if lighting is None else str(lighting),
                source,
            )
        )

    classes = labels if labels is not None else sorted({p[1] for p in parsed})
    label_of = {c: i for i, c in enumerate(classes)}
    sequences: list[SequenceInfo] = []
    for name, label, subset, subject, lighting, source in parsed:
        if label not in label_of:
            bad("unknown label", f"{path}: sequences[{name!r}]: label {label!r} is not in 'labels' {classes}")
            continue
        sequences.append(
            SequenceInfo(
                name=name,
                emotion=label,
                label=label_of[label],
                subset=subset,
                subject=subject,
                lighting=lighting,
                event_dir=source.path.parent,
                frame_dir=None,
                event_files=tuple(f"{i:05d}" for i in range(source.frames)),
                recording=source,
            )
        )
    listed = {s.recording.path.resolve() for s in sequences if s.recording is not None}
    folder = root / "events"
    unlisted = sorted(
        str(p.relative_to(root))
        for p in (folder.rglob("*") if folder.is_dir() else ())
        if p.suffix.lower() in EVENT_SUFFIXES and p.resolve() not in listed
    )
    return SEEIndex(
        root=root,
        labels=tuple(classes),
        sequences=tuple(sequences),
        skipped=dict(skipped),
        unlisted=tuple(unlisted),
        json_path=path,
    )


def with_frame_window(index: SEEIndex, window_us: float) -> SEEIndex:
    """The index with every recording cut into frames of ``window_us`` instead of the index's window.

    The frames still start at each recording's start and run up to its end (the same rule as
    `load_event_index`: ``max(1, ceil((end − start) / window_us))`` frames), so the frame counts, the
    E*x*-S*y* windows drawn from them and the frames themselves all follow the new window.

    Args:
        index: an index of raw event recordings (layout ``events``, `load_event_index`).
        window_us: frame length in microseconds (> 0).

    Raises:
        ValueError: ``window_us`` is not positive.
        DatasetError: a sequence is not a raw event recording with a known span (it names the sequence).
    """
    if not window_us > 0:
        raise ValueError(f"window_us: expected > 0, got {window_us}")
    sequences: list[SequenceInfo] = []
    for seq in index.sequences:
        rec = seq.recording
        if rec is None or rec.start_us is None or rec.end_us is None:
            raise DatasetError(
                f"{index.json_path}: sequence {seq.name!r}: the frame window can be set only "
                "for raw event recordings with a known time span"
            )
        frames = _frame_count(rec.start_us, rec.end_us, window_us)
        source = replace(rec, window_us=float(window_us), frames=frames)
        sequences.append(replace(seq, event_files=tuple(f"{i:05d}" for i in range(frames)), recording=source))
    return replace(index, sequences=tuple(sequences))


def with_event_framing(index: SEEIndex, framing: str) -> SEEIndex:
    """The index with every recording framed by ``framing`` (`EVENT_FRAMINGS`, see `frame_events`).

    The frame counts and boundaries stay as they are: ``tonic`` gives the frames ``numpy`` gives.

    Args:
        index: an index of raw event recordings (layout ``events``, `load_event_index`).
        framing: ``numpy`` or ``tonic``.

    Raises:
        ValueError: an unknown ``framing``.
        DatasetError: a sequence is not a raw event recording, or (``tonic``) its frame window is not a
            whole number of microseconds (it names the index file and the sequence).
    """
    if framing not in EVENT_FRAMINGS:
        raise ValueError(f"framing: expected one of {EVENT_FRAMINGS}, got {framing!r}")
    sequences: list[SequenceInfo] = []
    for seq in index.sequences:
        rec = seq.recording
        if rec is None:
            raise DatasetError(
                f"{index.json_path}: sequence {seq.name!r}: event_framing applies only to raw event "
                "recordings"
            )
        if framing == "tonic" and not float(rec.window_us).is_integer():
            raise DatasetError(
                f"{index.json_path}: sequence {seq.name!r}: event_framing 'tonic' needs a frame window of "
                f"whole microseconds, got {rec.window_us / 1000:g} ms"
            )
        sequences.append(replace(seq, recording=replace(rec, framing=framing)))
    return replace(index, sequences=tuple(sequences))


def write_event_dataset(
    out: str | os.PathLike[str],
    recordings: Iterable[tuple[str, Any, str, str]],
    *,
    sensor_size: tuple[int, int],
    window_ms: float = DEFAULT_WINDOW_US / 1000,
    labels: Iterable[str] | None = None,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write recordings and their ``events.json`` index: a dataset the ``events`` layout reads.

    Args:
        out: dataset root (created).
        recordings: ``(name, events, label, subset)`` per sequence; ``events`` is anything
            `as_events` accepts (e.g. one sample of a tonic dataset), ``subset`` is ``training`` or
            ``testing``.
        sensor_size: ``(width, height)`` of every recording.
        window_ms: frame window stored in the index.
        labels: class names in label-id order (default: the sorted names seen).
        extra: more index keys per sequence name (``subject``, ``lighting``, ``start_us``, ``end_us``).

    Returns:
        The index file, written last and atomically: an interrupted export leaves no index.
    """
    root = Path(out)
    sequences: dict[str, dict[str, Any]] = {}
    for name, events, label, subset in recordings:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"recording name {name!r}: expected a plain file stem")
        write_events(root / "events" / f"{name}.npy", events)
        sequences[name] = {
            "file": f"events/{name}.npy",
            "label": str(label),
            "subset": subset,
            **dict((extra or {}).get(name, {})),
        }
    index: dict[str, Any] = {
        "sensor_size": [int(sensor_size[0]), int(sensor_size[1])],
        "window_ms": window_ms,
    }
    if labels is not None:
        index["labels"] = list(labels)
    index["sequences"] = sequences
    return atomic_write_text(root / _INDEX_JSON, json.dumps(index, indent=1, sort_keys=False) + "\n")
