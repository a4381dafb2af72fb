"""Generic search driver: a strategy, an evaluator callable, a journal, resume.

[`run_search`][ttfsnet_nas.search.run_search] evaluates candidates one at a time. Parallel drivers (Ray, DDP
in [`ttfsnet_nas.torch`][ttfsnet_nas.torch]) use [`SearchSession`][ttfsnet_nas.search.SearchSession] directly:
``ask_batch()``, evaluate anywhere, then ``session.tell(arch, result)`` for each result; the session journals
every told candidate.

Journal records (one JSON line per evaluated candidate) hold the candidate, its objective values and raw
metrics, the strategy state (numpy RNG included, history excluded – it is the sequence of records) and the
states of the global RNGs named by the RNG hooks (Python ``random``, numpy; the torch part adds torch).
The header holds what must not change across a resume: the space hash, the strategy and its
hyper-parameters, the seed, the fitness, and caller entries such as the supernet weights hash and the
data-split indices.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ttfsnet_nas.config import RecipeError, param
from ttfsnet_nas.errors import InputError
from ttfsnet_nas.fitness import Fitness
from ttfsnet_nas.journal import (
    Journal,
    JournalError,
    RngHook,
    capture_rng,
    default_rng_hooks,
    read_journal,
    restore_rng,
)
from ttfsnet_nas.objectives import EvalContext, as_context
from ttfsnet_nas.progress import NullProgress, Progress
from ttfsnet_nas.space import Architecture, SearchSpace
from ttfsnet_nas.strategies.base import (
    Strategy,
    StrategyError,
    Trial,
    create_strategy,
    get_strategy,
    list_strategies,
)

__all__ = [
    "ResumeError",
    "RoundStats",
    "SearchConfig",
    "SearchResult",
    "SearchSession",
    "result_from_journal",
    "run_search",
]

Evaluator = Callable[[Architecture], "Mapping[str, Any] | EvalContext"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchConfig:
    """The ``search:`` section of a recipe (shared by every pipeline).

    Attributes:
        strategy: Registered strategy name (``evolution``, ``random_search``, ``random_sampling``,
            ``exhaustive``, or a plugin).
        seed: Seed of the strategy RNG.
        pool_size: Evolution: candidates per round (P).
        elite_size: Evolution: elite size (k); at most ``pool_size`` for a strategy that takes both.
        rounds: Evolution: rounds including the random initial one (R).
        mutation_prob: Evolution: per-gene mutation probability.
        force_change: Evolution: a mutated gene always changes op.
        mutation_fraction: Evolution: share of children made by mutation (rest: crossover).
        swap_prob: Evolution: per-gene swap probability in uniform crossover.
        max_tries: Evolution: attempts per child before random fill.
        samples: Random search / sampling: number of architectures (default 100 / 10).
        fitness: Fitness definition.

    Each hyper-parameter goes to every strategy whose constructor names an argument after it.
    """

    strategy: str = param("evolution", doc="registered strategy name")
    seed: int = param(0, ge=0)
    pool_size: int = param(12, ge=2)
    elite_size: int = param(12, ge=2)
    rounds: int = param(18, ge=1)
    mutation_prob: float = param(0.2, ge=0.0, le=1.0)
    force_change: bool = True
    mutation_fraction: float = param(0.5, ge=0.0, le=1.0)
    swap_prob: float = param(0.5, ge=0.0, le=1.0)
    max_tries: int = param(10, ge=1)
    samples: int | None = param(None, ge=1)
    fitness: Fitness = field(default_factory=Fitness)

    def __post_init__(self) -> None:
        if self.strategy not in list_strategies():
            raise ValueError(f"strategy: expected one of {list_strategies()}, got {self.strategy!r}")
        accepted = inspect.signature(get_strategy(self.strategy)).parameters
        if {"pool_size", "elite_size"} <= set(accepted) and self.elite_size > self.pool_size:
            # evolution keeps the best elite_size of elite ∪ pool: with k > P the first rounds keep every
            # candidate (no selection at all), which is not what a recipe means (TNAS-ER: P = k = 12)
            raise ValueError(
                f"elite_size: expected at most pool_size ({self.pool_size}), got {self.elite_size}"
            )

    def build_strategy(self, space: SearchSpace) -> Strategy:
        """Instantiate the configured strategy on ``space``.

        Raises:
            RecipeError: The strategy rejects its arguments for this space (e.g. ``exhaustive`` on a space
                above the enumeration limit); keyed ``search.strategy`` so the CLI reports a recipe error.
        """
        kwargs: dict[str, Any] = {"space": space, "fitness": self.fitness, "seed": self.seed}
        # every hyper-parameter the strategy's constructor takes (plugins included); None = its default
        accepted = inspect.signature(get_strategy(self.strategy)).parameters
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in kwargs and f.name != "strategy" and f.name in accepted and value is not None:
                kwargs[f.name] = value
        try:
            return create_strategy(self.strategy, **kwargs)
        except StrategyError as exc:
            raise RecipeError(str(exc), key="search.strategy") from None


class ResumeError(JournalError, InputError):
    """The journal on disk does not belong to this run (different space, weights, strategy, ...)."""


@dataclass(frozen=True, slots=True)
class RoundStats:
    """Per-round summary used by the fitness plot (TNAS-ER Fig. 4).

    Attributes:
        round: Round index.
        evaluations: Candidates evaluated in the round.
        best: Best fitness value within the round.
        mean: Mean fitness value within the round.
        best_so_far: Best fitness value up to and including the round.
    """

    round: int
    evaluations: int
    best: float
    mean: float
    best_so_far: float


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Outcome of a search.

    Attributes:
        best: Best trial (``None`` if nothing was evaluated).
        history: All trials in tell order.
        front: Pareto front (scalar fitness: the best trial).
        resumed: Number of trials restored from the journal instead of evaluated.
        journal: Path of the journal, if any.
        metrics: Raw evaluator metrics per trial (same order as ``history``).
    """

    best: Trial | None
    history: list[Trial]
    front: list[Trial]
    resumed: int = 0
    journal: Path | None = None
    metrics: list[dict[str, float]] = field(default_factory=list)

    def round_stats(self) -> list[RoundStats]:
        """Best, mean and best-so-far fitness per round (feasible trials only when any exist)."""
        rounds: dict[int, list[float]] = {}
        for t in self.history:
            if t.score.feasible or not any(u.score.feasible for u in self.history):
                rounds.setdefault(t.round, []).append(t.score.value)
        out = []
        best_so_far = -math.inf
        for r in sorted(rounds):
            vals = rounds[r]
            best_so_far = max(best_so_far, max(vals))
            out.append(RoundStats(r, len(vals), max(vals), sum(vals) / len(vals), best_so_far))
        return out

    def op_counts(self) -> dict[str, dict[str, int]]:
        """How often each op of each gene was evaluated."""
        counts: dict[str, dict[str, int]] = {}
        for t in self.history:
            for gene, op in t.architecture.items():
                counts.setdefault(gene, {}).setdefault(op, 0)
                counts[gene][op] += 1
        return counts


class SearchSession:
    """A strategy bound to a journal: resume on open, journal on every tell.

    Args:
        strategy: A freshly constructed strategy (same arguments as the run being resumed).
        journal: Journal path, or ``None`` for an in-memory search.
        header: Extra header entries that must match on resume (``weights_hash``, ``split``, ...).
        resume: Continue an existing journal. Without it an existing journal is an error.
        rng_hooks: Global RNGs to capture after each evaluation and restore on resume.
        verify: On resume, replay the journal through a copy of the fresh strategy and check it proposes
            the same candidates and ends in the same state (catches code or config drift).

    Raises:
        ResumeError: Header mismatch, or the replay diverges from the journal.
        JournalError: Journal exists without ``resume``, or is corrupt.
    """

    def __init__(
        self,
        strategy: Strategy,
        *,
        journal: str | Path | None = None,
        header: Mapping[str, Any] | None = None,
        resume: bool = False,
        rng_hooks: Sequence[RngHook] | None = None,
        verify: bool = True,
    ) -> None:
        self.strategy = strategy
        self.rng_hooks = list(default_rng_hooks() if rng_hooks is None else rng_hooks)
        self.metrics: list[dict[str, float]] = []
        self.resumed = 0
        self._journal: Journal | None = None
        # (round, finished) when the journal last stored the round's lists; starting a round (or finding
        # none to start) is the only thing that changes them other than a tell
        self._listed: tuple[int, bool] | None = None
        self._header = self._make_header(header or {})
        if journal is None:
            return
        path = Path(journal)
        if resume and path.exists():
            # check before Journal.open truncates a torn tail: a foreign journal must stay untouched
            self._check_header(path, read_journal(path).header)
            self._journal = Journal.open(path)
            try:
                self._restore(path, self._journal.evaluations(), verify)
            except BaseException:
                self._journal.close()
                raise
        else:
            self._journal = Journal.create(path, self._header)

    # -- header ----------------------------------------------------------------------------------
    def _make_header(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        s = self.strategy
        head: dict[str, Any] = {
            "strategy": s.name,
            "hparams": s.hparams(),
            "seed": s.seed,
            "space_hash": s.space.hash,
            "space": s.space.to_dict(),
            "fitness": s.fitness.to_dict(),
            "rng_hooks": [h.name for h in self.rng_hooks],
        }
        for k, v in extra.items():
            if k in head or k in ("type", "format"):
                raise JournalError(f"journal header: key {k!r} is reserved")
            head[k] = v
        # round-trip through JSON so the comparison on resume sees the same types (tuples → lists)
        return json.loads(json.dumps(head, allow_nan=False))

    def _check_header(self, path: Path, saved: Mapping[str, Any]) -> None:
        for key, now in self._header.items():
            was = saved.get(key)
            if was != now:
                raise ResumeError(
                    f"journal {path}: header {key!r} differs: journal {_short(was)}, now {_short(now)}"
                )
        extra = sorted(set(saved) - set(self._header) - {"type", "format"})
        if extra:
            raise ResumeError(f"journal {path}: header has entries {extra} that this run does not provide")

    # -- resume ----------------------------------------------------------------------------------
    def _restore(self, path: Path, records: Sequence[Mapping[str, Any]], verify: bool) -> None:
        if not records:
            return
        history = _trials(records)
        state = _last_state(path, records)
        if verify:
            replay = copy.deepcopy(self.strategy)
            for i, rec in enumerate(records):
                while rec["key"] not in {a.key for a in replay.pending}:
                    arch = replay.ask()
                    if arch is None:
                        raise ResumeError(
                            f"journal {path}: record {i} ({rec['key']}) was never proposed by the strategy "
                            "on replay"
                        )
                replay.tell(Architecture.from_key(rec["key"]), rec["values"])
            now = replay.state_dict(include_history=False)
            now["pending"], now["queue"] = [], list(now["pending"]) + list(now["queue"])
            if json.loads(json.dumps(now)) != state:
                raise ResumeError(
                    f"journal {path}: strategy state after replaying {len(records)} records differs"
                )
        self.strategy.load_state_dict(state, history=history)
        self._listed = (state["round"], state["finished"])
        restore_rng(self.rng_hooks, records[-1]["rng"])
        self.metrics = [dict(r.get("metrics", {})) for r in records]
        self.resumed = len(records)

    # -- protocol --------------------------------------------------------------------------------
    def ask(self) -> Architecture | None:
        """Next candidate (see [`Strategy.ask`][ttfsnet_nas.Strategy.ask])."""
        return self.strategy.ask()

    def ask_batch(self, n: int | None = None) -> list[Architecture]:
        """Candidates that can be evaluated concurrently."""
        return self.strategy.ask_batch(n)

    def tell(
        self, arch: Architecture, result: Mapping[str, Any] | EvalContext, *, seconds: float = 0.0
    ) -> Trial:
        """Score an evaluator result, tell the strategy and journal the trial durably."""
        ctx = as_context(result, arch)
        values = self.strategy.fitness.evaluate(ctx) if self.strategy.uses_fitness else _try_values(self, ctx)
        trial = self.strategy.tell(arch, values)
        metrics = {k: v for k, v in ctx.metrics.items() if math.isfinite(v)}
        self.metrics.append(metrics)
        if self._journal is not None:
            now = (self.strategy.round, self.strategy.finished)
            listed, self._listed = now == self._listed, now
            self._journal.append(
                {
                    "type": "eval",
                    "i": trial.index,
                    "round": trial.round,
                    "key": arch.key,
                    "candidate": arch.to_dict(),
                    "values": trial.values,
                    "metrics": metrics,
                    "seconds": round(seconds, 6),
                    "state": self.strategy.state_dict(include_history=False, include_round=not listed),
                    "rng": capture_rng(self.rng_hooks),
                }
            )
        return trial

    def result(self) -> SearchResult:
        """Current [`SearchResult`][ttfsnet_nas.search.SearchResult]."""
        s = self.strategy
        return SearchResult(
            best=s.best(),
            history=list(s.history),
            front=s.pareto_front(),
            resumed=self.resumed,
            journal=self._journal.path if self._journal else None,
            metrics=list(self.metrics),
        )

    def close(self) -> None:
        """Close the journal."""
        if self._journal is not None:
            self._journal.close()

    def __enter__(self) -> SearchSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _try_values(session: SearchSession, ctx: EvalContext) -> dict[str, float]:
    try:
        return session.strategy.fitness.evaluate(ctx)
    except (KeyError, ValueError):  # random sampling does not need scores
        return {}


def _trials(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The trial part of journal ``eval`` records, as
    [`Strategy.load_state_dict`][ttfsnet_nas.Strategy.load_state_dict] takes it."""
    return [{"round": r["round"], "key": r["key"], "values": r["values"]} for r in records]


def _last_state(path: Path, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The last record's strategy state with the round's lists complete (asked-but-untold first in queue).

    A record stores ``queue``/``pending``/``batch`` only when its round (or ``finished``) differs from the
    previous record's; later records of the round imply them: the listed candidates minus those told since,
    and the listed indices plus those told since.
    """
    base = next((i for i in range(len(records) - 1, -1, -1) if "queue" in records[i]["state"]), None)
    if base is None:
        raise JournalError(f"journal {path}: no record lists the strategy's round; the journal is damaged")
    listed = records[base]["state"]
    later = records[base + 1 :]
    told = {r["key"] for r in later}
    state = dict(records[-1]["state"])
    state["queue"] = [k for k in (*listed["pending"], *listed["queue"]) if k not in told]
    state["pending"] = []
    state["batch"] = [*listed["batch"], *(r["i"] for r in later)]
    return state


def _short(v: Any) -> str:
    text = json.dumps(v, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def run_search(
    strategy: Strategy,
    evaluate: Evaluator,
    *,
    journal: str | Path | None = None,
    header: Mapping[str, Any] | None = None,
    resume: bool = False,
    rng_hooks: Sequence[RngHook] | None = None,
    progress: Progress | None = None,
    verify: bool = True,
    evaluate_many: Callable[[list[Architecture]], Sequence[Mapping[str, Any] | EvalContext]] | None = None,
) -> SearchResult:
    """Run ``strategy`` to the end, evaluating candidates sequentially with ``evaluate`` (or in batches
    with ``evaluate_many``).

    Args:
        strategy: Freshly constructed strategy.
        evaluate: ``arch -> metrics dict | EvalContext``.
        journal: JSONL journal path (``None``: no journal, no resume).
        header: Caller header entries checked on resume (weights hash, split indices, ...).
        resume: Continue ``journal`` if it exists.
        rng_hooks: Global RNGs saved per evaluation (default: Python ``random`` and numpy).
        progress: Progress sink; task ``"search"`` advances once per evaluation, task ``"rounds"`` once per
            completed round (strategies with a ``rounds`` attribute).
        verify: Replay-check the journal on resume.
        evaluate_many: Scores all candidates the strategy hands out at once (``ask_batch``, e.g. a round),
            results in their order, e.g. on parallel workers. They are told in that order, so the search
            equals the sequential one when the scores do; each journal record gets the batch's mean time.

    Returns:
        The [`SearchResult`][ttfsnet_nas.search.SearchResult].
    """
    progress = progress or NullProgress()
    with SearchSession(
        strategy, journal=journal, header=header, resume=resume, rng_hooks=rng_hooks, verify=verify
    ) as session:
        if session.resumed:
            progress.log(f"resumed {session.resumed} evaluations from {journal}")
        total_rounds = getattr(strategy, "rounds", None)
        # strategy.round is the round in progress; a finished strategy stays on its last round
        rounds_done = (strategy.round + int(strategy.finished)) if session.resumed else 0
        if isinstance(total_rounds, int):
            progress.start("rounds", total_rounds, completed=rounds_done)
        progress.start("search", strategy.budget, completed=session.resumed)
        while batch := session.ask_batch(None if evaluate_many is not None else 1):
            t0 = time.perf_counter()
            results = evaluate_many(batch) if evaluate_many is not None else [evaluate(batch[0])]
            seconds = (time.perf_counter() - t0) / len(batch)
            for arch, result in zip(batch, results, strict=True):
                trial = session.tell(arch, result, seconds=seconds)
                best = strategy.best()
                best_value = best.score.value if best else float("nan")
                progress.advance("search", round=trial.round, best=best_value)
                # tell() opens the next round as soon as the last candidate of a round is told
                if isinstance(total_rounds, int) and (strategy.round > trial.round or strategy.finished):
                    progress.advance("rounds", best=best_value)
        progress.finish("search")
        if isinstance(total_rounds, int):
            progress.finish("rounds")
        return session.result()


def result_from_journal(path: str | Path, strategy: Strategy) -> SearchResult:
    """Rebuild a [`SearchResult`][ttfsnet_nas.search.SearchResult] from a finished or partial journal without
    evaluating anything.

    Args:
        path: Journal file.
        strategy: A fresh strategy constructed like the one that wrote the journal.
    """
    contents = read_journal(path)
    records = [r for r in contents.records if r.get("type") == "eval"]
    if records:
        strategy.load_state_dict(_last_state(Path(path), records), history=_trials(records))
    return SearchResult(
        best=strategy.best(),
        history=list(strategy.history),
        front=strategy.pareto_front(),
        resumed=len(records),
        journal=Path(path),
        metrics=[dict(r.get("metrics", {})) for r in records],
    )
