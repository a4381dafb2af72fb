"""The ttfsnet_nas core imports without torch, ttfsnet and matplotlib."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

CODE = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    sys.modules["torch"] = None      # any `import torch` now raises ImportError
    sys.modules["ttfsnet"] = None
    import ttfsnet_nas
    names = sorted(
        m.name for m in pkgutil.walk_packages(ttfsnet_nas.__path__, "ttfsnet_nas.")
        if not m.name.startswith(("ttfsnet_nas.torch", "ttfsnet_nas.emotion"))
    )
    for name in names:
        importlib.import_module(name)
    assert "matplotlib" not in sys.modules, "plots must import matplotlib lazily"
    print(len(names), " ".join(names))
    """
)


def test_every_core_module_imports_without_torch() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    count, names = done.stdout.split(" ", 1)
    for expected in ("space", "strategies.evolution", "objectives", "fitness", "journal", "search", "config",
                     "artifact", "plots", "testing", "cli", "pipelines", "toy", "progress"):
        assert f"ttfsnet_nas.{expected}" in names.split()
    assert int(count) >= 17


def test_toy_search_through_the_cli_without_torch(tmp_path: Path) -> None:
    recipe = tmp_path / "toy.yaml"
    recipe.write_text(
        "type: toy\nspace: {genes: 3, ops: 3}\nsearch: {pool_size: 4, elite_size: 4, rounds: 2}\n"
    )
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None
        sys.modules["ttfsnet"] = None
        from ttfsnet_nas.cli import main
        try:
            main(["-q", "search", {str(recipe)!r}, "--out", {str(tmp_path / "run")!r}])
        finally:
            loaded = [m for m, mod in sys.modules.items() if mod is not None and m.startswith("torch")]
            print("torch-free:", not loaded)
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "torch-free: True" in done.stdout
    assert (tmp_path / "run" / "artifact" / "manifest.json").is_file()
