"""Baselines through the same ask/tell interface: random search, random sampling, exhaustive scoring."""

from __future__ import annotations

from typing import Any

from ttfsnet_nas.fitness import Fitness
from ttfsnet_nas.space import ENUMERATION_LIMIT, Architecture, SearchSpace
from ttfsnet_nas.strategies.base import Strategy, StrategyError, register_strategy

__all__ = ["Exhaustive", "RandomSampling", "RandomSearch"]


@register_strategy("random_search")
class RandomSearch(Strategy):
    """Best of ``samples`` distinct random architectures scored on the supernet (TNAS-ER §4.5: 100).

    Args:
        space: Search space.
        fitness: Ranking of told values.
        seed: RNG seed.
        samples: Number of distinct architectures (capped by the number of valid ones).
    """

    def __init__(
        self, *, space: SearchSpace, fitness: Fitness, seed: int | None = None, samples: int = 100
    ) -> None:
        super().__init__(space=space, fitness=fitness, seed=seed)
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
            raise StrategyError(f"{self.name}: samples: expected int ≥ 1, got {samples!r}")
        self.samples = samples

    @property
    def budget(self) -> int | None:
        return min(self.samples, self.space.size)

    def hparams(self) -> dict[str, Any]:
        return {"samples": self.samples}

    def _next_batch(self) -> list[Architecture]:
        if self.round > 0:
            return []
        return self._random_unseen(self.samples, set())


@register_strategy("random_sampling")
class RandomSampling(RandomSearch):
    """``samples`` random architectures that are all retrained; no fitness-based selection (TNAS-ER: 10).

    ``tell`` accepts any values (even ``{}``); `best` is only meaningful when the fitness can score
    the told values.
    """

    uses_fitness = False

    def __init__(
        self, *, space: SearchSpace, fitness: Fitness, seed: int | None = None, samples: int = 10
    ) -> None:
        super().__init__(space=space, fitness=fitness, seed=seed, samples=samples)


@register_strategy("exhaustive")
class Exhaustive(Strategy):
    """Score every valid architecture once, in canonical order (spaces up to ``ENUMERATION_LIMIT``)."""

    def __init__(self, *, space: SearchSpace, fitness: Fitness, seed: int | None = None) -> None:
        super().__init__(space=space, fitness=fitness, seed=seed)
        if space.size > ENUMERATION_LIMIT:
            raise StrategyError(
                f"exhaustive: space has {space.size} architectures, more than the limit {ENUMERATION_LIMIT}"
            )

    @property
    def budget(self) -> int | None:
        return self.space.size

    def _next_batch(self) -> list[Architecture]:
        if self.round > 0:
            return []
        return list(self.space.enumerate())
