"""Contract-test base classes for strategies and objectives (optuna ``testing`` style).

Built-in and third-party strategies/objectives reuse the same suite::

    from ttfsnet_nas.testing import StrategyContractTests

    class TestMyStrategy(StrategyContractTests):
        @pytest.fixture
        def strategy_name(self) -> str:
            return "my_strategy"

Needs pytest (a test dependency, not a runtime one). [`local_ray`][ttfsnet_nas.testing.local_ray] starts a
small local Ray cluster for tests of distributed evaluation (needs the ``ray`` extra).
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ttfsnet_nas.fitness import ConstraintSpec, Fitness
from ttfsnet_nas.objectives import EvalContext, Objective, ObjectiveError, get_objective
from ttfsnet_nas.space import Architecture, CostBound, SearchSpace
from ttfsnet_nas.strategies.base import Strategy, StrategyError, Trial, create_strategy

__all__ = [
    "ObjectiveContractTests",
    "StrategyContractTests",
    "contract_metrics",
    "contract_space",
    "local_ray",
]


@contextlib.contextmanager
def local_ray(num_cpus: int = 2) -> Iterator[Any]:
    """A local Ray cluster with ``num_cpus`` CPUs whose workers run one OpenMP thread; shut down on exit.

    Yields the ``ray`` module. Skips the calling test when ``ray`` is not installed.
    """
    ray = pytest.importorskip("ray")
    with warnings.catch_warnings():
        # Ray's startup may emit its own deprecation notices; nothing else is silenced.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray\..*")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"ray\..*")
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}},
        )
    try:
        yield ray
    finally:
        ray.shutdown()


def contract_space() -> SearchSpace:
    """4 genes × 3 ops (81 architectures) minus those with more than two ``c`` ops (a cost bound)."""
    genes = {f"g{i}": ["a", "b", "c"] for i in range(4)}
    return SearchSpace(
        genes, constraints=[CostBound("n_c", lambda arch: sum(op == "c" for op in arch.values()), high=2)]
    )


def contract_metrics(arch: Architecture) -> dict[str, float]:
    """Deterministic metrics: accuracy rewards ``b`` ops, params grow with ``b`` and ``c`` ops (a
    trade-off)."""
    acc = 50.0 + sum(10.0 if op == "b" else 2.0 * i for i, op in enumerate(arch.values()))
    ops = list(arch.values())
    params = 1000.0 + 500.0 * ops.count("c") + 300.0 * ops.count("b") + 10.0 * ops.count("a")
    return {"accuracy": acc, "war": acc, "uar": acc - 1.0, "params": params}


def _drive(
    strategy: Strategy, evaluate: Callable[[Architecture], dict[str, float]], limit: int = 10_000
) -> list[Trial]:
    n = 0
    while (arch := strategy.ask()) is not None and n < limit:
        strategy.tell(
            arch, {k: v for k, v in evaluate(arch).items() if k in strategy.fitness.objective_names()}
        )
        n += 1
    return list(strategy.history)


class StrategyContractTests:
    """Behaviour every registered strategy must show. Override the ``strategy_name`` fixture
    (and ``strategy_kwargs`` for small budgets)."""

    @pytest.fixture
    def strategy_name(self) -> str:
        raise NotImplementedError("override the strategy_name fixture")

    @pytest.fixture
    def strategy_kwargs(self) -> dict[str, Any]:
        return {}

    @pytest.fixture
    def make(self, strategy_name: str, strategy_kwargs: dict[str, Any]) -> Callable[..., Strategy]:
        def factory(
            seed: int | None = 0, fitness: Fitness | None = None, space: SearchSpace | None = None
        ) -> Strategy:
            return create_strategy(
                strategy_name,
                space=space or contract_space(),
                fitness=fitness or Fitness(weights={"accuracy": 1.0}),
                seed=seed,
                **strategy_kwargs,
            )

        return factory

    def test_asks_valid_architectures(self, make: Callable[..., Strategy]) -> None:
        strategy = make()
        trials = _drive(strategy, contract_metrics)
        assert trials, "strategy proposed nothing"
        for t in trials:
            assert isinstance(t.architecture, Architecture)
            assert strategy.space.is_valid(t.architecture), t.architecture

    def test_tell_of_unasked_candidate_raises(self, make: Callable[..., Strategy]) -> None:
        strategy = make()
        arch = strategy.ask()
        assert arch is not None
        other = next(a for a in strategy.space.enumerate() if a != arch)
        with pytest.raises(StrategyError, match="never asked"):
            strategy.tell(other, contract_metrics(other))

    def test_tell_twice_raises(self, make: Callable[..., Strategy]) -> None:
        strategy = make()
        arch = strategy.ask()
        assert arch is not None
        strategy.tell(arch, contract_metrics(arch))
        with pytest.raises(StrategyError, match="already told"):
            strategy.tell(arch, contract_metrics(arch))

    def test_batch_barrier_and_out_of_order_tells(self, make: Callable[..., Strategy]) -> None:
        strategy = make()
        batch = strategy.ask_batch()
        assert batch
        assert strategy.ask() is None and not strategy.finished  # waits for the outstanding tells
        for arch in reversed(batch):
            strategy.tell(arch, contract_metrics(arch))
        assert [t.architecture for t in strategy.history] == list(reversed(batch))
        assert strategy.ask() is not None or strategy.finished

    def test_deterministic_under_seed(self, make: Callable[..., Strategy]) -> None:
        a = [t.architecture.key for t in _drive(make(seed=7), contract_metrics)]
        b = [t.architecture.key for t in _drive(make(seed=7), contract_metrics)]
        assert a == b

    def test_no_duplicate_evaluations(self, make: Callable[..., Strategy]) -> None:
        keys = [t.architecture.key for t in _drive(make(seed=1), contract_metrics)]
        assert len(keys) == len(set(keys))

    def test_terminates_within_budget(self, make: Callable[..., Strategy]) -> None:
        strategy = make()
        trials = _drive(strategy, contract_metrics)
        assert strategy.finished
        assert strategy.ask() is None
        if strategy.budget is not None:
            assert len(trials) <= strategy.budget

    def test_infeasible_never_best_when_feasible_exists(self, make: Callable[..., Strategy]) -> None:
        fitness = Fitness(
            weights={"accuracy": 1.0}, constraints=(ConstraintSpec(objective="params", max=1500.0),)
        )
        strategy = make(fitness=fitness)
        trials = _drive(strategy, contract_metrics)
        feasible = [t for t in trials if contract_metrics(t.architecture)["params"] <= 1500.0]
        best = strategy.best()
        assert best is not None
        if feasible and strategy.uses_fitness:
            assert contract_metrics(best.architecture)["params"] <= 1500.0
            assert best.score.value == max(t.score.value for t in feasible)

    def test_state_dict_resume_is_identical(self, make: Callable[..., Strategy]) -> None:
        ref = [t.architecture.key for t in _drive(make(seed=3), contract_metrics)]
        strategy = make(seed=3)
        for _ in range(max(1, len(ref) // 2)):
            arch = strategy.ask()
            assert arch is not None
            strategy.tell(arch, {"accuracy": contract_metrics(arch)["accuracy"]})
        state = json.loads(json.dumps(strategy.state_dict()))  # must be JSON-serialisable
        resumed = make(seed=None)
        resumed.load_state_dict(state)
        keys = [t.architecture.key for t in _drive(resumed, contract_metrics)]
        assert keys == ref


class ObjectiveContractTests:
    """Behaviour every registered objective must show. Override ``objective_name`` and, for objectives
    that need more than numeric metrics, ``context``."""

    @pytest.fixture
    def objective_name(self) -> str:
        raise NotImplementedError("override the objective_name fixture")

    @pytest.fixture
    def objective(self, objective_name: str) -> Objective:
        return get_objective(objective_name)

    @pytest.fixture
    def context(self, objective: Objective) -> EvalContext:
        if objective.example is not None:
            return objective.example()
        return EvalContext(metrics={k: 0.5 + i for i, k in enumerate(objective.requires)})

    def test_metadata(self, objective: Objective, objective_name: str) -> None:
        assert objective.name == objective_name
        assert objective.direction in ("max", "min")
        assert objective.description.strip(), f"objective {objective.name!r} has no description"
        assert objective.sign in (1.0, -1.0)

    def test_computes_finite_float(self, objective: Objective, context: EvalContext) -> None:
        value = objective(context)
        assert isinstance(value, float)
        assert math.isfinite(value)

    def test_deterministic(self, objective: Objective, context: EvalContext) -> None:
        assert objective(context) == objective(context)

    def test_missing_metric_is_a_clear_error(self, objective: Objective) -> None:
        if not objective.requires:  # objectives that read only extras have nothing to omit
            assert objective.requires == ()
            return
        with pytest.raises(ObjectiveError, match=objective.requires[0]):
            objective(EvalContext(metrics={}))
