"""Hardware objectives through the ttfsnet_nas entry-point group, from a candidate subnet or recorded
spikes."""

from __future__ import annotations

import gc
import math

import numpy as np
import pytest

pytest.importorskip("ttfsnet_nas")
torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from ttfsnet.models import MacroConfig, macro_network  # noqa: E402
from ttfsnet_hw import nas  # noqa: E402
from ttfsnet_hw.errors import HardwareError, HardwareObjectiveError  # noqa: E402
from ttfsnet_hw.estimate import estimate  # noqa: E402
from ttfsnet_hw.paper import paper_network  # noqa: E402
from ttfsnet_hw.profile import load_profile  # noqa: E402
from ttfsnet_hw.records import uniform_spike_record  # noqa: E402
from ttfsnet_nas.objectives import EvalContext, get_objective, list_objectives  # noqa: E402
from ttfsnet_nas.testing import ObjectiveContractTests  # noqa: E402

NAMES = ["latency_ms", "energy_mj", "pe_count"]
SHAPE = (4, 32, 32)


@pytest.mark.parametrize("name", NAMES)
class TestHardwareObjectiveContract(ObjectiveContractTests):
    @pytest.fixture
    def objective_name(self, name: str) -> str:
        return name


def test_objectives_are_registered_via_entry_point() -> None:
    names = {o.name for o in list_objectives()}
    assert set(NAMES) <= names
    assert not any(n.startswith("hw_") for n in names), "one name per hardware objective"
    assert all(get_objective(n).direction == "min" for n in NAMES)


def test_plugin_returns_plain_specs() -> None:
    """The entry point hands ttfsnet_nas mappings, so ttfsnet_hw needs no import of it."""
    specs = nas.objectives()
    assert [s["name"] for s in specs] == NAMES
    assert all(isinstance(s, dict) and s["direction"] == "min" and callable(s["compute"]) for s in specs)
    example = specs[0]["example"]()
    assert isinstance(example["model"], nn.Module) and example["input_shape"] == SHAPE


def _subnet(arch: dict[str, str], width: int = 32) -> nn.Sequential:
    config = MacroConfig(
        in_channels=4,
        input_size=SHAPE[1:],
        stem_channels=(width, width),
        stage_blocks=(2, 2),
        gene_names="g{stage}b{block}",
    )
    return macro_network(config, arch)


def _ctx(spikes: float, model: nn.Module, **metrics: float) -> EvalContext:
    return EvalContext(
        metrics={"spikes": spikes, "input_spikes": 3000.0, **metrics},
        extras={"model": model, "input_shape": SHAPE},
    )


def test_more_spikes_cost_more_and_bigger_nets_use_more_pes() -> None:
    small = _subnet({"g0b0": "skip", "g0b1": "skip", "g1b0": "skip", "g1b1": "skip"})
    large = _subnet({"g0b0": "conv5x5", "g0b1": "conv5x5", "g1b0": "conv5x5", "g1b1": "conv5x5"})
    lat, en, pes = get_objective("latency_ms"), get_objective("energy_mj"), get_objective("pe_count")
    assert en(_ctx(40000.0, large)) > en(_ctx(4000.0, large))
    assert lat(_ctx(40000.0, large)) > lat(_ctx(4000.0, large))
    prof_pes = pes(_ctx(4000.0, large))
    assert prof_pes >= pes(_ctx(4000.0, small)) > 0


def test_subnet_estimate_equals_the_paper_family_member() -> None:
    """The same network gives the numbers the gene-name path gave (paper_network's IR + uniform spikes)."""
    arch = {"g0b0": "conv3x3", "g0b1": "skip", "g1b0": "conv5x5", "g1b1": "skip"}
    ir = paper_network(arch, groups=2, image_size=32)
    hidden = sum(layer.neurons for layer in ir.layers if layer.spiking)
    want = estimate(
        ir, uniform_spike_record(ir, 20000.0 / hidden, 3000.0 / math.prod(SHAPE)), load_profile("yoso")
    )
    got = nas.estimate_from_context(_ctx(20000.0, _subnet(arch), neurons=float(hidden)))
    assert got.latency_ms == want.latency_ms and got.energy_mj == want.energy_mj
    assert got.pes_required == want.pes_required and got.synops == want.synops
    assert [row.cycles for row in got.layers] == [row.cycles for row in want.layers]


def test_objective_from_a_custom_subnet_of_another_task() -> None:
    """Any plain ReLU ANN works, not only TNAS-ER members (no gene names, another input shape)."""
    net = nn.Sequential(
        nn.Conv2d(1, 6, 5),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 12 * 12, 20),
        nn.ReLU(),
        nn.Linear(20, 10),
    ).eval()
    ctx = EvalContext(
        metrics={"spikes": 300.0, "input_spikes": 200.0, "neurons": 6 * 24 * 24 + 20.0},
        extras={"model": net, "input_shape": (1, 28, 28), "hw_profile": "horowitz45"},
    )
    values = [get_objective(n)(ctx) for n in NAMES]
    assert all(v > 0 and np.isfinite(v) for v in values)
    est = nas.estimate_from_context(ctx)
    assert est.profile == "horowitz45" and [row.kind for row in est.layers] == [
        "conv",
        "maxpool",
        "linear",
        "readout",
    ]


def test_clear_error_without_inputs() -> None:
    with pytest.raises(ValueError, match="hardware objectives need") as info:
        get_objective("latency_ms")(EvalContext(metrics={}))
    assert isinstance(info.value, HardwareError) and not isinstance(info.value, KeyError)
    model_only = EvalContext(
        metrics={"spikes": 10.0}, extras={"model": nn.Sequential(nn.Flatten(), nn.Linear(4, 2))}
    )
    with pytest.raises(HardwareObjectiveError, match="input_shape"):
        get_objective("latency_ms")(model_only)


def test_cache_follows_the_lifetime_of_the_model() -> None:
    """Entries die with their model, so a new model that reuses the id() never gets a stale estimate."""
    nas._CACHE.clear()
    arch = {"g0b0": "conv3x3", "g0b1": "conv3x3", "g1b0": "conv3x3", "g1b1": "conv3x3"}
    model = _subnet(arch, width=8)
    first = nas.estimate_from_context(_ctx(4000.0, model))
    assert len(nas._CACHE) == 1
    assert nas.estimate_from_context(_ctx(4000.0, model)) is first  # the three objectives share one estimate
    del model
    gc.collect()
    assert len(nas._CACHE) == 0
    other = _subnet({"g0b0": "skip", "g0b1": "skip", "g1b0": "skip", "g1b1": "skip"}, width=8)
    assert nas.estimate_from_context(_ctx(4000.0, other)).macs < first.macs


def test_data_that_cannot_be_weakly_referenced_is_not_cached() -> None:
    from ttfsnet_hw.adapters.torch import ttfs_from_ir
    from ttfsnet_hw.ir import IRBuilder

    nas._CACHE.clear()
    ir = IRBuilder("n", (2, 8, 8), rng=np.random.default_rng(0)).conv(4, 3).maxpool(2).flatten().readout(3)
    batches = [torch.rand(4, 2, 8, 8, dtype=torch.float64)]  # a list: no weak reference possible
    ctx = EvalContext(metrics={}, extras={"snn": ttfs_from_ir(ir), "data": batches, "input_shape": (2, 8, 8)})
    assert get_objective("latency_ms")(ctx) > 0
    assert len(nas._CACHE) == 0


def test_snn_context_with_data() -> None:
    from ttfsnet_hw.adapters.torch import ttfs_from_ir
    from ttfsnet_hw.ir import IRBuilder

    ir = IRBuilder("n", (2, 8, 8), rng=np.random.default_rng(0)).conv(4, 3).maxpool(2).flatten().readout(3)
    net = ttfs_from_ir(ir)
    data = torch.rand(8, 2, 8, 8, dtype=torch.float64)
    ctx = EvalContext(metrics={}, extras={"snn": net, "data": data, "input_shape": (2, 8, 8)})
    value = get_objective("latency_ms")(ctx)
    assert value > 0 and np.isfinite(value)


def test_search_metrics_of_a_real_emotion_subnet() -> None:
    """The search path: the evaluator's own metrics of a supernet's subnet, and that subnet as the model."""
    pytest.importorskip("ttfsnet_nas.torch")
    from ttfsnet_nas.torch.evaluate import Evaluator
    from ttfsnet_nas.torch.supernet import MacroSupernet

    torch.manual_seed(0)
    config = MacroConfig(
        in_channels=3,
        input_size=(16, 16),
        stem_channels=(4, 4),
        stage_blocks=(2, 2),
        gene_names="g{stage}b{block}",
    )
    supernet = MacroSupernet(config)
    arch = {"g0b0": "conv5x5", "g0b1": "skip", "g1b0": "skip", "g1b1": "conv3x3"}
    x = torch.rand(8, 3, 16, 16)
    evaluator = Evaluator((x, torch.arange(8) % 7), num_classes=7)
    metrics = evaluator.evaluate(supernet, arch)
    subnet = evaluator.subnet(supernet, arch)
    lat = get_objective("latency_ms")
    assert lat(EvalContext(metrics=dict(metrics), extras={"model": subnet, "input_shape": (3, 16, 16)})) > 0
    other = evaluator.subnet(supernet, {**arch, "g0b1": "conv3x3"})  # not the evaluated network
    with pytest.raises(HardwareObjectiveError, match="reports metric 'neurons'"):
        lat(EvalContext(metrics=dict(metrics), extras={"model": other, "input_shape": (3, 16, 16)}))


def test_demo_hw_recipe_names_registered_hardware_objectives() -> None:
    """recipes/demo-hw.yaml searches WAR/UAR vs energy_mj under an energy budget: the names must exist."""
    import yaml

    from ttfsnet_nas.pipelines import resolve_recipe

    search = yaml.safe_load(resolve_recipe("demo-hw").read_text(encoding="utf-8"))["search"]
    fitness = search["fitness"]
    names = {o.name for o in list_objectives()}
    assert "energy_mj" in fitness["objectives"] and set(fitness["objectives"]) <= names
    assert {c["objective"] for c in fitness["constraints"]} <= names
    assert search["hardware_profile"] in ("yoso", "horowitz45")
