"""End to end on sklearn's 8x8 digits: train a small ReLU CNN, convert, identical predictions."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import ttfsnet

datasets = pytest.importorskip("sklearn.datasets")


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    digits = datasets.load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1)  # values 0..16
    y = torch.tensor(digits.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    return x[:1400], y[:1400], x[1400:], y[1400:]


def _train(x: torch.Tensor, y: torch.Tensor) -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 2 * 2, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(6):
        for idx in torch.randperm(len(x)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def test_digits_snn_equals_ann(capsys: pytest.CaptureFixture[str]) -> None:
    x_tr, y_tr, x_te, y_te = _data()
    model = _train(x_tr, y_tr)
    with torch.no_grad():
        ann_pred = model(x_te).argmax(1)
    ann_acc = float((ann_pred == y_te).float().mean())
    assert ann_acc > 0.85

    for dtype in (torch.float32, torch.float64):
        m = copy.deepcopy(model).to(dtype)
        net = ttfsnet.convert(m, x_tr.to(dtype), input_range=(0.0, 16.0))
        r = net.run(x_te.to(dtype))
        snn_pred = r.logits.argmax(1)
        assert r.total_saturated == 0
        with torch.no_grad():
            assert torch.equal(snn_pred, m(x_te.to(dtype)).argmax(1))
        assert torch.equal(snn_pred, ann_pred)
        snn_acc = float((snn_pred == y_te).float().mean())
        assert snn_acc == ann_acc
        with capsys.disabled():
            print(
                f"\ndigits {dtype}: ANN acc {ann_acc:.4f}, SNN acc {snn_acc:.4f}, spikes/neuron "
                f"{r.spikes_per_neuron:.3f}, windows {[round(w, 3) for w in net.windows()]}, "
                f"latency {net.latency():.3f}"
            )
