"""``ttfsnet-nas paper``: every artefact on a finished ``tiny`` run, and the statistics on copies of that run
whose numbers (and whose settings, quantised and baseline outputs, in the exact format the stages write) are
set to values with a known answer."""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from ttfsnet_nas.cli import main
from ttfsnet_nas.emotion.paper import ARTEFACTS, build_artefact
from ttfsnet_nas.emotion.paper.inputs import recipe_difference
from ttfsnet_nas.errors import InputError

PNG = b"\x89PNG\r\n\x1a\n"


def _cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(["--quiet", *args])
    return int(info.value.code or 0)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished plain ``tiny`` run (no baselines, settings, quantize), shared by this module."""
    data = tmp_path_factory.mktemp("data")
    out = tmp_path_factory.mktemp("runs") / "tiny"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TTFSNET_DATA", str(data))
        assert _cli(["search", "tiny", "--out", str(out)]) == 0
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _summary(war: float, war_std: float, runs: int = 2) -> dict[str, Any]:
    """The SNN part of ``test/summary.json`` with WAR = UAR = ``war``."""
    return {"runs": runs, "snn": {"mean": {"war": war, "uar": war}, "std": {"war": war_std, "uar": war_std}}}


def _seed_copy(run: Path, where: Path, seed: int, *, war: float, war_std: float,
               recipe: Mapping[str, Any] | None = None) -> Path:
    """A copy of the tiny run as if trained with ``seed``, its SNN test WAR/UAR set to known values."""
    target = where / f"seed{seed}"
    shutil.copytree(run, target)
    rec = yaml.safe_load((target / "resolved_recipe.yaml").read_text())
    rec["seed"] = seed
    for key, value in (recipe or {}).items():
        node = rec
        *parents, last = key.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
    (target / "resolved_recipe.yaml").write_text(yaml.safe_dump(rec))
    summary = json.loads((target / "test" / "summary.json").read_text())
    summary["snn"]["mean"].update(war=war, uar=war)
    summary["snn"]["std"].update(war=war_std, uar=war_std)
    (target / "test" / "summary.json").write_text(json.dumps(summary))
    return target


SEEDS = {1: (0.6, 0.01), 2: (0.7, 0.02), 3: (0.8, 0.03)}  # seed → (WAR, test-window std)


@pytest.fixture
def three_seeds(tiny_run: Path, tmp_path: Path) -> list[Path]:
    return [_seed_copy(tiny_run, tmp_path, s, war=w, war_std=d) for s, (w, d) in SEEDS.items()]


# -- every artefact on the plain tiny run -------------------------------------------------------------


@pytest.mark.parametrize("name", ["table1", "table2", "table3", "fig4"])
def test_artefact_runs_on_a_tiny_run(tiny_run: Path, tmp_path: Path, name: str) -> None:
    out = tmp_path / "paper"
    assert _cli(["paper", name, str(tiny_run), "--out", str(out)]) == 0
    md = (out / f"{name}.md").read_text()
    assert md.startswith("# ") and "SYNTHETIC data, not SEE/DSEE results" in md.splitlines()[0]
    rows = _rows(out / f"{name}.csv")
    assert rows
    if "data" in rows[0]:
        assert {r["data"] for r in rows} == {"synthetic"}
    if ARTEFACTS[name].figure:
        assert (out / f"{name}.png").read_bytes().startswith(PNG)


@pytest.mark.parametrize(
    ("name", "missing", "key"),
    [
        ("fig5", "settings/settings.json", "settings.enabled"),
        ("fig7", "baselines/baselines.json", "baselines.random_sampling"),
        ("quantized", "quantized/summary.json", "quantize.enabled"),
    ],
)
def test_artefact_without_its_stage_names_file_and_recipe_key(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, missing: str, key: str
) -> None:
    capsys.readouterr()
    assert _cli(["paper", name, str(tiny_run), "--out", str(tmp_path / "paper")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert str(tiny_run / missing) in err and key in err
    assert not (tmp_path / "paper" / f"{name}.md").exists()


def test_table1_values_are_the_runs_test_summary(tiny_run: Path, tmp_path: Path) -> None:
    paths = build_artefact("table1", [tiny_run], tmp_path)
    assert [p.name for p in paths] == ["table1.md", "table1.csv"]
    (row,) = _rows(tmp_path / "table1.csv")
    snn = json.loads((tiny_run / "test" / "summary.json").read_text())["snn"]
    assert row["method"] == "tiny" and row["seeds"] == "1" and row["network"] == "SNN"
    assert float(row["WAR"]) == pytest.approx(100 * snn["mean"]["war"], rel=1e-12)
    assert float(row["WAR_window_std"]) == pytest.approx(100 * snn["std"]["war"], rel=1e-12)
    assert row["WAR_seed_std"] == ""  # one seed: unknown, not 0


# -- statistics across seeds, known answers ----------------------------------------------------------


def test_table1_groups_seeds_into_one_row(three_seeds: list[Path], tmp_path: Path) -> None:
    build_artefact("table1", three_seeds, tmp_path)
    (row,) = _rows(tmp_path / "table1.csv")
    assert row["seeds"] == "3" and row["test_runs"] == "2/2/2"
    assert float(row["WAR"]) == pytest.approx(70.0, abs=1e-9)
    assert float(row["WAR_seed_std"]) == pytest.approx(10.0, abs=1e-9)
    assert float(row["WAR_window_std"]) == pytest.approx(2.0, abs=1e-9)
    md = (tmp_path / "table1.md").read_text()
    assert "70.0 ± 10.0" in md and "test-window std" in md


def test_a_seen_folder_is_a_method_and_labels_rename(tiny_run: Path, three_seeds: list[Path],
                                                    tmp_path: Path) -> None:
    seen = tmp_path / "seen_results"
    seen.mkdir()
    for f in (tiny_run / "test").glob("test_epoch_*.json"):
        shutil.copy(f, seen / f.name)
    out = tmp_path / "out"
    labels = [f"TNAS-ER={p}" for p in three_seeds] + [f"SEEN={seen}"]
    build_artefact("table1", [], out, labels=labels)
    rows = {r["method"]: r for r in _rows(out / "table1.csv")}
    assert set(rows) == {"TNAS-ER", "SEEN"}
    assert rows["SEEN"]["network"] == "—" and rows["SEEN"]["data"] == "unknown"
    assert rows["TNAS-ER"]["seeds"] == "3"
    # the SEEN files re-scored from their names give the run's own WAR
    war = json.loads((tiny_run / "test" / "summary.json").read_text())["snn"]["mean"]["war"]
    assert float(rows["SEEN"]["WAR"]) == pytest.approx(100 * war, abs=1e-9)


def test_runs_that_differ_in_more_than_the_seed_are_refused(tiny_run: Path, tmp_path: Path) -> None:
    a = _seed_copy(tiny_run, tmp_path, 1, war=0.5, war_std=0.0)
    b = _seed_copy(tiny_run, tmp_path, 2, war=0.5, war_std=0.0, recipe={"retrain.epochs": 99})
    with pytest.raises(InputError, match=r"retrain\.epochs"):
        build_artefact("table1", [a, b], tmp_path / "out")
    # named apart, they are two methods
    build_artefact("table1", [], tmp_path / "out", labels=[f"A={a}", f"B={b}"])
    assert [r["method"] for r in _rows(tmp_path / "out" / "table1.csv")] == ["A", "B"]


def test_the_same_seed_twice_is_refused(tiny_run: Path, tmp_path: Path) -> None:
    a = _seed_copy(tiny_run, tmp_path, 1, war=0.5, war_std=0.0)
    b = tmp_path / "again"
    shutil.copytree(a, b)
    with pytest.raises(InputError, match="seed 1 twice"):
        build_artefact("table1", [a, b], tmp_path / "out")


def _write_baselines(run: Path, seed_war: float) -> None:
    """``baselines/baselines.json`` as the baselines stage writes it: random sampling of two architectures
    (WAR seed_war ∓ 0.1), random search and a fixed backbone (both seed_war − 0.05)."""
    def row(group: str, name: str, war: float) -> dict[str, Any]:
        return {"group": group, "name": name, "architecture": "x",
                "summary": {**_summary(war, 0.04), "synops_per_sample": 1e6, "params": 2000, "latency": 50.0,
                            "spikes_per_neuron": 0.5}}
    rows = [row("random sampling", "random_sampling_01", seed_war - 0.1),
            row("random sampling", "random_sampling_02", seed_war + 0.1),
            row("random search", "random_search", seed_war - 0.05),
            row("fixed conv3x3", "fixed_conv3x3", seed_war - 0.05)]
    (run / "baselines").mkdir(exist_ok=True)
    (run / "baselines" / "baselines.json").write_text(json.dumps(rows))


def test_fig7_error_bars_are_across_seeds(three_seeds: list[Path], tmp_path: Path) -> None:
    for run, (war, _) in zip(three_seeds, SEEDS.values(), strict=True):
        _write_baselines(run, war)
    paths = build_artefact("fig7", three_seeds, tmp_path)
    assert [p.name for p in paths] == ["fig7.md", "fig7.csv", "fig7.png"]
    rows = {r["method"]: r for r in _rows(tmp_path / "fig7.csv")}
    assert list(rows) == ["TNAS-ER", "random sampling", "random search", "fixed conv3x3"]
    tnas, rs = rows["TNAS-ER"], rows["random sampling"]
    assert float(tnas["war"]) == pytest.approx(70.0) and float(tnas["war_error"]) == pytest.approx(10.0)
    assert tnas["error_kind"] == "std across seeds"
    assert float(tnas["war_window_std"]) == pytest.approx(2.0)
    assert float(rs["war"]) == pytest.approx(70.0) and rs["architectures"] == "2"
    assert float(rs["war_arch_std"]) == pytest.approx(100 * 0.2 / math.sqrt(2))  # std of seed_war ∓ 0.1
    assert float(rows["random search"]["war"]) == pytest.approx(65.0)
    assert "3 seeds per bar" in (tmp_path / "fig7.md").read_text()
    assert (tmp_path / "fig7.png").read_bytes().startswith(PNG)


def test_fig7_with_one_seed_shows_the_window_std_and_says_so(three_seeds: list[Path], tmp_path: Path) -> None:
    _write_baselines(three_seeds[0], 0.6)
    build_artefact("fig7", three_seeds[:1], tmp_path)
    tnas = _rows(tmp_path / "fig7.csv")[0]
    assert tnas["error_kind"] == "test-window std" and float(tnas["war_error"]) == pytest.approx(1.0)
    assert "One training seed: error bars are the test-window std" in (tmp_path / "fig7.md").read_text()


def test_table3_has_baseline_rows_and_no_invented_figures(three_seeds: list[Path], tmp_path: Path) -> None:
    for run, (war, _) in zip(three_seeds, SEEDS.values(), strict=True):
        _write_baselines(run, war)
    build_artefact("table3", three_seeds, tmp_path)
    rows = {r["method"]: r for r in _rows(tmp_path / "table3.csv")}
    assert list(rows) == ["tiny", "tiny: random sampling", "tiny: random search", "tiny: fixed conv3x3"]
    assert float(rows["tiny"]["war_pct"]) == pytest.approx(70.0)
    assert float(rows["tiny"]["war_seed_std"]) == pytest.approx(10.0)
    assert float(rows["tiny: random search"]["ops_g"]) == pytest.approx(1e-3)
    assert rows["tiny: random search"]["latency_ms"] == ""  # this fixture's baselines have no estimate
    md = (tmp_path / "table3.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("| tiny: random search"))
    assert "—" in line


def _write_settings(run: Path, wars: tuple[float, float, float]) -> None:
    """``settings/settings.json`` in the settings stage's format."""
    labels = [("transfer", "(1) ANN retraining → TTFS transfer"),
              ("transfer_finetune", "(2) (1) + SNN fine-tuning"),
              ("snn_scratch", "(3) SNN trained from scratch")]
    data = {"architecture": "g0b0=conv3x3,g0b1=conv3x3",
            "settings": [{"name": n, "label": lab, "summary": _summary(w, 0.02)}
                         for (n, lab), w in zip(labels, wars, strict=True)]}
    (run / "settings").mkdir(exist_ok=True)
    (run / "settings" / "settings.json").write_text(json.dumps(data))


def test_fig5_from_the_settings_stage_format(three_seeds: list[Path], tmp_path: Path) -> None:
    for run, (war, _) in zip(three_seeds, SEEDS.values(), strict=True):
        _write_settings(run, (war, war + 0.05, war - 0.2))
    build_artefact("fig5", three_seeds, tmp_path)
    rows = {r["setting"]: r for r in _rows(tmp_path / "fig5.csv")}
    assert list(rows) == ["transfer", "transfer_finetune", "snn_scratch"]
    assert float(rows["transfer_finetune"]["war"]) == pytest.approx(75.0)
    assert float(rows["snn_scratch"]["war"]) == pytest.approx(50.0)
    assert float(rows["snn_scratch"]["war_error"]) == pytest.approx(10.0)
    assert float(rows["transfer"]["war_window_std"]) == pytest.approx(2.0)
    assert rows["transfer"]["label"] == "(1) ANN retraining → TTFS transfer"
    assert (tmp_path / "fig5.png").read_bytes().startswith(PNG)


def test_quantized_from_the_quantize_stage_format(three_seeds: list[Path], tmp_path: Path) -> None:
    for run, (war, std) in zip(three_seeds, SEEDS.values(), strict=True):
        data = {"profile": "yoso", "widths": {"time": 8, "weight": 8}, "runs": 2,
                "float": _summary(war, std)["snn"], "quantized": _summary(war - 0.01, 2 * std)["snn"],
                "agreement": 0.9}
        (run / "quantized").mkdir()
        (run / "quantized" / "summary.json").write_text(json.dumps(data))
    paths = build_artefact("quantized", three_seeds, tmp_path)
    assert [p.name for p in paths] == ["quantized.md", "quantized.csv"]
    flt, qnt = _rows(tmp_path / "quantized.csv")
    assert flt["network"] == "float SNN" and qnt["network"] == "quantised SNN" and qnt["profile"] == "yoso"
    assert float(flt["war"]) == pytest.approx(70.0) and float(qnt["war"]) == pytest.approx(69.0)
    assert float(qnt["war_seed_std"]) == pytest.approx(10.0)
    assert float(qnt["war_window_std"]) == pytest.approx(4.0)
    assert float(qnt["agreement"]) == pytest.approx(90.0)
    assert qnt["widths"] == "time=8, weight=8"


def test_fig4_separates_ann_and_snn_domain(tiny_run: Path, tmp_path: Path) -> None:
    ann = [_seed_copy(tiny_run, tmp_path / "ann", s, war=0.5, war_std=0.0) for s in (1, 2)]
    snn = [_seed_copy(tiny_run, tmp_path / "snn", s, war=0.5, war_std=0.0, recipe={"search.domain": "snn"})
           for s in (1, 2)]
    for i, run in enumerate(ann + snn):
        rounds = [{"round": r, "evaluations": 4, "best": 0.5 + 0.1 * r + 0.01 * i, "mean": 0.4,
                   "best_so_far": 0.5 + 0.1 * r + 0.01 * i} for r in range(3)]
        search = json.loads((run / "search" / "search.json").read_text())
        search["rounds"] = rounds
        (run / "search" / "search.json").write_text(json.dumps(search))
    out = tmp_path / "out"
    build_artefact("fig4", [], out, labels=[f"TNAS-ER={p}" for p in ann] + [f"TNAS-ER SNN={p}" for p in snn])
    rows = _rows(out / "fig4.csv")
    assert {(r["method"], r["domain"]) for r in rows} == {("TNAS-ER", "ann"), ("TNAS-ER SNN", "snn")}
    last = {r["domain"]: r for r in rows if r["round"] == "2"}
    assert float(last["ann"]["best_so_far"]) == pytest.approx(70.5)  # percent, mean of 70 and 71
    assert float(last["snn"]["best_so_far"]) == pytest.approx(72.5)
    assert float(last["ann"]["best_so_far_seed_std"]) == pytest.approx(100 * 0.01 / math.sqrt(2))
    assert "Fitness (WAR+UAR)/2, %" in (out / "fig4.md").read_text()


def test_fig4_of_one_domain_says_which_is_missing(tiny_run: Path, tmp_path: Path) -> None:
    build_artefact("fig4", [tiny_run], tmp_path)
    assert "No SNN-domain run among the inputs (recipe key search.domain: snn)" in (
        tmp_path / "fig4.md").read_text()


def test_bad_inputs_are_one_line_input_errors(tiny_run: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="NAME=PATH"):
        build_artefact("table1", [tiny_run], tmp_path, labels=["no-equals-sign"])
    with pytest.raises(InputError, match="folder not found"):
        build_artefact("table1", [tmp_path / "nowhere"], tmp_path)
    with pytest.raises(InputError, match="unknown paper artefact"):
        build_artefact("table9", [tiny_run], tmp_path)
    with pytest.raises(InputError, match="fig7 reads run folders"):
        build_artefact("fig7", [tiny_run / "test"], tmp_path)


@pytest.mark.parametrize("args", [["paper"], ["paper", "table1"], ["paper", "fig7"]])
def test_paper_help_lists_every_artefact(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _cli([*args, "--help"]) == 0
    out = capsys.readouterr().out
    assert "<bool>" not in out and "--install-completion" not in out
    if args == ["paper"]:
        assert all(name in out for name in ARTEFACTS)
    else:
        assert "--label" in out and "--out" in out


def test_recipe_difference_sees_sections_but_not_new_schema_keys() -> None:
    assert recipe_difference({"seed": 1, "search": {"seed": 0}}, {"seed": 2, "search": {"seed": 5}}) is None
    assert recipe_difference({"out": "a", "device": "cpu"}, {"out": "b", "device": "cuda"}) is None
    assert recipe_difference({"retrain": {"epochs": 1}}, {"retrain": {"epochs": 2}}) == "retrain.epochs"
    assert recipe_difference({"target_data": None}, {"target_data": {"root": "x"}}) == "target_data"
    # a key only one code version writes cannot be compared
    old, new = {"data": {"split": "subject"}}, {"data": {"split": "subject", "mean": None}}
    assert recipe_difference(old, new) is None


TINY = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes" / "tiny.yaml"


@pytest.mark.slow
def test_fig4_fig5_quantized_on_the_stages_own_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The readers against what the settings, quantize and SNN-domain search stages really write."""
    monkeypatch.setenv("TTFSNET_DATA", str(tmp_path / "data"))
    base = yaml.safe_load(TINY.read_text())
    full = {**base, "name": "tiny-full", "settings": {"enabled": True}, "quantize": {"enabled": True}}
    snn = {**base, "name": "tiny-snn", "search": {**base["search"], "domain": "snn"}}
    runs = {}
    for recipe in (full, snn):
        path = tmp_path / f"{recipe['name']}.yaml"
        path.write_text(yaml.safe_dump(recipe))
        runs[recipe["name"]] = tmp_path / "runs" / recipe["name"]
        assert _cli(["search", str(path), "--out", str(runs[recipe["name"]])]) == 0
    out = tmp_path / "paper"
    jobs = (("fig5", ["tiny-full"]), ("quantized", ["tiny-full"]), ("fig4", ["tiny-full", "tiny-snn"]))
    for name, inputs in jobs:
        assert _cli(["paper", name, *(str(runs[i]) for i in inputs), "--out", str(out)]) == 0
    settings = _rows(out / "fig5.csv")
    assert [r["setting"] for r in settings] == ["transfer", "transfer_finetune", "snn_scratch"]
    written = json.loads((runs["tiny-full"] / "settings" / "settings.json").read_text())
    scratch = written["settings"][2]["summary"]["snn"]["mean"]["war"]
    assert float(settings[2]["war"]) == pytest.approx(100 * scratch)
    flt, qnt = _rows(out / "quantized.csv")
    summary = json.loads((runs["tiny-full"] / "quantized" / "summary.json").read_text())
    assert float(qnt["war"]) == pytest.approx(100 * summary["quantized"]["mean"]["war"])
    assert float(flt["war"]) == pytest.approx(100 * summary["float"]["mean"]["war"])
    assert {r["domain"] for r in _rows(out / "fig4.csv")} == {"ann", "snn"}
