"""``--device``: torch models run on the chosen device while spikes are recorded; everything the estimator,
the quantiser and the integer simulator read comes back to the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ttfsnet = pytest.importorskip("ttfsnet")

from torch import nn  # noqa: E402

from ttfsnet_hw.adapters.torch import (  # noqa: E402
    ir_from_ann,
    ir_from_ttfs,
    model_device,
    record_ann,
    record_snn,
    resolve_device,
    ttfs_from_ir,
)
from ttfsnet_hw.adapters.torch_quant import apply_quantization  # noqa: E402
from ttfsnet_hw.cli import main  # noqa: E402
from ttfsnet_hw.errors import HardwareValueError  # noqa: E402
from ttfsnet_hw.ir import IRBuilder  # noqa: E402
from ttfsnet_hw.profile import load_profile  # noqa: E402
from ttfsnet_hw.quantize import quantize  # noqa: E402

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="auto means CUDA on this machine")


def _snn_file(tmp_path: Path) -> Path:
    ir = IRBuilder("n", (2, 8, 8), rng=np.random.default_rng(0)).conv(4, 3).maxpool(2).flatten().readout(3)
    return ttfsnet.save(ttfs_from_ir(ir), tmp_path / "net.pt", input_shape=[2, 8, 8])


def _ann() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 3)
    ).eval()


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(HardwareValueError, match=r"^--device: expected auto, cpu, cuda or cuda:N, got 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(HardwareValueError, match="CUDA"):
        resolve_device("cuda:99")


def test_model_device() -> None:
    assert model_device(nn.Sequential(nn.MaxPool2d(2))) == torch.device("cpu")  # no tensors at all
    assert model_device(_ann()) == torch.device("cpu")


@pytest.mark.parametrize(
    "device", ["gpu", pytest.param("cuda", marks=no_cuda), pytest.param("cuda:1", marks=no_cuda)]
)
def test_cli_refuses_a_device_this_machine_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], device: str
) -> None:
    for command in (["estimate"], ["quantize", "--out", str(tmp_path / "q")]):
        code = main([*command, str(_snn_file(tmp_path)), "--data", "synthetic:2", "--device", device])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("error: --device: ") and len(err.splitlines()) == 1
    assert not (tmp_path / "q").exists()


@no_cuda
def test_cli_auto_equals_cpu_here(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = _snn_file(tmp_path)
    outputs = []
    for device in ("cpu", "auto"):
        args = ["estimate", str(net), "--data", "synthetic:4", "--format", "json", "--device", device]
        assert main(args) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1]


def test_apply_quantization_copies_to_the_cpu_in_float64(tmp_path: Path) -> None:
    net, _ = ttfsnet.load(_snn_file(tmp_path))
    x = np.random.default_rng(0).uniform(0, 1, (4, 2, 8, 8))
    qnet = quantize(ir_from_ttfs(net, (2, 8, 8)), load_profile("yoso"), x)
    copy = apply_quantization(net.float(), qnet)
    assert all(t.device.type == "cpu" and t.dtype == torch.float64 for t in copy.state_dict().values())
    assert all(p.dtype == torch.float32 for p in net.parameters())  # the original is left alone


def _layers(ir: object) -> list[tuple[object, ...]]:
    return [(la.name, la.kind, la.in_shape, la.out_shape) for la in ir.layers]  # type: ignore[attr-defined]


def _same_record(a: object, b: object) -> bool:
    return all(
        np.array_equal(getattr(a, k), getattr(b, k)) for k in ("per_sample_spikes", "per_sample_synops")
    ) and all(np.array_equal(x, y) for x, y in zip(a.per_neuron, b.per_neuron, strict=True))  # type: ignore[attr-defined]


@needs_cuda
def test_records_on_cuda_equal_those_on_the_cpu(tmp_path: Path) -> None:
    ann = _ann()
    x = torch.rand(8, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    snn = ttfsnet.convert(ann, x).double()
    ann_ir, snn_ir = ir_from_ann(ann, (2, 8, 8)), ir_from_ttfs(snn, (2, 8, 8))
    ann_cpu, snn_cpu = record_ann(ann, ann_ir, x), record_snn(snn, snn_ir, x.double())
    ann.cuda()
    snn.cuda()
    assert _layers(ir_from_ann(ann, (2, 8, 8))) == _layers(ann_ir)  # traced on the model's device
    assert _same_record(record_ann(ann, ann_ir, x), ann_cpu)  # CPU inputs go to the model's device
    assert _same_record(record_snn(snn, snn_ir, x.double()), snn_cpu)
    copy = apply_quantization(snn, quantize(snn_ir, load_profile("yoso"), x.double().numpy()))
    assert model_device(copy) == torch.device("cpu")


@needs_cuda
def test_cli_on_cuda_gives_the_cpu_estimate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = _snn_file(tmp_path)
    outputs = []
    for device in ("cpu", "cuda"):
        args = ["estimate", str(net), "--data", "synthetic:4", "--format", "json", "--device", device]
        assert main(args) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0]["synops"] == outputs[1]["synops"] and outputs[0]["spikes"] == outputs[1]["spikes"]
