"""Memory-mapped frame cache: built once, reopened without decoding, rebuilt when a frame or a setting
changes, bit-identical to the in-memory cache, and batches equal to item-by-item stacking."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ttfsnet_nas.emotion.dataset as dataset_module
from ttfsnet_nas.emotion.data import load_data
from ttfsnet_nas.emotion.dataset import EventEmotionDataset, subset_view
from ttfsnet_nas.emotion.frame_cache import FRAME_CACHE_DIR, default_cache_dir, open_cache
from ttfsnet_nas.emotion.recipe import DataConfig
from ttfsnet_nas.emotion.see import DatasetError, SequenceInfo, load_see, read_frame
from ttfsnet_nas.emotion.synth import generate
from ttfsnet_nas.progress import NullProgress

A = "1_001_man_24_Master_normal_angry_45_take000"
B = "2_001_man_24_Master_normal_angry_50_take001"


@pytest.fixture
def tiny_copy(tiny_see_root: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny set (tests here edit frames)."""
    root = tmp_path / "see"
    shutil.copytree(tiny_see_root, root, ignore=shutil.ignore_patterns(FRAME_CACHE_DIR))
    return root


def _frames(ds: EventEmotionDataset) -> np.ndarray:
    """The dataset's frame cache, ``(frames, P, size, size)``."""
    assert ds._frames is not None
    return ds._frames


def _starts(ds: EventEmotionDataset) -> np.ndarray:
    """First cache row of each item."""
    assert ds._start is not None
    return ds._start


def _counting_decoder(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []

    def counted(path: Path) -> np.ndarray:
        calls.append(path)
        return read_frame(path)

    monkeypatch.setattr(dataset_module, "read_frame", counted)
    return calls


def _forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path) -> np.ndarray:
        raise AssertionError(f"decoded {path} although the frame cache is valid")

    monkeypatch.setattr(dataset_module, "read_frame", refuse)


def _all_batches(ds: EventEmotionDataset, epochs: range) -> list[torch.Tensor]:
    out = []
    for epoch in epochs:
        ds.set_epoch(epoch)
        out.append(ds.gather_batch(np.arange(len(ds)))[0])
    return out


def test_cache_is_built_once_then_opened_without_decoding(
    tiny_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seqs = load_see(tiny_copy).subset("training")[:24]
    cache = tmp_path / "cache"
    calls = _counting_decoder(monkeypatch)
    built = EventEmotionDataset(seqs, size=24, cache_dir=cache, seed=3)
    assert len(calls) == sum(s.length for s in seqs)
    assert built.cache_path is not None and built.cache_path.parent == cache
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".npy"]  # no temporary file left
    _forbid_decoding(monkeypatch)
    ticks: list[tuple[int, int]] = []
    opened = EventEmotionDataset(
        seqs, size=24, cache_dir=cache, seed=3, progress=lambda d, t: ticks.append((d, t))
    )
    assert ticks == [(24, 24)]
    assert opened.cache_path is not None and isinstance(np.load(opened.cache_path, mmap_mode="r"), np.memmap)
    # identical values to the in-memory cache and to the freshly built one, over several epochs
    monkeypatch.undo()
    in_memory = EventEmotionDataset(seqs, size=24, seed=3)
    for a, b, c in zip(*(_all_batches(d, range(3)) for d in (opened, built, in_memory)), strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_batch_equals_items_and_the_uint8_formula(tiny_see_root: Path, tmp_path: Path) -> None:
    seqs = load_see(tiny_see_root).subset("testing")[:10]
    ds = EventEmotionDataset(seqs, size=24, cache_dir=tmp_path / "c", seed=1)
    ds.set_epoch(5)
    rows = [7, 0, 3, 3, 9]
    x, y = ds.gather_batch(torch.tensor(rows))
    assert x.dtype == torch.float32 and x.is_contiguous() and x.shape == (5, 4, 24, 24)
    assert y.dtype == torch.int64 and y.tolist() == [ds.sequences[r].label for r in rows]
    assert torch.equal(x, torch.stack([ds[r][0] for r in rows]))
    # the values of the previous in-memory cache: uint8 windows divided by 255 in float32
    expected = ds.windows(rows).astype(np.float32) / 255.0
    assert np.array_equal(x.numpy(), expected)
    idx = ds.indices(7)
    assert np.array_equal(ds.windows([7])[0], _frames(ds)[_starts(ds)[7] + idx].reshape(4, 24, 24))
    # the uncached path decodes the same frames into the same values
    lazy = EventEmotionDataset(seqs, size=24, cache=False, seed=1)
    lazy.set_epoch(5)
    assert torch.equal(lazy.gather_batch(rows)[0], x)


def test_changed_frame_or_setting_rebuilds(
    tiny_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seqs = load_see(tiny_copy).subset("training")[:6]
    cache = tmp_path / "cache"
    first = EventEmotionDataset(seqs, size=16, cache_dir=cache)
    before = np.array(_frames(first))
    seq = seqs[2]
    frame = seq.event_dir / seq.event_files[0]
    Image.fromarray(np.full((48, 48), 255, dtype=np.uint8)).save(frame, quality=95)
    os.utime(frame, ns=(1, 1))  # a distinct modification time, whatever the file system's clock resolution
    calls = _counting_decoder(monkeypatch)
    rebuilt = EventEmotionDataset(seqs, size=16, cache_dir=cache)
    assert len(calls) == sum(s.length for s in seqs)
    assert rebuilt.cache_path == first.cache_path  # rebuilt in place, not next to the stale file
    changed = _starts(rebuilt)[2]
    assert (_frames(rebuilt)[changed] == 255).all() and not np.array_equal(before[changed], 255)
    others = np.ones(len(before), dtype=bool)
    others[changed] = False
    assert np.array_equal(np.asarray(_frames(rebuilt))[others], before[others])
    # another size or channel setting is another file; the first stays valid
    calls.clear()
    polar = EventEmotionDataset(seqs, size=16, polarity_split=True, cache_dir=cache)
    assert polar.cache_path != rebuilt.cache_path and len(calls) == sum(s.length for s in seqs)
    _forbid_decoding(monkeypatch)
    EventEmotionDataset(seqs, size=16, cache_dir=cache)
    assert len(list(cache.glob("*.npy"))) == 2


def test_stale_or_broken_sidecar_rebuilds(
    tiny_see_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seqs = load_see(tiny_see_root).subset("testing")[:4]
    cache = tmp_path / "cache"
    ds = EventEmotionDataset(seqs, size=8, cache_dir=cache)
    assert ds.cache_path is not None
    ds.cache_path.with_suffix(".json").write_text("{not json")
    calls = _counting_decoder(monkeypatch)
    again = EventEmotionDataset(seqs, size=8, cache_dir=cache)
    assert len(calls) == sum(s.length for s in seqs)
    assert np.array_equal(_frames(again), _frames(ds))


def test_lenient_drops_survive_the_reopen(
    make_see_tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_see_tree({A: ("angry", "training", 16, 16), B: ("angry", "training", 16, 16)})
    (root / "event" / "angry" / B / "00004.jpg").write_bytes(b"garbage")
    seqs = load_see(root).sequences
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"00004\.jpg: cannot decode frame"):
        EventEmotionDataset(seqs, size=8, cache_dir=cache)
    assert not list(cache.glob("*.npy")) and not list(cache.glob(".*.tmp"))  # nothing half-written
    built = EventEmotionDataset(seqs, size=8, strict=False, cache_dir=cache)
    _forbid_decoding(monkeypatch)
    opened = EventEmotionDataset(seqs, size=8, strict=False, cache_dir=cache)
    assert opened.skipped_frames == built.skipped_frames == 1
    assert opened._files == built._files and "00004.jpg" not in opened._files[1]
    assert len(_frames(opened)) == 31
    assert torch.equal(opened.materialize(epoch=2)[0], built.materialize(epoch=2)[0])


def test_subset_views_and_pickling_share_the_memory_map(tiny_see_root: Path, tmp_path: Path) -> None:
    seqs = load_see(tiny_see_root).subset("training")[:12]
    ds = EventEmotionDataset(seqs, size=12, cache_dir=tmp_path / "c", seed=2)
    view = subset_view(ds, [5, 1, 9])
    view.set_epoch(4)
    assert _frames(view) is _frames(ds)  # no copy of the frames
    x, y = view.gather_batch([0, 1, 2])
    assert y.tolist() == [ds.sequences[r].label for r in (5, 1, 9)]
    for i, parent_row in enumerate((5, 1, 9)):  # view row i: the parent's frames, the view's own draws
        frames = _frames(ds)[_starts(ds)[parent_row] + view.indices(i)]
        assert np.array_equal(x[i].numpy(), frames.reshape(4, 12, 12).astype(np.float32) / 255.0)
    # a worker process gets the file name, not a pickled copy of every frame
    payload = pickle.dumps(ds)
    assert len(payload) < _frames(ds).nbytes // 4
    clone = pickle.loads(payload)
    assert torch.equal(clone.gather_batch(np.arange(12))[0], ds.gather_batch(np.arange(12))[0])


def test_load_data_caches_next_to_the_data(tiny_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = DataConfig(root=str(tiny_copy), image_size=16, loader_workers=2)
    data = load_data(cfg, seed=0, with_search_split=True, progress=NullProgress(), where="data")
    assert data.train.cache_path is not None and data.train.cache_path.parent == tiny_copy / FRAME_CACHE_DIR
    assert data.test.cache_path != data.train.cache_path
    assert data.train.loader_workers == 2 and data.supernet is not None and data.supernet.loader_workers == 2
    _forbid_decoding(monkeypatch)
    again = load_data(cfg, seed=0, with_search_split=True, progress=NullProgress(), where="data")
    assert again.split == data.split
    assert torch.equal(again.train.materialize(epoch=1)[0], data.train.materialize(epoch=1)[0])
    # regenerating the synthetic set over it is allowed: the cache is derived from the generator's outputs
    generate(tiny_copy, preset="tiny", overwrite=True, subjects=1, takes=(1, 1), write_frames=False)
    assert not (tiny_copy / FRAME_CACHE_DIR).exists()


def test_default_cache_dir_of_a_read_only_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data"
    root.mkdir()
    assert default_cache_dir(root) == root.resolve() / FRAME_CACHE_DIR
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    fallback = default_cache_dir(root)
    assert fallback.parent == tmp_path / "xdg" / "ttfsnet_nas" / "frame-cache"
    assert default_cache_dir(tmp_path / "other") != fallback


def test_empty_sequence_list(tmp_path: Path) -> None:
    empty: list[SequenceInfo] = []
    ds = EventEmotionDataset(empty, size=8, cache_dir=tmp_path / "c")
    assert len(ds) == 0 and ds.windows([]).shape == (0, 4, 8, 8)


def test_a_concurrent_builder_removing_the_sidecar_means_one_more_build(
    make_see_tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_see_tree({A: ("angry", "training", 16, 16), B: ("angry", "training", 16, 16)})
    (root / "event" / "angry" / B / "00004.jpg").write_bytes(b"garbage")
    seqs = load_see(root).sequences
    real_open = open_cache
    results: list[bool] = []

    def racing_open(path: Path, meta_path: Path, *args: object) -> object:
        if len(results) == 1:  # right after our first write, the other process removes the sidecar
            meta_path.unlink()
        opened = real_open(path, meta_path, *args)  # type: ignore[arg-type]
        results.append(opened is not None)
        return opened

    monkeypatch.setattr(dataset_module, "open_cache", racing_open)
    ds = EventEmotionDataset(seqs, size=8, strict=False, cache_dir=tmp_path / "cache")
    assert results == [False, False, True]  # missing, raced, built again
    assert ds.skipped_frames == 1 and len(_frames(ds)) == 31  # counted once, not once per build
