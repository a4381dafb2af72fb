"""The emotion recipe schema: defaults, built-in recipes, and one-line errors naming the YAML path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ttfsnet_nas.cli import main
from ttfsnet_nas.config import RecipeError
from ttfsnet_nas.emotion.recipe import EmotionRecipe, load_recipe, recipe_from_mapping
from ttfsnet_nas.fitness import Fitness
from ttfsnet_nas.search import SearchConfig
from ttfsnet_nas.space import SearchSpace

RECIPES = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes"


def test_defaults_are_the_paper_text_settings_and_the_registered_assumptions() -> None:
    r = recipe_from_mapping({})
    assert isinstance(r, EmotionRecipe)
    assert (r.supernet.lr, r.retrain.lr, r.snn.finetune_lr) == (5e-3, 5e-4, 5e-5)
    assert (r.supernet.epochs, r.retrain.epochs, r.snn.finetune_epochs) == (600, 600, 100)
    assert (r.supernet.batch_size, r.search.pool_size, r.search.elite_size) == (96, 12, 12)
    assert (r.search.rounds, r.snn.zeta, r.test.runs) == (18, 0.5, 20)
    assert (r.data.sampling, r.data.channels, r.data.image_size) == ("E4-S3", 4, 90)
    assert r.space.width == 32 and r.search.fitness == Fitness(mode="weighted", weights={"war_uar": 1.0})
    assert (r.retrain.batch_size, r.snn.batch_size, r.search.strategy) == (96, 96, "evolution")
    assert r.search.fitness.objectives == () and r.search.fitness.constraints == ()
    assert r.data.search_split == "random"  # the paper's plain 80 / 20 (docs/tnas-er.md, Data split)
    assert (r.data.resize, r.data.normalize, r.data.legacy_quirks) == ("area", "none", False)


def test_search_section_is_the_core_search_config() -> None:
    scalar = recipe_from_mapping({"search": {"fitness": "war_uar"}}).search
    assert isinstance(scalar, SearchConfig)
    assert scalar.fitness.mode == "weighted" and scalar.fitness.weights == {"war_uar": 1.0}
    budget = [{"objective": "params", "max": 5e4}]
    fitness = {"mode": "pareto", "objectives": ["war_uar", "params"], "constraints": budget}
    pareto = recipe_from_mapping({"search": {"fitness": fitness}}).search.fitness
    assert pareto.mode == "pareto" and pareto.objectives == ("war_uar", "params")
    assert [(c.objective, c.max, c.min) for c in pareto.constraints] == [("params", 5e4, None)]
    # any registered strategy, with the hyper-parameters its constructor names
    strategy = recipe_from_mapping({"search": {"strategy": "random_search", "samples": 7}}).search
    assert strategy.build_strategy(SearchSpace({"g": ("a", "b")})).hparams() == {"samples": 7}


@pytest.mark.parametrize("name", ["tiny", "demo", "demo-hw", "see", "dsee", "see-transfer"])
def test_builtin_recipes_load(name: str) -> None:
    r = load_recipe(RECIPES / f"{name}.yaml")
    assert r.name == name
    if name in ("tiny", "demo", "demo-hw"):
        assert r.data.synthetic is not None
    if name == "see-transfer":
        assert r.target_data is not None and r.target_data.layout == "dsee"


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        ({"search": {"pool_sizee": 3}}, "search.pool_sizee", "unknown key"),
        ({"supernet": {"epochs": "ten"}}, "supernet.epochs", "expected int"),
        ({"supernet": {"lr": -1.0}}, "supernet.lr", "> 0"),
        ({"space": {"ops": ["conv3x3", "conv7x7"]}}, "space.ops[1]", "conv5x5"),
        ({"space": {"groups": 0}}, "space.groups", "≥ 1"),
        ({"data": {"channels": 5}}, "data", "channels: expected 4"),
        ({"data": {"sampling": "E4S3"}}, "data", "E<x>-S<y>"),
        ({"data": {"synthetic": "huge"}}, "data.synthetic", "tiny"),
        ({"search": {"fitness": "f1"}}, "search.fitness", "war_uar"),
        ({"search": {"strategy": "annealing"}}, "search.strategy", "evolution"),
        ({"data": {"search_split": "people"}}, "data.search_split", "subject"),
        ({"data": {"split": "subject"}}, "data.split", "renamed to data.search_split"),
        ({"snn": {"robustness": {"time_bits": 0}}}, "snn.robustness.time_bits", "≥ 1"),
        ({"target_data": {"channels": 8}}, "", "target_data.channels"),
        ({"target_data": {}, "retrain": {"inherit": True}}, "", "retrain.inherit: cannot inherit"),
        ({"baselines": {"fixed": ["conv9x9"]}}, "baselines.fixed[0]", "conv3x3"),
        ({"search": {"fitness": {"mode": "pareto", "objectives": ["war_uar"]}}}, "search.fitness.objectives",
         "at least two"),
        ({"search": {"fitness": {"mode": "pareto", "objectives": ["war_uar", "joules"]}}},
         "search.fitness.objectives", "objective 'joules'"),
        ({"search": {"fitness": {"constraints": [{"objective": "params"}]}}}, "search.fitness.constraints[0]",
         "a bound"),
        ({"search": {"fitness": {"constraints": [{"objective": "watts", "max": 1}]}}}, "search.fitness",
         "unknown objective"),
    ],
)
def test_bad_values_name_the_yaml_path(data: dict, key: str, fragment: str) -> None:
    with pytest.raises(RecipeError) as info:
        recipe_from_mapping(data)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(key), message
    assert fragment in message


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"type": "emotion", **data}))
    return path


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"search": {"rounds": "many"}}, "search.rounds"),
        ({"space": {"widht": 8}}, "space.widht"),
        ({"test": {"runs": 0}}, "test.runs"),
    ],
)
def test_cli_rejects_bad_recipes_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict, needle: str
) -> None:
    path = _write(tmp_path, data)
    code, err = _cli(["search", str(path), "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert str(path) in lines[0] and needle in lines[0]
    assert not (tmp_path / "run").exists()  # nothing ran


def test_cli_rejects_unknown_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, {"data": {"synthetic": "tiny"}})
    args = ["search", str(path), "--out", str(tmp_path / "run"), "--stages", "supernet,deploy"]
    code, err = _cli(args, capsys)
    assert code == 2
    assert "deploy" in err


def test_cli_resolves_builtin_names_and_rejects_unknown_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cli(["search", "no-such-recipe", "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert "built-in" in err and "demo" in err and "tiny" in err
    from ttfsnet_nas.pipelines import builtin_recipes, resolve_recipe

    assert {"tiny", "demo", "see", "dsee", "see-transfer"} <= set(builtin_recipes())
    assert resolve_recipe("demo") == RECIPES / "demo.yaml"
    local = _write(tmp_path, {})
    assert resolve_recipe(str(local)) == local  # a file path wins over a name


def test_cli_missing_dataset_is_bad_input_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-SEE"
    path = _write(tmp_path, {"data": {"root": str(missing)}})
    code, err = _cli(["search", str(path), "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    # the error is one line, the last; before it only the run's progress log lines (standard error is no
    # terminal here, so progress is logged there)
    *progress, error = [line for line in err.splitlines() if line.strip()]
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO ", line) for line in progress), err
    assert error.startswith("error: ") and str(missing) in error
    assert "Traceback" not in err
