"""Benchmark configuration. Run separately from the tests: ``pytest benchmarks --benchmark-only``."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
