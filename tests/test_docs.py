"""Every ```python block in docs/*.md is executed, page by page, so the documentation cannot rot.

Blocks of one page share a namespace and run in order inside a temporary working directory. A block that
cannot run here (it needs real datasets, a cluster or a GPU) is preceded by the line ``<!-- no-exec -->``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"(<!-- no-exec -->\s*)?```python\n(.*?)```", re.S)


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if BLOCK.search(p.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_docs_page_examples_run(page: Path, tmp_path: Path) -> None:
    blocks = [code for skip, code in BLOCK.findall(page.read_text(encoding="utf-8")) if not skip]
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for index, code in enumerate(blocks):
            exec(compile(code, f"{page.name}[block {index}]", "exec"), namespace)
    finally:
        os.chdir(cwd)
