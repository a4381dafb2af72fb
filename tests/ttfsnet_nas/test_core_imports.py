"""The ttfsnet_nas core imports without torch, ttfsnet and matplotlib."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

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
