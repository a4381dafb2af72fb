"""Torch dataset of E\\ *x*-S\\ *y* event-frame windows stacked as input channels (TNAS-ER §4.2).

Pixel-to-value mapping (input range ``(0.0, 1.0)`` for TTFS encoding, ``t0 = 1 − x``, unless normalised):

* default (``polarity_split=False``), *x* channels: ``value = pixel / 255``. A SEE event frame is a ternary
  grey image, so no event (128) → 0.502, ON (255) → 1.0, OFF (0) → 0.0. Every pixel carries a value, so
  under TTFS encoding every background pixel spikes at ``t0 ≈ 0.5``.
* ``polarity_split=True``, 2·*x* channels (ON, OFF per frame): ``on = clip((p − 128 − d)/(127 − d), 0, 1)``,
  ``off = clip((128 − p − d)/(128 − d), 0, 1)`` with a dead zone ``d`` (default 16 grey levels) that absorbs
  JPEG ringing: the stored frames are JPEGs, so the background is 128 ± a few levels near every event.
  The background maps to exactly 0 (no input spike), so the input is sparse.

Raw event recordings (layout ``events``) are cut into frames first (`ttfsnet_nas.emotion.events`);
`map_event_counts` then gives the same values a SEE frame of those events would: a polarity channel
is 1 where the pixel had an event of that polarity in the window, and the grey value is ON (1.0) / OFF (0.0)
/ none (0.502) by the sign of ON − OFF events.

Resizing happens after the mapping, per channel, so with ``resample="area"`` a resized polarity channel is
the fraction of ON (OFF) pixels in each block instead of SEEN's bilinear blur of the grey image. The mapped,
resized frames are stored as ``uint8`` (value · 255, rounded), which changes values by at most 1/510.
SEEN resizes the 8-bit image and rounds after the resize; here the rounding also comes after the resize, of
the mapped value, so for grey channels both give the same bytes up to Pillow's own rounding.

Normalisation (``normalize=(mean, std)``, SEEN: 0.504413 / 0.06928615) is the affine map
``(value − mean) / std`` applied when a batch is assembled from the ``uint8`` cache, so one cache serves
every normalisation. The dataset's
[`input_range`][ttfsnet_nas.emotion.dataset.EventEmotionDataset.input_range] is then the image of [0, 1]
under that map, and ``ttfsnet.convert(..., input_range=dataset.input_range)``
fuses the map into the first layer: the converted network gives the same logits as the ANN trained on the
normalised samples. Under TTFS encoding the normalisation changes no spike time (the encoding rescales the
declared range back to [0, 1]); it changes only the ANN's training (the input scale the first layer sees).

Frame cache. Every frame is decoded once, when the dataset is built. With a ``cache_dir`` the frames go to
one ``uint8`` ``.npy`` file per sequence set and setting (written to a temporary file, then
``os.replace``), with a JSON sidecar holding a fingerprint of the frame files (names, sizes, modification
times) and of the settings. Later runs and worker processes open it with ``numpy.load(mmap_mode="r")`` and
decode nothing; a changed frame or setting rebuilds it. Windows are drawn per item and epoch and gathered
from the cache one batch at a time
([`EventEmotionDataset.gather_batch`][ttfsnet_nas.emotion.dataset.EventEmotionDataset.gather_batch]).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ttfsnet_nas.emotion.events import frame_source
from ttfsnet_nas.emotion.frame_cache import cache_files, open_cache, write_cache
from ttfsnet_nas.emotion.sampling import TemporalSampling
from ttfsnet_nas.emotion.see import (
    SEE_LAYOUT,
    DatasetError,
    DatasetLayout,
    SequenceInfo,
    load_see,
    read_frame,
)
from ttfsnet_nas.emotion.splits import SplitRule, split_training

__all__ = [
    "INPUT_RANGE",
    "EmotionSplits",
    "EventEmotionDataset",
    "load_splits",
    "map_event_counts",
    "map_pixels",
    "resize_stack",
    "subset_view",
]

#: Range of the values returned by a dataset without normalisation (declare the dataset's ``input_range``
#: when converting to TTFS).
INPUT_RANGE: tuple[float, float] = (0.0, 1.0)
_RESAMPLE = ("area", "nearest", "bilinear")


def map_pixels(frames: np.ndarray, *, polarity_split: bool, dead_zone: int = 16) -> np.ndarray:
    """Map ``uint8`` event frames ``(N, H, W)`` to float32 values in [0, 1].

    Args:
        frames: grey event frames (128 = no event).
        polarity_split: return ON/OFF magnitude channels instead of ``p / 255``.
        dead_zone: grey levels around 128 mapped to 0 in the polarity channels (JPEG ringing).

    Returns:
        ``(N, 1, H, W)`` (``p / 255``) or, with ``polarity_split``, ``(N, 2, H, W)`` (ON, OFF magnitudes).
    """
    f = frames.astype(np.float32)
    if not polarity_split:
        return (f / 255.0)[:, None]
    if not 0 <= dead_zone < 127:
        raise ValueError(f"dead_zone: expected 0..126 grey levels, got {dead_zone}")
    on = np.clip((f - 128.0 - dead_zone) / (127.0 - dead_zone), 0.0, 1.0)
    off = np.clip((128.0 - f - dead_zone) / (128.0 - dead_zone), 0.0, 1.0)
    return np.stack([on, off], axis=1)


def map_event_counts(counts: np.ndarray, *, polarity_split: bool) -> np.ndarray:
    """Map per-frame event counts ``(N, 2, H, W)`` (ON, OFF) to float32 values in [0, 1].

    SEE's frames record whether a pixel had events in the window, not how many, so the counts are reduced
    to that, which keeps raw-event and SEE-frame inputs on one scale.

    Returns:
        ``(N, 1, H, W)``: 1.0 where ON events outnumber OFF events, 0.0 where OFF outnumber ON, 128/255
        elsewhere ([`map_pixels`][ttfsnet_nas.emotion.dataset.map_pixels] of the ternary frame); with
        ``polarity_split``, ``(N, 2, H, W)``: 1.0 where the pixel had an ON (OFF) event.
    """
    on, off = counts[:, 0], counts[:, 1]
    if polarity_split:
        return np.stack([on > 0, off > 0], axis=1).astype(np.float32)
    grey = np.where(on > off, 255, np.where(off > on, 0, 128)).astype(np.uint8)
    return map_pixels(grey, polarity_split=False)


def resize_stack(values: np.ndarray, size: int, resample: str = "area") -> np.ndarray:
    """Resize ``(..., H, W)`` float32 maps to ``(..., size, size)``.

    Integer down-scaling with ``"area"`` is an exact block mean; other cases use Pillow per map.
    """
    if resample not in _RESAMPLE:
        raise ValueError(f"resample: expected one of {_RESAMPLE}, got {resample!r}")
    h, w = values.shape[-2:]
    if (h, w) == (size, size):
        return values
    lead = values.shape[:-2]
    if resample == "area" and h % size == 0 and w % size == 0:
        fh, fw = h // size, w // size
        return values.reshape(*lead, size, fh, size, fw).mean(axis=(-3, -1), dtype=np.float32)
    from PIL import Image

    method = {
        "area": Image.Resampling.BOX,
        "nearest": Image.Resampling.NEAREST,
        "bilinear": Image.Resampling.BILINEAR,
    }[resample]
    flat = values.reshape(-1, h, w)
    out = np.empty((flat.shape[0], size, size), dtype=np.float32)
    for i, m in enumerate(flat):
        out[i] = np.asarray(
            Image.fromarray(np.ascontiguousarray(m, dtype=np.float32)).resize((size, size), method)
        )
    return out.reshape(*lead, size, size)


class EventEmotionDataset(Dataset[tuple[torch.Tensor, int]]):
    """Random E\\ *x*-S\\ *y* windows of event frames, stacked as channels.

    Each item is ``(x, label)`` with ``x`` a float32 tensor ``(C, size, size)`` in
    [`input_range`][ttfsnet_nas.emotion.dataset.EventEmotionDataset.input_range]
    ([`INPUT_RANGE`][ttfsnet_nas.emotion.dataset.INPUT_RANGE] without normalisation); ``C = frames`` (or
    ``2·frames`` with ``polarity_split``; channel order frame-major: ON₀, OFF₀, ON₁, …). The window of item
    ``i`` is drawn from ``numpy.random.default_rng([seed, epoch, i])``, so it depends only on (seed, epoch,
    i), not on DataLoader workers or access order. Call `set_epoch` to draw new windows (each training
    epoch, or each of the R test-time inference runs). `gather_batch` builds a whole batch with one gather
    from the frame cache.

    Args:
        sequences: sequences from [`load_see`][ttfsnet_nas.emotion.see.load_see].
        sampling: temporal sampler (default E4-S3).
        size: output side in pixels (default 90, as SEEN).
        resample: ``"area"`` (default), ``"nearest"`` or ``"bilinear"`` (SEEN's choice; blurs polarity).
        normalize: ``(mean, std)``: every sample becomes ``(value − mean) / std`` (after the ``uint8`` cache);
            ``None``: values stay in [0, 1].
        polarity_split: ON/OFF channels per frame instead of one grey channel.
        dead_zone: grey levels around 128 treated as "no event" in the polarity channels.
        cache: decode and resize every frame once at construction (``uint8``); ``False`` decodes the frames
            of each window when it is drawn.
        cache_dir: with ``cache``, keep the frames in a memory-mapped ``.npy`` file in this folder
            ([`frame_cache`][ttfsnet_nas.emotion.frame_cache]): built once, then opened by later runs and
            worker processes without decoding anything. ``None`` keeps them in this process's memory.
        strict: a corrupt or missing frame raises [`DatasetError`][ttfsnet_nas.emotion.dataset.DatasetError]
            naming the file; ``False`` skips the frame (and a sequence left without frames) and counts it in
            `skipped_frames` / `skipped_sequences`.
        seed: seed of the window draws.
        progress: called as ``progress(done, total)`` while the cache is filled.
        loader_workers: worker processes that [`BatchLoader`][ttfsnet_nas.torch.data.BatchLoader] uses to
            gather this dataset's batches (0: in the main process; recipe key ``data.loader_workers``).
    """

    def __init__(
        self,
        sequences: Sequence[SequenceInfo],
        *,
        sampling: TemporalSampling | None = None,
        size: int = 90,
        resample: str = "area",
        normalize: tuple[float, float] | None = None,
        polarity_split: bool = False,
        dead_zone: int = 16,
        cache: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        strict: bool = True,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
        loader_workers: int = 0,
    ) -> None:
        if size < 1:
            raise ValueError(f"size: expected >= 1, got {size}")
        if resample not in _RESAMPLE:
            raise ValueError(f"resample: expected one of {_RESAMPLE}, got {resample!r}")
        if loader_workers < 0:
            raise ValueError(f"loader_workers: expected >= 0, got {loader_workers}")
        if normalize is not None and not (np.isfinite(normalize).all() and normalize[1] > 0):
            raise ValueError(f"normalize: expected (mean, std) finite with std > 0, got {normalize}")
        self.sampling = sampling if sampling is not None else TemporalSampling()
        self.size = size
        self.resample = resample
        self.normalize = None if normalize is None else (float(normalize[0]), float(normalize[1]))
        self.polarity_split = polarity_split
        self.dead_zone = dead_zone
        self.strict = strict
        self.seed = seed
        self.loader_workers = loader_workers
        self.epoch = 0
        self.skipped_frames = 0
        self.skipped_sequences = 0
        # The frame cache: every kept frame, mapped and resized, as one uint8 array (N, P, size, size);
        # row r's frames are _frames[_start[r] : _start[r] + len(_files[r])]. Memory-mapped when _cache_path.
        self._frames: np.ndarray | None = None
        self._start: np.ndarray | None = None
        self._cache_path: Path | None = None
        if not cache:
            kept = [seq for seq in sequences if seq.event_files]
            files = [list(seq.event_files) for seq in kept]
            self.skipped_sequences = len(sequences) - len(kept)
            if progress is not None:
                progress(len(sequences), len(sequences))
        elif cache_dir is None or self._cache_shape(sequences)[0] == 0:
            kept, files = self._fill_memory(sequences, progress)
        else:
            kept, files = self._open_or_build(sequences, Path(cache_dir), progress)
        self.sequences: tuple[SequenceInfo, ...] = tuple(kept)
        self._files = files
        self.labels = torch.tensor([s.label for s in self.sequences], dtype=torch.long)

    @property
    def channels(self) -> int:
        """Input channels per item."""
        return self.sampling.frames * self._planes

    @property
    def _planes(self) -> int:
        return 2 if self.polarity_split else 1

    @property
    def input_range(self) -> tuple[float, float]:
        """Value range of the items (for TTFS input encoding): [0, 1], or its image under the normalisation,
        computed with the same float32 arithmetic as the items so the extreme values land on it exactly."""
        if self.normalize is None:
            return INPUT_RANGE
        low, high = self._normalized(np.array([0.0, 1.0], dtype=np.float32))
        return float(low), float(high)

    def _normalized(self, x: np.ndarray) -> np.ndarray:
        """Apply the normalisation in place to float32 values in [0, 1]."""
        if self.normalize is not None:
            mean, std = self.normalize
            np.subtract(x, np.float32(mean), out=x)
            np.divide(x, np.float32(std), out=x)
        return x

    @property
    def cache_path(self) -> Path | None:
        """The memory-mapped frame cache file (``None``: frames in memory, or no cache)."""
        return self._cache_path

    def set_epoch(self, epoch: int) -> None:
        """Select the window draws of ``epoch`` (training epoch or inference run index)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.sequences)

    def indices(self, index: int) -> np.ndarray:
        """Frame indices (into the sequence's usable frames) of item ``index`` for the current epoch."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return self.sampling.sample(len(self._files[index]), rng)

    # -- frame cache -------------------------------------------------------------------------------
    def _decode(self, seq: SequenceInfo, names: list[str]) -> tuple[np.ndarray | None, list[str]]:
        """Decode, map and resize ``names``; bad frames raise (strict) or are dropped and counted."""
        if seq.recording is not None:
            return self._decode_recording(seq, names)
        good: list[str] = []
        raw: list[np.ndarray] = []
        for name in names:
            try:
                raw.append(read_frame(seq.event_dir / name))
            except DatasetError:
                if self.strict:
                    raise
                self.skipped_frames += 1
                continue
            good.append(name)
        if not raw:
            return None, []
        shapes = {r.shape for r in raw}
        if len(shapes) != 1:
            if self.strict:
                raise DatasetError(f"{seq.event_dir}: frames of one sequence differ in size {sorted(shapes)}")
            common = max(shapes, key=lambda s: sum(r.shape == s for r in raw))
            self.skipped_frames += sum(r.shape != common for r in raw)
            good = [g for g, r in zip(good, raw, strict=True) if r.shape == common]
            raw = [r for r in raw if r.shape == common]
        values = resize_stack(
            map_pixels(np.stack(raw), polarity_split=self.polarity_split, dead_zone=self.dead_zone),
            self.size,
            self.resample,
        )
        return np.clip(np.round(values * 255.0), 0, 255).astype(np.uint8), good

    def _decode_recording(self, seq: SequenceInfo, names: list[str]) -> tuple[np.ndarray | None, list[str]]:
        """Frame a raw recording and map and resize the frames ``names`` (frame numbers); an unreadable
        recording raises (strict) or drops all of them."""
        assert seq.recording is not None
        try:
            counts = frame_source(seq.recording)
        except DatasetError:
            if self.strict:
                raise
            self.skipped_frames += len(names)
            return None, []
        if not names:
            return None, []
        values = resize_stack(
            map_event_counts(counts[[int(n) for n in names]], polarity_split=self.polarity_split),
            self.size,
            self.resample,
        )
        return np.clip(np.round(values * 255.0), 0, 255).astype(np.uint8), list(names)

    def _decode_into(
        self,
        sequences: Sequence[SequenceInfo],
        out: np.ndarray,
        progress: Callable[[int, int], None] | None,
    ) -> tuple[list[int], list[list[str]], int]:
        """Decode every sequence into consecutive rows of ``out``; returns the positions (in ``sequences``)
        of the sequences kept, their kept frame names and the rows used."""
        kept: list[int] = []
        files: list[list[str]] = []
        used = 0
        for n, seq in enumerate(sequences, 1):
            stack, names = self._decode(seq, list(seq.event_files))
            if stack is not None:
                out[used : used + len(stack)] = stack
                used += len(stack)
                kept.append(n - 1)
                files.append(names)
            else:
                self.skipped_sequences += 1
            if progress is not None:
                progress(n, len(sequences))
        return kept, files, used

    def _cache_shape(self, sequences: Sequence[SequenceInfo]) -> tuple[int, int, int, int]:
        """Shape of a cache holding every listed frame (an upper bound when frames are skipped)."""
        return (sum(len(s.event_files) for s in sequences), self._planes, self.size, self.size)

    def _set_rows(self, frames: np.ndarray, files: list[list[str]]) -> None:
        lengths = np.array([len(f) for f in files], dtype=np.int64)
        self._frames = frames
        self._start = np.cumsum(lengths) - lengths

    def _fill_memory(
        self, sequences: Sequence[SequenceInfo], progress: Callable[[int, int], None] | None
    ) -> tuple[list[SequenceInfo], list[list[str]]]:
        out = np.empty(self._cache_shape(sequences), dtype=np.uint8)
        kept, files, used = self._decode_into(sequences, out, progress)
        self._set_rows(out if used == len(out) else out[:used].copy(), files)
        return [sequences[i] for i in kept], files

    def _open_or_build(
        self,
        sequences: Sequence[SequenceInfo],
        folder: Path,
        progress: Callable[[int, int], None] | None,
    ) -> tuple[list[SequenceInfo], list[list[str]]]:
        """Open the memory-mapped cache of ``sequences`` in ``folder``, building it first when it is missing
        or stale (see [`ttfsnet_nas.emotion.frame_cache`][ttfsnet_nas.emotion.frame_cache])."""
        names = ("size", "resample", "polarity_split", "dead_zone", "strict")
        settings = {name: getattr(self, name) for name in names}
        path, meta_path, fingerprint = cache_files(folder, sequences, settings)
        shape = self._cache_shape(sequences)
        opened = open_cache(path, meta_path, fingerprint, shape[1:])
        if opened is None:

            def fill(out: np.ndarray) -> tuple[int, dict[str, Any]]:
                self.skipped_frames = self.skipped_sequences = 0
                kept, files, used = self._decode_into(sequences, out, progress)
                dropped = {
                    str(i): sorted(set(sequences[i].event_files) - set(names))
                    for i, names in zip(kept, files, strict=True)
                    if len(names) != len(sequences[i].event_files)
                }
                return used, {"kept": kept, "dropped": dropped, "skipped_frames": self.skipped_frames}

            # Another process that builds the same cache at the same moment (identical bytes) may remove
            # the sidecar between our write and our read: build again, a few times at most.
            for _ in range(3):
                write_cache(path, meta_path, fingerprint, shape, fill)
                opened = open_cache(path, meta_path, fingerprint, shape[1:])
                if opened is not None:
                    break
            else:
                raise DatasetError(f"{path}: the frame cache just written cannot be read back")
        elif progress is not None:
            progress(len(sequences), len(sequences))
        frames, meta = opened
        kept = [sequences[i] for i in meta["kept"]]
        files: list[list[str]] = []
        for i, seq in zip(meta["kept"], kept, strict=True):
            gone = set(meta["dropped"].get(str(i), ()))
            files.append([f for f in seq.event_files if f not in gone])
        if sum(len(f) for f in files) != len(frames):
            raise DatasetError(f"{meta_path}: frame counts do not match {path.name}; delete both to rebuild")
        self.skipped_frames = int(meta["skipped_frames"])
        self.skipped_sequences = len(sequences) - len(kept)
        self._set_rows(frames, files)
        self._cache_path = path
        return kept, files

    # -- items and batches -------------------------------------------------------------------------
    def _window_u8(self, index: int, idx: np.ndarray) -> np.ndarray:
        """``uint8`` frames ``(frames, P, size, size)`` of a window, decoded now (no cache)."""
        seq = self.sequences[index]
        while True:
            names = self._files[index]
            chosen = [names[i] for i in idx]
            stack, good = self._decode(seq, chosen)
            if stack is not None and len(good) == len(chosen):
                return stack
            # Non-strict: drop the bad files from this sequence for good and redraw within the rest.
            bad = set(chosen) - set(good)
            self._files[index] = [n for n in names if n not in bad]
            if not self._files[index]:
                raise DatasetError(f"{seq.event_dir}: no decodable frame left in this sequence")
            idx = self.indices(index)

    def windows(self, index: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        """The ``uint8`` windows of the items at ``index`` for the current epoch, ``(B, C, size, size)``
        (value · 255; one fancy-indexed gather from the frame cache)."""
        rows = np.asarray(index, dtype=np.int64).reshape(-1)
        if len(rows) == 0:
            return np.zeros((0, self.channels, self.size, self.size), dtype=np.uint8)
        if self._frames is not None and self._start is not None:
            idx = np.stack([self.indices(int(r)) for r in rows])
            stack = self._frames[self._start[rows][:, None] + idx]  # (B, frames, P, size, size)
        else:
            stack = np.stack([self._window_u8(int(r), self.indices(int(r))) for r in rows])
        return stack.reshape(len(rows), self.channels, self.size, self.size)

    def gather_batch(
        self, index: Sequence[int] | np.ndarray | torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The items at ``index`` as a contiguous float32 batch ``(B, C, size, size)`` and int64 labels.

        Equal, bit for bit, to stacking ``self[i]`` for ``i`` in ``index``.
        """
        rows = np.asarray(index, dtype=np.int64).reshape(-1)
        x = self.windows(rows).astype(np.float32)
        np.divide(x, np.float32(255.0), out=x)
        return torch.from_numpy(self._normalized(x)), self.labels[torch.from_numpy(rows)]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x, _ = self.gather_batch([index])
        return x[0], int(self.labels[index])

    def materialize(self, epoch: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """All items of one epoch as ``(X (N, C, size, size), y (N,))`` tensors (fast path for small sets)."""
        if epoch is not None:
            self.set_epoch(epoch)
        if len(self) == 0:
            raise DatasetError("materialize: the dataset has no sequences")
        return self.gather_batch(np.arange(len(self)))

    def __getstate__(self) -> dict[str, object]:
        # A worker process reopens the memory map instead of receiving a pickled copy of every frame.
        state = dict(self.__dict__)
        if self._cache_path is not None:
            state["_frames"] = None
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        if self._cache_path is not None:
            self._frames = np.asarray(np.load(self._cache_path, mmap_mode="r"))

    @property
    def names(self) -> list[str]:
        """Sequence names, in item order."""
        return [s.name for s in self.sequences]

    @property
    def lightings(self) -> list[str | None]:
        """Lighting of each item (``None`` when the name has no lighting token)."""
        return [s.lighting for s in self.sequences]


@dataclass(frozen=True, slots=True)
class EmotionSplits:
    """The TNAS-ER data splits (§4.1).

    Attributes:
        supernet: ``fraction`` of the training sequences (supernet training).
        search: the rest of the training sequences (evolutionary-search fitness).
        train: all training sequences (retraining).
        test: the testing sequences (final evaluation only).
    """

    supernet: EventEmotionDataset
    search: EventEmotionDataset
    train: EventEmotionDataset
    test: EventEmotionDataset


def load_splits(
    root: str | os.PathLike[str] | None = None,
    *,
    layout: DatasetLayout = SEE_LAYOUT,
    search_fraction: float = 0.2,
    split_seed: int = 0,
    search_split: SplitRule = "random",
    strict: bool = True,
    **dataset_kwargs: object,
) -> EmotionSplits:
    """Load a SEE-style root and build the four TNAS-ER datasets (one cache shared by train/supernet/search).

    Args:
        root: dataset root (``None`` → ``TTFSNET_DATA``).
        layout: [`SEE_LAYOUT`][ttfsnet_nas.emotion.see.SEE_LAYOUT] or a DSEE layout.
        search_fraction: share of the training sequences held out for the search (TNAS-ER: 0.2).
        split_seed: seed of the supernet/search split.
        search_split: ``random`` (stratified by emotion, the pipeline's default) or ``subject`` (whole
            subjects held out); see
            [`ttfsnet_nas.emotion.splits.split_training`][ttfsnet_nas.emotion.splits.split_training].
        strict: see [`EventEmotionDataset`][ttfsnet_nas.emotion.dataset.EventEmotionDataset].
        **dataset_kwargs: forwarded to
            [`EventEmotionDataset`][ttfsnet_nas.emotion.dataset.EventEmotionDataset] (``size``, ``sampling``,
            ...).
    """
    train_seqs, test_seqs = load_see(root, layout=layout, strict=strict).train_test()
    supernet_seqs, search_seqs = split_training(
        train_seqs, search_fraction=search_fraction, seed=split_seed, rule=search_split
    )
    train = EventEmotionDataset(train_seqs, strict=strict, **dataset_kwargs)  # type: ignore[arg-type]
    by_name = {s.name: i for i, s in enumerate(train.sequences)}

    def subset(seqs: list[SequenceInfo]) -> EventEmotionDataset:
        return subset_view(train, [by_name[s.name] for s in seqs if s.name in by_name])

    test = EventEmotionDataset(test_seqs, strict=strict, **dataset_kwargs)  # type: ignore[arg-type]
    return EmotionSplits(supernet=subset(supernet_seqs), search=subset(search_seqs), train=train, test=test)


def subset_view(parent: EventEmotionDataset, rows: Sequence[int]) -> EventEmotionDataset:
    """A dataset over some of ``parent``'s sequences that shares its cache (no re-decoding).

    Args:
        parent: the dataset to take sequences from.
        rows: indices into ``parent.sequences``, in the order the view should have them.

    Returns:
        A new [`EventEmotionDataset`][ttfsnet_nas.emotion.dataset.EventEmotionDataset] (same sampling, size
        and epoch as ``parent``).
    """
    rows = [int(i) for i in rows]
    child = object.__new__(EventEmotionDataset)
    child.__dict__.update(parent.__dict__)
    child.sequences = tuple(parent.sequences[i] for i in rows)
    child._files = [list(parent._files[i]) for i in rows]
    child._start = parent._start[np.asarray(rows, dtype=np.int64)] if parent._start is not None else None
    child.labels = parent.labels[rows].clone() if rows else torch.zeros(0, dtype=torch.long)
    child.skipped_frames = 0
    child.skipped_sequences = 0
    return child
