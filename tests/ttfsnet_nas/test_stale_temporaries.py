"""A writer SIGKILLed mid-write leaves ``.<name>.<random>.tmp``; the next holder of the run lock drops it."""

from __future__ import annotations

from pathlib import Path

from ttfsnet_nas.pipelines import _remove_stale_temporaries  # pyright: ignore[reportPrivateUsage]


def test_stale_temporaries_are_removed_and_real_files_kept(tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    stale = tmp_path / "test" / ".test_epoch_0_2.json.0123abcd.tmp"
    stale.write_text("{")
    staging = tmp_path / ".artifact.x1.tmp"
    staging.mkdir()
    (staging / "weights.safetensors").write_bytes(b"x")
    kept = [tmp_path / "test" / "test_epoch_0_1.json", tmp_path / "notes.tmp", tmp_path / ".lock"]
    for path in kept:
        path.write_text("keep")
    _remove_stale_temporaries(tmp_path)
    assert not stale.exists() and not staging.exists()
    assert all(path.read_text() == "keep" for path in kept)
