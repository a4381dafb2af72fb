"""Repository-level checks: one version for the three distributions, one error base per distribution, the
import contracts cover the whole NAS core, the README example runs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = ("ttfsnet", "ttfsnet_nas", "ttfsnet_hw")


def _version(folder: str) -> str:
    with open(ROOT / folder / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]["version"]


def test_distribution_versions_match() -> None:
    versions = {folder: _version(folder) for folder in DISTRIBUTIONS}
    assert len(set(versions.values())) == 1, versions


@pytest.mark.parametrize("folder", DISTRIBUTIONS)
def test_package_version_is_the_distribution_version(folder: str) -> None:
    assert __import__(folder).__version__ == _version(folder)


BASES = {"ttfsnet": "TTFSError", "ttfsnet_nas": "NASError", "ttfsnet_hw": "HardwareError"}


def _modules(package: str) -> list[str]:
    root = importlib.import_module(package)
    names = [m.name for m in pkgutil.walk_packages(root.__path__, f"{package}.")]
    return [package, *sorted(n for n in names if not n.endswith("__main__"))]


@pytest.mark.parametrize("package", DISTRIBUTIONS)
def test_every_public_error_derives_from_the_distribution_base(package: str) -> None:
    base = getattr(importlib.import_module(package), BASES[package])
    found: list[str] = []
    for name in _modules(package):
        for attr, obj in vars(importlib.import_module(name)).items():
            if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == name:
                found.append(f"{name}.{attr}")
                if not attr.startswith("_"):
                    assert issubclass(obj, base), (
                        f"{name}.{attr} does not derive from {package}.{base.__name__}"
                    )
                # a KeyError is a failed lookup; anything else raised as one is misleading
                if issubclass(obj, KeyError):
                    assert "lookup" in (obj.__doc__ or "").lower(), f"{name}.{attr} subclasses KeyError"
    assert found


def _contracts() -> list[dict[str, Any]]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["importlinter"]["contracts"]


def test_functional_contract_forbids_every_other_ttfsnet_module() -> None:
    contract = next(c for c in _contracts() if c["source_modules"] == ["ttfsnet.functional"])
    top_level = {n for n in _modules("ttfsnet")[1:] if n.count(".") == 1} - {"ttfsnet.functional"}
    assert top_level <= set(contract["forbidden_modules"]), top_level - set(contract["forbidden_modules"])


def test_import_contracts_cover_the_whole_nas_core() -> None:
    core = next(c for c in _contracts() if "NAS core" in c["name"])
    listed = set(core["source_modules"])
    for name in _modules("ttfsnet_nas")[1:]:
        if name.startswith(("ttfsnet_nas.torch", "ttfsnet_nas.emotion")):
            continue
        assert name in listed or name.rsplit(".", 1)[0] in listed, (
            f"{name} is missing from the NAS core contract"
        )


@pytest.mark.parametrize("folder", DISTRIBUTIONS)
def test_installed_package_is_the_source_tree(folder: str) -> None:
    # Without installation, `import ttfsnet` from the root would pick up the distribution folder as an empty
    # namespace package; this catches that confusing state early.
    module = __import__(folder)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().is_relative_to(ROOT / folder / "src")


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- example:start -->\s*```python\n(.*?)```\s*<!-- example:end -->", text, re.S)
    assert match, "README.md must contain the usage example between example:start/end markers"
    return match.group(1)


def test_readme_example_runs() -> None:
    code = _readme_example()
    assert len(code.strip().splitlines()) <= 20
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), namespace)
