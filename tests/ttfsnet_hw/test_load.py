"""Opening models: ttfsnet.save files, model-loader entry points, refusal of foreign and pickled files."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ttfsnet = pytest.importorskip("ttfsnet")

from torch import nn  # noqa: E402

from ttfsnet_hw import load  # noqa: E402
from ttfsnet_hw.adapters.torch import ttfs_from_ir  # noqa: E402
from ttfsnet_hw.errors import HardwareError, ModelLoadError  # noqa: E402
from ttfsnet_hw.ir import IRBuilder  # noqa: E402


def _snn() -> nn.Module:
    ir = IRBuilder("n", (2, 8, 8), rng=np.random.default_rng(0)).conv(4, 3).maxpool(2).flatten().readout(3)
    return ttfs_from_ir(ir)


def _ann() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 3)).eval()


def _use_loaders(monkeypatch: pytest.MonkeyPatch, module_name: str, loaders: dict[str, Any]) -> None:
    """Make ``loaders`` the only entry points of group ttfsnet_hw.model_loaders."""
    import sys
    import types

    module = types.ModuleType(module_name)
    for name, fn in loaders.items():
        setattr(module, name, fn)
    monkeypatch.setitem(sys.modules, module_name, module)
    eps = [metadata.EntryPoint(name, f"{module_name}:{name}", load.MODEL_LOADERS_GROUP) for name in loaders]

    def fake(**kwargs: str) -> list[metadata.EntryPoint]:
        assert kwargs == {"group": load.MODEL_LOADERS_GROUP}
        return eps

    monkeypatch.setattr(load.metadata, "entry_points", fake)


def test_ttfsnet_file_keeps_its_input_shape(tmp_path: Path) -> None:
    path = ttfsnet.save(_snn(), tmp_path / "net.pt", input_shape=[2, 8, 8], classes=["a", "b", "c"])
    net, meta = load.load_model(path)
    assert isinstance(net, ttfsnet.TTFSNetwork) and not net.training
    assert meta["input_shape"] == (2, 8, 8) and meta["classes"] == ["a", "b", "c"]
    model = load.open_model(path)
    assert model.is_snn and model.input_shape == (2, 8, 8) and model.name == "net.pt"
    loaded = load.load_network(model, load.synthetic_inputs(3, (2, 8, 8), model.input_range))
    assert loaded.ir.name == "net" and loaded.record.source == "snn" and loaded.record.n_samples == 3


def test_model_loader_entry_point_reads_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    def not_mine(path: Path) -> None:
        seen.append(path)
        return None

    def mine(path: Path) -> tuple[nn.Module, dict[str, Any]] | None:
        return (_ann(), {"input_shape": [2, 8, 8]}) if (path / "ann.marker").is_file() else None

    _use_loaders(monkeypatch, "fake_loaders", {"other": not_mine, "ann": mine})
    (tmp_path / "ann.marker").touch()
    model = load.open_model(tmp_path)
    assert seen == [tmp_path] and not model.is_snn and model.input_shape == (2, 8, 8)
    loaded = load.load_network(model, load.synthetic_inputs(4, (2, 8, 8), (0.0, 1.0)))
    assert loaded.record.source == "ann" and not loaded.ir.has_parameters
    converted = load.load_network(model, load.synthetic_inputs(4, (2, 8, 8), (0.0, 1.0)), convert_ann=True)
    assert converted.record.source == "snn" and converted.ir.has_parameters


def test_folder_no_loader_accepts_is_one_line_naming_the_loaders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_loaders(monkeypatch, "fake_loaders_none", {"never": lambda path: None})
    with pytest.raises(ModelLoadError, match=r"no model loader accepts it.*never") as info:
        load.load_model(tmp_path)
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)


def test_broken_and_failing_loaders_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        load.metadata,
        "entry_points",
        lambda **kw: [metadata.EntryPoint("ghost", "no_such_module_xyz:loader", load.MODEL_LOADERS_GROUP)],
    )
    with pytest.raises(ModelLoadError, match=r"ghost \(failed to load: ModuleNotFoundError"):
        load.load_model(tmp_path)

    def boom(path: Path) -> None:
        raise ValueError("weights.pt: does not match model.json")

    _use_loaders(monkeypatch, "fake_loaders_boom", {"boom": boom})
    with pytest.raises(ModelLoadError, match=r"model loader 'boom' failed \(weights.pt: does not match"):
        load.load_model(tmp_path)
    _use_loaders(monkeypatch, "fake_loaders_bad", {"bad": lambda path: ("not a module", {})})
    with pytest.raises(ModelLoadError, match="returned str, expected an nn.Module"):
        load.load_model(tmp_path)


def test_pickled_and_foreign_files_are_refused(tmp_path: Path) -> None:
    torch.save(_snn(), tmp_path / "pickled.pt")  # a whole module: loading it would run code
    torch.save({"format": "ttfsnet_nas.snn/1", "input_shape": [2, 8, 8]}, tmp_path / "foreign.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    for name, needle in (
        ("pickled.pt", "pickled"),
        ("foreign.pt", "ttfsnet.network"),
        ("junk.pt", "junk.pt"),
    ):
        with pytest.raises(ModelLoadError, match=needle) as info:
            load.load_model(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)
        assert isinstance(info.value, HardwareError) and isinstance(info.value, ValueError)
    with pytest.raises(ModelLoadError, match="no such file"):
        load.open_model(tmp_path / "missing.pt")


def test_paper_specs(tmp_path: Path) -> None:
    assert (
        load.is_paper_spec("paper")
        and load.is_paper_spec("paper:g0b0=skip")
        and not load.is_paper_spec("p.pt")
    )
    model = load.open_model("paper:g0b0=skip,g0b1=skip", input_shape=(4, 8, 8), seed=1)
    assert model.ir is not None and model.ir.input_shape == (4, 8, 8) and model.ir.has_parameters
    assert load.load_network(model, rates=0.1).record.source == "assumed"
    with pytest.raises(ModelLoadError, match="gene=op pairs"):
        load.paper_model("paper:g0b0")
    with pytest.raises(ModelLoadError, match="square"):
        load.paper_model("paper", input_shape=(4, 8, 9))
    with pytest.raises(ModelLoadError, match="conv7x7"):
        load.paper_model("paper:g0b0=conv7x7")
