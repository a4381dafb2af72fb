"""Loaders checked against frames that encode their own sequence and frame number (issue 14, item 1).

A small tree in the real SEE layout is written here: every event frame is a 16×16 image of four flat 8×8
blocks whose grey levels encode (sequence id, frame number on disk). The sequences cover a segment that does
not start at 0, a release numbered from ``00001``, frames on disk after the segment end, an entry without a
segment (the whole folder), a sequence exactly one window long, one shorter than a window and a
one-frame sequence. Every item the loaders return is decoded back to frame numbers and compared with the
frames the documented rule selects, so an offset, a row mix-up in the frame cache or a wrong sampling
rule shows as a wrong frame number, not as a slightly different float.

The expected windows are transcribed from ``docs/emotion-data.md`` ("Temporal sampling", "Windows depend
only on (seed, epoch, index)") and the ``EventEmotionDataset`` / ``TemporalSampling`` docstrings, not taken
from the loader. Item ``i`` of a dataset draws one integer from ``numpy.random.default_rng([seed, epoch,
i])``: the start ``s``, uniform over ``0 … L − span`` (indices ``s + k·(y+1)``), or, for ``L < span``, a start
in ``0 … min(y+1, L) − 1`` whose strided indices are repeated cyclically to *x* frames. Index ``i`` of a
sequence is frame ``first + start + i`` (``SequenceInfo.event_files``: frames are numbered from the lowest
file number ``first``, the JSON segment is ``[start, end)``).

Frames are PNG (lossless: values checked exactly) or JPEG (quality 95). A flat block aligned to JPEG's 8×8
grid keeps only its DC term; with Pillow's libjpeg it even comes back exact, but the JPEG test allows 4 grey
levels per block (the code levels are 12 apart), so another JPEG library's rounding still decodes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ttfsnet_nas.emotion.dataset as dataset_module
from ttfsnet_nas.emotion.dataset import EventEmotionDataset, load_splits, subset_view
from ttfsnet_nas.emotion.sampling import TemporalSampling
from ttfsnet_nas.emotion.see import load_see
from ttfsnet_nas.torch.data import BatchLoader, start_epoch

SIDE = 16  # frame side on disk; four 8×8 blocks
ON0, OFF0, SPACING = 150, 100, 12  # block levels: ON side 150…234 (> 128 + dead zone), OFF side 100…16
LABELS = ["surprise", "sadness", "neutral", "happiness", "fear", "disgust", "angry"]  # JSON label order


@dataclass(frozen=True)
class Seq:
    """One sequence of the tree: id (encoded in its frames), emotion, subset, files on disk, segment."""

    ident: int
    name: str
    emotion: str
    subset: str
    first: int  # number of the lowest frame file on disk
    on_disk: int
    segment: tuple[int, int] | None  # None: no "segment" key, the whole folder

    @property
    def start(self) -> int:
        return 0 if self.segment is None else self.segment[0]

    @property
    def length(self) -> int:
        return self.on_disk if self.segment is None else self.segment[1] - self.segment[0]


TREE = [
    Seq(0, "1_001_man_24_Master_normal_angry_45_take000", "angry", "training", 0, 40, (0, 40)),
    Seq(1, "2_001_man_24_Master_normal_happiness_45_take000", "happiness", "training", 1, 30, (5, 25)),
    Seq(2, "3_002_woman_30_Master_Low_sadness_45_take000", "sadness", "training", 0, 12, (2, 12)),
    Seq(3, "4_002_woman_30_Master_HDR_fear_45_take000", "fear", "training", 0, 13, (0, 13)),
    Seq(4, "5_003_man_22_Bachelor_normal_surprise_45_take000", "surprise", "training", 3, 5, (1, 2)),
    Seq(5, "6_004_man_22_Bachelor_normal_neutral_45_take000", "neutral", "testing", 0, 25, None),
    Seq(6, "7_005_woman_28_Master_Overexposed_disgust_45_take000", "disgust", "testing", 0, 17, (0, 17)),
]
BY_NAME = {s.name: s for s in TREE}


def _frame(ident: int, number: int) -> np.ndarray:
    """Blocks: top-left ``ON0 + 12·(number // 8)``, top-right ``ON0 + 12·(number % 8)``, bottom-left
    ``OFF0 − 12·ident``, bottom-right 128 (no event)."""
    img = np.full((SIDE, SIDE), 128, dtype=np.uint8)
    img[:8, :8] = ON0 + SPACING * (number // 8)
    img[:8, 8:] = ON0 + SPACING * (number % 8)
    img[8:, :8] = OFF0 - SPACING * ident
    return img


def _build(root: Path, suffix: str) -> Path:
    for seq in TREE:
        assert seq.ident < 8 and seq.first + seq.on_disk <= 64  # what the block code can hold
        for tree in ("event", "frame"):
            folder = root / tree / seq.emotion / seq.name
            folder.mkdir(parents=True)
            for number in range(seq.first, seq.first + seq.on_disk):
                Image.fromarray(_frame(seq.ident, number)).save(folder / f"{number:05d}{suffix}", quality=95)
    database: dict[str, object] = {}
    for seq in TREE:
        annotations: dict[str, object] = {"label": seq.emotion}
        if seq.segment is not None:
            annotations["segment"] = list(seq.segment)
        database[seq.name] = {"subset": seq.subset, "annotations": annotations}
    (root / "emotion.json").write_text(json.dumps({"labels": LABELS, "database": database}), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def png_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("oracle_png"), ".png")


# ------------------------------------------------------------------ the documented rule and the decoder


def documented_window(sampling: str, length: int, seed: int, epoch: int, item: int) -> list[int]:
    """Indices into a sequence of ``length`` frames that item ``item`` gets (docs/emotion-data.md)."""
    x, y = (int(v) for v in sampling[1:].split("-S"))
    stride, span = y + 1, x + (x - 1) * y
    rng = np.random.default_rng([seed, epoch, item])
    if length >= span:
        s = int(rng.integers(0, length - span + 1))
        return [s + k * stride for k in range(x)]
    s = int(rng.integers(0, min(stride, length)))
    kept = list(range(s, length, stride))
    return [kept[k % len(kept)] for k in range(x)]


def _levels(channel: torch.Tensor) -> np.ndarray:
    """The grey level (0…255) of each 8-pixel-scale block of one channel ``(size, size)``: (2, 2)."""
    u8 = np.round(channel.numpy().astype(np.float64) * 255.0)
    h = u8.shape[0] // 2
    return np.array([[u8[:h, :h], u8[:h, h:]], [u8[h:, :h], u8[h:, h:]]]).reshape(2, 2, -1)


def decode_grey(channel: torch.Tensor, *, exact: bool) -> tuple[int, int]:
    """(sequence id, frame number) of a grey (``p/255``) channel; ``exact``: every pixel on its level."""
    blocks = _levels(channel)
    mean = blocks.mean(axis=-1)
    hi = round((mean[0, 0] - ON0) / SPACING)
    lo = round((mean[0, 1] - ON0) / SPACING)
    ident = round((OFF0 - mean[1, 0]) / SPACING)
    nominal = np.array(
        [[ON0 + SPACING * hi, ON0 + SPACING * lo], [OFF0 - SPACING * ident, 128]], dtype=np.float64
    )
    tol = 0.0 if exact else SPACING / 3
    assert np.abs(blocks - nominal[:, :, None]).max() <= tol, f"blocks {mean.tolist()} off the code"
    return ident, 8 * hi + lo


def decode_polarity(on: torch.Tensor, off: torch.Tensor) -> tuple[int, int]:
    """(sequence id, frame number) of an ON and an OFF channel (dead zone 16: ON ``(p − 144)/111``, OFF
    ``(112 − p)/112``, both stored as ``round(255·v)``); the other blocks must be exactly 0."""
    on_b, off_b = _levels(on), _levels(off)
    assert on_b[1].max() == 0 and off_b[0].max() == 0 and off_b[1, 1].max() == 0, "event outside its block"
    hi_p = on_b[0, 0].mean() * 111 / 255 + 144
    lo_p = on_b[0, 1].mean() * 111 / 255 + 144
    id_p = 112 - off_b[1, 0].mean() * 112 / 255
    return round((OFF0 - id_p) / SPACING), 8 * round((hi_p - ON0) / SPACING) + round((lo_p - ON0) / SPACING)


def _expected(ds: EventEmotionDataset, sampling: str, seed: int, item: int) -> tuple[int, list[int], int]:
    """Sequence id, frame numbers and label the documented rule gives item ``item`` at ``ds.epoch``."""
    seq = BY_NAME[ds.sequences[item].name]
    idx = documented_window(sampling, seq.length, seed, ds.epoch, item)
    assert all(0 <= i < seq.length for i in idx)
    return seq.ident, [seq.first + seq.start + i for i in idx], LABELS.index(seq.emotion)


def _check_batch(
    ds: EventEmotionDataset,
    rows: list[int],
    x: torch.Tensor,
    y: torch.Tensor,
    sampling: str,
    seed: int,
    *,
    exact: bool,
) -> None:
    frames = int(sampling[1:].split("-S")[0])
    assert x.shape == (len(rows), frames, ds.size, ds.size) and x.dtype == torch.float32
    for b, item in enumerate(rows):
        ident, numbers, label = _expected(ds, sampling, seed, item)
        got = [decode_grey(x[b, k], exact=exact) for k in range(frames)]
        where = f"{ds.sequences[item].name} (item {item}, epoch {ds.epoch}, seed {seed})"
        assert [g[0] for g in got] == [ident] * frames, f"{where}: frames of another sequence"
        assert [g[1] for g in got] == numbers, f"{where}: frame numbers"
        assert int(y[b]) == label, f"{where}: label"


def _datasets(root: Path, sampling: str, seed: int, cache_dir: Path) -> dict[str, EventEmotionDataset]:
    """The dataset through each storage path: no cache (decode per window), in-memory cache, memory-mapped
    cache just built, and the same cache reopened by a second dataset (which must decode nothing)."""
    seqs = list(load_see(root).sequences)
    assert [s.name for s in seqs] == sorted(s.name for s in TREE)  # every entry, the short ones included
    ts = TemporalSampling.from_name(sampling)
    built = EventEmotionDataset(seqs, sampling=ts, size=8, seed=seed, cache_dir=cache_dir)

    def no_decoding(path: Path) -> np.ndarray:
        raise AssertionError(f"{path}: decoded although the frame cache exists")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dataset_module, "read_frame", no_decoding)
        reopened = EventEmotionDataset(seqs, sampling=ts, size=8, seed=seed, cache_dir=cache_dir)
    assert built.cache_path is not None and reopened.cache_path == built.cache_path
    return {
        "no cache": EventEmotionDataset(seqs, sampling=ts, size=8, seed=seed, cache=False),
        "memory cache": EventEmotionDataset(seqs, sampling=ts, size=8, seed=seed),
        "mmap cache (built)": built,
        "mmap cache (reopened)": reopened,
    }


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("sampling", ["E4-S3", "E3-S1", "E2-S0"])
@pytest.mark.parametrize("seed", [0, 11])
def test_every_access_path_returns_the_documented_frames(
    png_root: Path, tmp_path: Path, sampling: str, seed: int
) -> None:
    rows = [6, 0, 3, 3, 4, 1, 2, 5]  # any order, repeats allowed
    for label, ds in _datasets(png_root, sampling, seed, tmp_path / "cache").items():
        assert len(ds) == len(TREE), label
        for epoch in (0, 1, 5):
            ds.set_epoch(epoch)
            for item in range(len(ds)):
                x, y = ds[item]
                _check_batch(ds, [item], x[None], torch.tensor([y]), sampling, seed, exact=True)
            _check_batch(ds, rows, *ds.gather_batch(rows), sampling, seed, exact=True)
            _check_batch(ds, list(range(len(ds))), *ds.materialize(), sampling, seed, exact=True)
        # the training loops' path: start_epoch + BatchLoader in this process
        with BatchLoader(ds, workers=0) as loader:
            start_epoch(ds, 7)
            batches = [torch.tensor([1, 5]), torch.tensor([0, 2, 4]), torch.tensor([6, 3])]
            for index, (x, y) in zip(batches, loader(batches), strict=True):
                _check_batch(ds, index.tolist(), x, y, sampling, seed, exact=True)
        # a view over some sequences shares the cache; its item i draws with its own index i
        view = subset_view(ds, [5, 1, 4])
        _check_batch(view, [0, 1, 2], *view.gather_batch([0, 1, 2]), sampling, seed, exact=True)


def test_windows_reach_every_start_and_never_leave_the_segment(png_root: Path) -> None:
    """Over many epochs every documented start occurs, the last full window included, and no frame before
    the segment start or after its end (files exist on disk there) is ever returned."""
    sampling, epochs = "E4-S3", 400
    ds = EventEmotionDataset(
        list(load_see(png_root).sequences), sampling=TemporalSampling.from_name(sampling), size=8
    )
    seen: dict[str, set[tuple[int, ...]]] = {s.name: set() for s in TREE}
    for epoch in range(epochs):
        x, _ = ds.materialize(epoch)
        for item, name in enumerate(ds.names):
            seq = BY_NAME[name]
            numbers = tuple(decode_grey(x[item, k], exact=True)[1] for k in range(4))
            assert all(seq.first + seq.start <= n < seq.first + seq.start + seq.length for n in numbers), name
            seen[name].add(tuple(n - seq.first - seq.start for n in numbers))
    for seq in TREE:
        if seq.length >= 13:
            # every start 0 … L − 13 (≤ 28 of them): P(some start unseen in 400 uniform draws)
            # ≤ 28·(27/28)^400 < 2e-5, and a missing last window (the SEEN off-by-one) fails
            want = {tuple(s + 4 * k for k in range(4)) for s in range(seq.length - 13 + 1)}
        else:
            starts = range(min(4, seq.length))
            want = {tuple(list(range(s, seq.length, 4)) * 4)[:4] for s in starts}
        assert seen[seq.name] == want, f"{seq.name} (L = {seq.length})"


def test_polarity_channels_are_on_off_per_frame_in_window_order(png_root: Path) -> None:
    sampling, seed = "E4-S3", 3
    ds = EventEmotionDataset(
        list(load_see(png_root).sequences),
        sampling=TemporalSampling.from_name(sampling),
        size=8,
        seed=seed,
        polarity_split=True,
    )
    for epoch in (0, 2):
        x, _ = ds.materialize(epoch)
        assert x.shape[1] == 8
        for item in range(len(ds)):
            ident, numbers, _ = _expected(ds, sampling, seed, item)
            got = [decode_polarity(x[item, 2 * k], x[item, 2 * k + 1]) for k in range(4)]
            assert got == [(ident, n) for n in numbers], ds.names[item]


def test_jpeg_frames_decode_to_the_documented_frames(tmp_path: Path) -> None:
    root = _build(tmp_path / "see", ".jpg")
    sampling, seed = "E4-S3", 5
    for ds in _datasets(root, sampling, seed, tmp_path / "cache").values():
        for epoch in (0, 3):
            ds.set_epoch(epoch)
            # exact=False: 4 grey levels of slack per block (code levels 12 apart); see the docstring
            _check_batch(ds, list(range(len(ds))), *ds.materialize(), sampling, seed, exact=False)


def test_load_splits_views_hold_their_own_sequences(png_root: Path, tmp_path: Path) -> None:
    """The pipeline's split path: supernet and search are views into the training set's cache."""
    sampling, seed = "E4-S3", 2
    splits = load_splits(
        png_root,
        size=8,
        seed=seed,
        cache_dir=tmp_path / "cache",
        sampling=TemporalSampling.from_name(sampling),
        search_split="subject",  # one sequence per emotion: a per-emotion random draw holds none out
    )
    train = {s.name for s in TREE if s.subset == "training"}
    assert set(splits.train.names) == train and set(splits.test.names) == {s.name for s in TREE} - train
    assert sorted(splits.supernet.names + splits.search.names) == sorted(train)
    assert splits.supernet.names and splits.search.names
    for part in (splits.supernet, splits.search, splits.train, splits.test):
        for epoch in (0, 4):
            part.set_epoch(epoch)
            _check_batch(part, list(range(len(part))), *part.materialize(), sampling, seed, exact=True)
