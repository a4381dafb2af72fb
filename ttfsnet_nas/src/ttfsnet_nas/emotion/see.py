"""SEE / DSEE on-disk layout: the split JSON, the dataset layouts and the loader index.

The loader reads the real downloaded SEE release unchanged::

    <root>/event/<emotion>/<sequence>/00000.jpg ...   (or event_30/)
    <root>/frame/<emotion>/<sequence>/00000.jpg ...
    <root>/emotion.json                                (or emotion_new_adjust2.json)

The JSON has ``labels`` (its order defines the integer label ids) and ``database``: sequence name →
``{"subset": "training"|"testing", "annotations": {"label": <emotion>, "segment": [start, end]}}``.
Subject and lighting are parsed from the sequence name
``[seq]_[subject]_[sex]_[age]_[degree]_[lighting]_[emotion]_[length]_[take]``; DSEE's converted sequences may
lack those tokens, so the token positions live in a configurable
[`NameSchema`][ttfsnet_nas.emotion.see.NameSchema]. The name vocabulary and schema live in
[`ttfsnet_nas.emotion.names`][ttfsnet_nas.emotion.names]; this module re-exports them and stays their public
home.

Unlike the original SEEN loader, nothing is dropped silently: malformed entries, entries without a folder,
folders without frame files, frame files whose name is not a number (frames are ordered by number) and
missing frame files raise [`DatasetError`][ttfsnet_nas.emotion.see.DatasetError] naming the file or folder
(``strict=True``) or are skipped and counted in [`SEEIndex.skipped`][ttfsnet_nas.emotion.see.SEEIndex.skipped]
(``strict=False``); empty segments (dropped by SEEN too) are always skipped and counted, and folders the JSON
does not list are reported in [`SEEIndex.unlisted`][ttfsnet_nas.emotion.see.SEEIndex.unlisted].
[`verify_frames`][ttfsnet_nas.emotion.see.verify_frames] decodes every frame of an index (``ttfsnet-nas data
info --verify``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ttfsnet_nas.config import InputError
from ttfsnet_nas.emotion.layouts import DatasetLayout
from ttfsnet_nas.emotion.layouts.dsee import DSEE_LAYOUT
from ttfsnet_nas.emotion.layouts.see import SEE_LAYOUT

# Re-exported (listed in __all__): callers import the name vocabulary from here, its historical home.
from ttfsnet_nas.emotion.names import (
    EMOTION_ABBREV,
    EMOTIONS,
    LIGHTING_ABBREV,
    LIGHTINGS,
    PAPER_EMOTION_ORDER,
    SEE_SCHEMA,
    NameSchema,
    ParsedName,
    canonical_emotion,
    canonical_lighting,
    format_see_name,
)

if TYPE_CHECKING:  # annotations only: events.py imports this module
    from ttfsnet_nas.emotion.events import EventSource

__all__ = [
    "DATA_ENV_VAR",
    "DSEE_LAYOUT",
    "EMOTIONS",
    "EMOTION_ABBREV",
    "LIGHTINGS",
    "LIGHTING_ABBREV",
    "PAPER_EMOTION_ORDER",
    "SEE_LAYOUT",
    "SEE_SCHEMA",
    "DatasetError",
    "DatasetLayout",
    "NameSchema",
    "ParsedName",
    "SEEIndex",
    "SequenceInfo",
    "FrameCheck",
    "canonical_emotion",
    "canonical_lighting",
    "format_see_name",
    "load_see",
    "read_frame",
    "resolve_root",
    "verify_frames",
]

DATA_ENV_VAR = "TTFSNET_DATA"


class DatasetError(InputError, RuntimeError):
    """A dataset file or folder is missing or malformed; the message names the path and what was expected."""


@dataclass(frozen=True, slots=True)
class SequenceInfo:
    """One sequence of the index.

    Attributes:
        name: sequence (folder) name.
        emotion: canonical emotion name (see [`EMOTIONS`][ttfsnet_nas.emotion.see.EMOTIONS]).
        label: integer label id (position of the emotion in the JSON ``labels`` list).
        subset: ``"training"`` or ``"testing"``.
        subject: subject id token, or ``None`` when the name has none (DSEE).
        lighting: canonical lighting token, or ``None``.
        event_dir: folder with the event frames.
        frame_dir: folder with the intensity frames, or ``None`` when absent.
        event_files: the frame files of the segment in temporal order (index i = frame start + i; with
            ``strict=False`` missing frames are left out and counted in
            [`SEEIndex.skipped`][ttfsnet_nas.emotion.see.SEEIndex.skipped]). For a raw event recording, the
            frame numbers ``00000, 00001, ...`` of its framing.
        recording: the raw event recording the frames are cut from (layout ``events``); ``None`` for a
            folder of frame images.
    """

    name: str
    emotion: str
    label: int
    subset: str
    subject: str | None
    lighting: str | None
    event_dir: Path
    frame_dir: Path | None
    event_files: tuple[str, ...]
    recording: EventSource | None = None

    @property
    def length(self) -> int:
        """Number of frames in the segment."""
        return len(self.event_files)

    def event_paths(self) -> list[Path]:
        """Full paths of the event frames, in temporal order."""
        return [self.event_dir / f for f in self.event_files]


@dataclass(frozen=True, slots=True)
class SEEIndex:
    """The parsed dataset: label order, sequences and what was skipped.

    Attributes:
        root: dataset root.
        labels: class names in label-id order.
        sequences: all usable sequences, sorted by name.
        skipped: reason → count of JSON entries that were skipped (``strict=False``) or are empty.
        unlisted: sequence folders on disk that the JSON does not list (not loaded).
        json_path: the JSON file read.
    """

    root: Path
    labels: tuple[str, ...]
    sequences: tuple[SequenceInfo, ...]
    skipped: Mapping[str, int]
    unlisted: tuple[str, ...]
    json_path: Path

    def subset(self, name: str) -> list[SequenceInfo]:
        """Sequences of one subset (``"training"``/``"train"`` or ``"testing"``/``"test"``)."""
        key = _canonical_subset(name, where="subset")
        return [s for s in self.sequences if s.subset == key]

    def train_test(self) -> tuple[list[SequenceInfo], list[SequenceInfo]]:
        """The training and testing sequences.

        Raises:
            DatasetError: either subset is empty (a model can be neither trained nor tested).
        """
        train, test = self.subset("training"), self.subset("testing")
        if not train or not test:
            raise DatasetError(
                f"{self.json_path}: need both 'training' and 'testing' sequences, "
                f"found {len(train)} and {len(test)}"
            )
        return train, test

    def counts(self) -> dict[str, dict[str, int]]:
        """Counts per emotion, lighting, subject and subset (``None`` fields counted as ``"?"``)."""
        out: dict[str, dict[str, int]] = {}
        for key in ("emotion", "lighting", "subject", "subset"):
            c = Counter(str(getattr(s, key) or "?") for s in self.sequences)
            out[key] = dict(sorted(c.items()))
        return out


def _canonical_subset(value: str, *, where: str) -> str:
    key = value.strip().lower()
    if key in ("training", "train"):
        return "training"
    if key in ("testing", "test"):
        return "testing"
    raise DatasetError(f"{where}: expected subset 'training' or 'testing', got {value!r}")


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Return the dataset root: ``root`` if given, else the ``TTFSNET_DATA`` environment variable.

    Raises:
        DatasetError: if neither is set or the folder does not exist.
    """
    if root is None or str(root) == "":
        env = os.environ.get(DATA_ENV_VAR, "")
        if not env:
            raise DatasetError(f"no dataset root: pass a path or set the {DATA_ENV_VAR} environment variable")
        root = env
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetError(f"{path}: dataset root not found (expected a folder with event/ and emotion.json)")
    return path


def _first_existing(root: Path, names: Sequence[str], *, is_dir: bool) -> Path | None:
    for name in names:
        cand = root / name
        if cand.is_dir() if is_dir else cand.is_file():
            return cand
    return None


def _emotion_folders(tree: Path) -> dict[str, Path]:
    """Map canonical emotion → folder in ``tree``, matching folder names case-insensitively."""
    out: dict[str, Path] = {}
    for child in sorted(tree.iterdir()):
        if not child.is_dir():
            continue
        try:
            emotion = canonical_emotion(child.name)
        except ValueError:
            continue
        if emotion in out:
            raise DatasetError(
                f"{tree}: two folders for emotion {emotion!r}: {out[emotion].name}, {child.name}"
            )
        out[emotion] = child
    return out


def _segment_files(by_number: Mapping[int, str], start: int, end: int) -> tuple[list[str], list[str]]:
    """The files of frames ``start … end−1`` that exist, and the names of those that do not.

    Frames are matched by number from the lowest one present (``00000.jpg``, or a release starting at
    ``00001.jpg``), so a gap names the real missing file.
    """
    base = min(by_number)
    first = by_number[base]
    width, suffix = len(Path(first).stem), Path(first).suffix
    numbers = range(base + start, base + end)
    present = [by_number[n] for n in numbers if n in by_number]
    return present, [f"{n:0{width}d}{suffix}" for n in numbers if n not in by_number]


def _numbered_frames(
    folder: Path, files: Sequence[str], strict: bool, skipped: Counter[str]
) -> dict[int, str]:
    """Frame number → file name of a sequence folder; every name must be a number (``00017.jpg``).

    Frame order is the number, so a name that is not one, or two files of one number, would make the
    order (and any gap) a guess: strict refuses the folder naming the file, lenient skips such files and
    counts them.
    """
    by_number: dict[int, str] = {}
    for name in files:
        stem = Path(name).stem
        if not (stem.isascii() and stem.isdigit()):
            if strict:
                raise DatasetError(
                    f"{folder / name}: frame name is not a number (frames are ordered by number, e.g. "
                    f"00000.jpg; --lenient / data.strict: false skips and counts such files)"
                )
            skipped["frame name not a number"] += 1
            continue
        number = int(stem)
        if number in by_number:
            if strict:
                raise DatasetError(f"{folder / name}: frame {number} also stored as {by_number[number]}")
            skipped["frame number repeated"] += 1
            continue
        by_number[number] = name
    return by_number


def _read_json(path: Path) -> tuple[tuple[str, ...] | None, Mapping[str, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the split JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise DatasetError(f"{path}: expected a JSON object with a 'database' mapping of sequence entries")
    labels = data.get("labels")
    if labels is None:
        return None, data["database"]
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise DatasetError(f"{path}: key 'labels': expected a list of emotion names")
    try:
        canon = tuple(canonical_emotion(x) for x in labels)
    except ValueError as exc:
        raise DatasetError(f"{path}: key 'labels': {exc}") from None
    if len(set(canon)) != len(canon):
        raise DatasetError(f"{path}: key 'labels': duplicate emotion names in {labels}")
    return canon, data["database"]


def load_see(
    root: str | os.PathLike[str] | None = None,
    *,
    layout: DatasetLayout = SEE_LAYOUT,
    strict: bool = True,
) -> SEEIndex:
    """Index a SEE-style dataset (real or synthetic) without reading any image.

    Args:
        root: dataset root; ``None`` reads the ``TTFSNET_DATA`` environment variable.
        layout: folder/file names and the name schema ([`SEE_LAYOUT`][ttfsnet_nas.emotion.see.SEE_LAYOUT],
            [`DSEE_LAYOUT`][ttfsnet_nas.emotion.see.DSEE_LAYOUT]).
        strict: raise on the first bad entry; ``False`` skips it and counts it in ``skipped``.

    Returns:
        The index. Entries with an empty segment (``end <= start``, dropped by the original loader too) are
        always skipped and counted under ``"empty segment"``.

    Raises:
        DatasetError: missing root/tree/JSON, a malformed JSON, or (strict) a bad entry; the message names the
            path or the JSON key and what was expected.
    """
    base = resolve_root(root)
    if layout.indexer is not None:  # not a folder of frame images: the layout brings its own reader
        return layout.indexer(base, layout, strict)
    json_path = _first_existing(base, layout.json_names, is_dir=False)
    if json_path is None:
        raise DatasetError(f"{base}: no split JSON found (expected one of {', '.join(layout.json_names)})")
    event_root = _first_existing(base, layout.event_dirs, is_dir=True)
    if event_root is None:
        raise DatasetError(
            f"{base}: no event-frame folder found (expected one of {', '.join(layout.event_dirs)})"
        )
    frame_root = _first_existing(base, layout.frame_dirs, is_dir=True)
    if frame_root is None and layout.require_frames:
        raise DatasetError(
            f"{base}: no intensity-frame folder found (expected one of {', '.join(layout.frame_dirs)})"
        )

    labels, database = _read_json(json_path)
    event_folders = _emotion_folders(event_root)
    frame_folders = _emotion_folders(frame_root) if frame_root is not None else {}

    skipped: Counter[str] = Counter()
    sequences: list[SequenceInfo] = []
    listed: set[str] = set()

    def bad(reason: str, message: str) -> None:
        if strict:
            raise DatasetError(message)
        skipped[reason] += 1

    entries: list[tuple[str, str, str, int, int]] = []
    for name in sorted(database):
        entry = database[name]
        where = f"{json_path}: database[{name!r}]"
        try:
            subset = _canonical_subset(str(entry["subset"]), where=where)  # type: ignore[index]
            annotations = entry["annotations"]  # type: ignore[index]
            if not isinstance(annotations, dict):
                raise TypeError("annotations is not an object")
            emotion = canonical_emotion(str(annotations["label"]))
            start, end = (int(v) for v in annotations.get("segment", (0, -1)))
        except (KeyError, TypeError, ValueError, DatasetError) as exc:
            bad(
                "malformed entry",
                f"{where}: expected subset, annotations.label and annotations.segment ({exc!r})",
            )
            continue
        listed.add(name)
        entries.append((name, subset, emotion, start, end))

    if labels is None:
        labels = EMOTIONS
    label_of = {e: i for i, e in enumerate(labels)}

    for name, subset, emotion, start, end in entries:
        where = f"{json_path}: database[{name!r}]"
        if emotion not in label_of:
            bad(
                "unknown label", f"{where}: label {emotion!r} is not in the JSON 'labels' list {list(labels)}"
            )
            continue
        try:
            parsed = layout.schema.parse(name)
        except ValueError as exc:
            bad("malformed name", f"{where}: {exc}")
            continue
        if parsed.emotion is not None and parsed.emotion != emotion:
            bad(
                "label mismatch",
                f"{where}: name says emotion {parsed.emotion!r} but the label is {emotion!r}",
            )
            continue
        if emotion not in event_folders:
            bad(
                "missing folder",
                f"{event_root}: no folder for emotion {emotion!r} (needed by sequence {name})",
            )
            continue
        event_dir = event_folders[emotion] / name
        if not event_dir.is_dir():
            bad("missing folder", f"{event_dir}: sequence folder listed in {json_path.name} does not exist")
            continue
        frame_dir: Path | None = None
        if emotion in frame_folders and (frame_folders[emotion] / name).is_dir():
            frame_dir = frame_folders[emotion] / name
        elif layout.require_frames:
            bad("missing folder", f"{frame_root}: intensity folder for sequence {name} does not exist")
            continue
        names = sorted(p.name for p in event_dir.iterdir() if p.suffix.lower() in layout.image_suffixes)
        by_number = _numbered_frames(event_dir, names, strict, skipped)
        if not by_number:
            bad(
                "no frame files",
                f"{event_dir}: no numbered frame files (expected {', '.join(layout.image_suffixes)} files "
                f"named by frame number, e.g. 00000.jpg)",
            )
            continue
        if end < 0:  # no segment given: the whole folder, lowest to highest frame number (gaps count)
            end = max(by_number) - min(by_number) + 1
        if end <= start:
            skipped["empty segment"] += 1
            continue
        files, missing = _segment_files(by_number, start, end)
        if missing:
            if strict:
                raise DatasetError(
                    f"{event_dir / missing[0]}: missing frame ({len(missing)} of the {end - start} frames of "
                    f"segment [{start}, {end}) are not in the folder)"
                )
            skipped["frames missing"] += len(missing)
            if not files:
                skipped["empty segment"] += 1
                continue
        sequences.append(
            SequenceInfo(
                name=name,
                emotion=emotion,
                label=label_of[emotion],
                subset=subset,
                subject=parsed.subject,
                lighting=parsed.lighting,
                event_dir=event_dir,
                frame_dir=frame_dir,
                event_files=tuple(files),
            )
        )

    unlisted = sorted(
        child.name
        for folder in event_folders.values()
        for child in folder.iterdir()
        if child.is_dir() and child.name not in listed
    )
    return SEEIndex(
        root=base,
        labels=tuple(labels),
        sequences=tuple(sequences),
        skipped=dict(skipped),
        unlisted=tuple(unlisted),
        json_path=json_path,
    )


def read_frame(path: Path) -> np.ndarray:
    """Decode one frame as a grey ``uint8`` array ``(H, W)`` (RGB files are converted to luminance).

    Raises:
        DatasetError: naming the file, if it is missing, truncated or not a decodable image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            grey = img.convert("L") if img.mode != "L" else img
            return np.asarray(grey, dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot decode frame ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True, slots=True)
class FrameCheck:
    """What [`verify_frames`][ttfsnet_nas.emotion.see.verify_frames] found.

    Attributes:
        frames: frame files checked.
        undecodable: files that are missing, truncated or not an image.
        mixed_sizes: sequences whose frames do not all have one size (the loader refuses them in strict mode).
        first_problem: one line naming the first bad file or folder (``None`` when all is well).
    """

    frames: int
    undecodable: int
    mixed_sizes: int
    first_problem: str | None

    @property
    def ok(self) -> bool:
        """Whether every frame decoded and every sequence has one frame size."""
        return self.first_problem is None


def verify_frames(index: SEEIndex, *, progress: Callable[[int, int], None] | None = None) -> FrameCheck:
    """Decode every event frame of ``index`` (as the data loader would), counting what fails.

    Args:
        index: from [`load_see`][ttfsnet_nas.emotion.see.load_see].
        progress: called as ``progress(done, total)`` after each sequence.

    Returns:
        The counts and the first problem; nothing is raised, so a caller can report all counts.
    """
    frames = undecodable = mixed = 0
    first: str | None = None
    for n, seq in enumerate(index.sequences, 1):
        sizes: set[tuple[int, ...]] = set()
        if seq.recording is not None:  # a raw recording: read and frame it, as the data loader would
            from ttfsnet_nas.emotion.events import frame_source

            frames += seq.length
            try:
                frame_source(seq.recording)
            except DatasetError as exc:
                undecodable += seq.length
                first = first or str(exc)
            if progress is not None:
                progress(n, len(index.sequences))
            continue
        for path in seq.event_paths():
            frames += 1
            try:
                sizes.add(read_frame(path).shape)
            except DatasetError as exc:
                undecodable += 1
                first = first or str(exc)
        if len(sizes) > 1:
            mixed += 1
            first = first or f"{seq.event_dir}: frames of one sequence differ in size {sorted(sizes)}"
        if progress is not None:
            progress(n, len(index.sequences))
    return FrameCheck(frames=frames, undecodable=undecodable, mixed_sizes=mixed, first_problem=first)
