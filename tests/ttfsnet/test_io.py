"""The network file format: ``ttfsnet.save`` / ``ttfsnet.load`` round trips and refusals."""

from __future__ import annotations

import os
import pathlib
from pathlib import Path

import pytest
import torch
from torch import nn
from ttfsnet_testutils import randomize_bn

import ttfsnet
from ttfsnet.io import FORMAT, FORMAT_VERSION


def _ann(dtype: torch.dtype) -> nn.Sequential:
    """Every layer kind: BN after ReLU (negative scales) → max pool with flipped channels → padded conv with
    a position-dependent threshold → average pool → flatten → readout."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.BatchNorm2d(4),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 8),
        nn.ReLU(),
        nn.Linear(8, 3),
    ).to(dtype)
    return randomize_bn(model, torch.Generator().manual_seed(3))


def _inputs(dtype: torch.dtype) -> torch.Tensor:
    return torch.rand(16, 2, 8, 8, generator=torch.Generator().manual_seed(1), dtype=dtype) * 4 - 1


def _network(dtype: torch.dtype) -> ttfsnet.TTFSNetwork:
    return ttfsnet.convert(_ann(dtype), _inputs(dtype), input_range=(-1.0, 3.0))


@pytest.fixture(scope="module", params=[torch.float32, torch.float64], ids=["float32", "float64"])
def net(request: pytest.FixtureRequest) -> ttfsnet.TTFSNetwork:
    return _network(request.param)


def test_the_network_has_every_feature_the_format_must_carry(net: ttfsnet.TTFSNetwork) -> None:
    kinds = [type(m) for m in net.layers]
    assert kinds == [
        ttfsnet.TTFSConv2d,
        ttfsnet.TTFSMaxPool2d,
        ttfsnet.TTFSConv2d,
        ttfsnet.TTFSAvgPool2d,
        ttfsnet.TTFSFlatten,
        ttfsnet.TTFSLinear,
        ttfsnet.TTFSLinear,
    ]
    pool, conv = net.layers[1], net.layers[2]
    assert isinstance(pool, ttfsnet.TTFSMaxPool2d) and pool.sign is not None and bool((pool.sign < 0).any())
    assert isinstance(conv, ttfsnet.TTFSConv2d) and conv.position_dependent


def test_round_trip_is_bit_identical(net: ttfsnet.TTFSNetwork, tmp_path: Path) -> None:
    dtype = net.layers[-1].weight.dtype
    path = ttfsnet.save(net, tmp_path / "net.pt")
    assert path == tmp_path / "net.pt"
    loaded, metadata = ttfsnet.load(path)
    assert metadata == {}
    assert not loaded.training
    assert loaded.input_range == net.input_range
    assert loaded.input_shape == net.input_shape == (2, 8, 8)
    assert loaded.windows() == net.windows() and loaded.latency() == net.latency()
    assert repr(loaded) == repr(net)
    before, after = net.state_dict(), loaded.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        assert after[key].dtype == value.dtype == (value.dtype if key.startswith("input_") else dtype), key
        assert torch.equal(after[key], value), key
    assert all(p.requires_grad for p in loaded.parameters())  # ready for fine-tuning
    x = _inputs(dtype)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    for mode, dt in (("closed", None), ("stepped", 0.05)):
        a, b = net.run(x, mode=mode, dt=dt), loaded.run(x, mode=mode, dt=dt)
        assert torch.equal(a.logits, b.logits)
        for ta, tb in zip(a.spike_times, b.spike_times, strict=True):
            assert torch.equal(ta, tb)
        assert (a.spike_counts, a.synops, a.saturation_counts, a.windows) == (
            b.spike_counts,
            b.synops,
            b.saturation_counts,
            b.windows,
        )


def test_metadata_round_trip_turns_tuples_into_lists(tmp_path: Path) -> None:
    net = _network(torch.float64)
    metadata = {
        "classes": ("happy", "sad"),
        "architecture": {"g0b0": "conv3x3", "shape": (1, (2, 3))},
        "accuracy": 0.875,
        "epochs": 3,
        "note": None,
        "final": True,
    }
    loaded, back = ttfsnet.load(ttfsnet.save(net, tmp_path / "net.pt", **metadata))
    assert back == {
        "classes": ["happy", "sad"],
        "architecture": {"g0b0": "conv3x3", "shape": [1, [2, 3]]},
        "accuracy": 0.875,
        "epochs": 3,
        "note": None,
        "final": True,
    }
    assert isinstance(loaded, ttfsnet.TTFSNetwork)


@pytest.mark.parametrize(
    ("metadata", "pattern"),
    [
        ({"weights": torch.ones(2)}, r"metadata weights is a Tensor; expected plain data"),
        ({"model": nn.ReLU()}, r"metadata model is a ReLU"),
        ({"fn": print}, r"metadata fn is a builtin_function_or_method"),
        ({"nested": {"deep": [1, {2, 3}]}}, r"metadata nested\.deep\[1\] is a set"),
        ({"loss": float("nan")}, r"metadata loss is nan; expected a finite number"),
        ({"map": {1: "a"}}, r"metadata map has key 1; expected string keys"),
    ],
)
def test_save_refuses_metadata_that_is_not_plain_data(
    metadata: dict[str, object], pattern: str, tmp_path: Path
) -> None:
    net = _network(torch.float64)
    with pytest.raises(ttfsnet.TTFSValueError, match=pattern):
        ttfsnet.save(net, tmp_path / "net.pt", **metadata)
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_what_is_not_a_network(tmp_path: Path) -> None:
    with pytest.raises(ttfsnet.TTFSValueError, match="save: expected a TTFSNetwork, got Sequential"):
        ttfsnet.save(_ann(torch.float64), tmp_path / "net.pt")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ refusals
def _refused(path: Path, pattern: str) -> ttfsnet.FormatError:
    with pytest.raises(ttfsnet.FormatError, match=pattern) as info:
        ttfsnet.load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)
    return info.value


def test_missing_file_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path / "absent.pt", "no such network file")
    _refused(tmp_path, "no such network file")  # a folder is no file either


def test_plain_torch_save_of_a_module_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "module.pt"
    torch.save(nn.Linear(2, 2), path)
    _refused(path, "not a ttfsnet network file")


class _Armed:
    """Unpickling this calls ``Path(marker).touch()``: the file would appear if load ran pickled code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (pathlib.Path.touch, (self.marker,))


def test_pickled_code_is_never_executed(tmp_path: Path) -> None:
    path, marker = tmp_path / "armed.pt", tmp_path / "marker"
    torch.save({"format": FORMAT, "version": FORMAT_VERSION, "payload": _Armed(marker)}, path)
    _refused(path, "not a ttfsnet network file")
    assert not marker.exists()
    # the file is really armed: an unsafe load runs the code
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_a_dict_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"format": "someone.else", "version": 1}, path)
    _refused(path, r"key 'format' is 'someone.else', expected 'ttfsnet.network'")
    torch.save(nn.Linear(2, 2).state_dict(), path)
    _refused(path, r"key 'format' is None")
    torch.save([1, 2], path)
    _refused(path, r"key 'format' is 'list'")


def test_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.pt"
    torch.save({"format": FORMAT, "version": FORMAT_VERSION + 1}, path)
    _refused(
        path, rf"format version {FORMAT_VERSION + 1} is newer than this ttfsnet reads \({FORMAT_VERSION}\)"
    )
    torch.save({"format": FORMAT, "version": "1"}, path)
    _refused(path, r"key 'version' is '1', expected a positive integer")
    torch.save({"format": FORMAT, "version": True}, path)
    _refused(path, r"key 'version' is True, expected a positive integer")


def test_inconsistent_content_is_refused(tmp_path: Path) -> None:
    net = _network(torch.float64)
    path = ttfsnet.save(net, tmp_path / "net.pt")
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["layers.0.weight"]
    torch.save(payload, path)
    _refused(path, "layers and tensors do not fit together")
    payload = torch.load(ttfsnet.save(net, path), weights_only=True)
    payload["layers"][0]["kind"] = "warp_drive"
    torch.save(payload, path)
    _refused(path, "layers and tensors do not fit together .*unknown layer kind 'warp_drive'")
    for key, value in (("input_range", []), ("layers", {"kind": "linear"}), ("state_dict", [1])):
        payload = torch.load(ttfsnet.save(net, path), weights_only=True)
        payload[key] = value
        torch.save(payload, path)
        _refused(path, "layers and tensors do not fit together")
    path.write_bytes(b"not a torch file at all")
    _refused(path, "not a ttfsnet network file")


# ------------------------------------------------------------------------------------------ atomic write
def test_atomic_write_leaves_one_file_with_the_normal_mode(tmp_path: Path) -> None:
    net = _network(torch.float32)
    target = tmp_path / "sub" / "net.pt"
    ttfsnet.save(net, target)
    ttfsnet.save(net, target, version=2)  # overwrite
    assert sorted(p.name for p in target.parent.iterdir()) == ["net.pt"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert ttfsnet.load(target)[1] == {"version": 2}


def test_a_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = _network(torch.float32)
    target = ttfsnet.save(net, tmp_path / "net.pt", run=1)
    before = target.read_bytes()

    def broken_save(obj: object, f: object) -> None:
        assert hasattr(f, "write")
        f.write(b"half a file")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ttfsnet.save(net, target, run=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.pt"]
    assert target.read_bytes() == before
