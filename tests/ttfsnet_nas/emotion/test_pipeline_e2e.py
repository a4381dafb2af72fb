"""End to end: the built-in ``tiny`` recipe through the ``ttfsnet-nas`` CLI (all five stages, < 1 min)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import ttfsnet
from ttfsnet_nas.artifact import read_artifact
from ttfsnet_nas.cli import main
from ttfsnet_nas.emotion.pipeline import STAGES, run_pipeline
from ttfsnet_nas.emotion.seen_format import read_run
from ttfsnet_nas.progress import NullProgress
from ttfsnet_nas.torch import load_artifact

TINY = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes" / "tiny.yaml"


def _cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(["--quiet", *args])
    return int(info.value.code or 0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """One complete tiny run, shared by the tests of this module."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TTFSNET_DATA", str(data_dir))
        assert _cli(["search", "tiny", "--out", str(out)]) == 0  # built-in recipe name
    return out


@pytest.fixture(autouse=True)
def _data_env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("TTFSNET_DATA", str(data_dir))


def _mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_every_output_is_written(run_dir: Path, data_dir: Path) -> None:
    assert (data_dir / "synthetic-tiny-seed0" / "emotion.json").is_file()  # generated on first use
    for name in (
        "resolved_recipe.yaml", "split.json", "result.json", "fitness.png", "ops.png", "results.md",
        "results.csv", "efficiency.md", "efficiency.csv", "supernet/supernet.pt", "search/journal.jsonl",
        "search/search.json",
        "retrain/ann/model.json", "retrain/ann/weights.pt", "snn/snn.pt", "test/summary.json",
    ):
        assert (run_dir / name).is_file(), name
    assert sorted(p.stem for p in (run_dir / "stages").glob("*.json")) == sorted(STAGES)
    result = json.loads((run_dir / "result.json").read_text())
    assert set(result["best_architecture"]) == {"g0b0", "g0b1"}
    assert len(result["fitness_history"]) == 3  # search.rounds
    assert result["synthetic"] is True
    m = result["metrics"]
    assert 0.0 <= m["war"] <= 1.0 and 0.0 <= m["uar"] <= 1.0
    # It learned: chance is 1/7 (7 balanced classes). The margin is 0.3 or five times the spread of WAR
    # over the test runs (fresh windows each), whichever is larger; the seeded run is far above both.
    spread = json.loads((run_dir / "test" / "summary.json").read_text())["snn"]["std"]["war"]
    for metric in ("war", "uar"):
        assert m[metric] - 1 / 7 > max(0.3, 5 * spread), (metric, m[metric], spread)
    assert 0.0 < m["spikes_per_neuron"] <= 1.0  # TTFS: at most one spike per neuron
    assert m["synops_per_sample"] > 0 and m["params"] > 0 and m["latency"] > 1.0
    assert "SYNTHETIC" in (run_dir / "results.md").read_text()
    if importlib.util.find_spec("ttfsnet_hw") is not None:  # its objective plugin estimates the latency
        assert m["hardware"]["latency_ms"] > 0
        assert "–" not in (run_dir / "efficiency.csv").read_text().splitlines()[1].split(",")[6]


def test_split_is_subject_disjoint(run_dir: Path) -> None:
    split = json.loads((run_dir / "split.json").read_text())
    subjects = {part: {name.split("_")[1] for name in split[part]} for part in ("supernet", "search", "test")}
    assert subjects["supernet"] and subjects["search"]
    assert not subjects["supernet"] & subjects["search"]
    assert set(split["supernet"]) | set(split["search"]) == set(split["train"])


def test_snn_and_ann_agree_on_the_test_set(run_dir: Path) -> None:
    summary = json.loads((run_dir / "test" / "summary.json").read_text())
    assert summary["runs"] == 2
    # The seeded run's test windows stay inside the calibrated windows, so the mapping is exact there:
    # float32 logits of size ≤ 17 agree to rounding, ≲ eps32·Σfan_in·|logit| ≈ 1.2e-7·~300·17 ≈ 6e-4 in the
    # worst case (measured: test 0, transfer 1.1e-5). 1e-3 is that bound, not a margin for anything else.
    assert summary["saturated_per_sample"] == 0
    assert summary["max_abs_logit_diff"] < 1e-3  # the exact mapping: same logits, not just same labels
    assert summary["agreement"] == 1.0
    transfer = json.loads((run_dir / "snn" / "transfer.json").read_text())
    assert transfer["transfer"]["agreement"] == 1.0
    assert transfer["transfer"]["max_abs_logit_diff"] < 1e-3
    # and independently of the pipeline: the saved SNN against its own ANN counterpart on fresh inputs
    net, meta = ttfsnet.load(run_dir / "snn" / "snn.pt")
    x = torch.rand(16, *meta["input_shape"], generator=torch.Generator().manual_seed(0)) * 0.5
    with torch.no_grad():
        run = net.run(x)
        ann = ttfsnet.to_ann(net)(x)
    assert run.total_saturated == 0  # half-range inputs stay inside the calibrated windows
    torch.testing.assert_close(run.logits, ann, rtol=0, atol=1e-3)  # as above (measured 0)


def test_seen_format_runs_and_artifact(run_dir: Path) -> None:
    files = sorted((run_dir / "test").glob("test_epoch_0_*.json"))
    assert [f.name for f in files] == ["test_epoch_0_1.json", "test_epoch_0_2.json"]
    split = json.loads((run_dir / "split.json").read_text())
    parsed = read_run(files[0])
    assert set(parsed.names) == set(split["test"]) and parsed.run == 1
    classes = json.loads((run_dir / "retrain" / "ann" / "model.json").read_text())["metadata"]["classes"]
    assert set(parsed.predicted) <= set(classes)
    art = read_artifact(run_dir / "artifact")
    result = json.loads((run_dir / "result.json").read_text())
    assert art.architecture.to_dict() == result["best_architecture"]
    model = load_artifact(run_dir / "artifact")
    net, meta = ttfsnet.load(run_dir / "artifact" / "snn.pt")
    x = torch.zeros(2, *meta["input_shape"])
    assert model(x).shape == net(x).shape == (2, 7)
    assert meta["architecture"] == result["best_architecture"]
    # the CLI's evaluate reruns the test split on the artifact alone and leaves it intact
    assert _cli(["evaluate", str(run_dir / "resolved_recipe.yaml"), str(run_dir / "artifact")]) == 0
    read_artifact(run_dir / "artifact")  # verifies the manifest checksums
    assert not (run_dir / "artifact" / "split.json").exists()


def test_resume_after_completion_is_a_no_op(run_dir: Path) -> None:
    before = _mtimes(run_dir)
    assert _cli(["search", str(TINY), "--out", str(run_dir), "--resume"]) == 0
    after = _mtimes(run_dir)
    changed = {k for k in before if before[k] != after.get(k)}
    # only the summary files are rewritten; no stage output is touched
    stage_dirs = ("stages", "supernet", "search", "retrain", "snn", "test")
    assert not {k for k in changed if k.split("/")[0] in stage_dirs}


def test_resume_inside_a_search_round_reproduces_the_run(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    shutil.copytree(run_dir, out)
    # simulate a crash after 5 of the 12 evaluations (round 1 of 3, pool 4): later outputs never happened
    for stage in ("search", "retrain", "snn", "test"):
        (out / "stages" / f"{stage}.json").unlink()
    (out / "result.json").unlink()
    journal = out / "search" / "journal.jsonl"
    journal.write_text("".join(journal.read_text().splitlines(keepends=True)[:6]))  # header + 5 records
    assert _cli(["search", "tiny", "--out", str(out), "--resume"]) == 0
    before = json.loads((run_dir / "search" / "search.json").read_text())
    after = json.loads((out / "search" / "search.json").read_text())
    assert [h["architecture"] for h in after["history"]] == [h["architecture"] for h in before["history"]]
    assert after["best"] == before["best"]
    same = json.loads((out / "result.json").read_text())["metrics"]
    assert same == json.loads((run_dir / "result.json").read_text())["metrics"]


def test_existing_run_without_resume_is_refused(run_dir: Path) -> None:
    assert _cli(["search", str(TINY), "--out", str(run_dir)]) == 2


def test_stage_selection(tmp_path: Path, run_dir: Path) -> None:
    out = tmp_path / "staged"
    assert _cli(["search", str(TINY), "--out", str(out), "--stages", "supernet"]) == 0
    assert [p.stem for p in (out / "stages").glob("*.json")] == ["supernet"]
    assert not (out / "result.json").exists()
    # a later stage needs the earlier ones: retrain without a search is a clear runtime error
    assert _cli(["search", str(TINY), "--out", str(out), "--stages", "retrain"]) == 1
    supernet_time = (out / "supernet" / "supernet.pt").stat().st_mtime_ns
    assert _cli(["search", str(TINY), "--out", str(out), "--stages", "search"]) == 0
    assert (out / "supernet" / "supernet.pt").stat().st_mtime_ns == supernet_time  # not retrained
    assert sorted(p.stem for p in (out / "stages").glob("*.json")) == ["search", "supernet"]
    # rerunning only the test stage of the complete run leaves the earlier stages alone
    before = _mtimes(run_dir)
    assert _cli(["search", str(TINY), "--out", str(run_dir), "--stages", "test"]) == 0
    after = _mtimes(run_dir)
    assert after["stages/test.json"] != before["stages/test.json"]
    for stage in ("supernet", "search", "retrain", "snn"):
        assert after[f"stages/{stage}.json"] == before[f"stages/{stage}.json"]


def test_seed_override_and_separate_target_data(tmp_path: Path, data_dir: Path) -> None:
    """Search on one data set, retrain and test on another (``target_data``, TNAS-ER §4.5 transfer)."""
    recipe = yaml.safe_load(TINY.read_text())
    recipe["target_data"] = {**recipe["data"], "synthetic_seed": 1}
    path = tmp_path / "transfer.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "transfer"
    assert _cli(["search", str(path), "--out", str(out), "--seed", "1"]) == 0
    assert yaml.safe_load((out / "resolved_recipe.yaml").read_text())["seed"] == 1
    target = json.loads((data_dir / "synthetic-tiny-seed1" / "emotion.json").read_text())["database"]
    source = json.loads((data_dir / "synthetic-tiny-seed0" / "emotion.json").read_text())["database"]
    split = json.loads((out / "split.json").read_text())
    assert set(split["supernet"]) | set(split["search"]) <= set(source)  # the search used the source set
    tested = read_run(out / "test" / "test_epoch_0_1.json").names
    assert set(tested) == {n for n, e in target.items() if e["subset"] == "testing"}  # test on the target set
    assert json.loads((out / "result.json").read_text())["metrics"]["snn_ann_agreement"] >= 0.97


def test_robustness_options_reach_finetuning_and_test(tmp_path: Path) -> None:
    recipe = yaml.safe_load(TINY.read_text())
    recipe["snn"]["robustness"] = {"time_noise_std": 0.05, "time_bits": 3}
    result = run_pipeline(recipe, out=tmp_path / "robust")
    assert result["transfer"]["finetune"]["epochs"] == 1
    summary = json.loads((tmp_path / "robust" / "test" / "summary.json").read_text())
    # the SNN is tested with noisy 3-bit spike times, its exact ANN twin without: the logits now differ
    assert summary["max_abs_logit_diff"] > 1e-3
    # and the noise is seeded: the same recipe gives the same test
    again = run_pipeline(recipe, out=tmp_path / "robust2")
    assert again["metrics"] == result["metrics"]


class _Interrupt(Exception):
    """Stands for a kill arriving in the middle of a training stage."""


class _KillAtEpoch(NullProgress):
    """Raises on the first step of ``epoch`` (1-based, as the pipeline reports it) of ``task``."""

    def __init__(self, task: str, epoch: int) -> None:
        self.task = task
        self.epoch = epoch

    def advance(self, task: str, n: int = 1, **info: Any) -> None:
        if task == self.task and info.get("epoch") == self.epoch:
            raise _Interrupt(f"{task} killed at epoch {self.epoch}")


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_interrupted_supernet_stage_resumes_bit_identically(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    with pytest.raises(_Interrupt):
        run_pipeline(TINY, out=out, stages=["supernet"], progress=_KillAtEpoch("supernet", 2))
    checkpoints = list((out / "supernet").glob("train-*.ckpt"))
    assert len(checkpoints) == 1 and not (out / "supernet" / "supernet.pt").exists()
    assert not (out / "stages" / "supernet.json").exists()  # the stage is not complete
    run_pipeline(TINY, out=out, stages=["supernet"], resume=True)
    training = json.loads((out / "supernet" / "training.json").read_text())
    assert training["resumed_from_epoch"] == 1
    reference = json.loads((run_dir / "supernet" / "training.json").read_text())
    assert training["sha256"] == reference["sha256"]  # the same weights as the uninterrupted run
    assert training["epoch_losses"] == reference["epoch_losses"]
    assert not list((out / "supernet").glob("train-*.ckpt"))  # removed once the stage is complete


def test_interrupted_retraining_resumes_and_rerun_starts_over(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    shutil.copytree(run_dir, out)
    for stage in ("retrain", "snn", "test"):
        (out / "stages" / f"{stage}.json").unlink()
    shutil.rmtree(out / "retrain")
    with pytest.raises(_Interrupt):
        run_pipeline(TINY, out=out, stages=["retrain"], resume=True, progress=_KillAtEpoch("retrain", 3))
    assert len(list((out / "retrain").glob("train-*.ckpt"))) == 1
    # a rerun without --resume does not continue a checkpoint: it trains from scratch (and still matches)
    with pytest.raises(_Interrupt):
        run_pipeline(TINY, out=out, stages=["retrain"], progress=_KillAtEpoch("retrain", 2))
    run_pipeline(TINY, out=out, stages=["retrain"], resume=True)
    info = json.loads((out / "retrain" / "training.json").read_text())
    assert info["resumed_from_epoch"] == 1
    ref = _state_dict(run_dir / "retrain" / "ann" / "weights.pt")
    got = _state_dict(out / "retrain" / "ann" / "weights.pt")
    assert ref.keys() == got.keys()
    for key in ref:
        assert torch.equal(ref[key], got[key]), key
    assert not list((out / "retrain").glob("train-*.ckpt"))


def test_journal_header_holds_the_split_rows(run_dir: Path) -> None:
    header = json.loads((run_dir / "search" / "journal.jsonl").read_text().splitlines()[0])
    text = json.dumps(header)
    split = json.loads((run_dir / "split.json").read_text())
    rows = next(v for k, v in _walk(header) if k == "split")
    assert [split["train"][i] for i in rows["search"]] == split["search"]
    assert [split["train"][i] for i in rows["supernet"]] == split["supernet"]
    assert '"torch"' in text  # torch's global RNG is journaled with Python's and numpy's


def _walk(obj: Any) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            found.append((k, v))
            found.extend(_walk(v))
    return found


def test_refused_resume_keeps_the_resolved_recipe(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "changed"
    shutil.copytree(run_dir, out)
    before = (out / "resolved_recipe.yaml").read_text()
    recipe = yaml.safe_load(TINY.read_text())
    recipe["supernet"]["epochs"] = 4
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(recipe))
    capsys.readouterr()
    assert _cli(["search", str(path), "--out", str(out), "--resume"]) == 2  # another supernet: refused
    err = capsys.readouterr().err.strip()
    (line,) = [x for x in err.splitlines() if x.startswith("error")]
    assert "stage 'supernet'" in line and "(changed: supernet.epochs)" in line
    assert "recipe changed since the run started: supernet.epochs" in err
    assert (out / "resolved_recipe.yaml").read_text() == before


def test_hardware_aware_demo_writes_the_pareto_front(tmp_path: Path) -> None:
    """The built-in ``demo-hw`` recipe: Pareto search of war_uar vs the ttfsnet-hw energy estimate."""
    pytest.importorskip("ttfsnet_hw")
    out = tmp_path / "demo-hw"
    assert _cli(["search", "demo-hw", "--out", str(out)]) == 0
    assert (out / "pareto.png").stat().st_size > 0
    search = json.loads((out / "search" / "search.json").read_text())
    front = search["front"]
    assert front and all(set(t["values"]) == {"war_uar", "energy_mj"} for t in front)
    assert all(t["values"]["energy_mj"] <= 0.04 for t in front)  # the recipe's energy budget
    # no front member is dominated by any evaluated candidate
    for t in front:
        a = t["values"]
        assert not any(
            h["values"]["war_uar"] >= a["war_uar"] and h["values"]["energy_mj"] <= a["energy_mj"]
            and h["values"] != a
            for h in search["history"]
            if set(h["values"]) >= {"war_uar", "energy_mj"}
        )
    assert search["best"]["key"] in {t["architecture"] for t in front}
    hardware = json.loads((out / "result.json").read_text())["metrics"]["hardware"]
    assert hardware["energy_mj"] > 0 and hardware["latency_ms"] > 0 and hardware["pe_count"] >= 1
    assert "–" not in (out / "efficiency.csv").read_text().splitlines()[1].split(",")[6]
