"""Torch dataset: channel stacking, pixel mapping, polarity split, window determinism, cache, bad frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ttfsnet_nas.emotion.dataset import (
    INPUT_RANGE,
    EventEmotionDataset,
    load_splits,
    map_pixels,
    resize_stack,
)
from ttfsnet_nas.emotion.sampling import TemporalSampling
from ttfsnet_nas.emotion.see import DatasetError, load_see, read_frame

A = "1_001_man_24_Master_normal_angry_45_take000"
B = "2_001_man_24_Master_normal_angry_50_take001"


def test_pixel_mapping() -> None:
    frames = np.array([[[128, 255, 0, 191]]], dtype=np.uint8)
    grey = map_pixels(frames, polarity_split=False)
    assert grey.shape == (1, 1, 1, 4)
    np.testing.assert_allclose(grey[0, 0, 0], [128 / 255, 1.0, 0.0, 191 / 255])
    pol = map_pixels(frames, polarity_split=True)
    np.testing.assert_allclose(pol[0, 0, 0], [0.0, 1.0, 0.0, 47 / 111])  # ON magnitude, dead zone 16
    np.testing.assert_allclose(pol[0, 1, 0], [0.0, 0.0, 1.0, 0.0])  # OFF magnitude
    near = map_pixels(np.array([[[120, 136, 100]]], dtype=np.uint8), polarity_split=True)
    np.testing.assert_allclose(near[0, :, 0], [[0.0, 0.0, 0.0], [0.0, 0.0, 12 / 112]])  # JPEG ringing → 0
    maps = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    np.testing.assert_allclose(resize_stack(maps, 2, "area")[0], [[2.5, 4.5], [10.5, 12.5]])
    assert resize_stack(maps, 3, "nearest").shape == (1, 3, 3)


def test_items_from_tiny(tiny_see_root: Path) -> None:
    index = load_see(tiny_see_root)
    ds = EventEmotionDataset(index.subset("training")[:20], size=24, seed=1)
    x, y = ds[3]
    assert x.shape == (4, 24, 24) and x.dtype == torch.float32 and ds.channels == 4
    assert (
        INPUT_RANGE[0] <= float(x.min()) and float(x.max()) <= INPUT_RANGE[1] and ds.input_range == (0.0, 1.0)
    )
    assert y == ds.sequences[3].label
    # Items are the E4-S3 frames of the chosen window, mapped p/255 and 2×2 area-averaged.
    idx = ds.indices(3)
    raw = np.stack([read_frame(ds.sequences[3].event_dir / ds.sequences[3].event_files[i]) for i in idx])
    expected = raw.astype(np.float32).reshape(4, 24, 2, 24, 2).mean(axis=(2, 4)) / 255.0
    # the frame cache stores resized frames as uint8: rounding error ≤ 1/(2·255) = 1/510 < 1/500
    np.testing.assert_allclose(x.numpy(), expected, atol=1 / 500)
    pol = EventEmotionDataset(index.subset("training")[:5], size=24, polarity_split=True)
    xp, _ = pol[0]
    assert xp.shape == (8, 24, 24) and pol.channels == 8
    assert float(xp.min()) == 0.0 and (xp == 0).float().mean() > 0.8  # background = no input spike


def test_windows_depend_on_seed_epoch_index_only(tiny_see_root: Path) -> None:
    seqs = load_see(tiny_see_root).subset("testing")[:12]
    a = EventEmotionDataset(seqs, size=24, seed=4)
    b = EventEmotionDataset(seqs, size=24, seed=4, cache=False)
    for i in (0, 5, 11):
        assert np.array_equal(
            a.indices(i),
            np.asarray(a.sampling.sample(a.sequences[i].length, np.random.default_rng([4, 0, i]))),
        )
    before = [a.indices(i).tolist() for i in range(12)]
    a.set_epoch(1)
    assert [a.indices(i).tolist() for i in range(12)] != before
    a.set_epoch(0)
    assert [a.indices(i).tolist() for i in range(12)] == before
    # Cached and uncached items agree (cache stores uint8 values: error <= 1/510), in any access order.
    for i in (11, 0, 7):
        np.testing.assert_allclose(a[i][0].numpy(), b[i][0].numpy(), atol=1 / 500)


def test_materialize_and_legacy_sampler(tiny_see_root: Path) -> None:
    seqs = load_see(tiny_see_root).subset("training")[:10]
    ds = EventEmotionDataset(seqs, size=12, sampling=TemporalSampling(legacy_quirks=True))
    x, y = ds.materialize(epoch=3)
    assert x.shape == (10, 4, 12, 12) and y.tolist() == [s.label for s in ds.sequences] and ds.epoch == 3


def test_corrupt_frame_strict_and_lenient(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 16, 16), B: ("angry", "training", 16, 16)})
    bad = root / "event" / "angry" / B / "00004.jpg"
    bad.write_bytes(b"garbage")
    seqs = load_see(root).sequences
    with pytest.raises(DatasetError, match=r"angry_50_take001/00004\.jpg: cannot decode frame"):
        EventEmotionDataset(seqs, size=8)
    lenient = EventEmotionDataset(seqs, size=8, strict=False)
    assert lenient.skipped_frames == 1 and len(lenient) == 2
    assert len(lenient._files[1]) == 15
    # Without a cache the bad frame is found when drawn; it is then dropped and counted.
    lazy = EventEmotionDataset(seqs, size=8, strict=False, cache=False)
    for epoch in range(40):
        lazy.set_epoch(epoch)
        lazy[1]
    assert lazy.skipped_frames == 1 and "00004.jpg" not in lazy._files[1]
    strict_lazy = EventEmotionDataset(seqs, size=8, cache=False)
    with pytest.raises(DatasetError, match="00004.jpg"):
        for epoch in range(40):
            strict_lazy.set_epoch(epoch)
            strict_lazy[1]


def test_load_splits(tiny_see_root: Path) -> None:
    splits = load_splits(tiny_see_root, size=12, search_fraction=0.25, split_seed=0)  # default: random
    assert len(splits.train) == 112 and len(splits.test) == 56
    assert len(splits.supernet) == 84 and len(splits.search) == 28
    assert set(splits.supernet.names).isdisjoint(splits.search.names)
    assert set(splits.supernet.names) | set(splits.search.names) == set(splits.train.names)
    assert splits.search[0][0].shape == (4, 12, 12)
    # the synthetic recipes' rule
    by_subject = load_splits(
        tiny_see_root, size=12, search_fraction=0.25, split_seed=0, search_split="subject"
    )
    assert {s.subject for s in by_subject.supernet.sequences}.isdisjoint(
        s.subject for s in by_subject.search.sequences
    )
