"""Devices and precision: the one device resolver, bf16 autocast in ANN training, device-independent
checkpoints, SyncBatchNorm conversion for multi-GPU supernet training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ttfsnet_nas.errors import InputError
from ttfsnet_nas.torch import (
    CheckpointError,
    MacroConfig,
    MacroSupernet,
    Supernet,
    TrainConfig,
    train_model,
    train_supernet,
)
from ttfsnet_nas.torch.device import resolve_device, torchrun_world, training_autocast
from ttfsnet_nas.torch.distributed import _from_sync_batchnorm, _to_sync_batchnorm, train_supernet_ddp
from ttfsnet_nas.torch.files import read_tensors

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")


def test_cpu_and_auto() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == torch.device(expected)
    given = torch.device("cpu")
    assert resolve_device(given) is given


@pytest.mark.parametrize("spec", ["gpu", "CUDA", "cuda:", "cuda:x", "mps", ""])
def test_unknown_device_strings_are_input_errors(spec: str) -> None:
    with pytest.raises(InputError, match=r"^--device: expected auto, cpu, cuda or cuda:N, got") as info:
        resolve_device(spec, key="--device")
    assert "\n" not in str(info.value)


@no_cuda
@pytest.mark.parametrize("spec", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_an_input_error(spec: str) -> None:
    with pytest.raises(InputError, match=r"^device: .* CUDA is not available here"):
        resolve_device(spec)


def test_cuda_index_beyond_the_devices_is_an_input_error() -> None:
    with pytest.raises(InputError, match="CUDA"):
        resolve_device("cuda:99")


@needs_cuda
def test_cuda_names_its_index() -> None:
    assert resolve_device("cuda") == torch.device("cuda", torch.cuda.current_device())
    assert resolve_device("cuda:0") == torch.device("cuda", 0)


def test_training_autocast() -> None:
    layer = nn.Linear(4, 3)
    x = torch.rand(2, 4)
    with training_autocast(torch.device("cpu"), "fp32"):
        assert layer(x).dtype == torch.float32
    with training_autocast(torch.device("cpu"), "bf16"):
        assert layer(x).dtype == torch.bfloat16
    assert layer.weight.dtype == torch.float32
    with pytest.raises(ValueError, match="precision"):
        training_autocast(torch.device("cpu"), "fp16")
    with pytest.raises(ValueError, match="TrainConfig.precision"):
        TrainConfig(precision="fp16")  # type: ignore[arg-type]


def test_torchrun_world_outside_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert torchrun_world() == (0, 1, 0)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert torchrun_world() == (3, 4, 1)


def test_bf16_training_runs_on_cpu_and_differs_from_fp32(
    supernet: Supernet, tiny_config: MacroConfig, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    config = TrainConfig(epochs=2, batch_size=40, seed=3)
    fp32 = train_supernet(supernet, data, config)
    torch.manual_seed(0)
    other = MacroSupernet(tiny_config)
    bf16 = train_supernet(other, data, TrainConfig(epochs=2, batch_size=40, seed=3, precision="bf16"))
    assert all(p.dtype == torch.float32 for p in other.parameters())  # autocast leaves the weights alone
    assert bf16.op_counts == fp32.op_counts  # the same paths and batches ...
    assert bf16.epoch_losses != fp32.epoch_losses  # ... in another arithmetic
    # bf16 rounds each matmul to u = 2^-8 ≈ 3.9e-3 relative; over two epochs the losses differ by ≤ 3.4e-3
    # relative across 5 seeds (2.9e-4 for this one). 0.02 ≈ 5u.
    assert bf16.epoch_losses == pytest.approx(fp32.epoch_losses, rel=0.02)

    model = supernet.subnet(supernet.sample(np.random.default_rng(0)))
    result = train_model(model, data, TrainConfig(epochs=1, batch_size=40, precision="bf16"))
    assert len(result.epoch_losses) == 1 and result.epoch_losses[0] > 0


def _all_tensors(obj: object) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _all_tensors(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _all_tensors(v)]
    return []


def test_checkpoint_holds_cpu_tensors_and_its_precision(
    supernet: Supernet, tiny_config: MacroConfig, data: tuple[torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    ckpt = tmp_path / "supernet.ckpt"
    bf16 = TrainConfig(epochs=1, batch_size=40, seed=3, precision="bf16")
    train_supernet(supernet, data, bf16, checkpoint=ckpt)
    saved = read_tensors(ckpt, what="training checkpoint")
    assert saved["config"]["precision"] == "bf16"
    tensors = _all_tensors(saved["model"]) + _all_tensors(saved["optimizer"])
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    assert saved["optimizer"]["state"]  # Adam's moments are in the file
    with pytest.raises(CheckpointError, match="precision"):
        train_supernet(supernet, data, TrainConfig(epochs=2, batch_size=40, seed=3), checkpoint=ckpt)
    # a checkpoint written before precision existed continues as fp32
    saved["config"].pop("precision")
    torch.save(saved, ckpt)
    torch.manual_seed(0)
    resumed = MacroSupernet(tiny_config)
    result = train_supernet(resumed, data, TrainConfig(epochs=2, batch_size=40, seed=3), checkpoint=ckpt)
    assert len(result.epoch_losses) == 2


@needs_cuda
def test_checkpoint_written_on_cuda_resumes_on_cpu(
    tiny_config: MacroConfig, data: tuple[torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    ckpt = tmp_path / "supernet.ckpt"
    config = TrainConfig(epochs=2, batch_size=40, seed=3)
    torch.manual_seed(0)
    on_gpu = MacroSupernet(tiny_config)
    train_supernet(on_gpu, data, TrainConfig(epochs=1, batch_size=40, seed=3), device="cuda", checkpoint=ckpt)
    saved = read_tensors(ckpt, what="training checkpoint")
    assert all(t.device.type == "cpu" for t in _all_tensors(saved))
    torch.manual_seed(0)
    on_cpu = MacroSupernet(tiny_config)
    result = train_supernet(on_cpu, data, config, device="cpu", checkpoint=ckpt)
    assert len(result.epoch_losses) == 2
    assert all(p.device.type == "cpu" for p in on_cpu.parameters())


def test_sync_batchnorm_conversion_round_trip(supernet: Supernet) -> None:
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    classes = {name: type(m) for name, m in supernet.named_modules()}
    originals = _to_sync_batchnorm(supernet)
    assert originals and all(cls is nn.BatchNorm2d for cls in originals.values())
    assert all(isinstance(supernet.get_submodule(name), nn.SyncBatchNorm) for name in originals)
    first = next(m for m in supernet.modules() if isinstance(m, nn.SyncBatchNorm))
    assert first.running_mean is not None
    with torch.no_grad():
        first.running_mean.add_(1.0)
    _from_sync_batchnorm(supernet, originals)
    assert {name: type(m) for name, m in supernet.named_modules()} == classes
    after = supernet.state_dict()
    assert after.keys() == before.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) == 1 and changed[0].endswith("running_mean")  # trained statistics are kept


def test_sync_bn_needs_cuda(supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    with pytest.raises(ValueError, match="sync_bn needs CUDA"):
        train_supernet_ddp(supernet, data, TrainConfig(), device="cpu", sync_bn=True)
