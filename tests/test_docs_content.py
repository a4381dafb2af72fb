"""What the documentation says, checked without building it: no Sphinx role markers in the docstrings (the
API pages render docstrings as markdown), no citation of notes that are not part of the repository, the
home page's example is the README's, and each measured figure is stated in one place."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DISTRIBUTIONS = ("ttfsnet", "ttfsnet_nas", "ttfsnet_hw")
SOURCES = sorted(p for folder in DISTRIBUTIONS for p in (ROOT / folder / "src").rglob("*") if p.is_file())
ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|exc|data|obj|const|ref):`[^`]*`")
# design notes that were never part of the repository: the docs must stand on their own
NOTES = re.compile(r"\b(?:ttfs-math|snntorch-nir|yoso-hw-model|see-dataset)\.md\b|\.\./shared/")
EXAMPLE = re.compile(r"<!-- example:start -->\s*```python\n(.*?)```\s*<!-- example:end -->", re.S)


def _pages() -> list[Path]:
    readmes = [ROOT / "README.md", *(ROOT / folder / "README.md" for folder in DISTRIBUTIONS)]
    return [p for p in readmes if p.exists()] + sorted(DOCS.rglob("*.md"))


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def test_no_sphinx_role_markers_in_the_sources_or_pages() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {match.group(0)}"
        for path in [*(p for p in SOURCES if p.suffix == ".py"), *_pages()]
        for number, line in enumerate(_text(path).splitlines(), 1)
        for match in ROLE.finditer(line)
    ]
    assert not hits, (
        "Sphinx roles show up raw on the API pages; write [`name`][package.module.name] or `name`: "
        f"{hits[:20]}"
    )


def test_docs_cite_nothing_outside_the_repository() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}"
        for path in [*_pages(), *(p for p in SOURCES if p.suffix in {".py", ".yaml", ".yml", ".md"})]
        for number, line in enumerate(_text(path).splitlines(), 1)
        if NOTES.search(line)
    ]
    assert not hits, hits[:20]


def test_docs_pages_named_in_the_text_exist() -> None:
    missing = sorted(
        {
            f"{path.relative_to(ROOT)}: {match.group(0)}"
            for path in [*_pages(), *(p for p in SOURCES if p.suffix == ".py")]
            for match in re.finditer(r"\bdocs/[\w./-]+\.md\b", _text(path))
            if not (ROOT / match.group(0)).exists()
        }
    )
    assert not missing, missing


def test_home_page_example_is_the_readme_example() -> None:
    readme = EXAMPLE.search(_text(ROOT / "README.md"))
    home = EXAMPLE.search(_text(DOCS / "index.md"))
    assert readme and home, "README.md and docs/index.md both mark their example with example:start/end"
    assert home.group(1) == readme.group(1)


def _measured_table(text: str) -> list[str]:
    match = re.search(r"^\| what \| measured \| target \|\n(?:^\|.*\|\n)+", text, re.M)
    assert match, "no '| what | measured | target |' table"
    return match.group(0).splitlines()


def test_benchmarks_page_records_the_readme_figures() -> None:
    # the one record of measured speed and memory: the README's Performance table = docs/benchmarks.md's
    assert _measured_table(_text(DOCS / "benchmarks.md")) == _measured_table(_text(ROOT / "README.md"))


def _figures(pattern: str) -> dict[str, set[str]]:
    """Page → the figures (normalised match text) of ``pattern`` stated on it."""
    found: dict[str, set[str]] = {}
    for path in _pages():
        for match in re.finditer(pattern, _text(path)):
            found.setdefault(str(path.relative_to(ROOT)), set()).add(re.sub(r"\s+", " ", match.group(0)))
    return found


def test_demo_wall_time_and_peak_memory_are_stated_once() -> None:
    # Every page that gives the main job's (`search demo`) or `demo-hw`'s wall time or peak memory must give
    # the benchmark table's figures: only README.md and docs/benchmarks.md, which are checked to be equal.
    allowed = {"README.md", "docs/benchmarks.md"}
    duration = r"\d+(?:\.\d+)?\s*(?:s|min|minutes|seconds)\b"
    memory = r"\d+(?:\.\d+)?\s*[GM]B\b"
    same_paragraph = r"(?:[^\n]|\n(?![ \t]*\n)){0,1500}?"
    pattern = (
        rf"(?:search demo(?:-hw)?\b|demo-hw\b|the demo\b|main job){same_paragraph}"
        rf"(?:{duration}|{memory}[^\n|]*RSS)"
        rf"|(?:RSS|peak memory)[^\n|]*\|[^\n|]*{memory}"
    )
    stray = {page: figures for page, figures in _figures(pattern).items() if page not in allowed}
    assert not stray, f"link to docs/benchmarks.md#measured-figures instead of repeating: {stray}"
    rss = {m for figures in _figures(r"\d+(?:\.\d+)?\s*GB peak RSS").values() for m in figures}
    assert len(rss) == 1, rss
