"""Fixtures for the ttfsnet_nas core tests (no torch here: the core must test without it)."""

from __future__ import annotations

import pytest

import ttfsnet_nas
from ttfsnet_nas.space import SearchSpace
from ttfsnet_nas.toy import Landscape, toy_space

# Without an installed package, `import ttfsnet_nas` from the repository root would silently pick up the
# distribution folder as an empty namespace package and every test would fail confusingly.
assert ttfsnet_nas.__file__ is not None, "ttfsnet_nas is not installed; run pip install -e ./ttfsnet_nas"


@pytest.fixture
def space36() -> SearchSpace:
    """3 ops × 6 genes = 729 architectures."""
    return toy_space(6, 3)


@pytest.fixture
def landscape(space36: SearchSpace) -> Landscape:
    """Synthetic landscape on ``space36`` with a known optimum."""
    return Landscape(space36, seed=0)
