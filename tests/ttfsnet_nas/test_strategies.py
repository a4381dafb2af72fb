"""Strategy and objective contract tests over every registered strategy/objective, plus evolution details."""

from __future__ import annotations

from typing import Any

import pytest

from ttfsnet_nas.fitness import ConstraintSpec, Fitness
from ttfsnet_nas.objectives import list_objectives
from ttfsnet_nas.space import SearchSpace
from ttfsnet_nas.strategies import (
    Evolution,
    StrategyError,
    create_strategy,
    dominates,
    list_strategies,
    non_dominated_sort,
)
from ttfsnet_nas.testing import (
    ObjectiveContractTests,
    StrategyContractTests,
    contract_metrics,
    contract_space,
)
from ttfsnet_nas.toy import Landscape

SMALL_BUDGET: dict[str, dict[str, Any]] = {
    "evolution": {"pool_size": 6, "elite_size": 4, "rounds": 5},
    "random_search": {"samples": 20},
    "random_sampling": {"samples": 8},
}


class TestEveryStrategy(StrategyContractTests):
    @pytest.fixture(params=list_strategies())
    def strategy_name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def strategy_kwargs(self, strategy_name: str) -> dict[str, Any]:
        return SMALL_BUDGET.get(strategy_name, {})


class TestEveryObjective(ObjectiveContractTests):
    @pytest.fixture(params=[o.name for o in list_objectives()])
    def objective_name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)


def test_builtins_registered() -> None:
    assert {"evolution", "random_search", "random_sampling", "exhaustive"} <= set(list_strategies())


def test_unknown_strategy_lists_registered() -> None:
    with pytest.raises(StrategyError, match="unknown strategy 'nope'; registered: .*evolution"):
        create_strategy("nope", space=contract_space(), fitness=Fitness())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pool_size": 1}, "pool_size: expected int ≥ 2, got 1"),
        ({"elite_size": 0}, "elite_size: expected int ≥ 2"),
        ({"rounds": 0}, "rounds: expected int ≥ 1"),
        ({"mutation_prob": 1.5}, "mutation_prob"),
        ({"seed": -1}, "seed must be a non-negative int"),
    ],
)
def test_evolution_validates_eagerly(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        Evolution(space=contract_space(), fitness=Fitness(), **kwargs)


def test_evolution_rounds_pool_and_elite(space36: SearchSpace, landscape: Landscape) -> None:
    evo = Evolution(space=space36, fitness=Fitness(), seed=0, pool_size=12, elite_size=12, rounds=18)
    assert evo.budget == 216
    rounds: dict[int, int] = {}
    checked = 0
    while (arch := evo.ask()) is not None:
        evo.tell(arch, {"accuracy": landscape.accuracy(arch)})
        rounds[evo.history[-1].round] = rounds.get(evo.history[-1].round, 0) + 1
        if len(evo.history) % 12 == 0:
            # right after a round closes the elite is the top-12 of everything seen so far
            top = sorted(evo.history, key=lambda t: t.score.value, reverse=True)[:12]
            assert {evo.history[i].architecture for i in evo.elite} == {t.architecture for t in top}
            checked += 1
    assert rounds == {r: 12 for r in range(18)}
    assert checked == 18
    assert evo.finished and len(evo.history) == 216
    assert evo.best().architecture == landscape.optimum


def test_children_come_from_elite_by_mutation_and_crossover(
    space36: SearchSpace, landscape: Landscape
) -> None:
    evo = Evolution(space=space36, fitness=Fitness(), seed=1, pool_size=12, elite_size=4, rounds=2)
    for arch in evo.ask_batch():
        evo.tell(arch, {"accuracy": landscape.accuracy(arch)})
    elite = [space36.encode(evo.history[i].architecture) for i in evo.elite]
    children = [space36.encode(a) for a in evo.ask_batch()]
    assert len(children) == 12

    def from_mutation(c: tuple[int, ...]) -> bool:
        return any(sum(x != y for x, y in zip(c, e, strict=True)) >= 1 for e in elite)

    def from_crossover(c: tuple[int, ...]) -> bool:
        return any(
            all(x in (y, z) for x, y, z in zip(c, a, b, strict=True)) for a in elite for b in elite if a != b
        )

    # first 6 by mutation (≥ 1 changed gene), last 6 by crossover (each gene from one of two parents)
    assert all(from_mutation(c) for c in children[:6])
    assert sum(from_crossover(c) for c in children[6:]) >= 5  # a slot may fall back to random fill


def _mutants(evo: Evolution, parent: tuple[int, ...], n: int) -> list[tuple[int, ...]]:
    # one attempt's uniforms: parent, a flip and an op draw per gene, the forced gene
    return [evo._mutant([parent], evo.rng.random(2 * len(parent) + 2).tolist()) for _ in range(n)]


def test_force_change_mutation_always_changes() -> None:
    space = SearchSpace({f"g{i}": ["a", "b"] for i in range(3)})
    evo = Evolution(space=space, fitness=Fitness(), seed=0, mutation_prob=0.0, force_change=True)
    for child in _mutants(evo, (0, 0, 0), 50):
        assert sum(child) == 1  # exactly one gene flipped even with mutation_prob 0


@pytest.mark.parametrize("force_change", [True, False])
def test_mutation_probability_and_force_change(force_change: bool) -> None:
    space = SearchSpace({f"g{i}": ["a", "b", "c"] for i in range(6)})
    evo = Evolution(space=space, fitness=Fitness(), seed=0, mutation_prob=1.0, force_change=force_change)
    children = _mutants(evo, (0,) * 6, 2000)
    changed = [sum(x != 0 for x in c) for c in children]
    if force_change:
        assert set(changed) == {6}  # every gene is drawn for mutation and must take another op
        # the other op is uniform over the remaining two
        assert 0.45 < sum(c[0] == 1 for c in children) / len(children) < 0.55
    else:
        # a redrawn gene keeps its op with probability 1/3: about 4 of 6 genes change on average
        assert 3.8 < sum(changed) / len(changed) < 4.2 and min(changed) < 6


def test_crossover_takes_each_gene_from_one_of_two_distinct_parents() -> None:
    space = SearchSpace({f"g{i}": ["a", "b", "c"] for i in range(6)})
    evo = Evolution(space=space, fitness=Fitness(), seed=0, swap_prob=0.5)
    parents = [(0,) * 6, (1,) * 6, (2,) * 6]
    pairs = set()
    for _ in range(600):
        child = evo._crossover(parents, evo.rng.random(8).tolist())
        used = set(child)
        assert len(used) <= 2  # genes come from two parents only
        if len(used) == 2:
            pairs.add(frozenset(used))
    assert pairs == {frozenset({0, 1}), frozenset({0, 2}), frozenset({1, 2})}  # every distinct pair occurs


def test_small_space_is_exhausted_not_stuck() -> None:
    space = SearchSpace({"g0": ["a", "b"], "g1": ["a", "b", "c"]})  # 6 architectures < one pool
    evo = Evolution(space=space, fitness=Fitness(), seed=0, pool_size=4, elite_size=2, rounds=10)
    n = 0
    while (arch := evo.ask()) is not None:
        evo.tell(arch, {"accuracy": float(space.encode(arch)[1])})
        n += 1
    assert n == 6 and evo.finished


def test_pareto_evolution_front_is_non_dominated() -> None:
    fitness = Fitness(mode="pareto", objectives=("accuracy", "params"))
    evo = Evolution(space=contract_space(), fitness=fitness, seed=0, pool_size=8, elite_size=6, rounds=4)
    while (arch := evo.ask()) is not None:
        m = contract_metrics(arch)
        evo.tell(arch, {"accuracy": m["accuracy"], "params": m["params"]})
    front = evo.pareto_front()
    assert len(front) >= 2
    for a in front:
        assert not any(dominates(t.score, a.score) for t in evo.history)
    assert non_dominated_sort([t.score for t in evo.history])[0] == [t.index for t in front]


def test_random_search_returns_best_of_n(space36: SearchSpace, landscape: Landscape) -> None:
    rs = create_strategy("random_search", space=space36, fitness=Fitness(), seed=0)
    assert rs.budget == 100
    while (arch := rs.ask()) is not None:
        rs.tell(arch, {"accuracy": landscape.accuracy(arch)})
    assert len(rs.history) == 100
    assert rs.best().values["accuracy"] == max(t.values["accuracy"] for t in rs.history)


def test_random_sampling_needs_no_values(space36: SearchSpace) -> None:
    rs = create_strategy("random_sampling", space=space36, fitness=Fitness(), seed=0)
    archs = rs.ask_batch()
    assert len(archs) == 10
    for a in archs:
        rs.tell(a, {})
    assert rs.finished and len({t.architecture for t in rs.history}) == 10


def test_exhaustive_scores_every_valid_architecture() -> None:
    space = contract_space()
    ex = create_strategy("exhaustive", space=space, fitness=Fitness(), seed=None)
    keys = [a.key for a in ex.ask_batch()]
    assert keys == [a.key for a in space.enumerate()]


def test_infeasible_best_only_when_nothing_is_feasible(space36: SearchSpace, landscape: Landscape) -> None:
    fitness = Fitness(constraints=(ConstraintSpec(objective="params", max=1.0),))  # nothing satisfies it
    rs = create_strategy("random_search", space=space36, fitness=fitness, seed=0, samples=30)
    while (arch := rs.ask()) is not None:
        rs.tell(arch, {"accuracy": landscape.accuracy(arch), "params": landscape.params(arch)})
    best = rs.best()
    assert not best.score.feasible
    assert best.score.violation == min(t.score.violation for t in rs.history)  # least violating wins


@pytest.mark.parametrize("n_parents", [2, 3, 5])
def test_crossover_always_mixes_two_distinct_parents(space36: SearchSpace, n_parents: int) -> None:
    """Every pair of parent draws picks two different elite members: with all swap draws below
    ``swap_prob`` the child is the second parent, with all above it the first, and they never coincide."""
    evo = Evolution(space=space36, fitness=Fitness(), seed=0, pool_size=4, elite_size=4, rounds=2)
    genes = len(space36.genes)
    parents = [tuple([k] * genes) for k in range(n_parents)]  # parent k is recognisable in every gene
    grid = [(k + 0.5) / (4 * n_parents) for k in range(4 * n_parents)]  # every draw cell, several times
    for u0 in grid:
        for u1 in grid:
            first = evo._crossover(parents, [u0, u1, *[1.0] * genes])  # no gene swapped
            second = evo._crossover(parents, [u0, u1, *[0.0] * genes])  # every gene swapped
            assert first in parents and second in parents and first != second, (u0, u1)
