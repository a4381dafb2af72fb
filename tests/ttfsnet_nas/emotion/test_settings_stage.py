"""The ``settings`` stage (TNAS-ER §4.3, Fig. 5): three retraining settings on one architecture, in the format
that ``ttfsnet-nas paper fig5`` reads, resumable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch import nn

import ttfsnet
from ttfsnet_nas.config import RecipeError
from ttfsnet_nas.emotion.pipeline import run_pipeline
from ttfsnet_nas.emotion.settings import SETTINGS, without_batchnorm
from ttfsnet_nas.torch import load_artifact

TINY = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes" / "tiny.yaml"


def _recipe(**settings: Any) -> dict[str, Any]:
    """The ``tiny`` recipe cut to one or two epochs per stage, with the settings stage on."""
    recipe = yaml.safe_load(TINY.read_text())
    recipe["supernet"]["epochs"] = 1
    recipe["search"].update(rounds=1, pool_size=2, elite_size=2)
    recipe["retrain"]["epochs"] = 2
    recipe["test"] = {"runs": 2}
    recipe["settings"] = {"enabled": True, "scratch_epochs": 2, **settings}
    return recipe


def _mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("settings") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TTFSNET_DATA", str(out.parent / "data"))
        run_pipeline(_recipe(), out=out)
    return out


def test_settings_json_format(run_dir: Path) -> None:
    doc = json.loads((run_dir / "settings" / "settings.json").read_text())
    assert set(doc) == {"architecture", "settings"}
    assert doc["architecture"] == "g0b0=conv3x3,g0b1=conv3x3"  # settings.op: conv3x3 in every block
    assert [(s["name"], s["label"]) for s in doc["settings"]] == list(SETTINGS)
    for setting in doc["settings"]:
        assert set(setting) == {"name", "label", "summary"}
        summary = setting["summary"]
        assert summary["runs"] == 2 and {"mean", "std"} <= set(summary["snn"])
        assert 0.0 <= summary["snn"]["mean"]["war"] <= 1.0
        assert summary["architecture"] == {"g0b0": "conv3x3", "g0b1": "conv3x3"}


def test_transfer_settings_share_the_retrained_ann(run_dir: Path) -> None:
    """(1) and (2) come from one retrained ANN (with BN); (1) is not fine-tuned, (2) is, as in stage 4."""
    root = run_dir / "settings"
    rows = {name: json.loads((root / name / "summary.json").read_text()) for name, _ in SETTINGS}
    assert rows["transfer"]["training"]["finetune"] == {"epochs": 0}
    assert rows["transfer_finetune"]["training"]["finetune"]["epochs"] == 1  # snn.finetune_epochs of tiny
    assert rows["transfer"]["training"]["transfer"] == rows["transfer_finetune"]["training"]["transfer"]
    ann = load_artifact(root / "ann")
    assert any(isinstance(m, nn.BatchNorm2d) for m in ann.modules())
    # the same ANN in both: the retrained-ANN column of their tests is identical
    retrained = [rows[name]["summary"]["ann_retrained"] for name in ("transfer", "transfer_finetune")]
    assert retrained[0] == retrained[1]
    # fine-tuning moved the weights of (2) away from (1)'s, with the same windows
    nets = [ttfsnet.load(root / name / "snn.pt")[0] for name in ("transfer", "transfer_finetune")]
    assert nets[0].windows() == nets[1].windows()
    assert any(
        not torch.equal(a, b)
        for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True)
    )


def test_scratch_network_has_no_batchnorm_and_the_same_layers(run_dir: Path) -> None:
    root = run_dir / "settings"
    scratch = json.loads((root / "snn_scratch" / "summary.json").read_text())["training"]
    assert scratch["batch_norm"] is False and scratch["epochs"] == 2 and len(scratch["losses"]) == 2
    assert scratch["twin_max_abs_logit_diff"] < 1e-5  # the saved ReLU twin is the trained SNN's counterpart
    summary = json.loads((root / "snn_scratch" / "summary.json").read_text())["summary"]
    assert summary["ann_retrained"] == summary["ann_counterpart"]
    twin = load_artifact(root / "snn_scratch" / "ann")
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in twin.modules())
    with_bn = load_artifact(root / "ann")
    weighted = (nn.Conv2d, nn.Linear)
    shapes = [tuple(m.weight.shape) for m in with_bn.modules() if isinstance(m, weighted)]
    assert [tuple(m.weight.shape) for m in twin.modules() if isinstance(m, weighted)] == shapes
    # both SNNs have the same TTFS layers: BN is folded away in (1), absent in (3)
    layers = [
        [type(layer).__name__ for layer in ttfsnet.load(root / name / "snn.pt")[0].ttfs_layers()]
        for name in ("transfer", "snn_scratch")
    ]
    assert layers[0] == layers[1]


def test_resume_after_completion_does_nothing(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTFSNET_DATA", str(run_dir.parent / "data"))
    before = _mtimes(run_dir / "settings")
    run_pipeline(_recipe(), out=run_dir, resume=True)
    assert _mtimes(run_dir / "settings") == before


def test_resume_skips_finished_settings(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage interrupted after setting (1): the resume keeps (1) and its ANN and redoes only the others."""
    monkeypatch.setenv("TTFSNET_DATA", str(run_dir.parent / "data"))
    out = tmp_path / "run"
    shutil.copytree(run_dir, out)
    for name in ("transfer_finetune", "snn_scratch"):
        shutil.rmtree(out / "settings" / name)
    (out / "settings" / "settings.json").unlink()
    (out / "stages" / "settings.json").unlink()
    kept = _mtimes(out / "settings" / "transfer") | _mtimes(out / "settings" / "ann")
    run_pipeline(_recipe(), out=out, resume=True)
    assert _mtimes(out / "settings" / "transfer") | _mtimes(out / "settings" / "ann") == kept
    assert json.loads((out / "settings" / "settings.json").read_text()) == json.loads(
        (run_dir / "settings" / "settings.json").read_text()
    )


def test_settings_stage_needs_the_recipe_switch(tmp_path: Path) -> None:
    recipe = _recipe()
    recipe["settings"] = {"enabled": False}
    with pytest.raises(RecipeError, match="settings.enabled"):
        run_pipeline(recipe, out=tmp_path / "run", stages=["settings"])
    with pytest.raises(RecipeError, match=r"settings\.op"):
        run_pipeline(_recipe(op="conv7x7"), out=tmp_path / "run")


def test_without_batchnorm() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
        nn.Linear(12, 4, bias=False), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2),
    )
    plain = without_batchnorm(model)
    assert [type(m) for m in plain] == [nn.Conv2d, nn.ReLU, nn.Flatten, nn.Linear, nn.ReLU, nn.Linear]
    conv = plain[0]
    assert isinstance(conv, nn.Conv2d) and conv.bias is not None and conv.padding == (1, 1)
    assert plain[-1] is model[-1]
    with pytest.raises(ValueError, match="BatchNorm after ReLU"):
        without_batchnorm(nn.Sequential(nn.ReLU(), nn.BatchNorm2d(3)))


def test_scratch_setting_refuses_normalised_inputs() -> None:
    # the scratch SNN's ReLU twin is saved as a plain layer chain without an input normalisation layer, so
    # it is exact only for inputs in [0, 1]: refused when the recipe is read, before any training
    from ttfsnet_nas.emotion.recipe import recipe_from_mapping

    with pytest.raises(RecipeError, match=r"settings\.enabled: .*data\.normalize: none"):
        recipe_from_mapping({"data": {"normalize": "seen"}, "settings": {"enabled": True}})
    recipe_from_mapping({"data": {"normalize": "seen"}, "settings": {"enabled": False}})


def test_scratch_network_starts_from_he_initialisation(tmp_path: Path) -> None:
    # Without BN nothing restores the activation scale; PyTorch's default init (a third of He's variance)
    # left the demo's scratch SNN at chance. Every weighted layer must be N(0, 2 / fan_in) with zero biases.
    from ttfsnet_nas.emotion.recipe import recipe_from_mapping
    from ttfsnet_nas.emotion.settings import scratch_network
    from ttfsnet_nas.emotion.stages import EmotionStages
    from ttfsnet_nas.space import Architecture

    stages = EmotionStages(recipe_from_mapping(_recipe()), tmp_path)
    arch = Architecture({gene: "conv3x3" for gene in stages.search_space().gene_names})
    model = scratch_network(stages, arch, 7)
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert weighted and all(m.bias is not None and not m.bias.any() for m in weighted)
    for m in weighted:
        w = m.weight.detach()
        fan_in = w[0].numel()
        # relative standard error of the sample std of n normal draws: 1 / sqrt(2n); allow 5 of them
        assert abs(float(w.std()) / (2.0 / fan_in) ** 0.5 - 1.0) < 5.0 / (2 * w.numel()) ** 0.5, m
    again = scratch_network(stages, arch, 7)
    pairs = zip(model.state_dict().values(), again.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)  # seeded: the same network every time
