"""Candidate evaluation: metrics, ANN statistics of the same forward pass, determinism."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from ttfsnet_nas.torch import (
    AnnStatsCollector,
    Evaluator,
    MacroConfig,
    MacroSupernet,
    Supernet,
    TrainConfig,
    classification_metrics,
    recalibrate_bn,
    train_supernet,
)

ARCH = {"block0": "conv5x5", "block1": "skip", "block2": "conv3x3"}
# Spike/SynOP/MAC statistics are integer counts accumulated in float64 (order differs between the two
# sides) and divided by the sample count: a few ulp (measured ≤ 2e-16 relative). 1e-14 is ~50 ulp.
COUNT_REL = 1e-14


@pytest.fixture
def trained(supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor]) -> Supernet:
    train_supernet(supernet, data, TrainConfig(epochs=2, batch_size=30, seed=3))
    return supernet


def test_classification_metrics_by_hand() -> None:
    labels = torch.tensor([0, 0, 0, 1, 2, 2])
    preds = torch.tensor([0, 1, 0, 1, 0, 2])
    m = classification_metrics(preds, labels, num_classes=4)
    # ratios of small counts and a mean of three of them: ≤ a few ulp, so rel=1e-15 (~5 ulp)
    assert m["accuracy"] == m["war"] == pytest.approx(4 / 6, rel=1e-15)
    assert m["recall/0"] == pytest.approx(2 / 3, rel=1e-15) and m["recall/1"] == 1.0 and m["recall/2"] == 0.5
    assert "recall/3" not in m  # no samples, no recall
    assert m["uar"] == pytest.approx((2 / 3 + 1.0 + 0.5) / 3, rel=1e-15)
    with pytest.raises(ValueError, match=r"labels outside \[0, 2\)"):
        classification_metrics(preds, labels, num_classes=2)


def test_evaluator_is_deterministic(trained: Supernet, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    first = Evaluator(data, batch_size=32).evaluate(trained, ARCH)
    second = Evaluator(data, batch_size=32).evaluate(trained, ARCH)
    assert first == second
    assert all(isinstance(v, float) for v in first.values())
    other = Evaluator(data, batch_size=17).evaluate(trained, ARCH)
    for key in ("accuracy", "uar", "spikes", "synops", "macs", "params", "input_spikes"):
        assert other[key] == first[key], key


def test_metrics_match_plain_forward(trained: Supernet, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = data
    result = Evaluator(data, batch_size=50).run(trained.subnet(ARCH))
    trained.eval()
    with torch.no_grad():
        logits = trained(x, ARCH)
    # float32, subnet vs supernet path: if the kernels differ, ≲ eps32·fan_in·|x| ≈ 1.2e-7·~100·0.2 ≈ 2.4e-6
    # (measured 0, same kernels); rtol 1e-5 at |logit| ≤ 0.2 plus atol 1e-6 is about that bound.
    torch.testing.assert_close(result.logits, logits, rtol=1e-5, atol=1e-6)
    assert torch.equal(result.labels, y)
    accuracy = float((logits.argmax(1) == y).double().mean())
    assert result.metrics["accuracy"] == pytest.approx(accuracy, rel=1e-15)  # a ratio of counts
    expected_loss = float(nn.functional.cross_entropy(logits, y))
    # float32 cross entropy, batches of 50 averaged vs one pass: a few eps32 ≈ 5e-7 relative
    # (measured 5e-8); 2e-6 leaves 4x.
    assert result.metrics["loss"] == pytest.approx(expected_loss, rel=2e-6)


def _brute_force_stats(model: nn.Sequential, x: torch.Tensor) -> dict[str, float]:
    """Layer by layer, independent of the hooks: unit-weight layers run on spike masks (yoso §7.2)."""
    spikes = synops = macs = neurons = 0
    h = x
    first = True
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                mask = (h > 0).float()
                unit = copy.deepcopy(layer)
                unit.weight.fill_(1.0)
                if unit.bias is not None:
                    unit.bias.zero_()
                synops += float(unit(mask).sum())
                # Dense MACs count padded positions too (the usual convention, yoso-hw-model.md §7.2).
                fan_in = unit.weight[0].numel()
                macs += fan_in * layer(h[:1]).numel()
                first = False
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                spikes += int((h > 0).sum())
                neurons += h[0].numel()
    assert not first
    n = x.shape[0]
    return {"spikes": spikes / n, "synops": synops / n, "macs": macs, "neurons": float(neurons)}


def test_ann_statistics_against_brute_force(
    trained: Supernet, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    model = trained.subnet(ARCH).eval()
    metrics = Evaluator(data, batch_size=40).run(model).metrics
    brute = _brute_force_stats(model, data[0])
    # integer counts summed in float64 in another order, then divided: ≤ a few ulp (measured ≤ 2e-16)
    for key, value in brute.items():
        assert metrics[key] == pytest.approx(value, rel=COUNT_REL), key
    assert metrics["params"] == sum(p.numel() for p in model.parameters())
    input_spikes = float((data[0] > 0).sum()) / len(data[0])
    assert metrics["input_spikes"] == pytest.approx(input_spikes, rel=COUNT_REL)
    per_neuron = metrics["spikes"] / metrics["neurons"]
    assert metrics["spikes_per_neuron"] == pytest.approx(per_neuron, rel=COUNT_REL)
    assert 0 < metrics["spikes_per_neuron"] < 1


def test_synops_strided_grouped_padded_conv() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
        nn.ReLU(),
        nn.Conv2d(6, 3, (3, 5), padding=(0, 2), dilation=(2, 1)),
        nn.ReLU(),
        nn.Flatten(),
        nn.LazyLinear(2),
    )
    x = torch.rand(5, 4, 11, 9)
    x[x < 0.5] = 0
    model(x)  # materialise the lazy layer
    with torch.no_grad(), AnnStatsCollector(model) as stats:
        model(x)
    summary = stats.summary()
    brute = _brute_force_stats(model, x)
    assert summary["synops"] == pytest.approx(brute["synops"], rel=COUNT_REL)
    assert summary["macs"] == pytest.approx(brute["macs"], rel=COUNT_REL)


def test_stats_collector_removes_hooks_and_needs_a_pass() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    with AnnStatsCollector(model) as stats:
        pass
    with pytest.raises(RuntimeError, match="no forward pass"):
        stats.summary()
    assert not model[0]._forward_hooks and not model._forward_pre_hooks


def test_recalibrated_evaluation(trained: Supernet, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    calib = (data[0][:80], data[1][:80])
    plain = Evaluator(data).evaluate(trained, ARCH)
    evaluator = Evaluator(data, recalibrate_bn=True, calibration_data=calib, batch_size=30)
    recal = evaluator.evaluate(trained, ARCH)
    assert recal == evaluator.evaluate(trained, ARCH)
    assert recal["loss"] != plain["loss"]
    model = recalibrate_bn(trained.subnet(ARCH), [calib[0]])
    # float32 BN statistics from other batchings agree to a few eps32; the loss to ≈ 5e-7 relative
    # (measured 1.7e-7); 2e-6 leaves 4x.
    torch.testing.assert_close(Evaluator(data).run(model).metrics["loss"], recal["loss"], rtol=2e-6, atol=0)


def test_evaluator_rejects_empty_data() -> None:
    with pytest.raises(ValueError, match="evaluation data is empty"):
        Evaluator((torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)))


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_same_numbers_as_ttfsnet_ann_statistics(
    pool: str, tiny_config: MacroConfig, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    import dataclasses

    import ttfsnet

    torch.manual_seed(4)
    net = MacroSupernet(dataclasses.replace(tiny_config, pool=pool))
    train_supernet(net, data, TrainConfig(epochs=1, batch_size=40))
    model = net.eval().subnet(ARCH)
    ours = Evaluator(data, batch_size=50).run(model).metrics
    ref = ttfsnet.ann_statistics(model, [data[0][:50], data[0][50:]])
    assert ours["params"] == ref.params and ours["macs"] == ref.macs and ours["neurons"] == ref.neurons
    assert ours["spikes"] == pytest.approx(ref.spikes_per_sample, rel=COUNT_REL)  # measured ≤ 2e-16
    assert ours["synops"] == pytest.approx(ref.synops_per_sample, rel=COUNT_REL)
    assert ours["spikes_per_neuron"] == pytest.approx(ref.spikes_per_neuron, rel=COUNT_REL)
