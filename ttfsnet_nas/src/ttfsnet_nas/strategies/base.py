"""Strategy ABC (ask/tell), the trial record, and the strategy registry.

Call order (every strategy):

1. ``arch = strategy.ask()`` – the next candidate, or ``None``. ``None`` means either the strategy is
   [`finished`][ttfsnet_nas.strategies.base.Strategy.finished], or every candidate of the current batch
   (round) has been handed out and the strategy waits for the outstanding
   [`tell`][ttfsnet_nas.strategies.base.Strategy.tell] calls (parallel evaluation).
2. ``strategy.tell(arch, values)`` – objective values of an asked candidate (each candidate exactly once,
   in any order within its batch). When the last candidate of a batch is told, the strategy updates its
   state (e.g. the elite) and the next ``ask`` generates the next batch.

A strategy never proposes an architecture twice (cache over evaluated, pending and queued candidates) and
only proposes architectures that satisfy the search space's constraints. All randomness comes from one
``numpy.random.Generator`` seeded by ``seed``; [`state_dict`][ttfsnet_nas.strategies.base.Strategy.state_dict]
captures it (JSON-serialisable) so that
[`load_state_dict`][ttfsnet_nas.strategies.base.Strategy.load_state_dict] continues bit-identically, also in
the middle of a batch.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np

from ttfsnet_nas.errors import NASError
from ttfsnet_nas.fitness import Fitness, Score
from ttfsnet_nas.space import ENUMERATION_LIMIT, Architecture, SearchSpace
from ttfsnet_nas.strategies.selection import non_dominated_sort, select_top

__all__ = [
    "STATE_VERSION",
    "Strategy",
    "StrategyError",
    "Trial",
    "create_strategy",
    "get_strategy",
    "list_strategies",
    "register_strategy",
]

STATE_VERSION = 1


class StrategyError(NASError, ValueError):
    """Misuse of the ask/tell protocol, bad constructor arguments or an incompatible state dict."""


class Trial(NamedTuple):
    """One evaluated candidate (an immutable record).

    Attributes:
        index: Position in tell order (0-based).
        round: Batch (round) the candidate belongs to.
        architecture: The candidate.
        values: Objective values as told.
        score: Rank information from the fitness.
    """

    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose: the record's position
    round: int
    architecture: Architecture
    values: dict[str, float]
    score: Score

    def to_dict(self) -> dict[str, Any]:
        """JSON form without the score (it is recomputed from ``values``)."""
        return {"round": self.round, "key": self.architecture.key, "values": dict(self.values)}


class Strategy(abc.ABC):
    """Base class of search strategies.

    Subclasses implement `_next_batch` (and optionally `_on_batch_complete`,
    `_extra_state`, `_load_extra_state`). Constructors are keyword-only and validate eagerly.

    Args:
        space: The search space.
        fitness: How told values rank candidates.
        seed: Seed of the strategy's ``numpy.random.Generator`` (``None`` = fresh entropy).
    """

    #: Registry name, set by `register_strategy`.
    name: ClassVar[str] = ""
    #: Whether the strategy ranks candidates (random sampling does not; it only needs values for reports).
    uses_fitness: ClassVar[bool] = True

    def __init__(self, *, space: SearchSpace, fitness: Fitness, seed: int | None = None) -> None:
        if not isinstance(space, SearchSpace):
            raise StrategyError(
                f"{type(self).__name__}: space must be a SearchSpace, got {type(space).__name__}"
            )
        if not isinstance(fitness, Fitness):
            raise StrategyError(
                f"{type(self).__name__}: fitness must be a Fitness, got {type(fitness).__name__}"
            )
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise StrategyError(
                f"{type(self).__name__}: seed must be a non-negative int or None, got {seed!r}"
            )
        self.space = space
        self.fitness = fitness
        self._score = fitness.scorer() if self.uses_fitness else _neutral_scorer(fitness)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.round = -1  # becomes 0 when the first batch is generated
        self.history: list[Trial] = []
        self._queue: list[Architecture] = []
        self._pending: dict[str, Architecture] = {}
        self._batch: list[int] = []  # history indices told in the current round
        self._seen: set[str] = set()
        self._finished = False
        self._best_index: int | None = None
        self._best_key: tuple[bool, float, float] | None = None

    # -- protocol --------------------------------------------------------------------------------
    def ask(self) -> Architecture | None:
        """Next candidate to evaluate, or ``None`` (finished, or waiting for outstanding tells)."""
        if self._finished:
            return None
        if not self._queue and not self._pending:
            self._start_round()
            if self._finished:
                return None
        if not self._queue:
            return None
        arch = self._queue.pop(0)
        self._pending[arch.key] = arch
        return arch

    def ask_batch(self, n: int | None = None) -> list[Architecture]:
        """Up to ``n`` candidates that can be evaluated concurrently (all of the current batch by default)."""
        out: list[Architecture] = []
        while n is None or len(out) < n:
            arch = self.ask()
            if arch is None:
                break
            out.append(arch)
        return out

    def tell(self, candidate: Mapping[str, str], values: Mapping[str, float]) -> Trial:
        """Report the objective values of an asked candidate.

        Raises:
            StrategyError: When ``candidate`` was not asked, or was already told.
            FitnessError: When ``values`` lack an objective the fitness needs.
        """
        arch = candidate if isinstance(candidate, Architecture) else self.space.architecture(candidate)
        key = arch.key
        if key not in self._pending:
            told = any(t.architecture.key == key for t in self.history)
            why = "was already told" if told else "was never asked"
            raise StrategyError(f"{self.name}: tell({key!r}): candidate {why}")
        clean = {k: float(v) for k, v in values.items()}
        score = self._score(clean)
        del self._pending[key]
        trial = Trial(len(self.history), self.round, arch, clean, score)
        self.history.append(trial)
        # strict '>' keeps the earliest of equal scores, like select_top
        rank = score.key()
        if self._best_key is None or rank > self._best_key:
            self._best_index, self._best_key = trial.index, rank
        self._batch.append(trial.index)
        if not self._queue and not self._pending:
            self._on_batch_complete([self.history[i] for i in self._batch])
            # generate the next round now, so `finished` is known right after the last tell
            self._start_round()
        return trial

    @property
    def finished(self) -> bool:
        """True once the strategy has nothing left to propose and nothing is pending."""
        return self._finished

    @property
    def budget(self) -> int | None:
        """Upper bound on the number of evaluations, when known (progress bars)."""
        return None

    def hparams(self) -> dict[str, Any]:
        """Constructor arguments other than space, fitness and seed (journal headers compare them)."""
        return {}

    @property
    def pending(self) -> list[Architecture]:
        """Asked candidates that were not told yet."""
        return list(self._pending.values())

    # -- results ---------------------------------------------------------------------------------
    def best(self) -> Trial | None:
        """Best trial by score (Pareto mode: best first objective among the first front)."""
        return None if self._best_index is None else self.history[self._best_index]

    def pareto_front(self) -> list[Trial]:
        """Non-dominated trials (scalar modes: the single best trial)."""
        if not self.history:
            return []
        if not self.fitness.is_pareto:
            best = self.best()
            return [best] if best is not None else []
        scores = [t.score for t in self.history]
        return [self.history[i] for i in non_dominated_sort(scores)[0]]

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self, *, include_history: bool = True, include_round: bool = True) -> dict[str, Any]:
        """JSON-serialisable state (numpy RNG included).

        Args:
            include_history: Also store the told trials. The journal stores them as separate records and
                passes them back to `load_state_dict` via ``history``.
            include_round: Also store the round's lists: ``queue`` and ``pending`` (candidates not told
                yet) and ``batch`` (history indices told in the round). Within a round they change only by
                the candidates told, so the journal stores them once per round and rebuilds them (a round
                can hold a whole space: ``exhaustive``, ``random_search``).
        """
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "strategy": self.name,
            "seed": self.seed,
            "rng": _jsonable(self.rng.bit_generator.state),
            "round": self.round,
            "finished": self._finished,
            "n_history": len(self.history),
            "extra": self._extra_state(),
        }
        if include_round:
            state.update(
                queue=[a.key for a in self._queue], pending=list(self._pending), batch=list(self._batch)
            )
        if include_history:
            state["history"] = [t.to_dict() for t in self.history]
        return state

    def load_state_dict(
        self, state: Mapping[str, Any], history: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        """Restore `state_dict` output.

        Pending candidates of the saved state go back to the front of the queue: they were asked but their
        results never arrived, so they are asked again.

        Args:
            state: Output of `state_dict`.
            history: Trials as ``{"round", "key", "values"}`` dicts when the state was saved without them.

        Raises:
            StrategyError: On a different strategy name, version, or an inconsistent history length.
        """
        if state.get("version") != STATE_VERSION:
            raise StrategyError(
                f"{self.name}: state version {state.get('version')!r}, expected {STATE_VERSION}"
            )
        if state.get("strategy") != self.name:
            raise StrategyError(f"{self.name}: state belongs to strategy {state.get('strategy')!r}")
        hist = state.get("history") if history is None else history
        if hist is None:
            raise StrategyError(f"{self.name}: state has no history; pass history=")
        if len(hist) != state["n_history"]:
            raise StrategyError(f"{self.name}: state expects {state['n_history']} trials, got {len(hist)}")
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]
        self.seed = state["seed"]
        self.round = int(state["round"])
        self.history = []
        for i, rec in enumerate(hist):
            arch = self.space.architecture(Architecture.from_key(rec["key"]))
            values = {k: float(v) for k, v in rec["values"].items()}
            score = self._score(values)
            self.history.append(Trial(i, int(rec["round"]), arch, values, score))
        self._pending = {}
        self._queue = [Architecture.from_key(k) for k in state["pending"]] + [
            Architecture.from_key(k) for k in state["queue"]
        ]
        self._batch = [int(i) for i in state["batch"]]
        scores = [t.score for t in self.history]
        self._best_index = select_top(scores, 1)[0] if scores else None
        self._best_key = None if self._best_index is None else scores[self._best_index].key()
        self._finished = bool(state["finished"])
        self._seen = {t.architecture.key for t in self.history} | {a.key for a in self._queue}
        self._load_extra_state(state["extra"])

    # -- subclass hooks --------------------------------------------------------------------------
    @abc.abstractmethod
    def _next_batch(self) -> list[Architecture]:
        """Candidates of the next round (`round` is already incremented); empty list = finished."""

    def _on_batch_complete(self, trials: list[Trial]) -> None:  # noqa: B027 - optional hook
        """Called once every candidate of the current round was told (before the next round is generated)."""

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        pass

    # -- helpers for subclasses ------------------------------------------------------------------
    def _start_round(self) -> None:
        self.round += 1
        self._batch = []
        batch = self._next_batch()
        for arch in batch:
            if arch.key in self._seen:
                raise StrategyError(f"{self.name}: internal error, {arch.key} proposed twice")
            self._seen.add(arch.key)
        if not batch:
            self.round -= 1
            self._finished = True
        self._queue = list(batch)

    def _is_new(self, arch: Architecture, extra_seen: set[str]) -> bool:
        # arch comes from space.decode, so it belongs to the space; only the constraints remain to check
        return arch.key not in self._seen and arch.key not in extra_seen and self.space.satisfies(arch)

    def _random_unseen(self, n: int, taken: set[str], *, tries_per_item: int = 10) -> list[Architecture]:
        """Up to ``n`` valid random architectures that were never proposed and are not in ``taken``.

        Rejection sampling first; when that stalls in a small space, draw from the enumerated remainder so
        small spaces are exhausted instead of failing.
        """
        out: list[Architecture] = []
        if n > 0:
            # all attempts in one draw: per-attempt scalar draws dominated the strategy's own time
            sizes = [len(ops) for ops in self.space.genes.values()]
            for row in self.rng.integers(0, sizes, size=(tries_per_item * n, len(sizes))).tolist():
                if len(out) >= n:
                    break
                arch = self.space.decode(row)
                if self._is_new(arch, taken):
                    out.append(arch)
                    taken.add(arch.key)
        if len(out) < n and self.space.size <= ENUMERATION_LIMIT:
            rest = [a for a in self.space.enumerate() if a.key not in self._seen and a.key not in taken]
            if rest:
                pick = self.rng.permutation(len(rest))[: n - len(out)]
                for i in sorted(int(j) for j in pick):
                    out.append(rest[i])
                    taken.add(rest[i].key)
        return out


def _neutral_scorer(fitness: Fitness) -> Callable[[Mapping[str, float]], Score]:
    scorer = fitness.scorer()

    def score(values: Mapping[str, float]) -> Score:
        try:
            return scorer(values)
        except ValueError:
            return Score(True, 0.0, 0.0, (0.0,))

    return score


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


# -- registry -------------------------------------------------------------------------------------

_S = TypeVar("_S", bound=type[Strategy])
_STRATEGIES: dict[str, type[Strategy]] = {}


def register_strategy(name: str) -> Callable[[_S], _S]:
    """Class decorator registering a [`Strategy`][ttfsnet_nas.strategies.base.Strategy] subclass under
    ``name``."""

    def decorator(cls: _S) -> _S:
        if name in _STRATEGIES and _STRATEGIES[name] is not cls:
            raise StrategyError(f"strategy {name!r} is already registered")
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise StrategyError(f"register_strategy({name!r}): expected a Strategy subclass, got {cls!r}")
        cls.name = name
        _STRATEGIES[name] = cls
        return cls

    return decorator


def get_strategy(name: str) -> type[Strategy]:
    """Registered strategy class by name."""
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise StrategyError(f"unknown strategy {name!r}; registered: {sorted(_STRATEGIES)}") from None


def list_strategies() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(_STRATEGIES)


def create_strategy(name: str, **kwargs: Any) -> Strategy:
    """Instantiate a registered strategy with keyword arguments."""
    return get_strategy(name)(**kwargs)
