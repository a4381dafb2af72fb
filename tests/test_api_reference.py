"""The built documentation site: the API reference has an entry for every public name, and the pages work
offline.

The site is built once per test session with ``mkdocs build --strict`` (as `.ci/run` does). Public names are
read from the ``__all__`` of every module of the three packages at test time, so a name added anywhere
without an entry on the API pages (docs/api/*.md) fails here. A name counts as documented when the site's
inventory (``objects.inv``) has it under the path it is exported from, under the path of the object's
definition, or under another path of the same name that is the same object (a re-export).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ttfsnet", "ttfsnet_nas", "ttfsnet_hw")
# Entry-point scripts (they parse sys.argv or start process groups when imported), as in test_docstrings.
EXCLUDED = {"ttfsnet_nas.__main__", "ttfsnet_hw.__main__", "ttfsnet_nas.torch.ddp_train"}
ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|exc|data|obj|const|ref):(?:<code>|`)")
REMOTE = re.compile(
    r"""<(?:script|img|iframe)\b[^>]*\bsrc=["'](?:https?:)?//"""
    r"""|<link\b[^>]*\bhref=["'](?:https?:)?//"""
)
DOCS_TOOLS = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "latex2mathml")


def _missing_docs_tools() -> list[str]:
    missing = []
    for name in DOCS_TOOLS:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = _missing_docs_tools()
    if missing:
        pytest.skip(f"docs tools not installed ({', '.join(missing)}); see docs/contributing.md")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


def _public_modules() -> list[str]:
    names = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if info.name in EXCLUDED or any(part.startswith("_") for part in info.name.split(".")):
                continue
            names.append(info.name)
    return names


def _public_names() -> list[tuple[str, str, Any]]:
    """(module, name, object) for every name of every ``__all__`` of the three packages."""
    found = []
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            found.append((module_name, name, getattr(module, name)))
    return found


def _inventory(site: Path) -> set[str]:
    from mkdocstrings import Inventory

    with open(site / "objects.inv", "rb") as fh:
        return set(Inventory.parse_sphinx(fh))


def _resolve(path: str) -> object:
    """The object an inventory path names (module prefix imported, the rest by attribute), or a sentinel."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return _UNRESOLVED
        return obj
    return _UNRESOLVED


_UNRESOLVED = object()


def _canonical_path(obj: object) -> str | None:
    if inspect.ismodule(obj):
        return obj.__name__
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    return None


def test_every_public_name_has_an_api_reference_entry(site: Path) -> None:
    inventory = _inventory(site)
    by_name: dict[str, list[str]] = {}
    for path in inventory:
        by_name.setdefault(path.rsplit(".", 1)[-1], []).append(path)
    undocumented = []
    for module_name, name, obj in _public_names():
        if f"{module_name}.{name}" in inventory or _canonical_path(obj) in inventory:
            continue
        if any(_resolve(path) is obj for path in by_name.get(name, ())):
            continue
        undocumented.append(f"{module_name}.{name}")
    assert not undocumented, (
        "public names (in an __all__) without an entry on the API pages; add a `::: module` block for "
        f"them to docs/api/*.md: {undocumented}"
    )


def test_every_module_with_public_names_is_found() -> None:
    # the walk above must see the interop, adapters and emotion subpackages, not only the top level
    modules = set(_public_modules())
    assert {"ttfsnet.convert", "ttfsnet.interop.snntorch", "ttfsnet_hw.adapters.torch"} <= modules
    names = {(module, name) for module, name, _ in _public_names()}
    assert ("ttfsnet_nas.torch", "RayEvaluator") in names


def _pages(site: Path) -> list[Path]:
    pages = sorted(site.rglob("*.html"))
    assert pages
    return pages


def test_no_raw_role_markers_on_the_built_pages(site: Path) -> None:
    hits = []
    for page in _pages(site):
        text = page.read_text(encoding="utf-8")
        hits += [f"{page.relative_to(site)}: {m.group(0)}" for m in ROLE.finditer(text)]
    assert not hits, hits[:20]


def test_pages_load_nothing_from_the_network(site: Path) -> None:
    hits = []
    for page in _pages(site):
        text = page.read_text(encoding="utf-8")
        hits += [f"{page.relative_to(site)}: {m.group(0)}" for m in REMOTE.finditer(text)]
    for sheet in site.rglob("*.css"):
        if re.search(r"@import\s+(?:url\()?[\"']?(?:https?:)?//", sheet.read_text(encoding="utf-8")):
            hits.append(str(sheet.relative_to(site)))
    assert not hits, hits[:20]


def test_maths_is_rendered_at_build_time(site: Path) -> None:
    model = (site / "ttfs-model" / "index.html").read_text(encoding="utf-8")
    assert model.count("<math") > 20
    for page in _pages(site):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r'class="arithmatex">\s*\\[(\[]', text), f"raw TeX left on {page}"
