"""Generational evolution with top-k elitism (TNAS-ER §3.3, SPOS, AutoSNN).

Round 0 evaluates a random pool of ``pool_size`` architectures. Each later round builds a new pool from
the elite set: ``round(pool_size · mutation_fraction)`` children by per-gene mutation of a random elite
parent, the rest by uniform crossover of two distinct random elite parents, each with up to ``max_tries``
attempts per child; slots still empty (duplicates, invalid children) are filled with random architectures.
After each round the elite becomes the top ``elite_size`` of elite ∪ new pool (NSGA-II selection in Pareto
mode). ``rounds`` counts all rounds including the random one, so the budget is at most
``pool_size · rounds`` evaluations (TNAS-ER defaults: 12 · 18 = 216).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from ttfsnet_nas.fitness import Fitness
from ttfsnet_nas.space import Architecture, SearchSpace
from ttfsnet_nas.strategies.base import Strategy, StrategyError, Trial, register_strategy
from ttfsnet_nas.strategies.selection import select_nsga2, select_top

__all__ = ["Evolution"]


@register_strategy("evolution")
class Evolution(Strategy):
    """TNAS-ER / SPOS evolutionary search.

    Args:
        space: Search space.
        fitness: Ranking of told values (scalar or Pareto).
        seed: RNG seed.
        pool_size: Candidates evaluated per round (P, paper: 12).
        elite_size: Elite set size (k, paper: 12).
        rounds: Rounds including the initial random one (paper: 18).
        mutation_prob: Probability that a gene of a mutated child changes (default 0.2, AutoSNN).
        force_change: A mutated gene always takes a different op, and a mutated child differs from its
            parent in at least one gene (otherwise it would be a duplicate and waste a try).
        mutation_fraction: Share of each new pool made by mutation; the rest by crossover (SPOS: 0.5).
        swap_prob: Per-gene probability of taking the second parent's op in uniform crossover.
        max_tries: Attempts per child before the slot is filled randomly (SPOS: 10).
    """

    def __init__(
        self,
        *,
        space: SearchSpace,
        fitness: Fitness,
        seed: int | None = None,
        pool_size: int = 12,
        elite_size: int = 12,
        rounds: int = 18,
        mutation_prob: float = 0.2,
        force_change: bool = True,
        mutation_fraction: float = 0.5,
        swap_prob: float = 0.5,
        max_tries: int = 10,
    ) -> None:
        super().__init__(space=space, fitness=fitness, seed=seed)
        checks = [
            (
                isinstance(pool_size, int) and pool_size >= 2,
                f"pool_size: expected int ≥ 2, got {pool_size!r}",
            ),
            (
                isinstance(elite_size, int) and elite_size >= 2,
                f"elite_size: expected int ≥ 2, got {elite_size!r}",
            ),
            (isinstance(rounds, int) and rounds >= 1, f"rounds: expected int ≥ 1, got {rounds!r}"),
            (0.0 <= mutation_prob <= 1.0, f"mutation_prob: expected 0 ≤ p ≤ 1, got {mutation_prob!r}"),
            (
                0.0 <= mutation_fraction <= 1.0,
                f"mutation_fraction: expected 0 ≤ f ≤ 1, got {mutation_fraction!r}",
            ),
            (0.0 <= swap_prob <= 1.0, f"swap_prob: expected 0 ≤ p ≤ 1, got {swap_prob!r}"),
            (
                isinstance(max_tries, int) and max_tries >= 1,
                f"max_tries: expected int ≥ 1, got {max_tries!r}",
            ),
        ]
        for ok, msg in checks:
            if not ok:
                raise StrategyError(f"evolution: {msg}")
        self.pool_size = pool_size
        self.elite_size = elite_size
        self.rounds = rounds
        self.mutation_prob = float(mutation_prob)
        self.force_change = bool(force_change)
        self.mutation_fraction = float(mutation_fraction)
        self.swap_prob = float(swap_prob)
        self.max_tries = max_tries
        self.elite: list[int] = []  # history indices, selection order
        self._sizes = [len(ops) for ops in space.genes.values()]
        self._mutable = [g for g, n_ops in enumerate(self._sizes) if n_ops > 1]
        self._codes: dict[int, tuple[int, ...]] = {}
        # encodings of every proposed architecture: children are screened as int tuples before they are
        # decoded, since late rounds retry many duplicate children (same check as Strategy._is_new)
        self._proposed: set[tuple[int, ...]] = set()

    @property
    def budget(self) -> int | None:
        return self.pool_size * self.rounds

    def hparams(self) -> dict[str, Any]:
        return {
            "pool_size": self.pool_size,
            "elite_size": self.elite_size,
            "rounds": self.rounds,
            "mutation_prob": self.mutation_prob,
            "force_change": self.force_change,
            "mutation_fraction": self.mutation_fraction,
            "swap_prob": self.swap_prob,
            "max_tries": self.max_tries,
        }

    # -- generation ------------------------------------------------------------------------------
    def _next_batch(self) -> list[Architecture]:
        if self.round >= self.rounds:
            return []
        taken: set[str] = set()
        children: list[Architecture] = []
        if self.elite:
            n_mut = round(self.pool_size * self.mutation_fraction)
            n_cx = self.pool_size - n_mut
            if len(self.elite) < 2:  # crossover needs two distinct parents
                n_mut, n_cx = self.pool_size, 0
            parents = [self._code(i) for i in self.elite]
            genes = len(self._sizes)
            children = self._breed(n_mut, lambda u: self._mutant(parents, u), 2 * genes + 2, taken)
            children += self._breed(n_cx, lambda u: self._crossover(parents, u), genes + 2, taken)
        fill = self._random_unseen(self.pool_size - len(children), taken, tries_per_item=self.max_tries)
        self._proposed.update(self.space.encode(a) for a in fill)
        return children + fill

    def _breed(
        self, n: int, make: Callable[[list[float]], tuple[int, ...]], width: int, taken: set[str]
    ) -> list[Architecture]:
        """The first ``n`` children ``make`` builds that are valid and never proposed.

        The uniforms of all ``max_tries · n`` attempts are drawn in one call (``width`` per attempt), so the
        strategy's cost does not grow with per-draw overhead when late rounds retry many duplicates, and the
        RNG advances by the same amount however many attempts are used.
        """
        out: list[Architecture] = []
        if n <= 0:
            return out
        draws = self.rng.random((self.max_tries * n, width))
        # converted n rows at a time: most rounds need only a few of the attempts
        for u in itertools.chain.from_iterable(draws[i : i + n].tolist() for i in range(0, len(draws), n)):
            code = make(u)
            if code in self._proposed:  # proposed before, or earlier in this batch
                continue
            child = self.space.decode(code)
            if self.space.satisfies(child):
                out.append(child)
                taken.add(child.key)
                self._proposed.add(code)
                if len(out) == n:
                    break
        return out

    def _code(self, index: int) -> tuple[int, ...]:
        # encodings of history entries never change; cache them (the elite is re-encoded every round)
        code = self._codes.get(index)
        if code is None:
            code = self._codes[index] = self.space.encode(self.history[index].architecture)
        return code

    # Attempts turn uniforms u ∈ [0, 1) into choices: int(u · n) is uniform on 0..n-1 (u · n < n in floats).
    def _mutant(self, parents: list[tuple[int, ...]], u: list[float]) -> tuple[int, ...]:
        """Mutated copy of a random parent; ``u``: parent, one flip and one op draw per gene, forced gene."""
        genes = list(parents[int(u[0] * len(parents))])
        n_genes = len(genes)
        flipped = False
        for g, n_ops in enumerate(self._sizes):
            if n_ops > 1 and u[1 + g] < self.mutation_prob:
                genes[g] = self._new_op(genes[g], n_ops, u[1 + n_genes + g])
                flipped = True
        if self.force_change and not flipped and self._mutable:
            g = self._mutable[int(u[-1] * len(self._mutable))]
            genes[g] = self._new_op(genes[g], self._sizes[g], u[1 + n_genes + g])
        return tuple(genes)

    def _new_op(self, current: int, n_ops: int, u: float) -> int:
        if not self.force_change:
            return int(u * n_ops)
        j = int(u * (n_ops - 1))  # one of the other n_ops - 1 ops
        return j + 1 if j >= current else j

    def _crossover(self, parents: list[tuple[int, ...]], u: list[float]) -> tuple[int, ...]:
        """Uniform crossover of two distinct random parents; ``u``: two parent draws, a swap draw per gene."""
        n = len(parents)
        i = int(u[0] * n)
        j = int(u[1] * (n - 1))
        j += j >= i  # two distinct parents
        p = self.swap_prob
        return tuple([y if d < p else x for x, y, d in zip(parents[i], parents[j], u[2:], strict=True)])

    # -- selection -------------------------------------------------------------------------------
    def _on_batch_complete(self, trials: list[Trial]) -> None:
        candidates = self.elite + [t.index for t in trials]
        scores = [self.history[i].score for i in candidates]
        select = select_nsga2 if self.fitness.is_pareto else select_top
        self.elite = [candidates[i] for i in select(scores, self.elite_size)]

    def _extra_state(self) -> dict[str, Any]:
        return {"elite": list(self.elite)}

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        self.elite = [int(i) for i in extra["elite"]]
        self._codes = {}
        self._proposed = {self.space.encode(Architecture.from_key(k)) for k in self._seen}
