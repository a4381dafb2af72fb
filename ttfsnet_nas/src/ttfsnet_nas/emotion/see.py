"""SEE / DSEE on-disk layout: sequence names, the split JSON and the loader index.

The loader reads the real downloaded SEE release unchanged::

    <root>/event/<emotion>/<sequence>/00000.jpg ...   (or event_30/)
    <root>/frame/<emotion>/<sequence>/00000.jpg ...
    <root>/emotion.json                                (or emotion_new_adjust2.json)

The JSON has ``labels`` (its order defines the integer label ids) and ``database``: sequence name →
``{"subset": "training"|"testing", "annotations": {"label": <emotion>, "segment": [start, end]}}``.
Subject and lighting are parsed from the sequence name
``[seq]_[subject]_[sex]_[age]_[degree]_[lighting]_[emotion]_[length]_[take]``; DSEE's converted sequences may
lack those tokens, so the token positions live in a configurable :class:`NameSchema`.

Unlike the original SEEN loader, nothing is dropped silently: malformed entries, entries without a folder
and missing frame files raise :class:`DatasetError` (``strict=True``) or are skipped and counted in
:attr:`SEEIndex.skipped` (``strict=False``); empty segments (dropped by SEEN too) are always skipped and
counted, and folders the JSON does not list are reported in :attr:`SEEIndex.unlisted`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ttfsnet_nas.config import InputError

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
    "canonical_emotion",
    "canonical_lighting",
    "format_see_name",
    "load_see",
    "read_frame",
    "resolve_root",
    "split_training",
]

DATA_ENV_VAR = "TTFSNET_DATA"

#: Class names in the alphabetical order of the released ``labels`` list (ids 0…6).
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
#: Column order of the SEEN / TNAS-ER result tables (Ha Sa An Di Su Fe Ne).
PAPER_EMOTION_ORDER: tuple[str, ...] = (
    "happiness",
    "sadness",
    "angry",
    "disgust",
    "surprise",
    "fear",
    "neutral",
)
EMOTION_ABBREV: dict[str, str] = {
    "happiness": "Ha",
    "sadness": "Sa",
    "angry": "An",
    "disgust": "Di",
    "surprise": "Su",
    "fear": "Fe",
    "neutral": "Ne",
}
#: Lighting tokens exactly as they appear in SEE sequence names (table column order Nor Over Low HDR).
LIGHTINGS: tuple[str, ...] = ("normal", "Overexposed", "Low", "HDR")
LIGHTING_ABBREV: dict[str, str] = {"normal": "Nor", "Overexposed": "Over", "Low": "Low", "HDR": "HDR"}

# Spellings seen in papers, docs and third-party code, all mapped to the released folder names.
_EMOTION_ALIASES: dict[str, str] = {
    **{e: e for e in EMOTIONS},
    "anger": "angry",
    "happy": "happiness",
    "sad": "sadness",
    "surprised": "surprise",
    "disgusted": "disgust",
    "fearful": "fear",
}
_LIGHTING_ALIASES: dict[str, str] = {
    "normal": "normal",
    "nor": "normal",
    "overexposed": "Overexposed",
    "overexposure": "Overexposed",
    "over": "Overexposed",
    "low": "Low",
    "low-light": "Low",
    "lowlight": "Low",
    "hdr": "HDR",
}


class DatasetError(InputError, RuntimeError):
    """A dataset file or folder is missing or malformed; the message names the path and what was expected."""


def canonical_emotion(name: str) -> str:
    """Map an emotion spelling (any case, e.g. ``neutraL``, ``Happy``) to its released folder name.

    Raises:
        ValueError: if the name is not one of the 7 SEE emotions.
    """
    key = name.strip().lower()
    if key not in _EMOTION_ALIASES:
        raise ValueError(f"unknown emotion {name!r}: expected one of {', '.join(EMOTIONS)}")
    return _EMOTION_ALIASES[key]


def canonical_lighting(name: str) -> str:
    """Map a lighting spelling (any case) to its SEE name token (normal, Overexposed, Low, HDR).

    Raises:
        ValueError: if the name is not one of the 4 SEE lighting conditions.
    """
    key = name.strip().lower()
    if key not in _LIGHTING_ALIASES:
        raise ValueError(f"unknown lighting {name!r}: expected one of {', '.join(LIGHTINGS)}")
    return _LIGHTING_ALIASES[key]


@dataclass(frozen=True, kw_only=True, slots=True)
class NameSchema:
    """Positions of the fields in a ``_``-separated sequence name; ``None`` = the name has no such token.

    Attributes:
        subject: token index of the subject id (SEE: 1).
        lighting: token index of the lighting condition (SEE: 5).
        emotion: token index of the emotion (SEE: 6). ``None`` takes the emotion from the JSON label only.
        min_tokens: a name with fewer tokens does not follow the schema: an error, or with ``lenient`` all
            fields ``None``.
        separator: token separator.
        lenient: a name with too few tokens, or with an unrecognised lighting/emotion token, gives ``None``
            fields instead of an error (DSEE names converted from other datasets need not follow SEE's
            pattern).
    """

    subject: int | None = 1
    lighting: int | None = 5
    emotion: int | None = 6
    min_tokens: int = 9
    separator: str = "_"
    lenient: bool = False

    def __post_init__(self) -> None:
        for key in ("subject", "lighting", "emotion"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise ValueError(f"NameSchema.{key}: expected a token index >= 0 or None, got {value}")
        if not self.separator:
            raise ValueError("NameSchema.separator: expected a non-empty string")

    def parse(self, name: str) -> ParsedName:
        """Parse a sequence name; fields the schema or the name lacks are ``None``.

        Raises:
            ValueError: unless ``lenient``, if the name has fewer than ``min_tokens`` tokens or its
                lighting/emotion token is not recognised.
        """
        tokens = name.split(self.separator)
        if len(tokens) < self.min_tokens:
            if self.lenient:
                return ParsedName(subject=None, lighting=None, emotion=None)
            raise ValueError(
                f"sequence name {name!r}: expected at least {self.min_tokens} tokens separated by "
                f"{self.separator!r}, got {len(tokens)}"
            )

        def token(index: int | None) -> str | None:
            return tokens[index] if index is not None and index < len(tokens) else None

        def parsed(value: str | None, canon: Callable[[str], str]) -> str | None:
            if value is None:
                return None
            try:
                return canon(value)
            except ValueError as exc:
                if self.lenient:
                    return None
                raise ValueError(f"sequence name {name!r}: {exc}") from None

        return ParsedName(
            subject=token(self.subject),
            lighting=parsed(token(self.lighting), canonical_lighting),
            emotion=parsed(token(self.emotion), canonical_emotion),
        )


@dataclass(frozen=True, slots=True)
class ParsedName:
    """Fields parsed from a sequence name (``None`` when absent)."""

    subject: str | None
    lighting: str | None
    emotion: str | None


SEE_SCHEMA = NameSchema()


@dataclass(frozen=True, kw_only=True, slots=True)
class DatasetLayout:
    """Folder and file names of a SEE-style release; the first existing alternative wins.

    Attributes:
        event_dirs: candidate names of the event-frame tree.
        frame_dirs: candidate names of the intensity-frame tree (optional on disk unless ``require_frames``).
        json_names: candidate names of the split/label JSON.
        schema: sequence-name token schema.
        require_frames: fail when the intensity tree or a sequence's intensity folder is missing.
        image_suffixes: accepted frame file suffixes (lower case).
    """

    event_dirs: tuple[str, ...] = ("event", "event_30")
    frame_dirs: tuple[str, ...] = ("frame",)
    json_names: tuple[str, ...] = ("emotion.json", "emotion_new_adjust2.json")
    schema: NameSchema = field(default_factory=NameSchema)
    require_frames: bool = False
    image_suffixes: tuple[str, ...] = (".jpg", ".jpeg", ".png")

    def __post_init__(self) -> None:
        if not self.event_dirs or not self.json_names:
            raise ValueError("DatasetLayout: event_dirs and json_names need at least one name each")


SEE_LAYOUT = DatasetLayout()
#: DSEE: same release convention; converted (v2e) sequences may lack subject/lighting tokens, so names with
#: fewer than 9 tokens, or with unrecognised tokens, are accepted and their subject/lighting are ``None``
#: (the emotion then comes from the JSON label).
DSEE_LAYOUT = DatasetLayout(
    event_dirs=("event", "event_30", "events"),
    frame_dirs=("frame", "frames"),
    json_names=("emotion.json", "dsee.json", "emotion_new_adjust2.json"),
    schema=NameSchema(lenient=True),
)


@dataclass(frozen=True, slots=True)
class SequenceInfo:
    """One sequence of the index.

    Attributes:
        name: sequence (folder) name.
        emotion: canonical emotion name (see :data:`EMOTIONS`).
        label: integer label id (position of the emotion in the JSON ``labels`` list).
        subset: ``"training"`` or ``"testing"``.
        subject: subject id token, or ``None`` when the name has none (DSEE).
        lighting: canonical lighting token, or ``None``.
        event_dir: folder with the event frames.
        frame_dir: folder with the intensity frames, or ``None`` when absent.
        event_files: the frame files of the segment in temporal order (index i = frame start + i; with
            ``strict=False`` missing frames are left out and counted in :attr:`SEEIndex.skipped`).
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


def _segment_files(files: Sequence[str], start: int, end: int) -> tuple[list[str], list[str]]:
    """The files of frames ``start … end−1`` that exist, and the names of those that do not.

    Numbered files (``00000.jpg``, or a release starting at ``00001.jpg``) are matched by number from the
    lowest one present, so a gap names the real missing file. Other names are taken in sorted order.
    """
    stems = [Path(f).stem for f in files]
    if not files or not all(stem.isdigit() for stem in stems):
        return list(files[start:end]), [f"frame #{i}" for i in range(max(start, len(files)), end)]
    by_number = {int(stem): f for stem, f in zip(stems, files, strict=True)}
    base, width, suffix = min(by_number), len(stems[0]), Path(files[0]).suffix
    numbers = range(base + start, base + end)
    present = [by_number[n] for n in numbers if n in by_number]
    return present, [f"{n:0{width}d}{suffix}" for n in numbers if n not in by_number]


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
        layout: folder/file names and the name schema (:data:`SEE_LAYOUT`, :data:`DSEE_LAYOUT`).
        strict: raise on the first bad entry; ``False`` skips it and counts it in ``skipped``.

    Returns:
        The index. Entries with an empty segment (``end <= start``, dropped by the original loader too) are
        always skipped and counted under ``"empty segment"``.

    Raises:
        DatasetError: missing root/tree/JSON, a malformed JSON, or (strict) a bad entry; the message names the
            path or the JSON key and what was expected.
    """
    base = resolve_root(root)
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
        files = sorted(p.name for p in event_dir.iterdir() if p.suffix.lower() in layout.image_suffixes)
        if end < 0:  # no segment given: the whole folder
            end = len(files)
        if end <= start:
            skipped["empty segment"] += 1
            continue
        files, missing = _segment_files(files, start, end)
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


def format_see_name(
    *,
    seq: int,
    subject: int,
    sex: str,
    age: int,
    degree: str,
    lighting: str,
    emotion: str,
    length: int,
    take: int,
) -> str:
    """Build a SEE sequence name, e.g. ``1_001_man_24_Master_normal_angry_45_take000``."""
    return (
        f"{seq}_{subject:03d}_{sex}_{age}_{degree}_{canonical_lighting(lighting)}_"
        f"{canonical_emotion(emotion)}_{length}_take{take:03d}"
    )


def split_training(
    sequences: Iterable[SequenceInfo],
    *,
    fraction: float = 0.8,
    seed: int = 0,
) -> tuple[list[SequenceInfo], list[SequenceInfo]]:
    """Split training sequences into supernet-training and search parts (TNAS-ER §4.1: 80 % / 20 %).

    The split is stratified by emotion and deterministic for a seed.

    Returns:
        ``(supernet_part, search_part)``.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split_training: fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[SequenceInfo]] = {}
    for s in sorted(sequences, key=lambda s: s.name):
        by_class.setdefault(s.emotion, []).append(s)
    first: list[SequenceInfo] = []
    second: list[SequenceInfo] = []
    for emotion in sorted(by_class):
        items = by_class[emotion]
        order = rng.permutation(len(items))
        n_first = int(round(fraction * len(items)))
        first.extend(items[i] for i in sorted(order[:n_first]))
        second.extend(items[i] for i in sorted(order[n_first:]))
    return first, second
