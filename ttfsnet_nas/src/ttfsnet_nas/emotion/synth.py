"""Synthetic event-camera eye-emotion dataset in the real SEE on-disk layout.

**Everything produced here is synthetic.** It is a stand-in so that the NAS pipeline can be developed, tested
and demonstrated without the (application-only) SEE / DSEE data. Accuracies measured on it say nothing about
accuracy on SEE.

Design (see docs/emotion-data.md for the full description and its limits). This module holds the public
API: the configuration ([`SynthConfig`][ttfsnet_nas.emotion.synth.SynthConfig],
    [`PRESETS`][ttfsnet_nas.emotion.synth.PRESETS]), the dataset plan (subjects with one lighting
condition each, as in SEE, takes, lengths, split and names:
    [`plan_dataset`][ttfsnet_nas.emotion.synth.plan_dataset]) and the writer
([`generate`][ttfsnet_nas.emotion.synth.generate]). The eye model, the emotions' action units, the lighting
conditions and the DVS event simulation are in
[`ttfsnet_nas.emotion.synth_render`][ttfsnet_nas.emotion.synth_render];
[`render_sequence`][ttfsnet_nas.emotion.synth.render_sequence] is re-exported from there.

* **Layout.** ``event/<emotion>/<name>/00000.jpg…``, ``frame/…`` (APS), ``emotion.json`` with alphabetical
  ``labels`` and ``database`` entries, and SEE names
  ``{seq}_{sid:03d}_{sex}_{age}_{degree}_{lighting}_{emotion}_{L}_take{k:03d}``. A ``synth_config.json``
  records the preset, seed and the word "synthetic".
* **Raw events** (``events=True``, ``data synth --events``). The simulated event stream of each sequence is
  also written as a recording ``events/<name>.npy`` (tonic's ``x, y, t, p`` fields, ``t`` in microseconds,
  one 33 ms frame window per frame), with the index ``events.json``: the dataset the ``events`` layout
  reads (`ttfsnet_nas.emotion.events`). Cut into 33 ms frames, a pixel's last event in each window
  is the one its frame in ``event/`` shows.
* **Determinism.** Every random quantity is drawn from ``numpy.random.default_rng([seed, stream, id])`` for a
  fixed (stream, id), so the bytes written do not depend on the number of worker processes.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from io import BytesIO
from pathlib import Path

import numpy as np

from ttfsnet_nas.emotion.events import DEFAULT_WINDOW_US, EVENT_DTYPE, write_events
from ttfsnet_nas.emotion.names import EMOTIONS, LIGHTINGS, format_see_name
from ttfsnet_nas.emotion.synth_render import (
    _STREAM_LIGHTING,
    _STREAM_SPLIT,
    _STREAM_SUBJECT,
    _STREAM_TAKES,
    _rng,
    _subject_geometry,
    render_sequence,
)
from ttfsnet_nas.journal import atomic_write_text

__all__ = [
    "PRESETS",
    "SynthConfig",
    "SynthSummary",
    "generate",
    "plan_dataset",
    "render_sequence",
]

_SEX = ("man", "woman")
# The frame cache (ttfsnet_nas.emotion.frame_cache.FRAME_CACHE_DIR) is derived from the outputs: regenerating
# over a set may delete it.
_OUTPUTS = frozenset(
    {"event", "frame", "emotion.json", "synth_config.json", ".frame-cache", "events", "events.json"}
)
_DEGREE = ("undergraduate", "Master", "Doctor")


@dataclass(frozen=True, kw_only=True, slots=True)
class SynthConfig:
    """Size and protocol of a synthetic dataset.

    Attributes:
        subjects: number of subjects.
        takes: inclusive range of takes per (subject, emotion).
        length_mean: mean sequence length in frames.
        length_sd: standard deviation of the length.
        length_range: inclusive clip range of the length.
        size: stored image side in pixels (square images; SEE: 180).
        lighting_shares: subject shares of normal, Overexposed, Low, HDR (SEE: about .41/.20/.20/.20).
        split: ``"subject_disjoint"`` (hold out whole subjects, stratified by lighting) or ``"official"``
            (per subject and emotion about ``test_fraction`` of the takes; subjects overlap, as in SEE).
        test_fraction: share of subjects (subject-disjoint) or takes (official) put into ``testing``.
        substeps: rendering instants per frame for the event simulation.
        contrast_threshold: DVS contrast threshold (log units).
        threshold_sigma: per-pixel threshold mismatch (relative sd).
        refractory: refractory period in substeps.
        write_frames: also write the APS ``frame/`` tree.
        jpeg_quality: JPEG quality of the written frames.
        emotion_model: ``"profiles"``: each emotion is a FACS-like mix of action units with its own onset
            speed (``tiny``, ``small``, ``full``); ``"pairs"``: each emotion is a pair of distant units
            moving in phase or in antiphase, neutral one unit alone (``hard``; docs/synthetic-benchmark.md);
            ``"wide"``: the orientation of the line through two identical moving skin marks, with the eye
            region moved per sequence (``wide``; docs/synthetic-benchmark.md).
        distractor_amplitude: ``pairs`` model only: amplitude of the class-independent upper-lid
            oscillation (0 = none).
        shot_noise_scale: factor on the lighting's background-activity (shot-noise) rate.
        pair_period: ``pairs`` model only: the period of the pair pulses in frames (about ±2 % per
            sequence); 0 = the subject's tempo (8 to 14 frames).
        eye_shift: ``wide`` model only: the eye region is translated per sequence by up to this much in
            each direction (image half-widths; 0 = not moved).
        mark_distance: ``wide`` model only: inclusive range of the distance between the two skin marks
            (image half-widths).
    """

    subjects: int
    takes: tuple[int, int] = (3, 5)
    length_mean: float = 53.0
    length_sd: float = 15.0
    length_range: tuple[int, int] = (18, 131)
    size: int = 180
    lighting_shares: tuple[float, float, float, float] = (0.41, 0.2, 0.2, 0.19)
    split: str = "subject_disjoint"
    test_fraction: float = 0.2
    substeps: int = 3
    contrast_threshold: float = 0.22
    threshold_sigma: float = 0.03
    refractory: int = 1
    write_frames: bool = True
    jpeg_quality: int = 95
    emotion_model: str = "profiles"
    distractor_amplitude: float = 0.0
    shot_noise_scale: float = 1.0
    pair_period: float = 0.0
    eye_shift: float = 0.0
    mark_distance: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if self.subjects < 1:
            raise ValueError(f"SynthConfig.subjects: expected >= 1, got {self.subjects}")
        if not 1 <= self.takes[0] <= self.takes[1]:
            raise ValueError(f"SynthConfig.takes: expected 1 <= min <= max, got {self.takes}")
        if not 1 <= self.length_range[0] <= self.length_range[1]:
            raise ValueError(f"SynthConfig.length_range: expected 1 <= min <= max, got {self.length_range}")
        if self.size < 16:
            raise ValueError(f"SynthConfig.size: expected >= 16 pixels, got {self.size}")
        if len(self.lighting_shares) != 4 or min(self.lighting_shares) < 0 or sum(self.lighting_shares) <= 0:
            raise ValueError(
                f"SynthConfig.lighting_shares: expected 4 non-negative shares, got {self.lighting_shares}"
            )
        if self.split not in ("subject_disjoint", "official"):
            raise ValueError(
                f"SynthConfig.split: expected 'subject_disjoint' or 'official', got {self.split!r}"
            )
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(
                f"SynthConfig.test_fraction: expected a value in (0, 1), got {self.test_fraction}"
            )
        if self.substeps < 1 or self.refractory < 0:
            raise ValueError("SynthConfig: substeps must be >= 1 and refractory >= 0")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"SynthConfig.jpeg_quality: expected 1..100, got {self.jpeg_quality}")
        if self.emotion_model not in ("profiles", "pairs", "wide"):
            raise ValueError(
                "SynthConfig.emotion_model: expected 'profiles', 'pairs' or 'wide', "
                f"got {self.emotion_model!r}"
            )
        if self.distractor_amplitude < 0 or self.shot_noise_scale < 0 or self.pair_period < 0:
            raise ValueError(
                "SynthConfig: distractor_amplitude, shot_noise_scale and pair_period must be >= 0"
            )
        if self.eye_shift < 0:
            raise ValueError(f"SynthConfig.eye_shift: expected >= 0, got {self.eye_shift}")
        low, high = self.mark_distance
        # Both marks stay within ±0.8 of the centre, so a pair longer than 1.6 half-widths does not fit.
        if self.emotion_model == "wide" and not 0 < low <= high <= 1.5:
            raise ValueError(
                f"SynthConfig.mark_distance: expected 0 < min <= max <= 1.5 with the 'wide' model, "
                f"got {self.mark_distance}"
            )


#: ``tiny``: unit tests (168 sequences of 48×48); ``small``: ``demo-events`` (588 sequences of 64×64);
#: ``full``: SEE-sized (111 subjects, about 2,400 sequences of 180×180, lengths like SEE); ``hard``: the
#: first architecture benchmark (672 sequences of 64×64, ``pairs`` emotion model with distractors; the
#: architecture did not matter on it); ``wide``: the NAS demo, an architecture benchmark whose cue needs a
#: wide receptive field (672 sequences of 64×64, ``wide`` emotion model: docs/synthetic-benchmark.md).
PRESETS: dict[str, SynthConfig] = {
    "tiny": SynthConfig(
        subjects=12,
        takes=(2, 2),
        length_mean=17.0,
        length_sd=2.0,
        length_range=(14, 20),
        size=48,
        lighting_shares=(0.25, 0.25, 0.25, 0.25),
        test_fraction=0.25,
        substeps=2,
        write_frames=False,
    ),
    "small": SynthConfig(
        subjects=28,
        takes=(3, 3),
        length_mean=22.0,
        length_sd=4.0,
        length_range=(16, 30),
        size=64,
        lighting_shares=(0.25, 0.25, 0.25, 0.25),
        test_fraction=0.25,
        substeps=2,
        write_frames=False,
    ),
    "full": SynthConfig(subjects=111, takes=(2, 4)),
    "hard": SynthConfig(
        subjects=32,
        takes=(3, 3),
        length_mean=24.0,
        length_sd=4.0,
        length_range=(18, 32),
        size=64,
        lighting_shares=(0.25, 0.25, 0.25, 0.25),
        test_fraction=0.25,
        substeps=2,
        write_frames=False,
        emotion_model="pairs",
        distractor_amplitude=0.8,
        shot_noise_scale=2.0,
        pair_period=8.0,
    ),
}
# ``wide`` has the sizes, lighting and distractors of ``hard``; only the emotion cue differs.
PRESETS["wide"] = replace(
    PRESETS["hard"], emotion_model="wide", pair_period=0.0, eye_shift=0.4, mark_distance=(0.7, 1.3)
)


@dataclass(frozen=True, slots=True)
class _Subject:
    sid: int
    sex: str
    age: int
    degree: str
    lighting: str
    geometry: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class _SeqPlan:
    index: int
    name: str
    emotion: str
    subset: str
    length: int
    subject: _Subject


@dataclass(frozen=True, slots=True)
class SynthSummary:
    """What [`generate`][ttfsnet_nas.emotion.synth.generate] wrote.

    Attributes:
        root: output folder.
        sequences: number of sequences.
        frames: number of event frames (the APS tree, when written, has as many).
        counts: counts per subset, emotion and lighting.
        seconds: wall time of the generation.
    """

    root: Path
    sequences: int
    frames: int
    counts: dict[str, dict[str, int]]
    seconds: float


def _allocate(total: int, shares: Sequence[float]) -> list[int]:
    """Largest-remainder allocation of ``total`` items to ``shares``."""
    weights = np.asarray(shares, dtype=float) / float(sum(shares))
    raw = weights * total
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def plan_dataset(config: SynthConfig, seed: int) -> list[_SeqPlan]:
    """Plan every sequence (subject, emotion, take, length, split, name) without rendering anything."""
    counts = _allocate(config.subjects, config.lighting_shares)
    lightings = [light for light, n in zip(LIGHTINGS, counts, strict=True) for _ in range(n)]
    lightings = [lightings[i] for i in _rng(seed, _STREAM_LIGHTING, 0).permutation(config.subjects)]

    subjects: list[_Subject] = []
    for k in range(config.subjects):
        rng = _rng(seed, _STREAM_SUBJECT, k)
        subjects.append(
            _Subject(
                sid=k + 1,
                sex=_SEX[int(rng.integers(0, 2))],
                age=int(rng.integers(19, 29)),
                degree=_DEGREE[int(rng.integers(0, 3))],
                lighting=lightings[k],
                geometry=_subject_geometry(rng),
            )
        )

    test_subjects: set[int] = set()
    if config.split == "subject_disjoint":
        rng = _rng(seed, _STREAM_SPLIT, 0)
        for light in LIGHTINGS:
            group = [s.sid for s in subjects if s.lighting == light]
            if len(group) < 2:
                continue  # a lone subject of a lighting stays in training
            n_test = min(len(group) - 1, max(1, int(round(config.test_fraction * len(group)))))
            test_subjects.update(group[i] for i in rng.permutation(len(group))[:n_test])

    plans: list[_SeqPlan] = []
    seq = 0
    for subj in subjects:
        for e_idx, emotion in enumerate(EMOTIONS):  # blocks in alphabetical emotion order, as in SEE
            rng = _rng(seed, _STREAM_TAKES, subj.sid * 16 + e_idx)
            n_takes = int(rng.integers(config.takes[0], config.takes[1] + 1))
            lengths = np.clip(
                np.round(rng.normal(config.length_mean, config.length_sd, n_takes)), *config.length_range
            ).astype(int)
            if config.split == "official":
                n_test = int(math.floor(config.test_fraction * n_takes + rng.uniform()))
                test_takes = set(rng.permutation(n_takes)[:n_test].tolist())
            for take in range(n_takes):
                seq += 1
                if config.split == "official":
                    is_test = take in test_takes
                else:
                    is_test = subj.sid in test_subjects
                name = format_see_name(
                    seq=seq,
                    subject=subj.sid,
                    sex=subj.sex,
                    age=subj.age,
                    degree=subj.degree,
                    lighting=subj.lighting,
                    emotion=emotion,
                    length=int(lengths[take]),
                    take=take,
                )
                plans.append(
                    _SeqPlan(
                        index=seq,
                        name=name,
                        emotion=emotion,
                        subset="testing" if is_test else "training",
                        length=int(lengths[take]),
                        subject=subj,
                    )
                )
    return plans


# --------------------------------------------------------------------------------------------------------
# Writing


def _encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buf = BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _write_sequence(args: tuple[_SeqPlan, SynthConfig, int, str, bool]) -> int:
    plan, config, seed, root, raw = args
    blocks: list[np.ndarray] | None = [] if raw else None
    events, frames = render_sequence(plan, config, seed, events_out=blocks, frame_us=DEFAULT_WINDOW_US)
    if blocks is not None:
        table = np.concatenate(blocks) if blocks else np.zeros((0, 4), dtype=np.int64)
        table = table[np.argsort(table[:, 0], kind="stable")]
        stream = np.empty(len(table), dtype=EVENT_DTYPE)
        for i, key in enumerate(("t", "x", "y", "p")):
            stream[key] = table[:, i]
        write_events(Path(root) / "events" / f"{plan.name}.npy", stream)
    trees = [("event", events)] + ([("frame", frames)] if config.write_frames else [])
    for tree, stack in trees:
        folder = Path(root) / tree / plan.emotion / plan.name
        folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(stack):
            (folder / f"{i:05d}.jpg").write_bytes(_encode_jpeg(image, config.jpeg_quality))
    return len(events)


def _event_index(plans: Sequence[_SeqPlan], size: int) -> str:
    """``events.json`` of the synthetic recordings (format: `ttfsnet_nas.emotion.events`)."""
    sequences: dict[str, dict[str, object]] = {}
    for p in plans:
        sequences[p.name] = {
            "file": f"events/{p.name}.npy",
            "label": p.emotion,
            "subset": p.subset,
            "subject": f"{p.subject.sid:03d}",
            "lighting": p.subject.lighting,
            "start_us": 0,
            "end_us": p.length * DEFAULT_WINDOW_US,
        }
    index = {
        "sensor_size": [size, size],
        "window_ms": DEFAULT_WINDOW_US / 1000,
        "labels": list(EMOTIONS),
        "sequences": sequences,
    }
    return json.dumps(index, indent=1)


# Fields added after the first presets: recorded only when they differ from their default, so that the
# record of a ``tiny``/``small``/``full`` set stays byte-identical to the one written before they existed.
_LATER_FIELDS = {
    "emotion_model": "profiles",
    "distractor_amplitude": 0.0,
    "shot_noise_scale": 1.0,
    "pair_period": 0.0,
    "eye_shift": 0.0,
    "mark_distance": (0.0, 0.0),
}


def _recorded_config(config: SynthConfig) -> dict[str, object]:
    """``synth_config.json``'s ``config``: every field, except later ones still at their default."""
    return {k: v for k, v in asdict(config).items() if k not in _LATER_FIELDS or v != _LATER_FIELDS[k]}


def generate(
    out: str | os.PathLike[str],
    *,
    preset: str | SynthConfig = "small",
    seed: int = 0,
    workers: int = 1,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    events: bool = False,
    **overrides: object,
) -> SynthSummary:
    """Generate a synthetic SEE-layout dataset.

    Args:
        out: output folder (created; must be empty or absent unless ``overwrite``).
        preset: ``"tiny"``, ``"small"``, ``"full"``, ``"hard"``, ``"wide"`` or a
            [`SynthConfig`][ttfsnet_nas.emotion.synth.SynthConfig].
        seed: base seed; the output bytes depend only on the seed and the config, not on ``workers``.
        workers: worker processes (1 = in-process).
        overwrite: delete an existing non-empty ``out`` first; only allowed when it holds nothing but
            generator outputs (``event/``, ``frame/``, ``emotion.json``, ``synth_config.json``,
            ``events/``, ``events.json``).
        progress: called as ``progress(done, total)`` after each sequence, in the calling process.
        events: also write each sequence's simulated event stream (``events/<name>.npy``) and the event
            index ``events.json`` (layout ``events``); the frame trees are the same either way.
        **overrides: fields replacing those of the preset (e.g. ``split="official"``).

    Returns:
        A summary of what was written. ``emotion.json`` is written last (atomically), so an interrupted run
        leaves no split file and the loader refuses the folder.

    Raises:
        ValueError: unknown preset, bad override or a non-empty ``out`` without ``overwrite``.
    """
    if isinstance(preset, SynthConfig):
        config = preset
        preset_name = "custom"
    else:
        if preset not in PRESETS:
            raise ValueError(f"unknown synthetic preset {preset!r}: expected one of {', '.join(PRESETS)}")
        config = PRESETS[preset]
        preset_name = preset
    if overrides:
        unknown = sorted(set(overrides) - set(SynthConfig.__dataclass_fields__))
        if unknown:
            raise ValueError(
                f"unknown SynthConfig field(s) {unknown}: expected some of {list(asdict(config))}"
            )
        config = replace(config, **overrides)  # type: ignore[arg-type]
    if workers < 1:
        raise ValueError(f"workers: expected >= 1, got {workers}")

    root = Path(out)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise ValueError(f"{root}: output folder is not empty (pass overwrite=True / --overwrite)")
        # Only a folder made entirely of generator outputs may be wiped: never a user's unrelated data.
        foreign = sorted(
            p.name for p in root.iterdir() if p.name not in _OUTPUTS and not p.name.endswith(".tmp")
        )
        if foreign:
            raise ValueError(
                f"{root}: refusing to overwrite, the folder holds files the generator did not write "
                f"({', '.join(foreign[:3])})"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    plans = plan_dataset(config, seed)
    meta = {
        "synthetic": True,
        "note": "synthetic stand-in for SEE generated by ttfsnet_nas.emotion.synth; not real data",
        "preset": preset_name,
        "seed": seed,
        "config": _recorded_config(config),
        **({"events": True} if events else {}),
    }
    atomic_write_text(root / "synth_config.json", json.dumps(meta, indent=2, sort_keys=True))
    tasks = [(p, config, seed, str(root), events) for p in plans]
    total = len(tasks)
    frames = 0
    if workers == 1:
        for done, task in enumerate(tasks, 1):
            frames += _write_sequence(task)
            if progress is not None:
                progress(done, total)
    else:
        # spawn: the parent may hold threads (torch), and forking a threaded process is unsafe.
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(processes=workers) as pool:
            for done, n in enumerate(pool.imap_unordered(_write_sequence, tasks, chunksize=4), 1):
                frames += n
                if progress is not None:
                    progress(done, total)

    database = {
        p.name: {"subset": p.subset, "annotations": {"label": p.emotion, "segment": [0, p.length]}}
        for p in plans
    }
    atomic_write_text(
        root / "emotion.json",
        json.dumps({"labels": list(EMOTIONS), "database": database}, indent=1, sort_keys=True),
    )
    if events:  # the event index goes last: an interrupted run leaves none, and the loader refuses the folder
        atomic_write_text(root / "events.json", _event_index(plans, config.size))
    counts: dict[str, dict[str, int]] = {"subset": {}, "emotion": {}, "lighting": {}}
    for p in plans:
        for key, value in (("subset", p.subset), ("emotion", p.emotion), ("lighting", p.subject.lighting)):
            counts[key][value] = counts[key].get(value, 0) + 1
    return SynthSummary(
        root=root, sequences=total, frames=frames, counts=counts, seconds=time.perf_counter() - start
    )
