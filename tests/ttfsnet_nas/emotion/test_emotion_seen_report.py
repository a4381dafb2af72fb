"""SEEN result-JSON round trip, ground truth from names, and the Table 1–3 layouts from hand-made files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ttfsnet_nas.emotion.report import EfficiencyRow, efficiency_table, load_results, report, results_table
from ttfsnet_nas.emotion.see import EMOTIONS, NameSchema
from ttfsnet_nas.emotion.seen_format import metrics_from_run, read_run, seen_filename, softmax, write_run

# Ratios of small counts, their means and std, and float64 values round-tripped through JSON/CSV at full
# precision: a few ulp (measured 0). 1e-14 relative is ~50 ulp.
RATIO_REL = 1e-14

NAMES = [
    "1_001_man_24_Master_normal_angry_45_take000",
    "2_001_man_24_Master_normal_angry_50_take001",
    "3_001_man_24_Master_normal_happiness_40_take000",
    "4_002_woman_21_Doctor_Low_fear_30_take000",
]


def test_round_trip_topk_and_softmax(tmp_path: Path) -> None:
    logits = np.array(
        [[3.0, 0, 0, 0, 0, 0, 1.0], [0, 0, 0, 2.0, 0, 0, 0], [0, 0, 0, 5.0, 0, 0, 0], [0, 0, 0.5, 0, 0, 0, 0]]
    )
    path = write_run(tmp_path / seen_filename("test", 163, 1), NAMES, logits, logits=True, topk=3)
    data = json.loads(path.read_text())
    entries = data["results"][NAMES[0]]
    assert [e["label"] for e in entries] == ["angry", "surprise", "disgust"]  # ties keep column order
    assert entries[0]["score"] == pytest.approx(softmax(logits)[0, 0], rel=RATIO_REL)
    run = read_run(path)
    assert run.names == tuple(NAMES) and (run.epoch, run.run) == (163, 1)
    assert run.predicted == ("angry", "happiness", "happiness", "fear")
    assert not list(tmp_path.glob("*.tmp"))


def test_ground_truth_from_names_by_hand(tmp_path: Path) -> None:
    probs = np.eye(7)[[0, 3, 3, 0]]  # angry ✓, angry ✗ (happiness), happiness ✓, fear ✗ (angry)
    m = metrics_from_run(write_run(tmp_path / "r.json", NAMES, probs))
    assert m.war == pytest.approx(0.5, rel=RATIO_REL)
    assert m.uar == pytest.approx((0.5 + 1.0 + 0.0) / 3, rel=RATIO_REL)
    assert m.per_lighting["normal"] == pytest.approx(2 / 3, rel=RATIO_REL) and m.per_lighting["Low"] == 0.0


def test_names_without_emotion_need_explicit_truth(tmp_path: Path) -> None:
    path = write_run(tmp_path / "r.json", ["ck_S005_001"], np.eye(7)[[6]])
    schema = NameSchema(subject=None, lighting=None, emotion=None, min_tokens=1)
    with pytest.raises(ValueError, match="no emotion token in the name"):
        metrics_from_run(path, schema=schema)
    m = metrics_from_run(path, schema=schema, truth={"ck_S005_001": "Surprise"})
    assert m.war == 1.0 and m.per_lighting == {}


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"results": {"x": []}}')
    with pytest.raises(ValueError, match=r"bad.json: results\['x'\]: expected a non-empty list"):
        read_run(bad)
    bad.write_text('{"other": 1}')
    with pytest.raises(ValueError, match="bad.json: expected a non-empty 'results' mapping"):
        read_run(bad)
    with pytest.raises(ValueError, match=r"scores: expected shape \(4, 7\)"):
        write_run(tmp_path / "x.json", NAMES, np.zeros((3, 7)))


def test_bad_sequence_name_error_names_the_file(tmp_path: Path) -> None:
    path = write_run(
        tmp_path / "test_epoch_0_1.json", ["1_001_man_24_Master_dusk_angry_45_take000"], np.eye(7)[[0]]
    )
    with pytest.raises(ValueError, match=r"test_epoch_0_1.json: sequence name .*unknown lighting 'dusk'"):
        metrics_from_run(path)


def _published_style_file(path: Path, predictions: dict[str, str]) -> None:
    """The layout of SEEN's published ours_results files: top-1 entry only."""
    path.write_text(
        json.dumps({"results": {n: [{"label": p, "score": 0.9}] for n, p in predictions.items()}})
    )


def test_results_table_from_a_folder_of_methods(tmp_path: Path) -> None:
    ours, other = tmp_path / "ours", tmp_path / "other"
    ours.mkdir()
    other.mkdir()
    # Run 1 all correct, run 2 half correct → WAR 100 / 50 → mean 75, std 35.36.
    _published_style_file(ours / "test_epoch_1_1.json", {n: n.split("_")[6] for n in NAMES})
    _published_style_file(
        ours / "test_epoch_1_2.json",
        {NAMES[0]: "angry", NAMES[1]: "fear", NAMES[2]: "happiness", NAMES[3]: "angry"},
    )
    _published_style_file(other / "test_epoch_9_1.json", {n: "angry" for n in NAMES})
    results = load_results(tmp_path)
    assert list(results) == ["other", "ours"]
    md = results_table(results)
    lines = md.strip().splitlines()
    assert lines[0] == "| Method | Ha | Sa | An | Di | Su | Fe | Ne | Nor | Over | Low | HDR | WAR | UAR |"
    ours_row = next(line for line in lines if line.startswith("| ours"))
    cells = [c.strip() for c in ours_row.strip("|").split("|")]
    # Ha: 100, 100; Sa absent; An: 100, 50 → 75; Fe: 100, 0 → 50; Nor: 100, 66.7 → 83.3; Low: 100, 0 → 50.
    assert cells[1:4] == ["100.0", "-", "75.0"] and cells[6] == "50.0"
    assert cells[8] == "83.3" and cells[10] == "50.0" and cells[12] == "75.0"
    # UAR run 1 = 1, run 2 = (0.5 + 1 + 0) / 3 → mean 0.75.
    assert cells[13] == "75.0"
    csv_text = results_table(results, fmt="csv", with_std=True)
    header, row_other, row_ours = csv_text.strip().splitlines()
    assert header.startswith("method,runs,Ha,Sa,An") and "WAR_std" in header
    assert row_ours.split(",")[:2] == ["ours", "2"]
    war_std = float(row_ours.split(",")[header.split(",").index("WAR_std")])
    assert war_std == pytest.approx(100 * np.std([1.0, 0.5], ddof=1), rel=RATIO_REL)
    with_std = results_table(results, with_std=True)
    assert "75.0 ± 35.4" in with_std


def test_report_writes_markdown_and_csv(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    _published_style_file(runs / "test_epoch_1_1.json", {n: n.split("_")[6] for n in NAMES})
    md, text = report(runs, out=tmp_path / "out")
    assert (tmp_path / "out" / "results.md").read_text() == md and md.startswith("| Method | Ha |")
    assert (tmp_path / "out" / "results.csv").read_text() == text
    with pytest.raises(ValueError, match="no SEEN result files"):
        report(tmp_path / "out")


def test_report_on_a_pipeline_style_run_dir(tmp_path: Path) -> None:
    test_dir = tmp_path / "run" / "test"
    test_dir.mkdir(parents=True)
    _published_style_file(test_dir / "test_epoch_0_1.json", {n: "angry" for n in NAMES})
    (test_dir / "summary.json").write_text('{"snn": {"mean": {}}}')  # not a result file: ignored
    results = load_results(tmp_path / "run")
    assert list(results) == ["test"] and results["test"].runs == 1
    assert results["test"].mean["war"] == pytest.approx(0.5, rel=RATIO_REL)


def test_efficiency_table_layout() -> None:
    rows = [
        EfficiencyRow(
            method="TNAS-ER (ours)",
            war=0.796,
            uar=0.801,
            ops_g=0.03,
            params_m=1.04,
            latency_ms=1.03,
            spikes_per_neuron=0.41,
        ),
        EfficiencyRow(method="EMO", war=0.737, uar=0.745, ops_g=0.35, params_m=1.68),
    ]
    md = efficiency_table(rows)
    assert md.splitlines()[0] == (
        "| Method | WAR (%) | UAR (%) | OPs (G) | Params (M) | Latency (ms) | Spikes/neuron |"
    )
    assert "| TNAS-ER (ours) | 79.6 | 80.1 | 0.030 | 1.04 | 1.03 | 0.410 |" in md
    assert "| EMO | 73.7 | 74.5 | 0.350 | 1.68 | - | - |" in md
    assert efficiency_table(rows, fmt="csv").splitlines()[0].startswith("method,war_pct,uar_pct,ops_g")
    assert EMOTIONS[0] == "angry"
