"""The generic recipe loader trusts nothing (issue 12): duplicate keys, non-UTF-8 bytes, non-finite floats and
ints beyond 64 bits are one-line :class:`RecipeError` s naming the file and the key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from ttfsnet_nas.config import RecipeError, from_dict, from_yaml, load_yaml, param, replace_path


@dataclass(frozen=True, kw_only=True, slots=True)
class _Train:
    lr: float = param(0.1, gt=0.0)
    weights: dict[str, float] | None = None
    steps: int = 1
    sizes: tuple[int, ...] = ()


def test_yaml_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("base: &b {lr: 0.1, steps: 2}\ntrain:\n  <<: *b\n  lr: 0.5\n")
    assert load_yaml(path)["train"] == {"lr": 0.5, "steps": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb:\n  - {x: 1, x: 2}\n", 'line 3, column 12: duplicate key "x" (first set on line 3)'),
        ("a: 1\nb: 2\na: 3\n", 'line 3, column 1: duplicate key "a" (first set on line 1)'),
        ("1: a\n1.0: b\n", "line 2, column 1: duplicate key 1.0 (first set on line 1)"),
    ],
)
def test_duplicate_keys_anywhere(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError) as info:
        load_yaml(path)
    assert str(info.value) == f"{path}: invalid YAML: {message}"


def test_non_utf8_names_file_offset_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_bytes(b"lr: 0.1\nname: \xc3\x28\n")  # an invalid two-byte sequence
    with pytest.raises(RecipeError) as info:
        load_yaml(path)
    assert str(info.value) == f"{path}: not UTF-8 text: byte 0xc3 at byte offset 14 (line 2)"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"lr": float("nan")}, "lr: expected a finite number, got NaN"),
        ({"weights": {"acc": float("-inf")}}, "weights.acc: expected a finite number, got -Infinity"),
        ({"lr": 10**400}, "lr: expected a finite number, got 1"),  # beyond the float range
        ({"steps": 2**63}, "steps: expected an int that fits in 64 bits, got 9223372036854775808"),
        ({"sizes": [1, -(2**63) - 1]}, "sizes[1]: expected an int that fits in 64 bits"),
    ],
)
def test_non_finite_and_oversized_numbers(data: dict[str, object], message: str) -> None:
    with pytest.raises(RecipeError) as info:
        from_dict(_Train, data)
    assert str(info.value).startswith(message)


def test_limits_hold_for_files_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("lr: .inf\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: lr: expected a finite number, got Infinity$"):
        from_yaml(_Train, path)
    with pytest.raises(RecipeError, match=r"^lr: expected a finite number"):
        replace_path(_Train(), "lr", float("inf"))
    assert from_dict(_Train, {"lr": 10**30, "steps": 2**63 - 1}).lr == 1e30  # large but finite: accepted
