"""Objectives, fitness modes, constraints, plugins and NSGA-II selection."""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Iterator
from importlib import metadata

import pytest

from ttfsnet_nas import objectives as objmod
from ttfsnet_nas.fitness import ConstraintSpec, Fitness, FitnessError, Score
from ttfsnet_nas.objectives import (
    EvalContext,
    Objective,
    ObjectiveError,
    PluginError,
    as_context,
    get_objective,
    list_objectives,
    register_objective,
    war_uar,
)
from ttfsnet_nas.strategies import crowding_distance, non_dominated_sort, select_nsga2, select_top

# Scores are a few float64 operations (sums, ratios, one power) on literals that are not exact binary
# fractions: ≲ 10 ulp ≈ 2e-15 relative; 1e-14 is 5x that and far below any formula error.
FLOAT_REL = 1e-14


def test_war_uar_is_eq6_mean_reading() -> None:
    assert war_uar(80.0, 70.0) == 75.0
    assert get_objective("war_uar")({"war": 79.6, "uar": 80.1}) == pytest.approx(79.85, rel=FLOAT_REL)
    # ranking equals ranking by WAR + UAR
    pairs = [(70.0, 90.0), (80.0, 79.0), (85.0, 70.0)]
    by_fit = sorted(pairs, key=lambda p: war_uar(*p))
    assert by_fit == sorted(pairs, key=lambda p: p[0] + p[1])


def test_weighted_applies_directions() -> None:
    fit = Fitness(weights={"accuracy": 1.0, "params": 1e-5})
    s = fit.score({"accuracy": 80.0, "params": 1e6})
    assert s.value == pytest.approx(80.0 - 10.0, rel=FLOAT_REL)  # params is minimised: subtracted
    assert s.feasible and s.violation == 0.0


def test_tnas_er_preset_with_parameter_budget() -> None:
    fit = Fitness.tnas_er(max_params=1.1e6)
    ok = fit.score({"war_uar": 78.0, "params": 1.04e6})
    over = fit.score({"war_uar": 90.0, "params": 1.21e6})
    assert ok.feasible and not over.feasible
    assert over.violation == pytest.approx(0.1, rel=FLOAT_REL)
    assert ok.key() > over.key()  # feasibility beats a higher fitness


def test_power_mode_matches_autosnn_formula() -> None:
    fit = Fitness(mode="power", accuracy="accuracy", cost="spikes", reference=110_000.0, exponent=-0.08)
    s = fit.score({"accuracy": 90.0, "spikes": 55_000.0})
    assert s.value == pytest.approx(90.0 * 0.5**-0.08, rel=FLOAT_REL)
    with pytest.raises(FitnessError, match="power mode needs a positive 'spikes', got 0.0"):
        fit.score({"accuracy": 90.0, "spikes": 0.0})
    assert Fitness(mode="power", exponent=0.0).score({"accuracy": 7.0, "spikes": 3.0}).value == 7.0


def test_pareto_vector_in_maximisation_form() -> None:
    fit = Fitness(mode="pareto", objectives=("accuracy", "synops"))
    s = fit.score({"accuracy": 80.0, "synops": 1e6})
    assert s.vector == (80.0, -1e6) and s.value == 80.0
    assert fit.is_pareto


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": {}}, "weights: expected at least one objective"),
        ({"mode": "pareto", "objectives": ("accuracy",)}, "objectives: expected at least two"),
        ({"mode": "power", "reference": 0.0}, "reference: expected a positive number"),
        ({"weights": {"nope": 1.0}}, "weights: unknown objective 'nope'"),
        ({"constraints": (ConstraintSpec(objective="nope", max=1.0),)}, "constraints: unknown objective"),
    ],
)
def test_fitness_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(FitnessError, match=message):
        Fitness(**kwargs)


def test_score_errors() -> None:
    fit = Fitness()
    with pytest.raises(FitnessError, match="value of objective 'accuracy' missing"):
        fit.score({"war": 1.0})
    with pytest.raises(FitnessError, match="'accuracy' is nan"):
        fit.score({"accuracy": math.nan})
    with pytest.raises(FitnessError, match="max: expected a bound"):
        ConstraintSpec(objective="params")


@pytest.mark.parametrize(
    "fit",
    [
        Fitness(
            weights={"war": 0.5, "spikes": 2e-3},
            constraints=(ConstraintSpec(objective="params", max=1e3),),
        ),
        Fitness(mode="power"),
        Fitness(
            mode="pareto",
            objectives=("accuracy", "synops"),
            constraints=(ConstraintSpec(objective="params", min=5e3),),
        ),
    ],
    ids=["weighted", "power", "pareto"],
)
def test_scorer_matches_score(fit: Fitness) -> None:
    scorer = fit.scorer()
    for i in range(5):
        values = {"war": 70.0 + i, "accuracy": 60.0 + i, "spikes": 1e4 * (i + 1), "synops": 3e5 * i}
        values["params"] = 900.0 * i
        assert scorer(values) == fit.score(values)
    feasible = {scorer({**values, "params": p}).feasible for p in (500.0, 1e4)}
    assert feasible == ({True} if fit.mode == "power" else {True, False})
    with pytest.raises(FitnessError, match="missing"):
        scorer({"war": 1.0})


def test_scorer_keeps_the_objectives_it_was_made_with(clean_registry: None) -> None:
    register_objective("toy_gain", "max", requires=("gain",))(lambda ctx: ctx.metric("gain", "toy_gain"))
    fit = Fitness(weights={"toy_gain": 1.0})
    scorer = fit.scorer()
    register_objective("toy_gain", "min", requires=("gain",), replace=True)(
        lambda ctx: ctx.metric("gain", "toy_gain")
    )
    assert scorer({"toy_gain": 2.0}).value == 2.0  # made before the replacement
    assert fit.score({"toy_gain": 2.0}).value == -2.0  # score() resolves at every call


def test_constraint_violation_both_sides() -> None:
    c = ConstraintSpec(objective="params", min=10.0, max=20.0)
    assert c.violation(15.0) == 0.0
    assert c.violation(25.0) == pytest.approx(0.25, rel=FLOAT_REL)
    assert c.violation(5.0) == pytest.approx(0.5, rel=FLOAT_REL)


def test_evaluate_computes_needed_objectives_from_one_result() -> None:
    fit = Fitness(weights={"war_uar": 1.0}, constraints=(ConstraintSpec(objective="params", max=1.1e6),))
    values = fit.evaluate({"war": 80.0, "uar": 70.0, "params": 1e6, "logits": object()})
    assert values == {"war_uar": 75.0, "params": 1e6}
    with pytest.raises(ObjectiveError, match="objective 'war_uar': evaluator result has no metric 'uar'"):
        fit.evaluate({"war": 80.0, "params": 1.0})


def test_as_context_splits_metrics_and_extras() -> None:
    import numpy as np

    ctx = as_context({"acc": np.float32(0.5), "n": 3, "flag": True, "model": "m"})
    assert ctx.metrics == {"acc": 0.5, "n": 3.0}
    assert set(ctx.extras) == {"flag", "model"}
    assert as_context(ctx) is ctx


# -- registry and plugins ---------------------------------------------------------------------------


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = dict(objmod._REGISTRY)
    loaded = objmod._PLUGINS_LOADED
    # start from the built-ins only: real plugins (ttfsnet_hw) may already be loaded in this process
    for name in set(objmod._REGISTRY) - objmod.BUILTIN_OBJECTIVES:
        del objmod._REGISTRY[name]
    yield
    objmod._REGISTRY.clear()
    objmod._REGISTRY.update(saved)
    objmod._PLUGINS_LOADED = loaded
    objmod._PLUGIN_ERRORS.clear()


def test_register_objective_decorator(clean_registry: None) -> None:
    @register_objective("latency_proxy", "min", requires=("depth",))
    def latency_proxy(ctx: EvalContext) -> float:
        """Depth times a fixed window."""
        return 2.0 * ctx.metric("depth", "latency_proxy")

    obj = get_objective("latency_proxy")
    assert obj.direction == "min" and obj.description == "Depth times a fixed window."
    assert obj({"depth": 3}) == 6.0
    with pytest.raises(ObjectiveError, match="already registered"):
        register_objective("latency_proxy")(latency_proxy)
    with pytest.raises(ObjectiveError, match="direction must be 'max' or 'min'"):
        Objective(name="x", direction="up", compute=lambda c: 0.0)  # type: ignore[arg-type]


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, eps: list[metadata.EntryPoint]) -> None:
    def fake(**kwargs: str) -> list[metadata.EntryPoint]:
        assert kwargs == {"group": "ttfsnet_nas.objectives"}
        return eps

    monkeypatch.setattr(objmod.metadata, "entry_points", fake)
    objmod._PLUGINS_LOADED = False


def test_plugins_load_lazily(monkeypatch: pytest.MonkeyPatch, clean_registry: None) -> None:
    module = types.ModuleType("fake_hw_plugin")
    calls = []

    def objectives() -> list[Objective]:
        calls.append(1)
        return [Objective(name="energy_mj", direction="min", compute=lambda c: 9.0, description="Energy.")]

    module.objectives = objectives  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_hw_plugin", module)
    _fake_entry_points(
        monkeypatch, [metadata.EntryPoint("hw", "fake_hw_plugin:objectives", "ttfsnet_nas.objectives")]
    )
    assert get_objective("accuracy").name == "accuracy"
    assert calls == []  # built-ins do not trigger plugin loading
    assert get_objective("energy_mj")({}) == 9.0
    assert "energy_mj" in [o.name for o in list_objectives()]
    assert calls == [1]  # loaded once


def test_broken_plugin_is_reported_by_name(monkeypatch: pytest.MonkeyPatch, clean_registry: None) -> None:
    _fake_entry_points(
        monkeypatch, [metadata.EntryPoint("broken_hw", "no_such_module_xyz:objs", "ttfsnet_nas.objectives")]
    )
    assert get_objective("war").name == "war"  # unaffected
    with pytest.raises(
        PluginError, match=r"plugin 'broken_hw' \(no_such_module_xyz:objs: ModuleNotFoundError"
    ):
        get_objective("latency_ms")
    with pytest.raises(
        FitnessError, match="weights: unknown objective 'latency_ms'; objective plugins failed"
    ):
        Fitness(weights={"latency_ms": 1.0})


def test_plugin_returning_wrong_type(monkeypatch: pytest.MonkeyPatch, clean_registry: None) -> None:
    module = types.ModuleType("fake_bad_plugin")
    module.objs = lambda: ["not an objective"]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_bad_plugin", module)
    _fake_entry_points(
        monkeypatch, [metadata.EntryPoint("bad", "fake_bad_plugin:objs", "ttfsnet_nas.objectives")]
    )
    with pytest.raises(PluginError, match="returned str, expected ttfsnet_nas.objectives.Objective"):
        get_objective("whatever")


def test_plugin_returning_plain_specs(monkeypatch: pytest.MonkeyPatch, clean_registry: None) -> None:
    """A plugin may return mappings of Objective fields, so it needs no import of ttfsnet_nas."""
    module = types.ModuleType("fake_spec_plugin")

    class Example:  # any object with metrics/architecture/extras works as an example context
        metrics = {"spikes": 4.0}
        architecture = None
        extras = {"model": "m"}

    def objectives() -> list[dict[str, object]]:
        return [
            {"name": "energy_mj", "direction": "min", "compute": lambda c: 2.0 * c.metrics["spikes"],
             "description": "Energy.", "unit": "mJ", "example": lambda: {"spikes": 3.0, "model": "m"}},
            {"name": "latency_ms", "direction": "min", "compute": lambda c: float(len(c.extras)),
             "example": Example},
        ]

    module.objectives = objectives  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_spec_plugin", module)
    _fake_entry_points(
        monkeypatch, [metadata.EntryPoint("hw", "fake_spec_plugin:objectives", "ttfsnet_nas.objectives")]
    )
    energy, latency = get_objective("energy_mj"), get_objective("latency_ms")
    assert isinstance(energy, Objective) and energy.unit == "mJ" and energy.requires == ()
    example = energy.example()  # type: ignore[misc]
    assert isinstance(example, EvalContext)
    assert example.metrics == {"spikes": 3.0} and example.extras == {"model": "m"}
    assert energy(example) == 6.0
    assert latency(latency.example()) == 1.0  # type: ignore[misc]


def test_plugin_spec_with_unknown_key(monkeypatch: pytest.MonkeyPatch, clean_registry: None) -> None:
    module = types.ModuleType("fake_badspec_plugin")
    module.objs = lambda: [{"name": "x", "direction": "min", "compute": lambda c: 0.0, "units": "ms"}]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_badspec_plugin", module)
    _fake_entry_points(
        monkeypatch, [metadata.EntryPoint("bad", "fake_badspec_plugin:objs", "ttfsnet_nas.objectives")]
    )
    with pytest.raises(PluginError, match="unknown key 'units'"):
        get_objective("x")


# -- selection ------------------------------------------------------------------------------------


def _s(*vec: float, feasible: bool = True, violation: float = 0.0) -> Score:
    return Score(feasible, violation, vec[0], tuple(vec))


def test_non_dominated_sort_known_fronts() -> None:
    scores = [_s(1, 5), _s(2, 4), _s(1, 4), _s(3, 1), _s(0, 0), _s(9, 9, feasible=False, violation=0.1)]
    assert non_dominated_sort(scores) == [[0, 1, 3], [2], [4], [5]]


def test_crowding_distance_and_nsga2_selection() -> None:
    scores = [_s(0, 4), _s(1, 3), _s(2, 2), _s(3, 1), _s(4, 0), _s(0, 0)]
    dist = crowding_distance(scores, [0, 1, 2, 3, 4])
    assert dist[0] == dist[4] == math.inf
    assert dist[1] == dist[2] == dist[3] == pytest.approx(1.0, rel=FLOAT_REL)
    chosen = select_nsga2(scores, 3)
    assert set(chosen[:2]) == {0, 4} and len(chosen) == 3 and 5 not in chosen


def test_select_top_is_stable() -> None:
    scores = [_s(1), _s(3), _s(3), _s(2)]
    assert select_top(scores, 3) == [1, 2, 3]
