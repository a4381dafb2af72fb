"""``search.domain: snn`` (TNAS-ER §4.3, Fig. 4): candidates scored on their TTFS conversion give the metrics
of the ANN domain, in this process, on Ray workers and through the pipeline's journaled search."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from ttfsnet_nas.config import RecipeError
from ttfsnet_nas.emotion.pipeline import run_pipeline
from ttfsnet_nas.emotion.recipe import recipe_from_mapping
from ttfsnet_nas.emotion.space import backbone
from ttfsnet_nas.emotion.stages import EmotionStages
from ttfsnet_nas.search import ResumeError
from ttfsnet_nas.space import Architecture
from ttfsnet_nas.testing import local_ray
from ttfsnet_nas.torch import Evaluator, MacroSupernet, TrainConfig, train_supernet

TINY = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes" / "tiny.yaml"

# The metrics of a candidate's classifications: identical in both domains because the logits agree to float
# rounding and argmax of logits that agree to ~1e-6 only differs at an exact tie, which these random
# float inputs do not produce (the test checks the predictions themselves too).
CLASSIFICATION = ("accuracy", "war", "uar")
# Architecture facts: the same counts from the ANN's modules and from the converted TTFS layers.
STRUCTURE = ("params", "macs", "neurons", "input_spikes")


def _tiny_supernet() -> tuple[MacroSupernet, tuple[torch.Tensor, torch.Tensor]]:
    """The ``tiny`` recipe's backbone, trained one epoch (so BN statistics are not the defaults), and 96
    labelled inputs in [0, 1] (a third exactly 0: no input spike)."""
    config = backbone(groups=1, ops=("conv3x3", "conv5x5", "skip"), width=4, in_channels=8, image_size=16)
    g = torch.Generator().manual_seed(3)
    x = torch.rand(96, 8, 16, 16, generator=g)
    x = torch.where(x < 0.3, torch.zeros_like(x), x)
    y = torch.randint(0, 7, (96,), generator=g)
    torch.manual_seed(0)
    supernet = MacroSupernet(config)
    train_supernet(supernet, (x, y), TrainConfig(epochs=1, batch_size=32, seed=1))
    return supernet.eval(), (x, y)


def test_snn_domain_scores_equal_ann_domain() -> None:
    """Every candidate of the tiny space: the SNN domain's logits equal the ANN's to float tolerance and the
    metrics (same keys) are equal. The windows are calibrated on inputs that include the scored ones, so no
    neuron exceeds its window (a clipped neuron would be the only way the two could differ)."""
    supernet, (x, y) = _tiny_supernet()
    calib = torch.cat([x, torch.rand(32, 8, 16, 16, generator=torch.Generator().manual_seed(4))])
    ann = Evaluator((x, y), batch_size=40, num_classes=7)
    snn = Evaluator(
        (x, y), batch_size=40, num_classes=7, domain="snn", snn_calibration_data=(calib, torch.zeros(128)),
        zeta=0.5,
    )
    genes = list(supernet.genes)
    archs = [Architecture(dict(zip(genes, ops, strict=True))) for ops in itertools.product(
        *(supernet.genes[g] for g in genes)
    )]
    assert len(archs) == 9
    for arch in archs:
        model = ann.subnet(supernet, arch)
        a, s = ann.run(model), snn.run(model)
        assert set(s.metrics) == set(a.metrics), arch
        torch.testing.assert_close(s.logits, a.logits, rtol=1e-5, atol=1e-5)
        assert torch.equal(s.predictions, a.predictions), arch
        for key in (*CLASSIFICATION, *STRUCTURE, *(k for k in a.metrics if k.startswith("recall/"))):
            assert s.metrics[key] == a.metrics[key], (arch, key)
        assert s.metrics["loss"] == pytest.approx(a.metrics["loss"], rel=1e-5)
        # A ReLU pre-activation within float rounding of 0 may fire in one domain and not the other: the
        # counts agree to a few neurons per thousand spikes.
        for key in ("spikes", "spikes_per_neuron", "synops"):
            assert s.metrics[key] == pytest.approx(a.metrics[key], rel=1e-3), (arch, key)


@pytest.mark.slow  # starts a local Ray cluster (about 10 s)
def test_snn_domain_on_ray_workers_matches_this_process() -> None:
    """Ray workers built with the SNN-domain evaluator arguments score like this process, bit for bit.

    The windows are calibrated on dimmed inputs, so the scored ones drive neurons past them and the SNN
    clips: its metrics then differ from the ANN domain's, which shows the workers did score the SNN."""
    supernet, (x, y) = _tiny_supernet()
    kwargs: dict[str, Any] = {
        "batch_size": 48, "num_classes": 7, "domain": "snn", "snn_calibration_data": (0.2 * x[:64], y[:64]),
        "zeta": 0.0,
    }
    local = Evaluator((x, y), **kwargs)
    archs = [Architecture({"g0b0": a, "g0b1": b}) for a, b in (("conv3x3", "skip"), ("conv5x5", "conv3x3"))]
    expected = [local.evaluate(supernet, a) for a in archs]
    assert expected != [Evaluator((x, y), batch_size=48, num_classes=7).evaluate(supernet, a) for a in archs]
    from ttfsnet_nas.torch import RayEvaluator

    factory = functools.partial(MacroSupernet, supernet.config)
    with local_ray(num_cpus=1), RayEvaluator(
        factory, supernet, (x, y), num_workers=1, evaluator_kwargs=kwargs
    ) as remote:
        assert remote.evaluate_many(archs) == expected


def test_domain_recipe_key() -> None:
    assert recipe_from_mapping({}).search.domain == "ann"
    assert recipe_from_mapping({"search": {"domain": "snn"}}).search.domain == "snn"
    with pytest.raises(RecipeError, match=r"search\.domain"):
        recipe_from_mapping({"search": {"domain": "spiking"}})
    with pytest.raises(ValueError, match="domain"):
        Evaluator((torch.zeros(2, 1), torch.zeros(2, dtype=torch.long)), domain="spiking")  # type: ignore[arg-type]


def _recipe(domain: str) -> dict[str, Any]:
    recipe = yaml.safe_load(TINY.read_text())
    recipe["supernet"]["epochs"] = 1
    recipe["search"].update(rounds=1, pool_size=3, elite_size=2, domain=domain)
    return recipe


def test_pipeline_search_in_snn_domain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The search stage scores in the SNN domain, its journal header says so, and a resume of that journal
    in the ANN domain is refused (the fitness values of the two never mix)."""
    monkeypatch.setenv("TTFSNET_DATA", str(tmp_path / "data"))
    out = tmp_path / "run"
    run_pipeline(_recipe("snn"), out=out, stages=["supernet", "search"])
    journal = out / "search" / "journal.jsonl"
    header = yaml.safe_load(journal.read_text().splitlines()[0])
    assert header["domain"] == "snn"

    snn_stages = EmotionStages(recipe_from_mapping(_recipe("snn")), out, resume=True)
    _, kwargs = snn_stages.evaluator_inputs()
    assert kwargs["domain"] == "snn" and kwargs["zeta"] == 0.5 and kwargs["input_range"] == (0.0, 1.0)
    calib = kwargs["snn_calibration_data"][0]
    supernet_split = snn_stages.search_data().supernet
    assert supernet_split is not None
    n = min(128, len(supernet_split))  # snn.calibration_samples of the tiny recipe
    assert torch.equal(calib, supernet_split.materialize(epoch=10_001)[0][:n])  # the fixed window's first n
    # a resume in the same domain is accepted: every candidate is journaled, so nothing is scored again
    result = snn_stages.journaled_search(journal, snn_stages.strategy)
    assert len(result.history) == 3
    search_xy, kwargs = snn_stages.evaluator_inputs()
    direct = Evaluator(search_xy, **kwargs)
    supernet = snn_stages.load_supernet()
    for trial, metrics in zip(result.history, result.metrics, strict=True):
        assert metrics == direct.evaluate(supernet, trial.architecture)  # the journal holds SNN-domain scores

    ann_stages = EmotionStages(recipe_from_mapping(_recipe("ann")), out, resume=True)
    with pytest.raises(ResumeError, match="domain"):
        ann_stages.journaled_search(journal, ann_stages.strategy)
