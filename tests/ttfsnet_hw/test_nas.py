"""Hardware objectives through the ttfsnet_nas entry-point group."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ttfsnet_nas")

from ttfsnet_nas.objectives import EvalContext, get_objective, list_objectives  # noqa: E402
from ttfsnet_nas.space import Architecture  # noqa: E402
from ttfsnet_nas.testing import ObjectiveContractTests  # noqa: E402

NAMES = ["latency_ms", "energy_mj", "pe_count"]


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


def _ctx(spikes: float, arch: Architecture) -> EvalContext:
    return EvalContext(
        metrics={"spikes": spikes, "input_spikes": 3000.0, "image_size": 32.0}, architecture=arch
    )


def test_more_spikes_cost_more_and_bigger_nets_use_more_pes() -> None:
    small = Architecture([("g0b0", "skip"), ("g0b1", "skip"), ("g1b0", "skip"), ("g1b1", "skip")])
    large = Architecture([("g0b0", "conv5x5"), ("g0b1", "conv5x5"), ("g1b0", "conv5x5"), ("g1b1", "conv5x5")])
    lat, en, pes = get_objective("latency_ms"), get_objective("energy_mj"), get_objective("pe_count")
    assert en(_ctx(40000.0, large)) > en(_ctx(4000.0, large))
    assert lat(_ctx(40000.0, large)) > lat(_ctx(4000.0, large))
    prof_pes = pes(_ctx(4000.0, large))
    assert prof_pes >= pes(_ctx(4000.0, small)) > 0


def test_clear_error_without_inputs() -> None:
    with pytest.raises(KeyError, match="hardware objectives need"):
        get_objective("latency_ms")(EvalContext(metrics={}))


def test_snn_context_with_data() -> None:
    torch = pytest.importorskip("torch")
    from ttfsnet_hw.adapters.torch import ttfs_from_ir
    from ttfsnet_hw.ir import IRBuilder

    ir = IRBuilder("n", (2, 8, 8), rng=np.random.default_rng(0)).conv(4, 3).maxpool(2).flatten().readout(3)
    net = ttfs_from_ir(ir)
    data = torch.rand(8, 2, 8, 8, dtype=torch.float64)
    ctx = EvalContext(metrics={}, extras={"snn": net, "data": data, "input_shape": (2, 8, 8)})
    value = get_objective("latency_ms")(ctx)
    assert value > 0 and np.isfinite(value)


def test_search_metrics_of_a_real_emotion_subnet() -> None:
    """The arch path during search: the evaluator's own metrics (and geometry) of an emotion-space subnet."""
    torch = pytest.importorskip("torch")
    from ttfsnet_nas.emotion.space import EyeEmotionSupernet
    from ttfsnet_nas.torch.evaluate import Evaluator

    torch.manual_seed(0)
    supernet = EyeEmotionSupernet(
        groups=2, ops=("conv3x3", "conv5x5", "skip"), in_channels=3, image_size=16, width=4
    )
    arch = Architecture([("g0b0", "conv5x5"), ("g0b1", "skip"), ("g1b0", "skip"), ("g1b1", "conv3x3")])
    x = torch.rand(8, 3, 16, 16)
    metrics = Evaluator((x, torch.arange(8) % 7), num_classes=7).evaluate(supernet, arch)
    geometry = {"image_size": 16.0, "in_channels": 3.0, "width": 4.0}
    lat = get_objective("latency_ms")
    assert lat(EvalContext(metrics={**metrics, **geometry}, architecture=arch)) > 0
    with pytest.raises(KeyError, match="reports metric 'neurons'"):
        lat(EvalContext(metrics=dict(metrics), architecture=arch))  # SEE defaults 90/4/32: wrong geometry


def test_demo_hw_recipe_names_registered_hardware_objectives() -> None:
    """recipes/demo-hw.yaml searches WAR/UAR vs energy_mj under an energy budget: the names must exist."""
    import yaml
    from ttfsnet_nas.emotion.recipe import resolve_recipe

    search = yaml.safe_load(resolve_recipe("demo-hw").read_text(encoding="utf-8"))["search"]
    names = {o.name for o in list_objectives()}
    assert "energy_mj" in search["objectives"] and set(search["objectives"]) <= names
    assert {c["objective"] for c in search["constraints"]} <= names
    assert search["hardware_profile"] in ("yoso", "horowitz45")
