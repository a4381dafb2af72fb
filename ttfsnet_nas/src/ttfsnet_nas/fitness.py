"""Fitness: how objective values rank candidates.

Three modes:

* ``weighted`` – scalar ``Σ wᵢ·sᵢ·vᵢ`` with ``sᵢ = +1`` for maximised and ``-1`` for minimised objectives.
  The TNAS-ER preset is ``weights={"war_uar": 1.0}`` (Eq. 6, read as the mean of WAR and UAR).
* ``power`` – AutoSNN-style ``acc · (cost / reference) ** exponent`` (``exponent`` λ ≤ 0 rewards low cost).
* ``pareto`` – a vector of objectives compared by Pareto dominance (NSGA-II selection in the strategies).

Hard constraints (``params ≤ 1.1e6``) are applied in every mode with Deb's rules: a feasible candidate beats
an infeasible one, and among infeasible ones the smaller total relative violation wins.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from ttfsnet_nas.errors import NASError
from ttfsnet_nas.objectives import (
    EvalContext,
    Objective,
    ObjectiveError,
    PluginError,
    as_context,
    get_objective,
)

__all__ = ["ConstraintSpec", "Fitness", "FitnessError", "Score"]


class FitnessError(NASError, ValueError):
    """Inconsistent fitness definition or values that the fitness cannot score."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ConstraintSpec:
    """Hard constraint ``min ≤ objective ≤ max`` on an objective value.

    Attributes:
        objective: Registered objective name, e.g. ``"params"``.
        max: Inclusive upper bound, or ``None``.
        min: Inclusive lower bound, or ``None``.
    """

    objective: str
    max: float | None = None
    min: float | None = None

    def __post_init__(self) -> None:
        if self.max is None and self.min is None:
            raise FitnessError(f"max: expected a bound on {self.objective!r} (max, min or both)")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise FitnessError(f"min: {self.min} > max {self.max} for {self.objective!r}")

    def violation(self, value: float) -> float:
        """Relative distance outside the bounds (0 when satisfied)."""
        v = 0.0
        if self.max is not None and value > self.max:
            v += (value - self.max) / max(abs(self.max), 1e-12)
        if self.min is not None and value < self.min:
            v += (self.min - value) / max(abs(self.min), 1e-12)
        return v


class Score(NamedTuple):
    """Rank information of one candidate (an immutable record; cheap to build, one per told candidate).

    Attributes:
        feasible: All hard constraints hold.
        violation: Sum of relative constraint violations (0 when feasible).
        value: Scalar fitness, higher is better (Pareto mode: first objective in maximisation form).
        vector: Objectives in maximisation form (Pareto mode), else ``(value,)``.
    """

    feasible: bool
    violation: float
    value: float
    vector: tuple[float, ...]

    def key(self) -> tuple[bool, float, float]:
        """Sort key, larger is better: feasibility, then smaller violation, then value."""
        return (self.feasible, -self.violation, self.value)


@dataclass(frozen=True, kw_only=True, slots=True)
class Fitness:
    """Fitness definition (also the ``search.fitness`` recipe section).

    Attributes:
        mode: ``"weighted"``, ``"power"`` or ``"pareto"``.
        weights: Objective → weight for ``weighted`` mode (direction is applied automatically).
        accuracy: Accuracy-like objective for ``power`` mode.
        cost: Positive cost objective for ``power`` mode (e.g. ``"spikes"``).
        reference: Cost normaliser for ``power`` mode (AutoSNN: 110 000 spikes).
        exponent: λ for ``power`` mode (AutoSNN: -0.08; 0 reduces to accuracy).
        objectives: Objectives of the Pareto vector for ``pareto`` mode.
        constraints: Hard constraints, any mode.
    """

    mode: Literal["weighted", "power", "pareto"] = "weighted"
    weights: dict[str, float] = field(default_factory=lambda: {"accuracy": 1.0})
    accuracy: str = "accuracy"
    cost: str = "spikes"
    reference: float = 110_000.0
    exponent: float = -0.08
    objectives: tuple[str, ...] = ()
    constraints: tuple[ConstraintSpec, ...] = ()

    def __post_init__(self) -> None:
        if self.mode == "weighted" and not self.weights:
            raise FitnessError("weights: expected at least one objective for mode 'weighted'")
        if self.mode == "pareto" and len(self.objectives) < 2:
            raise FitnessError("objectives: expected at least two objectives for mode 'pareto'")
        if self.mode == "power" and not self.reference > 0:
            raise FitnessError(f"reference: expected a positive number, got {self.reference}")
        for label, names in (
            ("weights", list(self.weights) if self.mode == "weighted" else []),
            ("accuracy", [self.accuracy] if self.mode == "power" else []),
            ("cost", [self.cost] if self.mode == "power" else []),
            ("objectives", list(self.objectives) if self.mode == "pareto" else []),
            ("constraints", [c.objective for c in self.constraints]),
        ):
            for name in names:
                try:
                    get_objective(name)
                except (ObjectiveError, PluginError) as exc:
                    raise FitnessError(f"{label}: {exc}") from None

    # -- presets ---------------------------------------------------------------------------------
    @classmethod
    def from_shorthand(cls, objective: str) -> Fitness:
        """``fitness: <objective>`` in a recipe: maximise (or minimise) that one objective."""
        return cls(mode="weighted", weights={objective: 1.0})

    @classmethod
    def tnas_er(cls, *, max_params: float | None = None) -> Fitness:
        """TNAS-ER preset: maximise Eq. 6 (mean of WAR and UAR), optionally with a parameter budget."""
        cons = (ConstraintSpec(objective="params", max=max_params),) if max_params is not None else ()
        return cls(mode="weighted", weights={"war_uar": 1.0}, constraints=cons)

    # -- objectives ------------------------------------------------------------------------------
    def objective_names(self) -> tuple[str, ...]:
        """Every objective this fitness reads, in a stable order, without repeats."""
        if self.mode == "weighted":
            names = list(self.weights)
        elif self.mode == "power":
            names = [self.accuracy, self.cost]
        else:
            names = list(self.objectives)
        names += [c.objective for c in self.constraints]
        return tuple(dict.fromkeys(names))

    def resolve(self) -> dict[str, Objective]:
        """Look every objective up in the registry (raises the registry's one-line error)."""
        return {n: get_objective(n) for n in self.objective_names()}

    def evaluate(self, result: EvalContext | Mapping[str, Any]) -> dict[str, float]:
        """Compute every needed objective from one evaluator result."""
        ctx = as_context(result)
        return {name: obj(ctx) for name, obj in self.resolve().items()}

    # -- ranking ---------------------------------------------------------------------------------
    def score(self, values: Mapping[str, float]) -> Score:
        """Turn objective values into a [`Score`][ttfsnet_nas.fitness.Score].

        Raises:
            FitnessError: When a needed value is missing or not finite, or a ``power`` cost is ≤ 0.
        """
        return self.scorer()(values)

    def scorer(self) -> Callable[[Mapping[str, float]], Score]:
        """`score` with the objectives looked up once, for callers that score every candidate.

        The returned function keeps the objectives registered when it was made.
        """
        objs = self.resolve()
        names = tuple(objs)
        constraints = self.constraints
        mode = self.mode
        # sign is ±1, so folding it into the weight leaves every product bit-identical
        terms = tuple((n, w * objs[n].sign) for n, w in self.weights.items()) if mode == "weighted" else ()
        signs = tuple((n, objs[n].sign) for n in self.objectives) if mode == "pareto" else ()
        acc_sign = objs[self.accuracy].sign if mode == "power" else 1.0
        cost_name, reference, exponent, accuracy = self.cost, self.reference, self.exponent, self.accuracy

        def score(values: Mapping[str, float]) -> Score:
            vals: dict[str, float] = {}
            for name in names:
                if name not in values:
                    raise FitnessError(f"fitness: value of objective {name!r} missing; got {sorted(values)}")
                v = float(values[name])
                if not math.isfinite(v):
                    raise FitnessError(f"fitness: objective {name!r} is {v}; expected a finite number")
                vals[name] = v
            violation = 0.0
            for c in constraints:
                violation += c.violation(vals[c.objective])
            feasible = violation == 0.0
            if mode == "weighted":
                value = 0.0
                for n, w in terms:
                    value += w * vals[n]
                return Score(feasible, violation, value, (value,))
            if mode == "power":
                cost = vals[cost_name]
                if cost <= 0:
                    # AutoSNN divides by zero here when spikes are 0 (its ANN mode); fail loudly instead
                    raise FitnessError(
                        f"fitness: power mode needs a positive {cost_name!r}, got {cost}; "
                        "use mode 'weighted' or 'pareto'"
                    )
                value = acc_sign * vals[accuracy] * (cost / reference) ** exponent
                return Score(feasible, violation, value, (value,))
            vector = tuple(sign * vals[n] for n, sign in signs)
            return Score(feasible, violation, vector[0], vector)

        return score

    @property
    def is_pareto(self) -> bool:
        """Whether strategies should select by non-dominated sorting."""
        return self.mode == "pareto"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (enters journal headers so a resume can check it)."""
        return {
            "mode": self.mode,
            "weights": dict(self.weights),
            "accuracy": self.accuracy,
            "cost": self.cost,
            "reference": self.reference,
            "exponent": self.exponent,
            "objectives": list(self.objectives),
            "constraints": [{"objective": c.objective, "max": c.max, "min": c.min} for c in self.constraints],
        }
