"""Repository-wide test configuration: standard library and pytest only (see tests/<pkg>/conftest.py)."""

from __future__ import annotations

import os

# Tests run on two shared cores; oversubscribed BLAS/OpenMP threads only slow them down.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
