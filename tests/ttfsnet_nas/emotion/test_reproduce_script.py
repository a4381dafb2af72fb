"""``benchmarks/paper/reproduce.py``: several seeds of one recipe, the SNN-domain search and every artefact
the runs support, resumable (the ``tiny`` recipe plus one fixed baseline, about 20 s)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "paper" / "reproduce.py"
TINY = ROOT / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes" / "tiny.yaml"


def _main(argv: list[str]) -> int:
    spec = importlib.util.spec_from_file_location("reproduce", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def test_two_seeds_give_every_artefact_and_a_rerun_keeps_the_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTFSNET_DATA", str(tmp_path / "data"))
    recipe = yaml.safe_load(TINY.read_text())
    recipe["baselines"] = {"fixed": ["conv3x3"]}  # one baseline, so that Fig. 7 is built from real runs too
    recipe_file = tmp_path / "tiny-baselines.yaml"
    recipe_file.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "paper-run"
    argv = ["--recipe", str(recipe_file), "--seeds", "0", "1", "--settings", "--out", str(out)]
    assert _main(argv) == 0
    for seed in (0, 1):
        run = out / f"seed{seed}"
        assert (run / "quantized" / "summary.json").is_file()
        assert (run / "settings" / "settings.json").is_file()
        assert yaml.safe_load((run / "resolved_recipe.yaml").read_text())["seed"] == seed
    search = json.loads((out / "seed0-snn-search" / "search" / "search.json").read_text())
    assert search["evaluations"] > 0 and not (out / "seed0-snn-search" / "retrain").exists()
    for name in ("table1", "table3", "fig4", "fig5", "fig7", "quantized"):
        assert (out / "paper" / name / f"{name}.md").is_file(), name
    with (out / "paper" / "fig7" / "fig7.csv").open(newline="") as f:
        bars = {r["method"]: r for r in csv.DictReader(f)}
    assert set(bars) == {"TNAS-ER", "fixed conv3x3"} and bars["TNAS-ER"]["error_kind"] == "std across seeds"
    with (out / "paper" / "table1" / "table1.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["seeds"]) for r in rows] == [("tiny", "2")]  # two seeds, one row
    with (out / "paper" / "fig4" / "fig4.csv").open(newline="") as f:
        domains = {r["domain"] for r in csv.DictReader(f)}
    assert domains == {"ann", "snn"}
    kept = [out / "seed0" / "supernet" / "supernet.pt", out / "seed1" / "settings" / "settings.json"]
    stamps = [path.stat().st_mtime_ns for path in kept]
    assert _main(argv) == 0
    assert [path.stat().st_mtime_ns for path in kept] == stamps  # finished stages are not run again
