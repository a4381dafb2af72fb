"""Docstring examples (``>>>``) in the three packages are executed, so they cannot rot."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

PACKAGES = ("ttfsnet", "ttfsnet_nas", "ttfsnet_hw")
# Entry-point scripts that parse sys.argv or start process groups when imported.
EXCLUDED = {"ttfsnet_nas.__main__", "ttfsnet_hw.__main__", "ttfsnet_nas.torch.ddp_train"}


def _modules_with_examples() -> list[str]:
    names = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if info.name in EXCLUDED:
                continue
            spec = importlib.util.find_spec(info.name)
            if spec and spec.origin and ">>> " in Path(spec.origin).read_text(encoding="utf-8"):
                names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", _modules_with_examples())
def test_docstring_examples(module_name: str) -> None:
    module = importlib.import_module(module_name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
