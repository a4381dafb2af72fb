"""The ``ttfsnet_nas.quantizers`` plugin (``ttfsnet_hw.nas_quantize.quantizer``): its forward pass is the
integer datapath at the profile's widths, checked against the independent integer reference of
``test_intsim_oracle.py``, and it approaches the float SNN as the widths grow."""

from __future__ import annotations

import copy
import importlib.util
from importlib import metadata
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from torch import nn

import ttfsnet
from ttfsnet_hw.adapters.torch import ir_from_ttfs, ttfs_from_ir
from ttfsnet_hw.errors import HardwareValueError, ProfileError
from ttfsnet_hw.intsim import simulate
from ttfsnet_hw.nas_quantize import quantizer
from ttfsnet_hw.quantize import quantize
from ttfsnet_hw.types import PrecisionSpec


def _oracle() -> ModuleType:
    # the test modules are not importable by name (importlib import mode): load the reference by path
    path = Path(__file__).with_name("test_intsim_oracle.py")
    spec = importlib.util.spec_from_file_location("intsim_oracle", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_entry_point_is_registered() -> None:
    eps = {ep.name: ep for ep in metadata.entry_points(group="ttfsnet_nas.quantizers")}
    assert eps["hardware"].load() is quantizer


@pytest.mark.parametrize("variant", ["same", "strided"])
def test_forward_is_the_integer_datapath(variant: str) -> None:
    oracle = _oracle()
    ir = oracle.conv_pool_dense(3, variant)
    net = ttfs_from_ir(ir)
    spec = PrecisionSpec(weight_bits=6, membrane_bits=32, time_bits=4)
    steps = 2**spec.time_bits
    # dyadic inputs (no rounding ambiguity in the input encoding), as in the oracle's own test
    x = np.random.default_rng(7).integers(0, 2 * steps + 1, size=(6, *ir.input_shape)) / (2 * steps)
    widths = {"weight_bits": 6, "membrane_bits": 32, "time_bits": 4}
    plugin = quantizer(net, torch.from_numpy(x), "yoso", widths=widths)
    assert plugin["profile"] == "yoso" and plugin["widths"] == widths
    logits = plugin["forward"](torch.from_numpy(x))
    assert isinstance(logits, torch.Tensor) and logits.dtype == torch.float64

    qnet = quantize(ir_from_ttfs(net, ir.input_shape), spec, x)
    runs = [oracle.reference(qnet, sample) for sample in x]
    want = np.array([r.readout for r in runs], dtype=np.int64) * 2.0 ** qnet.layers[-1].unit_exp
    np.testing.assert_array_equal(logits.numpy(), want)
    np.testing.assert_array_equal(logits.numpy(), simulate(qnet, x).logits)
    assert sum(r.saturated for r in runs) == 0 and sum(plugin["overflow"].values()) == 0


def _converted_net() -> tuple[ttfsnet.TTFSNetwork, torch.Tensor]:
    """A random ReLU CNN converted like the pipeline's ``snn`` stage (windows calibrated on the inputs)."""
    torch.manual_seed(0)
    ann = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(24, 10), nn.ReLU(), nn.Linear(10, 3),
    ).eval()
    x = torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    return ttfsnet.convert(ann, x, input_range=(0.0, 1.0)), x


def test_wider_widths_converge_to_the_float_snn() -> None:
    net, x = _converted_net()
    with torch.no_grad():
        float_logits = copy.deepcopy(net).double()(x.double()).numpy()
    scale = float(np.abs(float_logits).max())
    errors = []
    for bits, membrane in ((4, 24), (8, 24), (12, 40), (16, 48)):
        widths = {"weight_bits": bits, "membrane_bits": membrane, "time_bits": bits}
        logits = quantizer(net, x, "yoso", widths=widths)["forward"](x).numpy()
        errors.append(float(np.abs(logits - float_logits).max()) / scale)
    # every 4 more bits of weight and time resolution shrink the error by well over 4x
    assert all(b < a / 4 for a, b in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 1e-4, errors


def test_profile_comes_from_the_environment_and_widths_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    net, x = _converted_net()
    monkeypatch.setenv("TTFSNET_HW_PROFILE", "horowitz45")
    assert quantizer(net, x[:4])["profile"] == "horowitz45"
    monkeypatch.delenv("TTFSNET_HW_PROFILE")
    assert quantizer(net, x[:4])["profile"] == "yoso"
    with pytest.raises(HardwareValueError, match="unknown widths"):
        quantizer(net, x[:4], widths={"weight_bit": 8})
    with pytest.raises(ProfileError):
        quantizer(net, x[:4], widths={"weight_bits": 1})
