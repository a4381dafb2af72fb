"""Data checks (issue 12): numeric frame names, folders without frames, and ``data info --verify``.

Every error names the real file or folder; lenient mode skips and counts instead of guessing an order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ttfsnet_nas.cli import main
from ttfsnet_nas.emotion import see
from ttfsnet_nas.emotion.see import DatasetError, load_see, verify_frames

A = "1_001_man_24_Master_normal_angry_45_take000"
B = "2_001_man_24_Master_normal_angry_50_take001"
T = "40_002_woman_21_Doctor_Low_neutral_30_take000"


def _folder(root: Path, name: str = A) -> Path:
    return root / "event" / "angry" / name


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


def test_a_non_numeric_name_no_longer_hides_a_gap(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 5, -1)})  # segment: the whole folder
    folder = _folder(root)
    (folder / "00002.jpg").unlink()  # the gap
    (folder / "00002.jpg.bak.jpg").write_bytes((folder / "00001.jpg").read_bytes())
    # before: one odd name switched the folder to sorted-name order, so the gap went unnoticed
    with pytest.raises(DatasetError, match=rf"{A}/00002\.jpg\.bak\.jpg: frame name is not a number"):
        load_see(root)
    index = load_see(root, strict=False)
    (seq,) = index.sequences
    assert seq.event_files == ("00000.jpg", "00001.jpg", "00003.jpg", "00004.jpg")
    # the whole folder is frames 00000..00004: 00002 is counted as missing
    assert index.skipped == {"frame name not a number": 1, "frames missing": 1}


def test_strict_gap_after_the_odd_file_is_removed_names_the_missing_frame(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 5, 5)})
    (_folder(root) / "00002.jpg").unlink()
    (_folder(root) / "cover.png").write_bytes((_folder(root) / "00001.jpg").read_bytes())
    with pytest.raises(DatasetError, match=r"cover\.png: frame name is not a number"):
        load_see(root)
    (_folder(root) / "cover.png").unlink()
    with pytest.raises(DatasetError, match=rf"{A}/00002\.jpg: missing frame"):
        load_see(root)


def test_two_files_of_one_frame_number(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 3, 3)})
    (_folder(root) / "01.png").write_bytes((_folder(root) / "00001.jpg").read_bytes())
    with pytest.raises(DatasetError, match=rf"{A}/01\.png: frame 1 also stored as 00001\.jpg"):
        load_see(root)
    index = load_see(root, strict=False)
    assert index.sequences[0].event_files == ("00000.jpg", "00001.jpg", "00002.jpg")
    assert index.skipped == {"frame number repeated": 1}


@pytest.mark.parametrize("segment_end", [3, -1])
def test_empty_folder_names_the_folder(make_see_tree, segment_end: int) -> None:
    root = make_see_tree({A: ("angry", "training", 0, segment_end), B: ("angry", "training", 3, 3)})
    with pytest.raises(DatasetError) as info:
        load_see(root)
    message = str(info.value)
    assert message.startswith(f"{_folder(root)}: no numbered frame files"), message
    assert "frame #" not in message
    index = load_see(root, strict=False)
    assert [s.name for s in index.sequences] == [B] and index.skipped == {"no frame files": 1}


def test_folder_of_only_non_numeric_names_lenient(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 0, -1), B: ("angry", "training", 3, 3)})
    for name in ("a.jpg", "b.jpg"):
        Image.fromarray(np.full((8, 8), 128, np.uint8)).save(_folder(root) / name)
    index = load_see(root, strict=False)
    assert [s.name for s in index.sequences] == [B]
    assert index.skipped == {"frame name not a number": 2, "no frame files": 1}


def _tree_with_a_broken_frame(make_see_tree) -> tuple[Path, Path]:
    root = make_see_tree({A: ("angry", "training", 4, 4), T: ("neutral", "testing", 3, 3)})
    broken = _folder(root) / "00002.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a jpeg")
    return root, broken


def test_info_verify_strict_exits_2_naming_the_first_undecodable_file(
    make_see_tree, capsys: pytest.CaptureFixture[str]
) -> None:
    root, broken = _tree_with_a_broken_frame(make_see_tree)
    code, _, err = _cli(["data", "info", str(root)], capsys)
    assert code == 0  # without --verify nothing is decoded
    code, _, err = _cli(["data", "info", str(root), "--verify"], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"error: {broken}: cannot decode frame")
    assert "[--verify: 1 of 7 frames undecodable, 0 sequences with mixed frame sizes]" in lines[0]


def test_info_verify_lenient_reports_counts(make_see_tree, capsys: pytest.CaptureFixture[str]) -> None:
    root, broken = _tree_with_a_broken_frame(make_see_tree)
    code, out, err = _cli(["data", "info", str(root), "--verify", "--lenient", "--format", "json"], capsys)
    assert code == 0, err
    verify = json.loads(out)["verify"]
    assert (verify["frames"], verify["undecodable"], verify["mixed_sizes"]) == (7, 1, 0)
    assert verify["first_problem"].startswith(f"{broken}: cannot decode frame")
    code, out, _ = _cli(["data", "info", str(root), "--verify", "--lenient"], capsys)
    assert (
        code == 0 and "verified: 7 frames checked, 1 undecodable, 0 sequences with mixed frame sizes" in out
    )


def test_info_without_verify_decodes_nothing(
    make_see_tree, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = _tree_with_a_broken_frame(make_see_tree)

    def no_decoding(path: Path) -> np.ndarray:
        raise AssertionError(f"decoded {path}")

    monkeypatch.setattr(see, "read_frame", no_decoding)
    code, out, _ = _cli(["data", "info", str(root), "--format", "json"], capsys)
    assert code == 0 and "verify" not in json.loads(out)


def test_verify_finds_mixed_frame_sizes(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 3, 3), T: ("neutral", "testing", 3, 3)})
    Image.fromarray(np.full((6, 6), 128, np.uint8)).save(_folder(root) / "00001.jpg")
    check = verify_frames(load_see(root))
    assert (check.frames, check.undecodable, check.mixed_sizes, check.ok) == (6, 0, 1, False)
    assert check.first_problem == f"{_folder(root)}: frames of one sequence differ in size [(6, 6), (8, 8)]"
    assert verify_frames(load_see(make_see_tree({B: ("angry", "training", 2, 2)}))).ok
