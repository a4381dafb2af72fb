"""Synthetic event-camera eye-emotion dataset in the real SEE on-disk layout.

**Everything produced here is synthetic.** It is a stand-in so that the NAS pipeline can be developed, tested
and demonstrated without the (application-only) SEE / DSEE data. Accuracies measured on it say nothing about
accuracy on SEE.

Design (see docs/emotion-data.md for the full description and its limits):

* **Eye model.** A procedurally rendered single-eye region, vectorised over time: skin with a per-subject
  sinusoidal texture and cheek shading, an eyebrow with hair texture, upper/lower eyelids bounding the
  sclera, iris, pupil and a specular highlight, the lash line and the lid crease, plus expression wrinkles
  (forehead lines, glabellar lines, crow's feet, nasal wrinkles) whose darkness follows the muscles.
* **Emotion = spatial motion.** Each emotion is a FACS-like mix of action units (inner/outer brow raise, brow
  lowerer, upper-lid raiser, cheek raiser, lid tightener, nose wrinkler, lid droop, gaze down). Every action
  unit moves a different part of the image. Activations follow an onset envelope with emotion-specific
  speed and a sustained oscillation (so any E4-S3 window sees motion), with per-sequence amplitude.
  Blinks and saccades occur in every class at subject-specific rates, and amplitudes vary per sequence, so
  the global event count carries little class information: the signal is *where* and *in which direction*
  things move.
* **Subjects.** Each subject has its own geometry (eye position, scale, lid heights, brow shape), skin and
  iris tone, texture, tempo, blink rate and hot pixels, and one lighting condition (as in SEE).
* **Lighting.** Normal, Overexposed, Low and HDR change the scene illumination (uniform gain, saturation,
  very low gain with dark current, or a bright/dark split), the APS exposure, the log-intensity noise and the
  background-activity rate.
* **Events (DVS / v2e-like).** The scene is rendered at ``substeps`` instants per 1/30 s frame. Each pixel
  keeps a reference log intensity; a change beyond its contrast threshold (with per-pixel mismatch) emits
  an event of that polarity and moves the reference by whole thresholds, unless the pixel is still in its
  refractory period. Shot noise and hot pixels add events. Per frame, the last event polarity of each pixel
  is written as a ternary grey image: 128 = no event, 255 = ON, 0 = OFF (like SEE's accumulated frames).
* **Layout.** ``event/<emotion>/<name>/00000.jpg…``, ``frame/…`` (APS), ``emotion.json`` with alphabetical
  ``labels`` and ``database`` entries, and SEE names
  ``{seq}_{sid:03d}_{sex}_{age}_{degree}_{lighting}_{emotion}_{L}_take{k:03d}``. A ``synth_config.json``
  records the preset, seed and the word "synthetic".
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

from ttfsnet_nas.emotion.see import EMOTIONS, LIGHTINGS, format_see_name
from ttfsnet_nas.journal import atomic_write_text

__all__ = [
    "PRESETS",
    "SynthConfig",
    "SynthSummary",
    "generate",
    "plan_dataset",
    "render_sequence",
]

# Streams of the per-quantity random generators (never reorder: changes every dataset).
_STREAM_LIGHTING, _STREAM_SUBJECT, _STREAM_TAKES, _STREAM_SPLIT, _STREAM_SEQUENCE = 0, 1, 2, 3, 4

# Action units: index → what moves.
_AU_NAMES = (
    "inner_raise",
    "outer_raise",
    "lower",
    "lid_raise",
    "cheek",
    "tighten",
    "nose",
    "droop",
    "gaze_down",
)
_AU = {name: i for i, name in enumerate(_AU_NAMES)}

# FACS-inspired action-unit profiles per emotion (amplitude at apex, 0…1).
_PROFILES: dict[str, dict[str, float]] = {
    "happiness": {"cheek": 1.0, "tighten": 0.4, "lower": 0.15},
    "sadness": {"inner_raise": 0.9, "lower": 0.35, "droop": 0.6, "gaze_down": 0.6},
    "angry": {"lower": 1.0, "tighten": 0.8, "lid_raise": 0.35},
    "disgust": {"nose": 1.0, "lower": 0.5, "cheek": 0.45, "tighten": 0.3},
    "surprise": {"inner_raise": 0.9, "outer_raise": 1.0, "lid_raise": 1.0},
    "fear": {"inner_raise": 0.9, "outer_raise": 0.45, "lower": 0.45, "lid_raise": 0.9, "tighten": 0.3},
    "neutral": {},
}
# Onset (rise) time in frames at 30 fps.
_RISE = {
    "surprise": 3.0,
    "fear": 4.0,
    "angry": 6.0,
    "disgust": 6.0,
    "happiness": 8.0,
    "sadness": 12.0,
    "neutral": 8.0,
}

# Lighting: scene gain, APS exposure, log-intensity noise sd, shot-noise probability per pixel per frame.
_LIGHT = {
    "normal": {"gain": 1.0, "aps": 0.42, "log_noise": 0.015, "shot": 0.001, "read": 0.01},
    "Overexposed": {"gain": 2.6, "aps": 0.9, "log_noise": 0.015, "shot": 0.0015, "read": 0.01},
    "Low": {"gain": 0.05, "aps": 2.0, "log_noise": 0.05, "shot": 0.004, "read": 0.03},
    "HDR": {"gain": 1.0, "aps": 0.42, "log_noise": 0.03, "shot": 0.002, "read": 0.01},
}
_DARK_CURRENT = 0.004  # added before the log, so very dark pixels lose contrast (low light)
_SEX = ("man", "woman")
_OUTPUTS = frozenset({"event", "frame", "emotion.json", "synth_config.json"})
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


#: ``tiny``: unit tests (168 sequences of 48×48); ``small``: the NAS demo (588 sequences of 64×64);
#: ``full``: SEE-sized (111 subjects, about 2,400 sequences of 180×180, lengths like SEE).
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
}


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
    """What :func:`generate` wrote.

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


def _rng(seed: int, stream: int, ident: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, ident])


def _allocate(total: int, shares: Sequence[float]) -> list[int]:
    """Largest-remainder allocation of ``total`` items to ``shares``."""
    weights = np.asarray(shares, dtype=float) / float(sum(shares))
    raw = weights * total
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def _subject_geometry(rng: np.random.Generator) -> tuple[float, ...]:
    """Per-subject appearance and behaviour parameters (a flat tuple so it pickles cheaply)."""
    s = rng.uniform(0.85, 1.15)
    return (
        rng.uniform(-0.08, 0.08),  # 0 cx
        0.14 + rng.uniform(-0.07, 0.07),  # 1 cy
        s,  # 2 scale
        0.5 * s * rng.uniform(0.9, 1.1),  # 3 eye half-width
        0.27 * s * rng.uniform(0.85, 1.15),  # 4 upper-lid height
        0.15 * s * rng.uniform(0.85, 1.15),  # 5 lower-lid height
        0.17 * s * rng.uniform(0.9, 1.1),  # 6 iris radius
        rng.uniform(0.12, 0.45),  # 7 iris tone
        0.52 * s * rng.uniform(0.9, 1.1),  # 8 brow distance above the eye
        0.085 * s * rng.uniform(0.8, 1.25),  # 9 brow thickness
        0.12 * s * rng.uniform(0.6, 1.4),  # 10 brow arch
        rng.uniform(0.08, 0.28),  # 11 brow tone (relative to skin)
        rng.uniform(0.45, 0.8),  # 12 skin tone
        rng.uniform(1 / 14, 1 / 8),  # 13 tempo: oscillation frequency (cycles/frame)
        rng.uniform(0.8, 1.25),  # 14 tempo: onset speed factor
        rng.uniform(0.015, 0.05),  # 15 blink rate (per frame)
        rng.uniform(0.8, 1.2),  # 16 expressivity
        rng.uniform(-0.25, 0.25),  # 17 HDR split position
        float(rng.integers(0, 2**31 - 1)),  # 18 texture / hot-pixel seed
    )


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
# Rendering


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _activations(plan: _SeqPlan, times: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Action-unit, blink and gaze trajectories at ``times`` (frames)."""
    g = plan.subject.geometry
    length = plan.length
    freq = g[13] * rng.uniform(0.85, 1.15)
    rise = _RISE[plan.emotion] * g[14] * rng.uniform(0.8, 1.25)
    onset = rng.uniform(-0.1, 0.3) * length
    env = _smoothstep((times - onset) / rise)
    depth = rng.uniform(0.2, 0.35)
    osc = 1.0 + depth * np.sin(2 * np.pi * freq * (times - onset) + rng.uniform(0, 2 * np.pi))
    scale = g[16] * rng.uniform(0.7, 1.2)
    profile = dict(_PROFILES[plan.emotion])
    if plan.emotion == "neutral":
        # Neutral still moves a little: one random unit at low amplitude (rest-state drift).
        profile[_AU_NAMES[int(rng.integers(0, 8))]] = rng.uniform(0.05, 0.15)
    au = np.zeros((len(_AU_NAMES), len(times)), dtype=np.float64)
    for name, amp in profile.items():
        au[_AU[name]] = amp * scale * rng.uniform(0.8, 1.2) * env * osc

    # Blinks: Poisson events of every class at the subject's rate; close in ~2 frames, open in ~3.
    blink = np.zeros(len(times))
    n_blinks = rng.poisson(g[15] * (length + 4))
    for t_b in rng.uniform(-2, length, n_blinks):
        closing = np.clip((times - t_b) / 2.0 + 1.0, 0.0, 1.0)
        opening = np.clip(1.0 - (times - t_b) / 3.0, 0.0, 1.0)
        blink = np.maximum(blink, np.where(times < t_b, closing, opening))
    # Saccades: piecewise-constant gaze with 1-frame transitions, in every class.
    gaze_x = np.zeros(len(times))
    gaze_y = np.zeros(len(times))
    n_sacc = rng.poisson(0.05 * (length + 4) * (2.0 if plan.emotion == "fear" else 1.0))
    for t_s in np.sort(rng.uniform(-2, length, n_sacc)):
        step = _smoothstep(times - t_s)
        target = rng.normal(0.0, 0.12, 2)
        gaze_x = gaze_x * (1 - step) + target[0] * step
        gaze_y = gaze_y * (1 - step) + target[1] * 0.5 * step
    return {
        "au": au,
        "blink": blink,
        "gaze_x": gaze_x,
        "gaze_y": gaze_y + 0.18 * au[_AU["gaze_down"]],
    }


def _texture(x: np.ndarray, y: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Smooth texture: a sum of sinusoids (evaluable at warped coordinates), float32.

    With ``x`` varying along the last axis only and ``y`` constant along it, each term is expanded as
    sin(a)cos(b) + cos(a)sin(b) so the transcendental functions run on the two factors, not on every pixel.
    """
    out = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.float32)
    separable = x.shape[-1] > 1 and y.shape[-1] == 1 and all(d == 1 for d in x.shape[:-1])
    for fx, fy, phase, amp in params.astype(np.float32):
        if separable:
            a = fx * x
            b = fy * y + phase
            out += amp * (np.sin(a) * np.cos(b) + np.cos(a) * np.sin(b))
        else:
            out += amp * np.sin(fx * x + fy * y + phase)
    return out


def _segment_distance(
    x: np.ndarray, y: np.ndarray, p0: tuple[float, float], p1: tuple[float, float]
) -> np.ndarray:
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    t = np.clip(((x - p0[0]) * dx + (y - p0[1]) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(x - p0[0] - t * dx, y - p0[1] - t * dy)


def _render(
    g: tuple[float, ...],
    acts: dict[str, np.ndarray],
    sl: slice,
    size: int,
    tex_params: np.ndarray,
    hair_params: np.ndarray,
) -> np.ndarray:
    """Reflectance images (N, size, size) in [0, 1] for the time samples ``sl``."""
    cx, cy, s, w, hu, hl, ri, iris_tone, bdy, bt, arch, brow_tone, skin = g[:13]
    px = 2.0 / size
    coords = (np.arange(size, dtype=np.float32) + 0.5) * px - 1.0
    xg = coords[None, None, :]
    yg = coords[None, :, None]

    def ramp(z: np.ndarray) -> np.ndarray:  # 1-pixel anti-aliased step: sub-pixel motion changes intensity
        return np.clip(0.5 + z / px, 0.0, 1.0)

    au = acts["au"][:, sl]

    def a(name: str) -> np.ndarray:
        return au[_AU[name]].astype(np.float32)[:, None, None]

    inner, outer, lower, lid_raise = a("inner_raise"), a("outer_raise"), a("lower"), a("lid_raise")
    cheek, tighten, nose, droop = a("cheek"), a("tighten"), a("nose"), a("droop")
    blink = acts["blink"][sl].astype(np.float32)[:, None, None]
    gx = acts["gaze_x"][sl].astype(np.float32)[:, None, None]
    gy = acts["gaze_y"][sl].astype(np.float32)[:, None, None]

    xe = xg - cx  # eye-centred x; the nasal side is x < 0
    # Skin: texture warped upwards by the cheek raiser, plus a cheek highlight that rises with it.
    cheek_bump = np.exp(-(((yg - (cy + 0.45 * s)) / 0.3) ** 2))
    ywarp = yg + 0.12 * s * cheek * cheek_bump
    shade = 1.0 + 0.18 * np.exp(-((xe / 0.45) ** 2) - ((yg - (cy + 0.62 * s - 0.18 * s * cheek)) / 0.18) ** 2)
    img = skin * (1.0 + _texture(xg, ywarp, tex_params)) * shade * (0.92 + 0.08 * (yg + 1.0) / 2.0)

    # Eyebrow: inner end raised (AU1), outer end raised (AU2), lowered and drawn toward the nose (AU4, AU9).
    xb = xe + 0.06 * s * (lower + 0.5 * nose)
    q = np.clip(xb / (0.62 * s), -1.0, 1.0)
    wi, wo = (1.0 - q) / 2.0, (1.0 + q) / 2.0
    yb = (
        cy
        - bdy
        - arch * (1.0 - q * q)
        - 0.22 * s * inner * wi
        - 0.2 * s * outer * wo
        + 0.13 * s * (lower + 0.6 * nose) * (0.6 + 0.6 * wi)
    )
    thick = bt * (0.65 + 0.35 * (1.0 - q * q))
    brow = ramp(thick / 2.0 - np.abs(yg - yb)) * ramp(0.62 * s - np.abs(xb))
    hair = 1.0 + _texture(xg, yg - yb, hair_params)
    img = img * (1.0 - brow * (1.0 - brow_tone * hair))

    # Forehead lines (appear with the brow raisers) and glabellar lines (appear with the brow lowerer).
    # Wrinkles are skipped when their driver stays at zero (most emotions): same image, less work.
    raise_amt = np.clip(0.5 * (inner + outer) - 0.2, 0.0, 1.0)
    for k in (1, 2, 3) if raise_amt.any() else ():
        yl = cy - bdy - arch - bt - 0.07 * s * k - 0.2 * s * raise_amt + 0.01 * np.sin(6 * xe)
        line = ramp(0.6 * px - np.abs(yg - yl)) * ramp(0.5 * s - np.abs(xe))
        img = img * (1.0 - 0.35 * raise_amt * line)
    glab = np.clip(lower + nose - 0.25, 0.0, 1.0)
    for dx in (-0.66, -0.74) if glab.any() else ():
        line = ramp(0.6 * px - np.abs(xg - (cx + dx * s))) * ramp(
            0.1 * s - np.abs(yg - (cy - bdy + 0.05 * s))
        )
        img = img * (1.0 - 0.45 * glab * line)

    # Crow's feet (cheek raiser) at the outer corner; nasal wrinkles (nose wrinkler) at the inner corner.
    corner = (cx + 1.08 * w, cy)
    crow = np.clip(cheek - 0.15, 0.0, 1.0)
    for ang in (-0.45, 0.0, 0.45) if crow.any() else ():
        end = (corner[0] + 0.28 * s * math.cos(ang), corner[1] + 0.28 * s * math.sin(ang))
        line = ramp(0.7 * px - _segment_distance(xg, yg, corner, end))
        img = img * (1.0 - 0.5 * crow * line)
    nasal = np.clip(nose - 0.15, 0.0, 1.0)
    for k in range(3) if nasal.any() else ():
        p0 = (cx - 1.05 * w - 0.06 * s * k, cy - 0.25 * s + 0.1 * s * k)
        p1 = (p0[0] - 0.16 * s, p0[1] + 0.06 * s)
        line = ramp(0.7 * px - _segment_distance(xg, yg, p0, p1))
        img = img * (1.0 - 0.55 * nasal * line)

    # Eyelids and the eye opening.
    shape = np.clip(1.0 - (xe / w) ** 2, 0.0, None)
    open_u = np.clip(1.0 + 0.55 * lid_raise - 0.35 * tighten - 0.55 * droop, 0.05, 2.0) * (1.0 - blink)
    open_l = np.clip(1.0 - 0.75 * cheek - 0.45 * tighten - 0.3 * nose, 0.05, 2.0)
    y_up = cy - hu * open_u * shape
    y_lo = cy + hl * open_l * shape
    inside = ramp(yg - y_up) * ramp(y_lo - yg) * ramp(w - np.abs(xe))
    ix, iy = cx + gx * w, cy + gy * hu
    dist = np.hypot(xg - ix, yg - iy)
    iris = ramp(ri - dist)
    pupil = ramp(0.42 * ri - dist)
    glint = ramp(0.22 * ri - np.hypot(xg - ix - 0.35 * ri, yg - iy + 0.35 * ri))
    eye = 0.88 * (1.0 - iris) + iris_tone * iris * (1.0 - pupil) + 0.03 * pupil
    eye = eye * (1.0 - glint) + 0.98 * glint
    img = img * (1.0 - inside) + eye * inside
    # Lash line along the upper lid, lid crease above it (moves less), faint lower-lid margin.
    lash = ramp(1.2 * px - np.abs(yg - y_up)) * ramp(1.05 * w - np.abs(xe))
    img = img * (1.0 - 0.8 * lash)
    y_crease = cy - (1.3 * hu + 0.35 * hu * (open_u - 1.0)) * np.clip(1.0 - (xe / (1.1 * w)) ** 2, 0.0, None)
    crease = ramp(0.7 * px - np.abs(yg - y_crease)) * ramp(w - np.abs(xe))
    img = img * (1.0 - 0.3 * crease)
    margin = ramp(0.6 * px - np.abs(yg - y_lo)) * ramp(w - np.abs(xe))
    img = img * (1.0 - 0.25 * margin)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def render_sequence(plan: _SeqPlan, config: SynthConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Render one sequence.

    Returns:
        ``(events, frames)``: two ``uint8`` arrays ``(L, size, size)``: the ternary event frames
        (128 none, 255 ON, 0 OFF) and the APS intensity frames.
    """
    rng = _rng(seed, _STREAM_SEQUENCE, plan.index)
    g = plan.subject.geometry
    size, k_sub, length = config.size, config.substeps, plan.length
    light = _LIGHT[plan.subject.lighting]
    subj_rng = np.random.default_rng(int(g[18]))
    tex = np.column_stack(
        [
            subj_rng.uniform(-9, 9, 6),
            subj_rng.uniform(-9, 9, 6),
            subj_rng.uniform(0, 2 * np.pi, 6),
            subj_rng.uniform(0.01, 0.035, 6),
        ]
    )
    hair = np.column_stack(
        [
            subj_rng.uniform(40, 70, 3),
            subj_rng.uniform(-15, 15, 3),
            subj_rng.uniform(0, 2 * np.pi, 3),
            subj_rng.uniform(0.08, 0.15, 3),
        ]
    )
    threshold = config.contrast_threshold * (
        1.0 + config.threshold_sigma * subj_rng.standard_normal((size, size))
    )
    hot = subj_rng.random((size, size)) < 2e-4

    coords = (np.arange(size, dtype=np.float32) + 0.5) * (2.0 / size) - 1.0
    if plan.subject.lighting == "HDR":
        # Half the image brightly lit, half in shadow (split position per subject).
        h = 1.0 / (1.0 + np.exp(-(coords[None, :] - g[17]) / 0.12))
        gain = np.exp(np.log(0.06) * (1.0 - h) + np.log(2.2) * h) * np.ones((size, 1), dtype=np.float32)
    else:
        gain = np.full((size, size), light["gain"], dtype=np.float32)

    # Sample 0 is one frame before frame 0 (initial reference); frame i ends at sample (i + 1)·k_sub.
    times = np.arange(length * k_sub + 1, dtype=np.float64) / k_sub - 1.0
    acts = _activations(plan, times, rng)

    events = np.full((length, size, size), 128, dtype=np.uint8)
    frames = np.empty((length, size, size), dtype=np.uint8)
    ref: np.ndarray | None = None
    last_fire = np.full((size, size), -(10**6), dtype=np.int64)
    chunk = max(1, 4096 * 16 // (size * size))
    for c0 in range(0, len(times), chunk):
        sl = slice(c0, min(c0 + chunk, len(times)))
        refl = _render(g, acts, sl, size, tex, hair)
        radiance = np.minimum(refl * gain, 1.0)  # sensor/optics saturation (overexposure)
        noise = rng.standard_normal(radiance.shape).astype(np.float32) * light["log_noise"]
        logi = np.log(radiance + _DARK_CURRENT) + noise
        for j in range(logi.shape[0]):
            sample = c0 + j
            if ref is None:
                ref = logi[j].astype(np.float64)
                continue
            frame = (sample - 1) // k_sub
            diff = logi[j] - ref
            ready = (sample - last_fire) > config.refractory
            on = (diff >= threshold) & ready
            off = (diff <= -threshold) & ready
            fired = on | off
            n_thr = np.floor(np.abs(diff) / threshold)
            ref = np.where(fired, ref + np.sign(diff) * n_thr * threshold, ref)
            last_fire = np.where(fired, sample, last_fire)
            out = events[frame]
            out[on] = 255
            out[off] = 0
            if sample % k_sub == 0:  # end of frame `frame`: APS exposure at this instant
                aps = refl[j] * gain * light["aps"] + rng.standard_normal((size, size)) * light["read"]
                frames[frame] = np.clip(np.round(aps * 255.0), 0, 255).astype(np.uint8)
    # Background activity (shot noise) and hot pixels, at the lighting's rate, polarity random.
    shot = rng.random((length, size, size)) < light["shot"]
    polarity = rng.random((length, size, size)) < 0.5
    events[shot & polarity] = 255
    events[shot & ~polarity] = 0
    events[:, hot] = 255
    return events, frames


# --------------------------------------------------------------------------------------------------------
# Writing


def _encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buf = BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _write_sequence(args: tuple[_SeqPlan, SynthConfig, int, str]) -> int:
    plan, config, seed, root = args
    events, frames = render_sequence(plan, config, seed)
    trees = [("event", events)] + ([("frame", frames)] if config.write_frames else [])
    for tree, stack in trees:
        folder = Path(root) / tree / plan.emotion / plan.name
        folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(stack):
            (folder / f"{i:05d}.jpg").write_bytes(_encode_jpeg(image, config.jpeg_quality))
    return len(events)


def generate(
    out: str | os.PathLike[str],
    *,
    preset: str | SynthConfig = "small",
    seed: int = 0,
    workers: int = 1,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    **overrides: object,
) -> SynthSummary:
    """Generate a synthetic SEE-layout dataset.

    Args:
        out: output folder (created; must be empty or absent unless ``overwrite``).
        preset: ``"tiny"``, ``"small"``, ``"full"`` or a :class:`SynthConfig`.
        seed: base seed; the output bytes depend only on the seed and the config, not on ``workers``.
        workers: worker processes (1 = in-process).
        overwrite: delete an existing non-empty ``out`` first; only allowed when it holds nothing but
            generator outputs (``event/``, ``frame/``, ``emotion.json``, ``synth_config.json``).
        progress: called as ``progress(done, total)`` after each sequence, in the calling process.
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
        "config": asdict(config),
    }
    atomic_write_text(root / "synth_config.json", json.dumps(meta, indent=2, sort_keys=True))
    tasks = [(p, config, seed, str(root)) for p in plans]
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
    counts: dict[str, dict[str, int]] = {"subset": {}, "emotion": {}, "lighting": {}}
    for p in plans:
        for key, value in (("subset", p.subset), ("emotion", p.emotion), ("lighting", p.subject.lighting)):
            counts[key][value] = counts[key].get(value, 0) + 1
    return SynthSummary(
        root=root, sequences=total, frames=frames, counts=counts, seconds=time.perf_counter() - start
    )
