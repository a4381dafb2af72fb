"""The optional ``quantize`` stage on a shortened ``tiny`` run: ``quantized/summary.json`` in its documented
format, the float part equal to the ``test`` stage's SNN, and one-line errors without the plugin."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from ttfsnet_nas.config import RecipeError
from ttfsnet_nas.emotion import quantized
from ttfsnet_nas.emotion.pipeline import run_pipeline
from ttfsnet_nas.errors import PipelineError

TINY = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes" / "tiny.yaml"


def _recipe(enabled: bool = True) -> dict[str, Any]:
    recipe = yaml.safe_load(TINY.read_text())
    # the format is what is tested here, not learning: the shortest budget the recipe checks accept
    recipe["supernet"]["epochs"] = 1
    recipe["search"]["rounds"] = 1
    recipe["retrain"]["epochs"] = 2
    recipe["snn"]["finetune_epochs"] = 0
    recipe["quantize"] = {"enabled": enabled, "calibration_samples": 32}
    return recipe


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "quantized"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TTFSNET_DATA", str(tmp_path_factory.mktemp("data")))
        mp.delenv("TTFSNET_HW_PROFILE", raising=False)
        run_pipeline(_recipe(), out=out)
    return out


def test_summary_format_and_float_part(run_dir: Path) -> None:
    summary = json.loads((run_dir / "quantized" / "summary.json").read_text())
    assert list(summary) == ["profile", "widths", "runs", "float", "quantized", "agreement"]
    assert summary["profile"] == "yoso"
    assert summary["widths"] == {"weight_bits": 8, "membrane_bits": 24, "time_bits": 8}
    test = json.loads((run_dir / "test" / "summary.json").read_text())
    assert summary["runs"] == test["runs"] == 2
    assert summary["float"] == test["snn"]  # the same seeded windows and the same code as the test stage
    for part in ("float", "quantized"):
        assert set(summary[part]) == {"mean", "std"}
        assert set(summary[part]["mean"]) == set(test["snn"]["mean"]) >= {"war", "uar"}
        assert 0.0 <= summary[part]["mean"]["war"] <= 1.0
    assert 0.0 <= summary["agreement"] <= 1.0
    metrics = json.loads((run_dir / "result.json").read_text())["metrics"]["quantized"]
    assert metrics["war"] == summary["quantized"]["mean"]["war"]
    assert metrics["uar"] == summary["quantized"]["mean"]["uar"]
    marker = json.loads((run_dir / "stages" / "quantize.json").read_text())["summary"]
    assert marker["agreement"] == summary["agreement"]


def test_missing_plugin_is_a_one_line_error(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "copy"
    shutil.copytree(run_dir, out)
    monkeypatch.setattr(quantized.metadata, "entry_points", lambda **_: [])
    with pytest.raises(PipelineError) as info:
        run_pipeline(_recipe(), out=out, stages=["quantize"])
    assert str(info.value) == "the quantize stage needs ttfsnet-hw: pip install ttfsnet-hw[torch]"


def test_selecting_a_disabled_stage_is_a_recipe_error(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="quantize.enabled"):
        run_pipeline(_recipe(enabled=False), out=tmp_path / "off", stages=["quantize"])


def test_missing_plugin_is_reported_before_any_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the stage runs last: without the early check a user would learn of the missing plugin after training
    monkeypatch.setattr(quantized.metadata, "entry_points", lambda **_: [])
    out = tmp_path / "fresh"
    with pytest.raises(PipelineError, match="needs ttfsnet-hw"):
        run_pipeline(_recipe(), out=out)
    assert not (out / "stages").exists() and not (out / "supernet").exists()
