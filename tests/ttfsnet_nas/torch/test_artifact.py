"""model.json + weights.pt: round trip without the search-space source, integrity checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from ttfsnet_nas.torch import Supernet, TrainConfig, load_artifact, model_spec, save_model, train_supernet
from ttfsnet_nas.torch.artifact_torch import MODEL_FILE, WEIGHTS_FILE, build_model

ARCH = {"block0": "conv3x3", "block1": "skip", "block2": "conv5x5"}


def test_round_trip_identical_outputs(
    supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    train_supernet(supernet, data, TrainConfig(epochs=1, batch_size=40))
    supernet.eval()
    sub = supernet.subnet(ARCH)
    save_model(sub, tmp_path / "best", metadata={"arch": ARCH})
    loaded = load_artifact(tmp_path / "best")
    assert not loaded.training
    assert [type(m) for m in loaded] == [type(m) for m in sub]
    with torch.no_grad():
        assert torch.equal(loaded(data[0]), sub(data[0]))
    assert all(
        torch.equal(a, b)
        for a, b in zip(sub.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
    document = json.loads((tmp_path / "best" / MODEL_FILE).read_text())
    assert document["metadata"] == {"arch": ARCH}
    assert document["layers"][0] == {
        "type": "Conv2d",
        "in_channels": 3,
        "out_channels": 4,
        "kernel_size": [3, 3],
        "stride": [1, 1],
        "padding": [1, 1],
        "dilation": [1, 1],
        "groups": 1,
        "bias": False,
        "padding_mode": "zeros",
    }
    assert sorted(p.name for p in (tmp_path / "best").iterdir()) == [
        MODEL_FILE,
        WEIGHTS_FILE,
    ]  # no temp files


def test_all_supported_layers_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Sequential(nn.Identity(), nn.Flatten()),
        nn.Dropout(0.2),
        nn.Linear(12, 5),
        nn.BatchNorm1d(5),
        nn.ReLU(),
        nn.Linear(5, 2, bias=False),
    )
    model.train()
    model(torch.rand(4, 2, 8, 8))  # non-default BN statistics
    model.eval()
    save_model(model, tmp_path)
    loaded = load_artifact(tmp_path)
    # the nested Sequential is flattened and its Identity dropped
    assert [type(m) for m in loaded][4:7] == [nn.MaxPool2d, nn.Flatten, nn.Dropout]
    x = torch.rand(3, 2, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert build_model(model_spec(model))[7].in_features == 12


def test_unsupported_layer_is_named() -> None:
    with pytest.raises(TypeError, match="layer 1 is GELU"):
        model_spec(nn.Sequential(nn.Linear(2, 2), nn.GELU()))


def test_corrupted_or_missing_files(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(FileNotFoundError, match=r"model\.json: missing"):
        load_artifact(tmp_path)
    save_model(model, tmp_path)
    weights = tmp_path / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes() + b"x")
    with pytest.raises(ValueError, match="SHA-256 does not match"):
        load_artifact(tmp_path)
    save_model(model, tmp_path)
    doc = json.loads((tmp_path / MODEL_FILE).read_text())
    doc["layers"][0]["out_features"] = 4
    (tmp_path / MODEL_FILE).write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="does not match the layers"):
        load_artifact(tmp_path)
    doc["layers"][0] = {"type": "Bogus"}
    (tmp_path / MODEL_FILE).write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="layer 0 has type 'Bogus'"):
        load_artifact(tmp_path)


def test_loads_in_fresh_interpreter_without_space(tmp_path: Path, supernet: Supernet) -> None:
    """The artifact needs only torch + this module: no supernet, op registry or search space."""
    import subprocess
    import sys

    supernet.eval()
    sub = supernet.subnet(ARCH)
    save_model(sub, tmp_path)
    x = torch.rand(2, 3, 8, 8)
    torch.save(x, tmp_path / "x.pt")
    with torch.no_grad():
        torch.save(sub(x), tmp_path / "y.pt")
    code = (
        "import sys, torch; from ttfsnet_nas.torch.artifact_torch import load_artifact; "
        f"m = load_artifact({str(tmp_path)!r}); x = torch.load({str(tmp_path / 'x.pt')!r}); "
        f"y = torch.load({str(tmp_path / 'y.pt')!r}); sys.exit(0 if torch.equal(m(x), y) else 3)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_with_generic_artifact_writer(
    supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    from ttfsnet_nas.artifact import read_artifact, write_artifact
    from ttfsnet_nas.space import SearchSpace
    from ttfsnet_nas.torch import model_hook

    supernet.eval()
    sub = supernet.subnet(ARCH)
    out = write_artifact(
        tmp_path / "art",
        architecture=ARCH,
        space=SearchSpace(supernet.genes),
        metrics={"accuracy": 0.5},
        hooks=[model_hook(sub, metadata={"classes": 4})],
    )
    artifact = read_artifact(out)  # verifies the manifest checksums, ours included
    assert dict(artifact.architecture) == ARCH
    with torch.no_grad():
        assert torch.equal(load_artifact(out)(data[0]), sub(data[0]))
    with pytest.raises(TypeError, match="GELU"):
        model_hook(nn.Sequential(nn.GELU()))
