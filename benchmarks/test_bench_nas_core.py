"""Search bookkeeping overhead of the generic NAS core.

A toy evaluator does a small but realistic amount of work per candidate: a numpy forward pass of the
candidate subnet (6 searchable blocks, each a 256-wide dense layer with kernel "size" 3/5 = 1 or 2 stacked
layers, or skip) over a 1024-sample evaluation batch, then accuracy/WAR/UAR from the logits – the shape of
what the inherited-weight evaluator does, a few milliseconds per candidate instead of seconds.

Two benchmarks, TNAS-ER defaults P = k = 12, R = 18 (216 evaluations):

* ``test_search_bookkeeping_fraction``: a full journaled search with that evaluator. Its ``extra_info``
  splits the wall time: ``strategy_fraction`` (ask + tell: generation, dedup cache, scoring, elite
  selection; asserted < 1 %), ``journal_fraction`` (records, RNG states, JSON, write + fsync) and
  ``evaluate_fraction``.
* ``test_strategy_bookkeeping_only``: the same strategy driven by ask/tell alone (values looked up from a
  precomputed table, no journal). It names the full search as its ``reference`` with ``target`` 0.01, so
  ``benchmarks/ratios.py`` checks "bookkeeping < 1 % of search wall time" as a ratio of two benchmarks of
  the same run.

Run: ``pytest benchmarks/test_bench_nas_core.py --benchmark-only -s`` (then ``python benchmarks/ratios.py``
on the saved JSON).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ttfsnet_nas.fitness import Fitness
from ttfsnet_nas.search import run_search
from ttfsnet_nas.space import Architecture, SearchSpace
from ttfsnet_nas.strategies import Strategy, create_strategy
from ttfsnet_nas.toy import Landscape

pytestmark = pytest.mark.benchmark(group="nas_core")

WIDTH, BATCH, CLASSES, BLOCKS = 256, 1024, 7, 6
#: Share of the search wall time the strategy may spend (issue: bookkeeping < 1 %).
STRATEGY_TARGET = 0.01


class ToySupernet:
    """Shared weights for every block/op, evaluated on a fixed batch (numpy only)."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.space = SearchSpace({f"b{i}": ["k3", "k5", "skip"] for i in range(BLOCKS)})
        scale = 1.0 / np.sqrt(WIDTH)
        self.w = {
            (g, op, j): (rng.standard_normal((WIDTH, WIDTH)) * scale).astype(np.float32)
            for g in self.space.gene_names
            for op in ("k3", "k5")
            for j in range(2)
        }
        self.head = (rng.standard_normal((WIDTH, CLASSES)) * scale).astype(np.float32)
        self.x = rng.standard_normal((BATCH, WIDTH)).astype(np.float32)
        self.y = rng.integers(CLASSES, size=BATCH)

    def __call__(self, arch: Architecture) -> dict[str, float]:
        h = self.x
        for g, op in arch.items():
            for j in range({"k3": 1, "k5": 2, "skip": 0}[op]):
                h = np.maximum(h @ self.w[(g, op, j)], 0.0)
        pred = (h @ self.head).argmax(axis=1)
        recalls = [float((pred[self.y == c] == c).mean()) for c in range(CLASSES) if (self.y == c).any()]
        war = float((pred == self.y).mean()) * 100
        return {"war": war, "uar": 100 * sum(recalls) / len(recalls), "accuracy": war}


def _timed(strategy: Strategy) -> dict[str, float]:
    spent = {"strategy": 0.0}
    ask, tell = strategy.ask, strategy.tell

    def timed_ask() -> Any:
        t0 = time.perf_counter()
        try:
            return ask()
        finally:
            spent["strategy"] += time.perf_counter() - t0

    def timed_tell(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return tell(*args, **kwargs)
        finally:
            spent["strategy"] += time.perf_counter() - t0

    strategy.ask = timed_ask  # type: ignore[method-assign]
    strategy.tell = timed_tell  # type: ignore[method-assign]
    return spent


def test_search_bookkeeping_fraction(benchmark: Any, tmp_path: Path) -> None:
    net = ToySupernet()
    runs: list[dict[str, float]] = []

    def one_search() -> None:
        strategy = create_strategy("evolution", space=net.space, fitness=Fitness.tnas_er(), seed=len(runs))
        spent = _timed(strategy)
        eval_time = {"t": 0.0}

        def evaluate(arch: Architecture) -> dict[str, float]:
            t0 = time.perf_counter()
            out = net(arch)
            eval_time["t"] += time.perf_counter() - t0
            return out

        journal = tmp_path / f"j{len(runs)}.jsonl"
        t0 = time.perf_counter()
        result = run_search(strategy, evaluate, journal=journal)
        wall = time.perf_counter() - t0
        assert len(result.history) == 216
        runs.append(
            {
                "wall_s": wall,
                "strategy": spent["strategy"] / wall,
                "evaluate": eval_time["t"] / wall,
                "journal": (wall - eval_time["t"] - spent["strategy"]) / wall,
                "ms_per_eval": 1000 * eval_time["t"] / 216,
            }
        )

    benchmark.pedantic(one_search, rounds=3, iterations=1)
    med = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
    benchmark.extra_info.update(
        {
            "strategy_fraction": med["strategy"],
            "journal_fraction": med["journal"],
            "evaluate_fraction": med["evaluate"],
            "ms_per_evaluation": med["ms_per_eval"],
            "target_strategy_fraction": STRATEGY_TARGET,
        }
    )
    print(
        f"\n216 evaluations, {med['ms_per_eval']:.2f} ms each: strategy {100 * med['strategy']:.3f} %, "
        f"journal {100 * med['journal']:.2f} %, evaluator {100 * med['evaluate']:.1f} % "
        f"of {med['wall_s']:.2f} s"
    )
    assert med["strategy"] < STRATEGY_TARGET


def test_strategy_bookkeeping_only(benchmark: Any) -> None:
    net = ToySupernet()
    land = Landscape(net.space, seed=0)
    # precomputed so the timed loop holds nothing but ask/tell (a dict lookup stands in for the evaluator)
    table = {a: {"war": land.accuracy(a), "uar": land.accuracy(a) - 1.0} for a in net.space.enumerate()}
    fitness = Fitness.tnas_er()
    seeds = iter(range(10_000))

    def strategy_only() -> int:
        strategy = create_strategy("evolution", space=net.space, fitness=fitness, seed=next(seeds))
        while (arch := strategy.ask()) is not None:
            strategy.tell(arch, fitness.evaluate(table[arch]))
        return len(strategy.history)

    n = benchmark.pedantic(strategy_only, rounds=20, iterations=1, warmup_rounds=1)
    assert n == 216
    benchmark.extra_info["reference"] = "test_search_bookkeeping_fraction"
    benchmark.extra_info["target"] = STRATEGY_TARGET
    benchmark.extra_info["ms_per_candidate"] = 1000 * benchmark.stats.stats.median / 216
