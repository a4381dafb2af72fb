"""Inputs a network cannot take and models convert cannot trust are refused up front, in one line.

The network checks the type, rank, per-sample shape and dtype of a batch before any computation
(``TTFSNetwork.check_input``); ``convert`` refuses non-finite parameters and negative BatchNorm variances,
naming the module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn
from ttfsnet_testutils import small_cnn

import ttfsnet
from ttfsnet.errors import TTFSValueError

D = torch.float64
GOOD = torch.rand(4, 2, 8, 8, generator=torch.Generator().manual_seed(3), dtype=D)


@pytest.fixture(scope="module")
def conv_net() -> ttfsnet.TTFSNetwork:
    """A converted conv network: ``input_shape`` (2, 8, 8) recorded, float64."""
    return ttfsnet.convert(small_cnn(), GOOD)


# Every entry point that takes a batch; forward_times and run_times take spike times in [0, 1] instead.
CALLS = [
    ("TTFSNetwork.forward", lambda net, x: net(x)),
    ("TTFSNetwork.run", lambda net, x: net.run(x)),
    ("TTFSNetwork.run", lambda net, x: net.run(x, mode="stepped", dt=0.5)),
    ("TTFSNetwork.encode", lambda net, x: net.encode(x)),
    ("TTFSNetwork.forward_times", lambda net, x: net.forward_times(x)),
    ("TTFSNetwork.run_times", lambda net, x: net.run_times(x)),
]
CALL_IDS = ["forward", "run", "run-stepped", "encode", "forward_times", "run_times"]

# (case, bad input, the text the one-line message must contain)
BAD_INPUTS = [
    (
        "wrong channels",
        torch.rand(4, 3, 8, 8, dtype=D),
        "expected input of shape (B, 2, 8, 8), got (4, 3, 8, 8)",
    ),
    (
        "wrong spatial size",
        torch.rand(4, 2, 9, 8, dtype=D),
        "expected input of shape (B, 2, 8, 8), got (4, 2, 9, 8)",
    ),
    ("unbatched", torch.rand(2, 8, 8, dtype=D), "got (2, 8, 8) (unbatched; add a batch dimension"),
    ("5-D", torch.rand(1, 4, 2, 8, 8, dtype=D), "expected input of shape (B, 2, 8, 8), got (1, 4, 2, 8, 8)"),
    ("flat", torch.rand(4, 128, dtype=D), "expected input of shape (B, 2, 8, 8), got (4, 128)"),
    (
        "dtype",
        torch.rand(4, 2, 8, 8, dtype=torch.float32),
        "expected input of dtype torch.float64 (the network's), got torch.float32",
    ),
    (
        "integer dtype",
        torch.zeros(4, 2, 8, 8, dtype=torch.uint8),
        "expected input of dtype torch.float64 (the network's), got torch.uint8",
    ),
    ("list", GOOD.tolist(), "expected a torch.Tensor of shape (B, 2, 8, 8), got list"),
    ("ndarray", GOOD.numpy(), "expected a torch.Tensor of shape (B, 2, 8, 8), got ndarray"),
]


@pytest.mark.parametrize(("case", "x", "expected"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
@pytest.mark.parametrize(("where", "call"), CALLS, ids=CALL_IDS)
def test_bad_batches_are_refused_naming_the_expected_shape_or_dtype(
    conv_net: ttfsnet.TTFSNetwork,
    where: str,
    call: Callable[[ttfsnet.TTFSNetwork, object], object],
    case: str,
    x: object,
    expected: str,
) -> None:
    with pytest.raises(TTFSValueError) as info:
        call(conv_net, x)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert message.startswith(f"{where}: ")
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(("where", "call"), CALLS, ids=CALL_IDS)
def test_good_batches_pass_every_entry_point(
    conv_net: ttfsnet.TTFSNetwork, where: str, call: Callable[[ttfsnet.TTFSNetwork, object], object]
) -> None:
    x = 1.0 - GOOD if "times" in where else GOOD  # spike times of the same batch, within [0, 1]
    call(conv_net, x)


def test_the_check_reads_no_data(conv_net: ttfsnet.TTFSNetwork) -> None:
    """Only shape and dtype are read: a meta tensor (no data at all) passes the check itself."""
    x = torch.empty(4, 2, 8, 8, dtype=D, device="meta")
    assert conv_net.check_input(x) is x


def _built(first: nn.Module) -> ttfsnet.TTFSNetwork:
    """A network built from layers (no recorded input_shape) whose first layer is ``first``."""
    return ttfsnet.TTFSNetwork(
        [first, ttfsnet.TTFSFlatten(), ttfsnet.TTFSLinear(3 * 4 * 4, 2, readout=True, dtype=D)]
    )


# (first layer, a batch it takes, a bad batch, the text of the message)
WITHOUT_SHAPE = [
    (
        "conv channels",
        lambda: ttfsnet.TTFSConv2d(2, 3, 3, padding=1, dtype=D),
        torch.rand(2, 2, 4, 4, dtype=D),
        torch.rand(2, 5, 4, 4, dtype=D),
        "expected input of shape (B, 2, H, W), got (2, 5, 4, 4)",
    ),
    (
        "conv rank",
        lambda: ttfsnet.TTFSConv2d(2, 3, 3, padding=1, dtype=D),
        torch.rand(2, 2, 4, 4, dtype=D),
        torch.rand(2, 4, 4, dtype=D),
        "expected input of shape (B, 2, H, W), got (2, 4, 4) (unbatched",
    ),
    (
        "avgpool rank",
        lambda: ttfsnet.TTFSAvgPool2d(2, dtype=D),
        torch.rand(2, 3, 8, 8, dtype=D),
        torch.rand(2, 1, 3, 8, 8, dtype=D),
        "expected input of shape (B, C, H, W), got (2, 1, 3, 8, 8)",
    ),
]


@pytest.mark.parametrize(
    ("case", "first", "good", "bad", "expected"), WITHOUT_SHAPE, ids=[c[0] for c in WITHOUT_SHAPE]
)
def test_networks_without_input_shape_check_what_the_first_layer_fixes(
    case: str, first: Callable[[], nn.Module], good: torch.Tensor, bad: torch.Tensor, expected: str
) -> None:
    net = _built(first())
    assert net.input_shape is None
    net.run(good)
    with pytest.raises(TTFSValueError, match=re.escape(expected)):
        net(bad)


def test_a_dense_network_without_input_shape_checks_its_features() -> None:
    net = ttfsnet.TTFSNetwork(
        [ttfsnet.TTFSLinear(5, 3, dtype=D), ttfsnet.TTFSLinear(3, 2, readout=True, dtype=D)]
    )
    assert net.expected_input() == (5,)
    net(torch.rand(2, 5, dtype=D))
    with pytest.raises(
        TTFSValueError, match=re.escape("expected input of shape (B, 5), got (5,) (unbatched")
    ):
        net(torch.rand(5, dtype=D))
    with pytest.raises(TTFSValueError, match=re.escape("expected input of shape (B, 5), got (2, 4)")):
        net.run(torch.rand(2, 4, dtype=D))


def test_a_flatten_first_network_checks_only_the_dtype() -> None:
    net = ttfsnet.TTFSNetwork([ttfsnet.TTFSFlatten(), ttfsnet.TTFSLinear(12, 2, readout=True)])
    assert net.expected_input() is None
    net(torch.rand(2, 3, 4))
    with pytest.raises(
        TTFSValueError, match=re.escape("expected a torch.Tensor of shape (B, ...), got tuple")
    ):
        net((1.0, 2.0))  # type: ignore[arg-type]
    with pytest.raises(TTFSValueError, match="expected input of dtype torch.float32"):
        net(torch.rand(2, 3, 4, dtype=D))


# ---------------------------------------------------------------------------------------------- convert


def _nested() -> nn.Sequential:
    """Paths two levels deep: ``features.0`` (Conv2d), ``features.1`` (BatchNorm2d), ``head`` (Linear)."""
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module(
        "features", nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten())
    )
    model.add_module("head", nn.Linear(3 * 8 * 8, 2))
    return model.to(D).eval()


def _spoil(path: str, attr: str, value: float) -> nn.Sequential:
    model = _nested()
    with torch.no_grad():
        getattr(model.get_submodule(path), attr).view(-1)[0] = value
    return model


BAD_MODELS = [
    ("NaN weight", "features.0", "weight", math.nan, "module 'features.0' (Conv2d): weight has NaN or Inf"),
    ("Inf bias", "head", "bias", math.inf, "module 'head' (Linear): bias has NaN or Inf"),
    (
        "-Inf BN weight",
        "features.1",
        "weight",
        -math.inf,
        "module 'features.1' (BatchNorm2d): weight has NaN or Inf",
    ),
    (
        "NaN running_mean",
        "features.1",
        "running_mean",
        math.nan,
        "module 'features.1' (BatchNorm2d): running_mean has NaN",
    ),
    (
        "Inf running_var",
        "features.1",
        "running_var",
        math.inf,
        "module 'features.1' (BatchNorm2d): running_var has NaN",
    ),
    (
        "negative running_var",
        "features.1",
        "running_var",
        -0.25,
        "module 'features.1' (BatchNorm2d): running_var has negative entries",
    ),
]


@pytest.mark.parametrize(
    ("case", "path", "attr", "value", "expected"), BAD_MODELS, ids=[c[0] for c in BAD_MODELS]
)
def test_convert_refuses_untrustworthy_parameters_naming_the_module(
    case: str, path: str, attr: str, value: float, expected: str
) -> None:
    with pytest.raises(TTFSValueError) as info:
        ttfsnet.convert(_spoil(path, attr, value), GOOD)
    message = str(info.value)
    assert message.startswith("convert: ")
    assert expected in message
    assert "\n" not in message


def test_convert_takes_a_zero_running_var() -> None:
    """Zero variance is a valid (constant) channel: eps keeps the BN finite, so it converts exactly."""
    model = _spoil("features.1", "running_var", 0.0)
    net = ttfsnet.convert(model, GOOD)
    # the zero-variance channel has gain 1/sqrt(1e-5) ≈ 316, logits ≈ 45: rounding ≈ eps·|Σ terms|·√fan_in
    # ≈ 2.2e-16·640·14 ≈ 2e-12 (measured 3.7e-14). 1e-12 is not loose; kept.
    torch.testing.assert_close(net(GOOD), model(GOOD), rtol=0, atol=1e-12)


def test_numpy_is_only_refused_at_the_network() -> None:
    """The refusal is about the type: the same values as a tensor pass."""
    net = ttfsnet.convert(small_cnn(), GOOD)
    x = np.asarray(GOOD.numpy())
    with pytest.raises(TTFSValueError, match="got ndarray"):
        net(x)  # type: ignore[arg-type]
    net(torch.from_numpy(x))
