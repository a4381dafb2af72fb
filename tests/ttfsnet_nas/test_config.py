"""Frozen-dataclass-from-YAML loader: types, bounds, unknown keys, tags, round trips."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import yaml

from ttfsnet_nas.config import (
    RecipeError,
    dump_yaml,
    from_dict,
    from_yaml,
    param,
    register_config_type,
    replace_path,
    to_dict,
    write_yaml,
)
from ttfsnet_nas.fitness import ConstraintSpec, Fitness
from ttfsnet_nas.search import SearchConfig


class Optim:
    """Family base for tagged variants."""


@register_config_type(Optim, "adam")
@dataclass(frozen=True, kw_only=True, slots=True)
class Adam(Optim):
    lr: float = param(5e-3, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)


@register_config_type(Optim, "sgd")
@dataclass(frozen=True, kw_only=True, slots=True)
class SGD(Optim):
    lr: float = param(0.1, gt=0)
    momentum: float = param(0.9, ge=0, lt=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class Train:
    epochs: int = param(600, ge=1)
    optimizer: Optim = field(default_factory=Adam)
    mode: Literal["ann", "snn"] = "ann"
    out: Path | None = None
    tags: tuple[str, ...] = ()
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class Recipe:
    name: str
    train: Train = field(default_factory=Train)
    search: SearchConfig = field(default_factory=SearchConfig)


def _load(tmp_path: Path, text: str) -> Recipe:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return from_yaml(Recipe, p)


def test_valid_recipe_with_defaults_tags_and_nesting(tmp_path: Path) -> None:
    r = _load(
        tmp_path,
        """
name: tnas
train:
  epochs: 10
  optimizer: {type: sgd, lr: 0.05}
  mode: snn
  out: runs/x
  tags: [a, b]
  extra: {alpha: 1}
search:
  pool_size: 12
  fitness:
    weights: {war_uar: 1.0}
    constraints: [{objective: params, max: 1.1e6}]
""",
    )
    assert r.train.optimizer == SGD(lr=0.05)
    assert r.train.out == Path("runs/x") and r.train.tags == ("a", "b") and r.train.extra == {"alpha": 1.0}
    assert r.search.fitness.constraints == (ConstraintSpec(objective="params", max=1.1e6),)
    assert r.search.rounds == 18 and isinstance(r.search.fitness, Fitness)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nsearch: {pool_size: twelve}", 'search.pool_size: expected int ≥ 2, got "twelve"'),
        ("name: x\nsearch: {pool_size: 1}", "search.pool_size: expected int ≥ 2, got 1"),
        ("name: x\nsearch: {pool_size: 12.0}", "search.pool_size: expected int ≥ 2, got 12.0"),
        ("name: x\nsearch: {mutation_prob: 2}", "search.mutation_prob: expected float ≥ 0 ≤ 1, got 2"),
        ("name: x\nsearch: {force_change: 1}", "search.force_change: expected bool, got 1"),
        (
            "name: x\nsearch: {pool_sise: 3}",
            "search.pool_sise: unknown key \"pool_sise\"; valid keys: strategy, seed",
        ),
        ("name: x\nsearch: {strategy: genetic}", "search.strategy: expected one of ["),
        (
            "name: x\nsearch: {fitness: {weights: {nope: 1}}}",
            "search.fitness.weights: unknown objective 'nope'",
        ),
        (
            "name: x\nsearch: {fitness: {mode: best}}",
            'search.fitness.mode: expected one of "weighted", "power", "pareto"',
        ),
        (
            "name: x\nsearch: {fitness: {constraints: [{objective: params}]}}",
            "search.fitness.constraints[0].max",
        ),
        (
            "name: x\ntrain: {optimizer: {lr: 1}}",
            "train.optimizer: missing key 'type'; expected one of ['adam', 'sgd']",
        ),
        (
            "name: x\ntrain: {optimizer: {type: rmsprop}}",
            "train.optimizer.type: expected one of ['adam', 'sgd'], got \"rmsprop\"",
        ),
        (
            "name: x\ntrain: {optimizer: {type: sgd, momentum: 1.0}}",
            "train.optimizer.momentum: expected float ≥ 0 < 1, got 1.0",
        ),
        (
            "name: x\ntrain: {optimizer: {type: adam, betas: [0.9]}}",
            "train.optimizer.betas: expected list of 2 items, got [0.9]",
        ),
        ("name: x\ntrain: {tags: [a, 3]}", "train.tags[1]: expected str, got 3"),
        ("name: x\ntrain: {extra: {a: b}}", 'train.extra.a: expected float, got "b"'),
        ("name: x\ntrain: {out: 3}", "train.out: expected path string or null, got 3"),
        ("name: x\ntrain: 5", "train: expected mapping, got 5"),
        ("train: {}", "missing required key 'name'"),
        ("name: x\ntrain: {epochs: [1}", "invalid YAML: line 2, column"),
    ],
)
def test_errors_name_file_and_yaml_path(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RecipeError) as info:
        _load(tmp_path, text)
    msg = str(info.value)
    assert msg.startswith(str(tmp_path / "r.yaml") + ": ")
    assert message in msg
    assert "\n" not in msg


def test_yaml12_floats(tmp_path: Path) -> None:
    r = _load(tmp_path, "name: x\nsearch: {fitness: {mode: power, reference: 1e5, exponent: -8e-2}}")
    assert r.search.fitness.reference == 1e5 and r.search.fitness.exponent == -0.08


def test_missing_file_is_recipe_error(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="missing.yaml: file not found"):
        from_yaml(Recipe, tmp_path / "missing.yaml")


def test_roundtrip_resolved_yaml(tmp_path: Path) -> None:
    r = Recipe(name="x", train=Train(optimizer=SGD(lr=0.2), tags=("a",), out=Path("o")))
    data = to_dict(r)
    assert data["train"]["optimizer"] == {"type": "sgd", "lr": 0.2, "momentum": 0.9}
    out = write_yaml(tmp_path / "resolved.yaml", r)
    assert from_yaml(Recipe, out) == r
    assert yaml.safe_load(dump_yaml(r))["search"]["pool_size"] == 12


def test_replace_path_rechecks() -> None:
    r = Recipe(name="x")
    r2 = replace_path(r, "search.seed", 7)
    assert r2.search.seed == 7 and r.search.seed == 0
    with pytest.raises(RecipeError, match="search.seed: expected int ≥ 0, got -1"):
        replace_path(r, "search.seed", -1)
    with pytest.raises(RecipeError, match="no such recipe key 'nope'"):
        replace_path(r, "search.nope", 1)


def test_from_dict_without_file() -> None:
    with pytest.raises(RecipeError, match=r"^search\.rounds: expected int ≥ 1, got 0$"):
        from_dict(SearchConfig, {"rounds": 0}, path="search")


def test_search_config_builds_each_strategy() -> None:
    from ttfsnet_nas.toy import toy_space

    space = toy_space(3, 3)
    evo = SearchConfig(pool_size=4, elite_size=3, rounds=2, mutation_prob=0.5).build_strategy(space)
    assert evo.name == "evolution" and evo.hparams()["pool_size"] == 4 and evo.budget == 8
    assert SearchConfig(strategy="random_search", samples=7).build_strategy(space).budget == 7
    assert SearchConfig(strategy="random_search").build_strategy(space).budget == 27  # min(100, |space|)
    assert SearchConfig(strategy="random_sampling").build_strategy(space).budget == 10
    assert SearchConfig(strategy="exhaustive").build_strategy(space).budget == 27


def test_search_config_passes_hyper_parameters_to_a_plugin_strategy() -> None:
    from ttfsnet_nas.strategies import base as strategies_base
    from ttfsnet_nas.strategies import register_strategy
    from ttfsnet_nas.strategies.random_search import RandomSearch
    from ttfsnet_nas.toy import toy_space

    @register_strategy("pooled_random")
    class PooledRandom(RandomSearch):
        def __init__(self, *, pool_size: int = 2, samples: int = 100, **kwargs: object) -> None:
            super().__init__(samples=samples, **kwargs)  # type: ignore[arg-type]
            self.pool_size = pool_size

    try:
        built = SearchConfig(strategy="pooled_random", pool_size=5, samples=3).build_strategy(toy_space(3, 3))
        assert isinstance(built, PooledRandom) and built.pool_size == 5 and built.budget == 3
    finally:
        del strategies_base._STRATEGIES["pooled_random"]
