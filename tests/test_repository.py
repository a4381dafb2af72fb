"""Repository-level checks: one version for the three distributions, the README example runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

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
