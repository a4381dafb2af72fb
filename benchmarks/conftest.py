"""Benchmark configuration. Run separately from the tests: ``pytest benchmarks --benchmark-only``.

``--ratio-check`` turns the run into a regression gate: after the benchmarks, every ratio target and
throughput floor declared in ``extra_info`` (see ``benchmarks/ratios.py``) is checked, each missed one is
printed on one line, and the run fails (exit status 1) if any is missed. pytest-benchmark's own warnings
(e.g. ``--benchmark-compare`` with no saved run to compare with) are shown, not hidden.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


def _ratios() -> ModuleType:
    # benchmarks/ is not a package and not on sys.path (importlib import mode): load the script by path
    spec = importlib.util.spec_from_file_location("_bench_ratios", Path(__file__).with_name("ratios.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # pytest-benchmark warns while it configures (``--benchmark-compare`` found no saved run, the machine
    # differs from the saved one): show those warnings, which the repository's filterwarnings=error would
    # turn into an INTERNALERROR
    from pytest_benchmark.logger import PytestBenchmarkWarning

    warnings.filterwarnings("default", category=PytestBenchmarkWarning)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ratio-check",
        action="store_true",
        help="Fail the run when a benchmark misses its ratio target or throughput floor "
        "(benchmarks/ratios.py).",
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not config.getoption("--ratio-check"):
        return
    bench_session: Any = getattr(config, "_benchmarksession", None)
    benchmarks = [b.as_dict(include_data=False) for b in getattr(bench_session, "benchmarks", []) if b]
    if benchmarks:
        missed = _ratios().missed_targets({"benchmarks": benchmarks})
    else:
        missed = ["no benchmark ran (use --benchmark-only, without -n, and select the references too)"]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        verdict = "FAILED" if missed else f"{len(benchmarks)} benchmarks, all met"
        reporter.write_sep("-", f"ratio check: {verdict}")
        for line in missed:
            reporter.write_line(f"missed: {line}")
    if missed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
