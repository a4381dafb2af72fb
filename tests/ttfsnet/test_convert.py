"""ReLU → TTFS conversion (BN fusion, border biases, windows) and the inverse mapping."""

from __future__ import annotations

import copy
import importlib
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from ttfsnet_testutils import randomize_bn, small_cnn

import ttfsnet

D = torch.float64
# Conversion is exact algebra; only rounding differs between the SNN and the ANN paths. float64 on the
# small models here (Σfan_in ≤ 84): ≲ eps·Σfan_in·|preact| ≈ 2.2e-16·84·~2 ≈ 4e-14 (measured ≤ 3e-16).
F64_TOL = 1e-13
# Windows are maxima of the same preactivations (possibly another batch/chunk order): relative rounding
# ≲ eps·fan_in ≈ 2.2e-16·36 ≈ 8e-15 (measured 0); 1e-13 leaves >10x.
WINDOW_REL = 1e-13
# float32 small_cnn: ≲ eps32·Σfan_in·|preactivation| ≈ 1.2e-7·78·~1 ≈ 1e-5 (measured 1.2e-7).
F32_TOL = 1e-5


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach() - b.detach()).abs().max())


def test_cnn_equivalence_and_position_dependent_thresholds(
    cnn64: nn.Sequential, inputs64: torch.Tensor
) -> None:
    net = ttfsnet.convert(cnn64, inputs64)
    assert _maxdiff(net(inputs64), cnn64(inputs64)) < F64_TOL
    # BN after ReLU feeding a padded conv → (C, H, W) thresholds; first conv has p = 0 → per channel.
    assert net.layers[0].threshold.shape == (4,)
    assert net.layers[2].threshold.shape == (6, 2, 2)
    # Negative BN scales flip the pool sign of those channels.
    bn = cnn64[2]
    kappa = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    assert net.layers[1].sign is not None
    assert torch.equal(net.layers[1].sign < 0, (kappa < 0).detach())
    assert net.run(inputs64).total_saturated == 0


def test_model_is_not_mutated(cnn64: nn.Sequential, inputs64: torch.Tensor) -> None:
    before = copy.deepcopy(cnn64.state_dict())
    cnn64.train()
    ttfsnet.convert(cnn64, inputs64)
    assert cnn64.training
    for k, v in cnn64.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_input_affine_fused_with_border_biases() -> None:
    torch.manual_seed(3)
    m = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 5 * 5, 2)).to(D)
    x = torch.rand(20, 1, 5, 5, dtype=D) * 6 - 3
    net = ttfsnet.convert(m, x, input_range=(-3.0, 3.0))
    assert net.layers[0].threshold.shape == (3, 5, 5)
    assert _maxdiff(net(x), m(x)) < F64_TOL
    # Nine zones for a 3x3 'same' conv: corners, edges, interior.
    bias = net.layers[0].ann_bias().detach()
    assert len(torch.unique(bias[0])) == 9


def test_windows_follow_zeta_and_dead_layer_gets_unit_window() -> None:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2)).to(D)
    with torch.no_grad():
        m[2].bias.fill_(-100.0)  # layer 2 never fires
    x = torch.rand(50, 4, dtype=D)
    net = ttfsnet.convert(m, x, zeta=0.25)
    peak = float(torch.relu(m[0](x)).max().detach())
    assert net.windows()[0] == pytest.approx(1.25 * peak, rel=WINDOW_REL)
    assert net.windows()[1] == 1.0
    assert net.latency() == pytest.approx(1 + 1.25 * peak + 1.0, rel=1e-14)  # two float64 adds: ~2 ulp
    assert _maxdiff(net(x), m(x)) < F64_TOL


@pytest.mark.parametrize("form", ["tensor", "list", "loader"])
def test_calibration_data_forms(form: str, cnn64: nn.Sequential, inputs64: torch.Tensor) -> None:
    data: object
    if form == "tensor":
        data = inputs64
    elif form == "list":
        data = list(inputs64.split(7))
    else:
        data = DataLoader(TensorDataset(inputs64, torch.zeros(len(inputs64))), batch_size=10)
    net = ttfsnet.convert(cnn64, data)
    ref = ttfsnet.convert(cnn64, inputs64)
    assert net.windows() == pytest.approx(ref.windows(), rel=WINDOW_REL)


def test_saturation_reported_when_calibrated_on_subset() -> None:
    torch.manual_seed(5)
    m = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).to(D)
    x = torch.rand(200, 6, dtype=D)
    xs = x[x.sum(1).argsort()[:5]]  # the 5 weakest inputs
    net = ttfsnet.convert(m, xs, zeta=0.0)
    r = net.run(x)
    assert r.total_saturated > 0
    # to_ann(clip=True) reproduces the saturated SNN, clip=False the original ANN.
    assert _maxdiff(ttfsnet.to_ann(net, clip=True)(x), r.logits) < F64_TOL
    assert _maxdiff(ttfsnet.to_ann(net)(x), m(x)) < F64_TOL


def test_architecture_zoo_equivalence() -> None:
    torch.manual_seed(7)
    gen = torch.Generator().manual_seed(7)
    models = [
        # BN before ReLU, max pool before ReLU, BN after pool before ReLU (negative scales flip the pool)
        nn.Sequential(
            nn.Conv2d(3, 4, 3),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * 3 * 3, 2),
        ),
        # groups, dilation, 'same' string padding, AvgPool after BN-after-ReLU with padding
        nn.Sequential(
            nn.Conv2d(3, 6, 3, padding="same", dilation=1),
            nn.ReLU(),
            nn.BatchNorm2d(6),
            nn.AvgPool2d(2, padding=1),
            nn.Conv2d(6, 6, 3, padding=1, groups=3, dilation=2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Dropout(0.5),
            nn.LazyLinear(3),
        ),
        # nested Sequential, BN1d after ReLU, BN on the raw input, Identity
        nn.Sequential(
            nn.BatchNorm2d(3),
            nn.Flatten(),
            nn.Sequential(nn.Linear(3 * 8 * 8, 10), nn.ReLU()),
            nn.BatchNorm1d(10),
            nn.Identity(),
            nn.Linear(10, 4),
            nn.BatchNorm1d(4),
        ),
        # max pool with padding and ceil_mode, stride-3 conv, ReLU after pool (no-op)
        nn.Sequential(
            nn.Conv2d(3, 5, 2, stride=3, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1, ceil_mode=True),
            nn.ReLU(),
            nn.Flatten(),
            nn.LazyLinear(2),
        ),
    ]
    x = torch.rand(24, 3, 8, 8, generator=gen, dtype=D) * 2 - 1
    for i, m in enumerate(models):
        m = m.to(D)
        if any(isinstance(k, nn.LazyLinear) for k in m.modules()):
            m(x)
        randomize_bn(m, gen)
        net = ttfsnet.convert(m, x, input_range=(-1.0, 1.0))
        # float64, fan-in up to 3·8·8 = 192 and BN scales up to 1.7 on inputs in [-1, 1]:
        # ≲ 2.2e-16·(192+10+4)·~2 ≈ 1e-13 (measured ≤ 5e-16); 1e-12 leaves 10x.
        assert _maxdiff(net(x), m(x)) < 1e-12, f"model {i}"
        assert net.run(x).total_saturated == 0
        assert _maxdiff(ttfsnet.to_ann(net)(x), m(x)) < 1e-12, f"model {i} to_ann"


def test_to_ann_round_trip_and_reconvert(cnn64: nn.Sequential, inputs64: torch.Tensor) -> None:
    net = ttfsnet.convert(cnn64, inputs64)
    ann = ttfsnet.to_ann(net)
    assert all(
        type(m).__module__.startswith("torch.nn")
        or type(m).__name__ in {"InputNormalization", "PositionBias", "SignedMaxPool2d"}
        for m in ann
    )
    assert any(isinstance(m, ttfsnet.PositionBias) for m in ann)
    assert _maxdiff(ann(inputs64), net(inputs64)) < F64_TOL
    net2 = ttfsnet.convert(ann, inputs64)
    assert _maxdiff(net2(inputs64), net(inputs64)) < F64_TOL
    assert net2.windows() == pytest.approx(net.windows(), rel=WINDOW_REL)


def test_float32_model_gives_float32_network() -> None:
    m = small_cnn(torch.float32)
    x = torch.rand(64, 2, 8, 8)
    net = ttfsnet.convert(m, x)
    assert net.layers[0].weight.dtype == torch.float32
    out, ref = net(x).detach(), m(x).detach()
    torch.testing.assert_close(out, ref, rtol=0, atol=F32_TOL)


def test_input_shape_is_recorded_and_survives_save_and_copy(
    tmp_path: Path, cnn64: nn.Sequential, inputs64: torch.Tensor
) -> None:
    net = ttfsnet.convert(cnn64, inputs64)
    assert net.input_shape == (2, 8, 8)
    assert copy.deepcopy(net).input_shape == (2, 8, 8)
    torch.save(net, tmp_path / "net.pt")
    loaded = torch.load(tmp_path / "net.pt", weights_only=False)
    assert loaded.input_shape == (2, 8, 8)
    assert _maxdiff(loaded(inputs64), net(inputs64)) == 0.0
    # a plain attribute, not a buffer: state dicts load strictly into networks built without it
    assert not any("input_shape" in k for k in net.state_dict())
    rebuilt = ttfsnet.TTFSNetwork(copy.deepcopy(list(net.layers)), net.input_range)
    assert rebuilt.input_shape is None
    rebuilt.load_state_dict(net.state_dict(), strict=True)
    mlp = ttfsnet.convert(nn.Sequential(nn.Flatten(), nn.Linear(128, 3)).to(D), inputs64)
    assert mlp.input_shape == (2, 8, 8)
    with pytest.raises(ValueError, match="TTFSNetwork: input_shape must be a non-empty sequence"):
        ttfsnet.TTFSNetwork(list(net.layers), input_shape=(2, 0, 8))


def test_calibration_chunking_does_not_change_windows(
    monkeypatch: pytest.MonkeyPatch, cnn64: nn.Sequential, inputs64: torch.Tensor
) -> None:
    """Calibration re-chunks the batches for speed; the windows (maxima) must not depend on it."""
    module = importlib.import_module("ttfsnet.convert")
    ref = ttfsnet.convert(cnn64, inputs64)
    calls: list[int] = []
    original = module._calibration_peaks

    def spy(
        net: ttfsnet.TTFSNetwork, batches: list[torch.Tensor], chunk: int, device: torch.device
    ) -> object:
        calls.append(chunk)
        return original(net, batches, chunk, device)

    monkeypatch.setattr(module, "_calibration_peaks", spy)
    monkeypatch.setattr(module, "CALIBRATION_CHUNK_ELEMENTS", 3 * 4 * 8 * 8)  # 3 samples per chunk
    chunked = ttfsnet.convert(cnn64, inputs64)
    assert calls == [3]
    assert chunked.windows() == pytest.approx(ref.windows(), rel=WINDOW_REL)
    for dtype in (torch.float32, torch.float64):  # float32 also takes the channels-last path
        m = small_cnn(dtype)
        x = inputs64.to(dtype)
        net = ttfsnet.convert(m, x)
        assert net.run(x).total_saturated == 0
        assert _maxdiff(net(x), m(x)) < (F32_TOL if dtype == torch.float32 else F64_TOL)


def test_layers_to_torch_copy_weights_and_ann_bias(cnn64: nn.Sequential, inputs64: torch.Tensor) -> None:
    net = ttfsnet.convert(cnn64, inputs64)
    conv, pos_conv, head = net.layers[0], net.layers[2], net.layers[-1]
    plain = conv.to_torch()
    assert isinstance(plain, nn.Conv2d) and plain.weight.dtype == D and plain.weight.requires_grad
    assert torch.equal(plain.weight, conv.weight) and torch.equal(plain.bias, conv.ann_bias())
    assert plain.weight.data_ptr() != conv.weight.data_ptr()  # a copy
    x = net.encode(inputs64)
    with torch.no_grad():
        assert torch.equal(torch.relu(plain(x)), torch.relu(conv.preactivation(x)))
    assert pos_conv.to_torch(bias=False).bias is None
    with pytest.raises(
        ValueError, match=r"TTFSConv2d.to_torch: the threshold is position dependent.*\(6, 2, 2\)"
    ):
        pos_conv.to_torch()
    lin = head.to_torch()
    assert torch.equal(lin.weight, head.weight) and torch.equal(lin.bias, head.bias)
    assert head.to_torch(bias=False).bias is None
