"""The TNAS-ER pipeline on a chosen device: ``--device``, the bad-device errors, device-free fingerprints,
bf16 training, Ray workers for the search and the supernet stage under ``torchrun``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from ttfsnet_nas.cli import main
from ttfsnet_nas.config import replace_path
from ttfsnet_nas.emotion.pipeline import run_pipeline
from ttfsnet_nas.emotion.recipe import EmotionRecipe, load_recipe, recipe_from_mapping
from ttfsnet_nas.emotion.stages import STAGES, EmotionStages
from ttfsnet_nas.stages import StageRunner
from ttfsnet_nas.torch import MacroSupernet, TrainConfig, train_supernet
from ttfsnet_nas.torch.files import read_tensors

TINY = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes" / "tiny.yaml"

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="auto means CUDA on this machine")


def _cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(["--quiet", *args])
    return int(info.value.code or 0)


def _tiny(**changes: Any) -> dict[str, Any]:
    """The ``tiny`` recipe as a mapping, with top-level keys or ``section.key`` entries changed."""
    recipe = yaml.safe_load(TINY.read_text())
    for key, value in changes.items():
        section, _, name = key.rpartition(".")
        (recipe[section] if section else recipe)[name] = value
    return recipe


def _write(path: Path, recipe: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(recipe))
    return path


def _result(out: Path) -> dict[str, Any]:
    result = json.loads((out / "result.json").read_text())
    result.pop("stage_seconds")  # wall times differ from run to run
    return result


def _fingerprints(out: Path) -> dict[str, str]:
    return {s: json.loads((out / "stages" / f"{s}.json").read_text())["fingerprint"] for s in STAGES}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(autouse=True)
def _data_env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("TTFSNET_DATA", str(data_dir))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """One complete ``tiny`` run with ``--device cpu``, shared by the tests of this module."""
    out = tmp_path_factory.mktemp("runs") / "cpu"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TTFSNET_DATA", str(data_dir))
        assert _cli(["search", "tiny", "--out", str(out), "--device", "cpu"]) == 0
    return out


# -- bad devices ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("gpu", "error: --device: expected auto, cpu, cuda or cuda:N, got 'gpu'"),
        pytest.param(
            "cuda", "error: --device: 'cuda' asked for, but CUDA is not available here", marks=no_cuda
        ),
        ("cuda:99", "error: --device: 'cuda:99' asked for, but"),
    ],
)
def test_search_on_a_device_this_machine_lacks_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], device: str, message: str
) -> None:
    out = tmp_path / "run"
    assert _cli(["search", "tiny", "--out", str(out), "--device", device]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and len(err.splitlines()) == 1
    assert not out.exists()  # refused before the run folder is touched


def test_evaluate_on_a_device_this_machine_lacks_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    for name in ("snn.pt", "model.json"):  # the check comes before any file is read
        (artifact / name).write_text("")
    assert _cli(["evaluate", str(TINY), str(artifact), "--device", "gpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --device: expected auto, cpu, cuda or cuda:N, got 'gpu'"


def test_recipe_device_key_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "bad.yaml", _tiny(device="gpu"))
    assert _cli(["search", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "device: expected auto, cpu, cuda or cuda:N, got 'gpu'" in capsys.readouterr().err


# -- fingerprints --------------------------------------------------------------------------------------
def _stage_fingerprints(recipe: EmotionRecipe, out: Path) -> dict[str, str]:
    runner = StageRunner(out, EmotionStages(recipe, out).chain())
    return {name: runner.fingerprint(name) for name in STAGES}


def test_device_and_worker_counts_enter_no_fingerprint_precision_does(tmp_path: Path) -> None:
    base = load_recipe(TINY)
    plain = _stage_fingerprints(base, tmp_path)
    for changed in (
        replace(base, device="cuda:3"),  # only resolved when a stage runs
        replace(base, search=replace(base.search, workers=4, gpus_per_worker=0.5)),
        replace(base, data=replace(base.data, loader_workers=2)),
    ):
        assert _stage_fingerprints(changed, tmp_path) == plain
    bf16 = _stage_fingerprints(replace(base, precision="bf16"), tmp_path)
    assert all(bf16[s] != plain[s] for s in STAGES)  # supernet and retrain train differently, and downstream


def test_speed_only_settings_and_fp32_leave_the_fingerprints_alone(tmp_path: Path) -> None:
    """Worker counts change speed, not results: they are in no fingerprint (so old runs keep theirs, and a
    resume may change them); fp32 adds no key to the training stages."""
    recipe = load_recipe(TINY)
    faster = replace_path(replace_path(recipe, "search.workers", 2), "data.loader_workers", 3)
    faster = replace_path(faster, "search.gpus_per_worker", 0.5)
    for r in (recipe, faster):
        assert "workers=" not in repr(r.search) and "loader_workers" not in repr(r.data)
    assert "gpus_per_worker" not in repr(faster.search)
    fingerprints = [
        [EmotionStages(r, tmp_path).runner().fingerprint(name) for name in STAGES] for r in (recipe, faster)
    ]
    assert fingerprints[0] == fingerprints[1]
    chain = {stage.name: stage for stage in EmotionStages(recipe, tmp_path).chain()}
    assert "precision" not in chain["supernet"].config and "precision" not in chain["retrain"].config


# -- runs ----------------------------------------------------------------------------------------------
@pytest.mark.slow
@no_cuda
def test_cpu_and_auto_give_identical_results(cpu_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "auto"
    assert _cli(["search", "tiny", "--out", str(out)]) == 0  # the recipe's device: auto
    assert _result(out) == _result(cpu_run)
    assert _fingerprints(out) == _fingerprints(cpu_run)
    assert (out / "search" / "search.json").read_text() == (cpu_run / "search" / "search.json").read_text()


@pytest.mark.slow
def test_bf16_runs_end_to_end_on_cpu(cpu_run: Path, tmp_path: Path) -> None:
    result = run_pipeline(recipe_from_mapping(_tiny(precision="bf16")), out=tmp_path / "bf16", device="cpu")
    assert 0.0 <= result["metrics"]["war"] <= 1.0
    assert result["transfer"]["transfer"]["agreement"] == 1.0  # the SNN stays exact in float32
    bf16, fp32 = _fingerprints(tmp_path / "bf16"), _fingerprints(cpu_run)
    assert bf16["supernet"] != fp32["supernet"]
    supernet = read_tensors(tmp_path / "bf16" / "supernet" / "supernet.pt", what="supernet")
    assert all(t.dtype in (torch.float32, torch.int64) for t in supernet.values())  # bf16 never stored


@pytest.mark.slow
def test_ray_workers_score_like_the_search_in_process(cpu_run: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    out = tmp_path / "ray"
    recipe = _write(tmp_path / "ray.yaml", _tiny(**{"search.workers": 2}))
    assert _cli(["search", str(recipe), "--out", str(out), "--device", "cpu"]) == 0
    assert not ray.is_initialized()  # the stage started Ray, so it stopped it
    # identical scores (losses included), so the same search, the same best and the same run
    assert (out / "search" / "search.json").read_text() == (cpu_run / "search" / "search.json").read_text()
    assert _result(out) == _result(cpu_run)
    assert _fingerprints(out) == _fingerprints(cpu_run)


def test_torchrun_with_other_stages_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    out = tmp_path / "run"
    assert _cli(["search", "tiny", "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "--stages: under torchrun (WORLD_SIZE=2) only the supernet stage" in err
    assert not out.exists()


@pytest.mark.slow
def test_torchrun_trains_the_supernet_stage_then_one_process_continues(cpu_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "ttfsnet_nas", "--quiet", "search", "tiny", "--stages", "supernet", "--device", "cpu",
        "--out", str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{proc.stderr[:3000]}\n...\n{proc.stderr[-1500:]}"
    training = json.loads((out / "supernet" / "training.json").read_text())
    assert training["world_size"] == 2
    marker = json.loads((out / "stages" / "supernet.json").read_text())
    assert marker["fingerprint"] == _fingerprints(cpu_run)["supernet"]  # the processes are not in it
    # Two gloo ranks equal one process whose BatchNorm normalises the two halves of every batch apart.
    recipe = load_recipe(TINY)
    stages = EmotionStages(recipe, out, record_split=False, device=torch.device("cpu"))
    data = stages.search_data()
    assert data.supernet is not None
    reference: MacroSupernet = stages.build_supernet(len(data.classes))
    s = recipe.supernet
    result = train_supernet(
        reference, data.supernet,
        TrainConfig(epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, weight_decay=s.weight_decay,
                    seed=recipe.seed, shards=2),
    )
    saved = read_tensors(out / "supernet" / "supernet.pt", what="supernet")
    # two shards vs one process: float32 gradient sums in another order, a few eps32 (≈ 4e-7) relative per
    # step, accumulated over the run's few steps: rtol 1e-5 (atol 1e-6 for weights near 0).
    for name, param in reference.named_parameters():
        torch.testing.assert_close(saved[name], param.detach(), rtol=1e-5, atol=1e-6, msg=name)
    # the run records losses to 5 decimals: equal values may round 1e-5 apart across a boundary; 2e-5
    assert training["epoch_losses"] == pytest.approx([round(x, 5) for x in result.epoch_losses], abs=2e-5)
    # the later stages run in one process on the supernet of the two, which they leave as it is
    before = (out / "supernet" / "supernet.pt").read_bytes()
    assert _cli(["search", "tiny", "--out", str(out), "--resume", "--device", "cpu"]) == 0
    assert _result(out)["metrics"]["snn_ann_agreement"] >= 0.97
    assert (out / "supernet" / "supernet.pt").read_bytes() == before


@pytest.mark.slow
@needs_cuda
def test_run_started_on_cuda_continues_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu"
    assert _cli(["search", "tiny", "--out", str(out), "--device", "cuda", "--stages", "supernet,search"]) == 0
    assert _cli(["search", "tiny", "--out", str(out), "--device", "cpu", "--resume"]) == 0
    assert _result(out)["metrics"]["snn_ann_agreement"] >= 0.97
    tensors = read_tensors(out / "supernet" / "supernet.pt", what="supernet")
    assert all(t.device.type == "cpu" for t in tensors.values())
