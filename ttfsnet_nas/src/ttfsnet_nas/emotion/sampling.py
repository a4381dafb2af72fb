"""E\\ *x*-S\\ *y* temporal sampling of event frames (SEEN paper §6; ``docs/emotion-data.md``).

*x* event frames of 1/30 s each are taken with *y* skipped frames between neighbours, i.e. indices
``s, s + (y+1), …, s + (x-1)(y+1)``: a window spanning ``x + (x-1)·y`` frames. E4-S3 (the default, used by
SEEN and TNAS-ER) takes frames ``s, s+4, s+8, s+12``. The start ``s`` is random at training *and* test time,
drawn from a caller-supplied ``numpy.random.Generator`` so test runs are reproducible.

Default behaviour (``legacy_quirks=False``): ``s`` is uniform over every start whose window fits,
``0 … L − span``. A sequence shorter than the span keeps the strided indices that exist from a random start in
``0 … min(stride, L) − 1`` and loop-pads them (repeats the list from its beginning) to *x* frames.

``legacy_quirks=True`` reproduces the original SEEN code (``TemporalSubsampling`` + ``TemporalRandomCrop`` +
``LoopPadding``) draw for draw in structure:

1. if stride > 1, an offset ``num`` is drawn uniformly from {0, …, 4} — fixed at 4 whatever the stride — and
   every stride-th index from ``num`` is kept;
2. a crop start is drawn uniformly from ``0 … max(0, n − x − 1)`` over the *n* kept indices, so the last full
   window is never chosen (an off-by-one);
3. fewer than *x* indices are loop-padded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["TemporalSampling", "loop_pad"]

_NAME = re.compile(r"^\s*E(\d+)\s*-\s*S(\d+)\s*$", re.IGNORECASE)


def loop_pad(indices: np.ndarray, size: int) -> np.ndarray:
    """Repeat ``indices`` cyclically up to ``size`` entries (SEEN ``LoopPadding``); longer → unchanged."""
    if len(indices) == 0:
        raise ValueError("loop_pad: cannot pad an empty index list")
    if len(indices) >= size:
        return indices
    reps = -(-size // len(indices))
    return np.tile(indices, reps)[:size]


@dataclass(frozen=True, kw_only=True, slots=True)
class TemporalSampling:
    """E\\ *x*-S\\ *y* sampler.

    Attributes:
        frames: *x*, event frames per sample (= input channels when stacked).
        skip: *y*, frames skipped between two sampled frames (stride = y + 1).
        legacy_quirks: reproduce the original SEEN sampler's quirks (offset in {0..4} independent of the
            stride, crop start never reaching the last window). Off by default.
    """

    frames: int = 4
    skip: int = 3
    legacy_quirks: bool = False

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError(f"TemporalSampling.frames: expected >= 1, got {self.frames}")
        if self.skip < 0:
            raise ValueError(f"TemporalSampling.skip: expected >= 0, got {self.skip}")

    @classmethod
    def from_name(cls, name: str, *, legacy_quirks: bool = False) -> TemporalSampling:
        """Parse a setting name such as ``"E4-S3"``.

        Raises:
            ValueError: if the name is not of the form ``E<x>-S<y>``.
        """
        match = _NAME.match(name)
        if match is None:
            raise ValueError(f"temporal setting {name!r}: expected the form 'E<x>-S<y>', e.g. 'E4-S3'")
        return cls(frames=int(match.group(1)), skip=int(match.group(2)), legacy_quirks=legacy_quirks)

    @property
    def name(self) -> str:
        """Setting name, e.g. ``"E4-S3"``."""
        return f"E{self.frames}-S{self.skip}"

    @property
    def stride(self) -> int:
        """Distance between two sampled frames (y + 1)."""
        return self.skip + 1

    @property
    def span(self) -> int:
        """Frames covered by one window, ``x + (x-1)·y``."""
        return self.frames + (self.frames - 1) * self.skip

    def sample(self, length: int, rng: np.random.Generator) -> np.ndarray:
        """Draw one window of ``frames`` indices into a sequence of ``length`` frames.

        Args:
            length: number of frames in the sequence (>= 1).
            rng: random generator; the draw consumes exactly one integer (two with ``legacy_quirks`` and
                stride > 1).

        Returns:
            ``int64`` array of ``frames`` indices in ``[0, length)``.
        """
        if length < 1:
            raise ValueError(f"TemporalSampling.sample: sequence length must be >= 1, got {length}")
        if self.legacy_quirks:
            return self._sample_legacy(length, rng)
        if length >= self.span:
            start = int(rng.integers(0, length - self.span + 1))
            return start + self.stride * np.arange(self.frames, dtype=np.int64)
        start = int(rng.integers(0, min(self.stride, length)))
        return loop_pad(np.arange(start, length, self.stride, dtype=np.int64), self.frames)

    def _sample_legacy(self, length: int, rng: np.random.Generator) -> np.ndarray:
        kept = np.arange(length, dtype=np.int64)
        if self.stride > 1:
            offset = int(rng.integers(0, 5))  # SEEN: random.randint(0, 4), whatever the stride
            kept = kept[offset :: self.stride]
            if len(kept) == 0:
                # The original would crash on an empty list; fall back to the last frame (documented).
                kept = np.array([length - 1], dtype=np.int64)
        last_start = max(0, len(kept) - self.frames - 1)
        start = int(rng.integers(0, last_start + 1))
        return loop_pad(kept[start : start + self.frames], self.frames)

    def center(self, length: int) -> np.ndarray:
        """Deterministic centred window (for visualisation and smoke tests, not the paper protocol)."""
        if length >= self.span:
            start = (length - self.span) // 2
            return start + self.stride * np.arange(self.frames, dtype=np.int64)
        return loop_pad(np.arange(0, length, self.stride, dtype=np.int64), self.frames)
