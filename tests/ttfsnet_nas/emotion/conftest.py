"""Fixtures for the eye-emotion data-layer tests: a generated ``tiny`` synthetic set and a builder of
hand-made trees in the real SEE layout."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ttfsnet_nas.emotion.synth import SynthSummary, generate


@pytest.fixture(scope="session")
def tiny_see_summary(tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthSummary, float]:
    """The ``tiny`` synthetic preset generated once per session (seed 0, in-process) and its CPU seconds."""
    root = tmp_path_factory.mktemp("see_tiny")
    cpu = time.process_time()
    summary = generate(root, preset="tiny", seed=0, workers=1, overwrite=True)
    return summary, time.process_time() - cpu


@pytest.fixture(scope="session")
def tiny_see_root(tiny_see_summary: tuple[SynthSummary, float]) -> Path:
    """Root of the session's ``tiny`` synthetic dataset."""
    return tiny_see_summary[0].root


def write_event_frames(folder: Path, count: int, *, size: int = 8, value: int = 128) -> None:
    """Write ``count`` grey JPGs ``00000.jpg …`` (frame i has pixel (0, 0) = 255 when i is odd)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = np.full((size, size), value, dtype=np.uint8)
        img[0, 0] = 255 if i % 2 else 0
        Image.fromarray(img).save(folder / f"{i:05d}.jpg", quality=95)


SeeTreeBuilder = Callable[..., Path]


@pytest.fixture
def make_see_tree(tmp_path: Path) -> SeeTreeBuilder:
    """Build a small tree in the real SEE layout.

    Call as ``make_see_tree(entries, event_dir="event", json_name="emotion.json", folder_names=None,
    labels=...)`` with ``entries``: name → (emotion, subset, frames on disk, segment end).
    """

    def build(
        entries: Mapping[str, tuple[str, str, int, int]],
        *,
        event_dir: str = "event",
        json_name: str = "emotion.json",
        folder_names: Mapping[str, str] | None = None,
        labels: list[str] | None = None,
        frames: bool = True,
    ) -> Path:
        root = tmp_path / "see"
        folder_names = dict(folder_names or {})
        database = {}
        for name, (emotion, subset, on_disk, end) in entries.items():
            folder = folder_names.get(emotion, emotion)
            write_event_frames(root / event_dir / folder / name, on_disk)
            if frames:
                write_event_frames(root / "frame" / folder / name, on_disk, value=60)
            database[name] = {"subset": subset, "annotations": {"label": emotion, "segment": [0, end]}}
        payload: dict[str, object] = {"database": database}
        if labels is not None:
            payload["labels"] = labels
        (root / json_name).write_text(json.dumps(payload), encoding="utf-8")
        return root

    return build
