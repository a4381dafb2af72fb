"""Survivor selection: scalar top-k and NSGA-II (non-dominated sorting + crowding distance).

Both use Deb's constrained domination: feasible beats infeasible; among infeasible candidates the smaller
total violation wins. Ties are broken by the position in the input, so selection is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ttfsnet_nas.fitness import Score

__all__ = ["crowding_distance", "dominates", "non_dominated_sort", "select_nsga2", "select_top"]


def select_top(scores: Sequence[Score], k: int) -> list[int]:
    """Indices of the ``k`` best scores by [`Score.key`][ttfsnet_nas.Score.key], best first; earlier index
    wins ties."""
    keys = [s.key() for s in scores]
    # a reverse sort is stable, so equal keys keep index order
    return sorted(range(len(keys)), key=keys.__getitem__, reverse=True)[:k]


def dominates(a: Score, b: Score) -> bool:
    """Constrained Pareto dominance of ``a`` over ``b`` (all vector entries are maximised)."""
    if a.feasible != b.feasible:
        return a.feasible
    if not a.feasible:
        return a.violation < b.violation
    ge_all = all(x >= y for x, y in zip(a.vector, b.vector, strict=True))
    return ge_all and any(x > y for x, y in zip(a.vector, b.vector, strict=True))


def non_dominated_sort(scores: Sequence[Score]) -> list[list[int]]:
    """Fast non-dominated sort (Deb et al. 2002). Returns fronts of indices, first front first."""
    n = len(scores)
    dominated_by: list[list[int]] = [[] for _ in range(n)]
    count = [0] * n
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(scores[i], scores[j]):
                dominated_by[i].append(j)
                count[j] += 1
            elif dominates(scores[j], scores[i]):
                dominated_by[j].append(i)
                count[i] += 1
    fronts: list[list[int]] = []
    current = [i for i in range(n) if count[i] == 0]
    while current:
        fronts.append(current)
        nxt: list[int] = []
        for i in current:
            for j in dominated_by[i]:
                count[j] -= 1
                if count[j] == 0:
                    nxt.append(j)
        current = sorted(nxt)
    return fronts


def crowding_distance(scores: Sequence[Score], front: Sequence[int]) -> dict[int, float]:
    """Crowding distance of each index in ``front`` (boundary points get ``inf``)."""
    dist = {i: 0.0 for i in front}
    if len(front) <= 2:
        return {i: math.inf for i in front}
    m = len(scores[front[0]].vector)
    for d in range(m):
        ordered = sorted(front, key=lambda i: (scores[i].vector[d], i))
        lo, hi = scores[ordered[0]].vector[d], scores[ordered[-1]].vector[d]
        dist[ordered[0]] = dist[ordered[-1]] = math.inf
        if hi == lo:
            continue
        for a, i, b in zip(ordered, ordered[1:], ordered[2:], strict=False):
            dist[i] += (scores[b].vector[d] - scores[a].vector[d]) / (hi - lo)
    return dist


def select_nsga2(scores: Sequence[Score], k: int) -> list[int]:
    """NSGA-II survivor selection of ``k`` indices: whole fronts, then the least crowded of the last one."""
    chosen: list[int] = []
    for front in non_dominated_sort(scores):
        if len(chosen) + len(front) <= k:
            chosen.extend(front)
            continue
        dist = crowding_distance(scores, front)
        rest = sorted(front, key=lambda i: (-dist[i], i))
        chosen.extend(rest[: k - len(chosen)])
        break
    return chosen
