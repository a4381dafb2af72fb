"""Rendering and event simulation of the synthetic eye-emotion sequences.

**Everything produced here is synthetic** (see [`ttfsnet_nas.emotion.synth`][ttfsnet_nas.emotion.synth], which
plans and writes the dataset and is the public home of
[`render_sequence`][ttfsnet_nas.emotion.synth_render.render_sequence]). This module turns one planned sequence
into its event and APS frames:

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
* **Other emotion models.** ``pairs`` (the ``hard`` preset): a pair of distant units moving in phase or in
  antiphase. ``wide`` (the ``wide`` preset): the orientation of the line through two identical moving skin
  marks 11–21 px apart at a 32×32 input, with the eye region moved per sequence, so that only a wide
  receptive field sees the class (docs/synthetic-benchmark.md).
* **Subjects.** Each subject has its own geometry (eye position, scale, lid heights, brow shape), skin and
  iris tone, texture, tempo, blink rate and hot pixels (`_subject_geometry`, called by the planner).
* **Lighting.** Normal, Overexposed, Low and HDR change the scene illumination (uniform gain, saturation,
  very low gain with dark current, or a bright/dark split), the APS exposure, the log-intensity noise and the
  background-activity rate.
* **Events (DVS / v2e-like).** The scene is rendered at ``substeps`` instants per 1/30 s frame. Each pixel
  keeps a reference log intensity; a change beyond its contrast threshold (with per-pixel mismatch) emits
  an event of that polarity and moves the reference by whole thresholds, unless the pixel is still in its
  refractory period. Shot noise and hot pixels add events. Per frame, the last event polarity of each pixel
  is written as a ternary grey image: 128 = no event, 255 = ON, 0 = OFF (like SEE's accumulated frames).
  On request the events themselves are returned too (``events_out``), timed so that the last event of each
  pixel in each frame window is the one its ternary frame shows.

It also holds the seeded random streams (`_rng`) that the planner and the renderer share.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ttfsnet_nas.emotion.names import EMOTIONS

if TYPE_CHECKING:  # annotations only: synth.py imports this module, so no runtime import back
    from ttfsnet_nas.emotion.synth import SynthConfig, _SeqPlan

__all__ = ["render_sequence"]

# Streams of the per-quantity random generators (never reorder: changes every dataset). The planner
# (synth.py) draws from the first four, the renderer from the last; all live here so the list stays whole.
_STREAM_LIGHTING, _STREAM_SUBJECT, _STREAM_TAKES, _STREAM_SPLIT, _STREAM_SEQUENCE = 0, 1, 2, 3, 4


def _rng(seed: int, stream: int, ident: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, ident])


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


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _activations(
    plan: _SeqPlan, times: np.ndarray, rng: np.random.Generator, config: SynthConfig | None = None
) -> dict[str, np.ndarray]:
    """Action-unit, blink and gaze trajectories at ``times`` (frames)."""
    if config is not None and config.emotion_model == "pairs":
        return _pair_activations(plan, times, rng, config)
    if config is not None and config.emotion_model == "wide":
        return _wide_activations(plan, times, rng, config)
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


# ``emotion_model="pairs"`` (the ``hard`` preset): three units in distant parts of the image, each in four
# emotions; an emotion is a pair of units and whether they move in phase or in antiphase. Neutral: one unit
# alone. Units: the brow raise (top), the cheek raiser (lower lid, bottom; crow's feet, outer side) and the
# nasal fold (inner side).
_PAIR_UNITS = ("brow", "cheek", "fold")
_PAIRS: dict[str, tuple[str, str, bool]] = {  # emotion → (unit, unit, in phase)
    "happiness": ("brow", "cheek", True),
    "sadness": ("brow", "cheek", False),
    "surprise": ("brow", "fold", True),
    "fear": ("brow", "fold", False),
    "disgust": ("cheek", "fold", True),
    "angry": ("cheek", "fold", False),
}


# Share of each cycle in which a unit of a pair moves (rises and falls back); it rests for the rest. Short
# pulses make the relation of a pair visible as *which frames* each region moves in: in phase, both move in
# the same frames; in antiphase, never together.
_PULSE_DUTY = 0.4


def _pulse(times: np.ndarray, freq: float, phase: float, duty: float = 1.0) -> np.ndarray:
    """A raised-cosine pulse between 0 and 1 in the first ``duty`` of every cycle, 0 in the rest."""
    u = np.mod(freq * times + phase, 1.0)
    return np.where(u < duty, 0.5 - 0.5 * np.cos(2 * np.pi * u / duty), 0.0)


def _pair_activations(
    plan: _SeqPlan, times: np.ndarray, rng: np.random.Generator, config: SynthConfig
) -> dict[str, np.ndarray]:
    """Trajectories of the ``pairs`` emotion model.

    Both units of a pair pulse at one frequency from the first frame on (every E4-S3 window, which spans
    13 frames, sees at least one cycle): in phase they move in the same frames, in antiphase half a cycle
    apart. A single unit moves in four emotions (and in neutral), so no local detector names the class:
    the network has to relate two regions about half the image apart, and the frames in which they move.
    Class-independent distractors: the upper lid at its own frequency and phase, blinks and saccades.
    """
    g = plan.subject.geometry
    n = len(times)
    if config.pair_period > 0:
        freq = rng.uniform(0.98, 1.02) / config.pair_period
    else:
        freq = g[13] * rng.uniform(0.85, 1.15)
    phase = rng.uniform(0.0, 1.0)
    if plan.emotion == "neutral":
        units = {_PAIR_UNITS[int(rng.integers(0, len(_PAIR_UNITS)))]: 0.0}
    else:
        first, second, together = _PAIRS[plan.emotion]
        units = {first: 0.0, second: (0.0 if together else 0.5) + rng.uniform(-0.05, 0.05)}
    au = np.zeros((len(_AU_NAMES), n), dtype=np.float64)
    fold = np.zeros(n)
    for unit, shift in units.items():
        wave = g[16] * rng.uniform(0.6, 1.1) * _pulse(times, freq, phase + shift, _PULSE_DUTY)
        if unit == "brow":
            au[_AU["inner_raise"]] = wave
            au[_AU["outer_raise"]] = wave
        elif unit == "cheek":
            au[_AU["cheek"]] = wave
        else:
            fold = wave
    return {"au": au, "fold": fold, **_distractors(au, plan, times, rng, config)}


def _distractors(
    au: np.ndarray, plan: _SeqPlan, times: np.ndarray, rng: np.random.Generator, config: SynthConfig
) -> dict[str, np.ndarray]:
    """The class-free motion of the ``pairs`` and ``wide`` models: an upper-lid oscillation of its own
    (written into ``au``), blinks at the subject's rate and saccades twice as often as in ``profiles``.

    Returns the ``blink``, ``gaze_x`` and ``gaze_y`` trajectories."""
    g = plan.subject.geometry
    length = plan.length
    if config.distractor_amplitude > 0:
        au[_AU["lid_raise"]] = (
            config.distractor_amplitude
            * rng.uniform(0.3, 1.0)
            * _pulse(times, rng.uniform(1 / 14, 1 / 6), rng.uniform(0.0, 1.0))
        )
    blink = np.zeros(len(times))
    for t_b in rng.uniform(-2, length, rng.poisson(g[15] * (length + 4))):
        closing = np.clip((times - t_b) / 2.0 + 1.0, 0.0, 1.0)
        opening = np.clip(1.0 - (times - t_b) / 3.0, 0.0, 1.0)
        blink = np.maximum(blink, np.where(times < t_b, closing, opening))
    gaze_x = np.zeros(len(times))
    gaze_y = np.zeros(len(times))
    for t_s in np.sort(rng.uniform(-2, length, rng.poisson(0.1 * (length + 4)))):
        step = _smoothstep(times - t_s)
        target = rng.normal(0.0, 0.12, 2)
        gaze_x = gaze_x * (1 - step) + target[0] * step
        gaze_y = gaze_y * (1 - step) + target[1] * 0.5 * step
    return {"blink": blink, "gaze_x": gaze_x, "gaze_y": gaze_y}


# ``emotion_model="wide"`` (the ``wide`` preset): the emotion is the orientation of the line through two
# identical skin marks, 0°, 180/7°, …, 6·180/7° (image y points down), one emotion each in alphabetical
# order. Each mark alone looks and moves the same in every emotion, the eye region and the marks lie at
# random places, and the marks are 11–21 px apart at a 32×32 input (``mark_distance`` 0.7–1.3 of a
# half-width): only a receptive field that holds both marks sees the class.
_WIDE_ANGLE_DEG = {emotion: k * 180.0 / len(EMOTIONS) for k, emotion in enumerate(EMOTIONS)}
_WIDE_JITTER_DEG = 5.0  # per-sequence jitter of the orientation; classes are 180/7 ≈ 25.7° apart
_MARK_RADIUS = 0.09  # image half-widths: 2.9 px at 64×64, 1.4 px at 32×32
_MARK_DARKNESS = 0.6
_MARK_MARGIN = 0.8  # mark centres stay within ±0.8 of the image centre


def _wide_activations(
    plan: _SeqPlan, times: np.ndarray, rng: np.random.Generator, config: SynthConfig
) -> dict[str, np.ndarray]:
    """Trajectories of the ``wide`` emotion model.

    Two identical dark marks on the skin, ``d`` apart (``config.mark_distance``) along the emotion's
    orientation (±5°); their midpoint is uniform over the positions that keep both within ±0.8 of the
    centre. Each mark oscillates along its own random direction, amplitude, frequency and phase, so one
    mark's look and motion carry no class. The eye region is translated by up to ``config.eye_shift`` in
    each direction; the eye keeps the distractors of the ``pairs`` model (an upper-lid oscillation of its
    own, blinks, saccades). No action unit of an emotion is active.
    """
    n = len(times)
    shift = rng.uniform(-config.eye_shift, config.eye_shift, 2)
    angle = math.radians(_WIDE_ANGLE_DEG[plan.emotion] + rng.uniform(-_WIDE_JITTER_DEG, _WIDE_JITTER_DEG))
    distance = rng.uniform(*config.mark_distance)
    half = 0.5 * distance * np.array([math.cos(angle), math.sin(angle)])
    room = _MARK_MARGIN - np.abs(half)  # the midpoint range that keeps both marks inside the margin
    mid = rng.uniform(-room, room)
    marks = np.zeros((2, 2, n))
    for k, centre in enumerate((mid - half, mid + half)):
        direction = rng.uniform(0.0, 2 * np.pi)
        swing = rng.uniform(0.05, 0.09) * np.sin(
            2 * np.pi * (rng.uniform(1 / 10, 1 / 6) * times + rng.uniform(0.0, 1.0))
        )
        marks[k, 0] = centre[0] + swing * math.cos(direction)
        marks[k, 1] = centre[1] + swing * math.sin(direction)

    au = np.zeros((len(_AU_NAMES), n), dtype=np.float64)
    return {"au": au, "shift": shift, "marks": marks, **_distractors(au, plan, times, rng, config)}


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
    if "shift" in acts:  # ``wide`` model: the eye region sits elsewhere in every sequence
        cx, cy = cx + float(acts["shift"][0]), cy + float(acts["shift"][1])
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

    if "fold" in acts:
        # Nasal fold (``pairs`` model only): a skin crease on the inner side, drawn up and darkened by its
        # unit; present at rest too, so only its motion makes events.
        fold = acts["fold"][sl].astype(np.float32)[:, None, None]
        lift = 0.16 * s * fold
        p0 = (cx - 1.1 * w, cy + 0.45 * s)
        p1 = (cx - 1.4 * w, cy + 0.05 * s)
        along = _segment_distance(xg, yg + lift, p0, p1)
        img = img * (1.0 - (0.35 + 0.35 * fold) * ramp(1.5 * px - along))

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
    if "marks" in acts:  # ``wide`` model: two dark skin marks, drawn over everything
        for mark in acts["marks"]:
            mx = mark[0, sl].astype(np.float32)[:, None, None]
            my = mark[1, sl].astype(np.float32)[:, None, None]
            img = img * (1.0 - _MARK_DARKNESS * ramp(_MARK_RADIUS - np.hypot(xg - mx, yg - my)))
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def render_sequence(
    plan: _SeqPlan,
    config: SynthConfig,
    seed: int,
    *,
    events_out: list[np.ndarray] | None = None,
    frame_us: int = 33_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one sequence.

    Args:
        plan: the planned sequence.
        config: the dataset config.
        seed: the dataset seed.
        events_out: when given, receives the simulated events as ``(t, x, y, p)`` ``int64`` blocks
            (microseconds; ``p`` 1 = ON). Frame ``i`` spans ``[i·frame_us, (i + 1)·frame_us)``; the
            simulated events of substep ``j`` fall inside it in order, then the background events
            (``frame_us − 2``) and the hot pixels (``frame_us − 1``), the order in which they overwrite the
            ternary frame. Collecting them draws no random number: the frames are the same either way.
        frame_us: length of one frame in microseconds for ``events_out``.

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
    acts = _activations(plan, times, rng, config)

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
            if events_out is not None and fired.any():
                ys, xs = np.nonzero(fired)
                t = frame * frame_us + ((sample - 1) % k_sub + 1) * frame_us // (k_sub + 1)
                events_out.append(
                    np.stack([np.full_like(xs, t), xs, ys, on[ys, xs]], axis=1).astype(np.int64)
                )
            if sample % k_sub == 0:  # end of frame `frame`: APS exposure at this instant
                aps = refl[j] * gain * light["aps"] + rng.standard_normal((size, size)) * light["read"]
                frames[frame] = np.clip(np.round(aps * 255.0), 0, 255).astype(np.uint8)
    # Background activity (shot noise) and hot pixels, at the lighting's rate, polarity random.
    shot = rng.random((length, size, size)) < light["shot"] * config.shot_noise_scale
    polarity = rng.random((length, size, size)) < 0.5
    events[shot & polarity] = 255
    events[shot & ~polarity] = 0
    events[:, hot] = 255
    if events_out is not None:
        f, ys, xs = np.nonzero(shot)
        events_out.append(
            np.stack([(f + 1) * frame_us - 2, xs, ys, polarity[f, ys, xs]], axis=1).astype(np.int64)
        )
        f, ys, xs = np.nonzero(np.broadcast_to(hot, shot.shape))
        events_out.append(
            np.stack([(f + 1) * frame_us - 1, xs, ys, np.ones_like(xs)], axis=1).astype(np.int64)
        )
    return events, frames
