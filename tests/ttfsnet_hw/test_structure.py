"""Package structure: one error hierarchy, deliberate exports, a torch-free core, no reaching into other
modules' private names, no import of ttfsnet_nas, atomic writes with plain permissions."""

from __future__ import annotations

import ast
import inspect
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ttfsnet_hw
from ttfsnet_hw import errors
from ttfsnet_hw.atomic import atomic_write
from ttfsnet_hw.ir import IRBuilder
from ttfsnet_hw.profile import load_profile, write_profile
from ttfsnet_hw.walk import emitter_windows, schedule

SRC = Path(ttfsnet_hw.__file__).parent


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
    return out


def test_every_error_is_a_hardware_error() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__]
    assert all(issubclass(c, errors.HardwareError) for c in classes)
    for cls in (
        errors.IRError,
        errors.ProfileError,
        errors.QuantizationError,
        errors.ModelLoadError,
        errors.HardwareObjectiveError,
    ):
        assert issubclass(cls, ValueError)
    assert not any(issubclass(c, KeyError) for c in classes)
    from ttfsnet_hw.cli import UsageError

    assert issubclass(UsageError, errors.HardwareError) and issubclass(UsageError, ValueError)


def test_exports_are_deliberate() -> None:
    assert ttfsnet_hw.__version__
    assert len(set(ttfsnet_hw.__all__)) == len(ttfsnet_hw.__all__)
    for name in ttfsnet_hw.__all__:
        assert hasattr(ttfsnet_hw, name), name
    for path in _modules():
        if path.name in ("__main__.py", "__init__.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert any(
            isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
            for n in tree.body
        ), f"{path.name} has no __all__"


def test_core_import_is_torch_free() -> None:
    code = "import sys, ttfsnet_hw.nas, ttfsnet_hw.load, ttfsnet_hw.cli\nprint('torch' in sys.modules)"
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert res.stdout.strip() == "False"


def test_no_ttfsnet_nas_and_no_private_imports() -> None:
    for path in _modules():
        for module, names in _imports(path):
            assert not module.startswith("ttfsnet_nas"), f"{path.name} imports {module}"
            if module.startswith("ttfsnet_hw"):
                private = [n for n in names if n.startswith("_")]
                assert not private, f"{path.name} imports private {private} from {module}"
    assert "ttfsnet_nas" not in (SRC / "adapters" / "torch.py").read_text(encoding="utf-8")


def test_types_is_a_leaf() -> None:
    own = {m for m, _ in _imports(SRC / "types.py") if m.startswith("ttfsnet_hw")}
    assert own <= {"ttfsnet_hw.errors"}
    assert not {m for m, _ in _imports(SRC / "errors.py") if m.startswith("ttfsnet_hw")}


def test_modules_stay_small() -> None:
    """About 500 lines at most; a module that needs more says why in its docstring."""
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        reason = "500 lines" in (ast.get_docstring(ast.parse(text)) or "")
        assert lines <= 500 or (reason and lines <= 550), f"{path.relative_to(SRC)} has {lines} lines"


def test_atomic_write_gives_open_permissions(tmp_path: Path) -> None:
    for umask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        old = os.umask(umask)
        try:
            path = atomic_write(tmp_path / "d" / f"f{umask:o}.txt", b"data")
            profile = write_profile(load_profile("horowitz45"), tmp_path / f"p{umask:o}.yaml")
        finally:
            os.umask(old)
        assert path.read_bytes() == b"data"
        assert stat.S_IMODE(path.stat().st_mode) == mode
        assert stat.S_IMODE(profile.stat().st_mode) == mode
    atomic_write(tmp_path / "d" / "f22.txt", b"new")  # replaces
    assert (tmp_path / "d" / "f22.txt").read_bytes() == b"new"
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        atomic_write(tmp_path / "x", "not bytes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_walk_schedule_windows() -> None:
    ir = (
        IRBuilder("w", (1, 8, 8), rng=np.random.default_rng(0))
        .maxpool(2)
        .conv(2, 3, window=1.5)
        .maxpool(2)
        .avgpool(2, window=0.75)
        .flatten()
        .readout(2)
    )
    steps = schedule(ir)
    assert [s.in_window for s in steps] == [1.0, 1.0, 1.5, 1.5, 0.75, 0.75]
    assert emitter_windows(ir) == [1.0, 1.0, 1.5, 1.5, 0.75]
