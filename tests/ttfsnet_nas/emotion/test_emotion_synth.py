"""Synthetic generator: layout, determinism (seed, worker count), statistics and the tiny-preset budget."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from ttfsnet_nas.emotion.see import EMOTIONS, LIGHTINGS, load_see, read_frame
from ttfsnet_nas.emotion.synth import PRESETS, SynthConfig, generate, plan_dataset, render_sequence

SMALL_CFG = dict(subjects=4, takes=(1, 1), length_range=(14, 16), length_mean=15.0, size=32, substeps=2)


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "synth_config.json":
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_tiny_preset_budget_and_counts(tiny_see_summary) -> None:
    summary, cpu_seconds = tiny_see_summary
    assert cpu_seconds < 10.0, f"tiny generation took {cpu_seconds:.1f} CPU s (budget 10 s)"
    assert summary.sequences == 168 and summary.counts["subset"] == {"training": 112, "testing": 56}
    meta = json.loads((summary.root / "synth_config.json").read_text())
    assert meta["synthetic"] is True and meta["preset"] == "tiny"
    split = json.loads((summary.root / "emotion.json").read_text())
    assert split["labels"] == list(EMOTIONS)
    name, entry = next(iter(split["database"].items()))
    assert entry["annotations"]["segment"] == [0, int(name.split("_")[7])]
    assert entry["subset"] in ("training", "testing")


def test_event_frames_look_like_see(tiny_see_root: Path) -> None:
    index = load_see(tiny_see_root)
    frames = np.stack([read_frame(p) for s in index.sequences[::12] for p in s.event_paths()])
    assert frames.shape[1:] == (48, 48)
    values = frames.astype(np.float64) / 255.0
    assert abs(values.mean() - 0.5) < 0.01  # ON/OFF balanced around the 128 background (SEE: 0.504)
    active = np.abs(frames.astype(int) - 128) > 64
    assert 0.005 < active.mean() < 0.08  # SEE: about 2 % active pixels
    assert 0.03 < values.std() < 0.2  # SEE: sd 0.069


def test_same_seed_same_bytes_and_worker_count_independent(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", preset="tiny", seed=5, workers=1, **SMALL_CFG)
    b = generate(tmp_path / "b", preset="tiny", seed=5, workers=2, **SMALL_CFG)
    c = generate(tmp_path / "c", preset="tiny", seed=6, workers=1, **SMALL_CFG)
    assert a.sequences == b.sequences == 28
    assert tree_digest(a.root) == tree_digest(b.root)
    assert tree_digest(a.root) != tree_digest(c.root)


def test_render_is_deterministic_and_in_memory_arrays_match() -> None:
    cfg = PRESETS["tiny"]
    plan = plan_dataset(cfg, 3)[10]
    ev1, fr1 = render_sequence(plan, cfg, 3)
    ev2, fr2 = render_sequence(plan, cfg, 3)
    assert np.array_equal(ev1, ev2) and np.array_equal(fr1, fr2)
    assert ev1.shape == (plan.length, 48, 48) and set(np.unique(ev1)) <= {0, 128, 255}


def test_official_split_overlaps_subjects_and_frames_tree(tmp_path: Path) -> None:
    cfg = dict(SMALL_CFG, takes=(3, 3), write_frames=True)
    s = generate(tmp_path / "o", preset="tiny", seed=1, split="official", test_fraction=1 / 3, **cfg)
    index = load_see(s.root)
    train = {x.subject for x in index.subset("training")}
    test = {x.subject for x in index.subset("testing")}
    assert train == test == {"001", "002", "003", "004"}  # per-take split: subjects overlap, as in SEE
    # Per (subject, emotion) exactly one of the 3 takes is held out.
    assert len(index.subset("testing")) == 4 * 7
    assert all(
        x.frame_dir is not None and len(list(x.frame_dir.glob("*.jpg"))) == x.length for x in index.sequences
    )
    aps = np.stack([read_frame(p) for p in sorted(index.sequences[0].frame_dir.glob("*.jpg"))])
    assert aps.std() > 5  # an image, not a constant


def test_lighting_allocation_and_subject_metadata() -> None:
    plans = plan_dataset(PRESETS["full"], 0)  # planned only: rendering 2,300 sequences takes ~40 CPU min
    assert len({p.subject.sid for p in plans}) == 111  # SEE: 111 volunteers
    assert 2250 <= len(plans) <= 2450  # SEE: 2,405 sequences (this seed: 2,347)
    assert PRESETS["full"].size == 180 and PRESETS["full"].write_frames
    assert abs(sum(p.subset == "testing" for p in plans) / len(plans) - 0.2) < 0.05
    by_subject = {}
    for p in plans:
        by_subject.setdefault(p.subject.sid, set()).add(p.subject.lighting)
    assert all(len(v) == 1 for v in by_subject.values())  # one lighting per subject
    shares = {light: sum(v == {light} for v in by_subject.values()) for light in LIGHTINGS}
    assert shares == {"normal": 46, "Overexposed": 22, "Low": 22, "HDR": 21}
    lengths = np.array([p.length for p in plans])
    assert 18 <= lengths.min() and lengths.max() <= 131 and 48 < lengths.mean() < 58
    seqs = [int(p.name.split("_")[0]) for p in plans]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_progress_and_errors(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    generate(
        tmp_path / "p",
        preset="tiny",
        seed=0,
        progress=lambda d, t: calls.append((d, t)),
        **dict(SMALL_CFG, subjects=1),
    )
    assert calls[-1] == (7, 7) and len(calls) == 7
    with pytest.raises(ValueError, match="output folder is not empty"):
        generate(tmp_path / "p", preset="tiny", **SMALL_CFG)
    generate(tmp_path / "p", preset="tiny", overwrite=True, **dict(SMALL_CFG, subjects=1))  # ours: replaced
    (tmp_path / "p" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"refusing to overwrite.*\(notes.txt\)"):
        generate(tmp_path / "p", preset="tiny", overwrite=True, **SMALL_CFG)
    assert (tmp_path / "p" / "notes.txt").is_file()
    with pytest.raises(ValueError, match="unknown synthetic preset 'huge'"):
        generate(tmp_path / "q", preset="huge")
    with pytest.raises(ValueError, match=r"unknown SynthConfig field\(s\) \['colour'\]"):
        generate(tmp_path / "q", preset="tiny", colour=1)
    with pytest.raises(ValueError, match="SynthConfig.split: expected 'subject_disjoint' or 'official'"):
        SynthConfig(subjects=2, split="random")
