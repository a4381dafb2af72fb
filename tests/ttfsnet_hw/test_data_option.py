"""``ttfsnet-hw estimate --data FILE`` (issue 12): a bad file is refused with exit 2 and one line naming it,
and nothing in a received ``.npy``/``.npz`` is unpickled."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ttfsnet_hw.cli import main

SMALL = "paper:g0b0=conv3x3,g0b1=skip,g1b0=skip,g1b1=conv3x3"
SHAPE = ["--input-shape", "4,16,16"]


class _Planted:
    """Unpickling this object creates the file ``path`` (what a malicious array could do)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (Path(self.path),))


def _object_npy(marker: Path) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([_Planted(str(marker))], dtype=object), allow_pickle=True)
    return buf.getvalue()


def _write(path: Path, content: bytes | np.ndarray) -> Path:
    if isinstance(content, np.ndarray):
        np.save(path, content) if path.suffix == ".npy" else np.savez(path, x=content)
    else:
        path.write_bytes(content)
    return path


def _npz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


_GOOD = np.random.default_rng(0).uniform(0, 1, (3, 4, 16, 16))


_BAD: list[tuple[str, bytes | np.ndarray, str]] = [
    ("text.npy", b"not an array\n", "not a .npy file"),
    ("text.npz", b"not an archive\n", "not an .npz (zip) archive"),
    ("empty.npy", np.zeros((0, 4, 16, 16)), "with N >= 1, got shape (0, 4, 16, 16)"),
    ("flat.npy", np.zeros(5), "expected a numeric array (N, ...)"),
    (
        "nan.npy",
        np.where(np.arange(_GOOD.size).reshape(_GOOD.shape) == 1100, np.nan, _GOOD),
        "sample 1 has a value that is not finite or outside the model's input range [0, 1] (1 such values",
    ),
    (
        "range.npz",
        _GOOD * 300.0,
        "sample 0 has a value that is not finite or outside the model's input range",
    ),
    ("shape.npy", np.zeros((2, 3, 5, 5)), "samples have shape (3, 5, 5), expected (4, 16, 16)"),
]


@pytest.mark.parametrize(("name", "content", "message"), _BAD, ids=[row[0] for row in _BAD])
def test_bad_data_file_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes | np.ndarray, message: str
) -> None:
    path = _write(tmp_path / name, content)
    code = main(["estimate", SMALL, *SHAPE, "--data", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"error: --data: {path}: ") and message in lines[0], lines[0]


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_pickled_data_is_never_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    marker = tmp_path / "pwned"
    payload = _object_npy(marker)
    # the pickle itself would create the marker: prove the payload is live before checking it is not run
    assert not marker.exists()
    pickle.loads(pickle.dumps(_Planted(str(marker))))
    assert marker.exists()
    marker.unlink()
    data = payload if suffix == ".npy" else _npz({"x.npy": payload})
    path = _write(tmp_path / f"evil{suffix}", data)
    code = main(["estimate", SMALL, *SHAPE, "--data", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and not marker.exists(), err
    assert (
        err.startswith(f"error: --data: {path}: cannot read as a numpy array") and len(err.splitlines()) == 1
    )
    assert not any(p.name == "pwned" for p in tmp_path.iterdir()) and os.listdir(tmp_path) == [path.name]
