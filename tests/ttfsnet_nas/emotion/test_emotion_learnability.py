"""The synthetic task needs spatial features: a linear model on per-frame means stays near chance while a
small CNN learns it. (Synthetic data: these accuracies say nothing about SEE.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from ttfsnet_nas.emotion.dataset import EventEmotionDataset
from ttfsnet_nas.emotion.see import load_see
from ttfsnet_nas.emotion.synth import generate


def _windows(ds: EventEmotionDataset, epochs: range) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(ds.materialize(epoch=e) for e in epochs), strict=True)
    return torch.cat(xs), torch.cat(ys)


def _linear_on_means(xtr: torch.Tensor, ytr: torch.Tensor, xte: torch.Tensor, yte: torch.Tensor) -> float:
    ftr = xtr.mean(dim=(2, 3)).numpy()  # mean intensity of each event frame (channel)
    fte = xte.mean(dim=(2, 3)).numpy()
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-9
    clf = LogisticRegression(max_iter=2000).fit((ftr - mu) / sd, ytr.numpy())
    return float(clf.score((fte - mu) / sd, yte.numpy()))


def _small_cnn(
    xtr: torch.Tensor, ytr: torch.Tensor, xte: torch.Tensor, yte: torch.Tensor, epochs: int
) -> float:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(xtr.shape[1], 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 7),
    )
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), 64):
            batch = perm[i : i + 64]
            loss = nn.functional.cross_entropy(net(xtr[batch] - 0.5), ytr[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return float((net(xte - 0.5).argmax(1) == yte).float().mean())


def _compare(root: Path, size: int, train_windows: int, epochs: int) -> tuple[float, float]:
    torch.set_num_threads(1)
    index = load_see(root)
    train = EventEmotionDataset(index.subset("training"), size=size, seed=0)
    test = EventEmotionDataset(index.subset("testing"), size=size, seed=1)
    xtr, ytr = _windows(train, range(train_windows))
    xte, yte = _windows(test, range(4))
    return _linear_on_means(xtr, ytr, xte, yte), _small_cnn(xtr, ytr, xte, yte, epochs)


def test_cnn_beats_linear_on_frame_means_tiny(tiny_see_root: Path) -> None:
    linear, cnn = _compare(tiny_see_root, size=24, train_windows=8, epochs=15)
    assert linear < 0.3, f"frame means alone give {linear:.2f} accuracy (chance 0.14)"
    assert cnn > linear + 0.2, f"small CNN {cnn:.2f} vs linear on means {linear:.2f}"


@pytest.mark.slow
def test_cnn_beats_linear_on_frame_means_small(tmp_path: Path) -> None:
    generate(tmp_path / "small", preset="small", seed=0, workers=2)
    linear, cnn = _compare(tmp_path / "small", size=32, train_windows=6, epochs=20)
    assert linear < 0.3, f"frame means alone give {linear:.2f} accuracy (chance 0.14)"
    assert cnn > 0.6 and cnn > linear + 0.35, f"small CNN {cnn:.2f} vs linear on means {linear:.2f}"
