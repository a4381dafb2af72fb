"""The pipeline's data keys: ``data.strict`` (corrupt frames are an error or skipped and counted, never
silently ignored) and ``data.legacy_quirks`` (the original sampler's quirks, off by default)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from ttfsnet_nas.cli import main
from ttfsnet_nas.emotion.data import load_data
from ttfsnet_nas.emotion.recipe import DataConfig
from ttfsnet_nas.progress import NullProgress


class _Recorder(NullProgress):
    def __init__(self) -> None:
        self.messages: list[str] = []

    def log(self, message: str) -> None:
        self.messages.append(message)


@pytest.fixture
def corrupt_root(tiny_see_root: Path, tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "see"
    shutil.copytree(tiny_see_root, root)
    frame = sorted((root / "event").rglob("*.jpg"))[0]
    frame.write_bytes(b"not a jpeg")
    return root, frame


def test_strict_corrupt_frame_is_bad_input_naming_the_file(
    corrupt_root: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, frame = corrupt_root
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"type": "emotion", "data": {"root": str(root), "image_size": 16}}))
    with pytest.raises(SystemExit) as info:
        main(["search", str(recipe), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert frame.name in err and "Traceback" not in err


def test_lenient_corrupt_frame_is_skipped_counted_and_logged(corrupt_root: tuple[Path, Path]) -> None:
    root, _ = corrupt_root
    progress = _Recorder()
    cfg = DataConfig(root=str(root), image_size=16, strict=False)
    data = load_data(cfg, seed=0, with_search_split=False, progress=progress, where="data")
    assert data.train.skipped_frames + data.test.skipped_frames == 1
    assert any("skipped and counted" in m and "frames" in m for m in progress.messages)


def test_legacy_quirks_reach_the_sampler(tiny_see_root: Path) -> None:
    for quirks in (False, True):
        cfg = DataConfig(root=str(tiny_see_root), image_size=16, legacy_quirks=quirks)
        data = load_data(cfg, seed=0, with_search_split=False, progress=NullProgress(), where="data")
        assert data.train.sampling.legacy_quirks is quirks


def test_synthetic_set_is_not_generated_over_foreign_files(tmp_path: Path) -> None:
    from ttfsnet_nas.emotion.data import ensure_dataset
    from ttfsnet_nas.pipelines import PipelineError

    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("a user's file")
    cfg = DataConfig(root=str(root), synthetic="tiny")
    with pytest.raises(PipelineError, match=r"^data\.root: .*refusing to overwrite.*notes\.txt"):
        ensure_dataset(cfg, NullProgress(), "data")
    assert (root / "notes.txt").read_text() == "a user's file"
