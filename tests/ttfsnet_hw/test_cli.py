"""ttfsnet-hw command line: every output format, bad profiles/models/data, one subprocess smoke test."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ttfsnet_hw.cli import app, main

SMALL = "paper:g0b0=conv3x3,g0b1=skip,g1b0=skip,g1b1=conv3x3"
SHAPE = ["--input-shape", "4,16,16"]
runner = CliRunner()


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_estimate_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(["estimate", SMALL, *SHAPE, "--format", "json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "ttfsnet_hw.estimate/1"
    for key in ("latency_ms", "energy_mj", "synops", "spikes", "layers", "energy_split_mj", "pes_used"):
        assert key in doc
    assert doc["latency_ms_min"] <= doc["latency_ms"] <= doc["latency_ms_max"]
    assert {row["name"] for row in doc["layers"]} >= {"stem0", "stem1", "head"}
    assert doc["synops"] == pytest.approx(sum(row["synops"] for row in doc["layers"]))
    assert 0 < doc["pes_required"] <= doc["pes_used"] <= doc["pes_available"]


def test_estimate_table_and_csv() -> None:
    res = runner.invoke(app, ["estimate", SMALL, *SHAPE, "--profile", "horowitz45"])
    assert res.exit_code == 0, res.output
    assert "latency" in res.output and "stem0" in res.output
    res = runner.invoke(app, ["estimate", SMALL, *SHAPE, "--format", "csv", "--rates", "0.2"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert rows[0]["name"] == "stem0" and rows[-1]["name"] == "head"
    # one row per layer and nothing else: every row is a layer with its kind and PE count
    assert all(r["kind"] and int(r["pes"]) > 0 for r in rows) and "TOTAL" not in res.output


def test_estimate_totals_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--totals FILE``: the network totals as a one-row CSV that agrees with the JSON and the layer rows."""
    totals = tmp_path / "totals.csv"
    code, out, err = _main(
        ["estimate", SMALL, *SHAPE, "--rates", "0.2", "--format", "csv", "--totals", str(totals)], capsys
    )
    assert code == 0, err
    layers = list(csv.DictReader(io.StringIO(out)))
    (row,) = list(csv.DictReader(io.StringIO(totals.read_text())))
    code, out, _ = _main(["estimate", SMALL, *SHAPE, "--rates", "0.2", "--format", "json"], capsys)
    doc = json.loads(out)
    assert row["network"] == doc["network"] and int(row["pes_used"]) == doc["pes_used"]
    assert float(row["latency_ms"]) == pytest.approx(doc["latency_ms"])
    assert float(row["energy_static_mj"]) == pytest.approx(doc["energy_split_mj"]["static"])
    assert float(row["synops"]) == pytest.approx(sum(float(r["synops"]) for r in layers))


def test_estimate_with_data_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = np.random.default_rng(0).uniform(0, 1, (3, 4, 16, 16))
    np.save(tmp_path / "x.npy", x)
    code, out, _ = _main(
        ["estimate", SMALL, *SHAPE, "--data", str(tmp_path / "x.npy"), "--format", "json"], capsys
    )
    assert code == 0 and json.loads(out)["n_samples"] == 3


def test_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(["profiles"], capsys)
    assert code == 0 and "yoso" in out and "horowitz45" in out
    code, out, _ = _main(["profiles", "yoso"], capsys)
    assert code == 0 and "clock.frequency_mhz = 54.0" in out and "calibration:" in out
    code, out, _ = _main(["profiles", "yoso", "--format", "json"], capsys)
    assert json.loads(out)["name"] == "yoso"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["estimate", SMALL, *SHAPE, "--profile", "nope"], "profile 'nope'"),
        (["estimate", "does/not/exist"], "no such file"),
        (["estimate", SMALL, *SHAPE, "--format", "xml"], "--format"),
        (["estimate", SMALL, "--input-shape", "4,x"], "--input-shape"),
        (["estimate", SMALL, *SHAPE, "--data", "synthetic:0"], "synthetic"),
        (["estimate", "paper:g0b0=conv7x7", *SHAPE], "paper"),
        (["estimate", SMALL, *SHAPE, "--data", "missing.npy"], "no such file"),
        (["bogus"], "No such command"),
        (["estimate"], "Missing argument"),
        (["estimate", SMALL, "--rates", "x"], "--rates"),
        (
            ["quantize", SMALL, *SHAPE, "--out", "unused", "--data", "synthetic:2", "--labels", "y.npy"],
            "--labels",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _main(args, capsys)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_profile_file_names_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "p.yaml"
    text = (
        Path(__file__).parents[2].joinpath("ttfsnet_hw/src/ttfsnet_hw/profiles/horowitz45.yaml").read_text()
    )
    bad.write_text(text.replace("neurons_per_pe:", "neurons_per_core:"))
    code, _, err = _main(["estimate", SMALL, *SHAPE, "--profile", str(bad)], capsys)
    assert code == 2 and "pe.neurons_per_core" in err
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00profile")
    code, _, err = _main(["estimate", SMALL, *SHAPE, "--profile", str(binary)], capsys)
    assert code == 2 and "b.yaml" in err and len(err.strip().splitlines()) == 1


def test_bad_artifacts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = _main(["estimate", str(tmp_path / "empty"), "--data", "synthetic:2", *SHAPE], capsys)
    assert code == 2 and "model.json" in err
    junk = tmp_path / "m.pt"
    junk.write_bytes(b"not a pickle")
    code, _, err = _main(["estimate", str(junk), "--data", "synthetic:2", *SHAPE], capsys)
    assert code == 2 and "m.pt" in err
    odd = tmp_path / "m.txt"
    odd.write_text("x")
    code, _, err = _main(["estimate", str(odd), "--data", "synthetic:2"], capsys)
    assert code == 2 and "unknown model format" in err


def test_ttfsnet_model_file_and_debug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ttfsnet = pytest.importorskip("ttfsnet")
    from ttfsnet_hw.adapters.torch import ttfs_from_ir
    from ttfsnet_hw.ir import IRBuilder

    ir = IRBuilder("n", (2, 8, 8), rng=np.random.default_rng(0)).conv(4, 3).maxpool(2).flatten().readout(3)
    ttfsnet.save(ttfs_from_ir(ir), tmp_path / "net.pt")
    code, out, _ = _main(
        [
            "estimate",
            str(tmp_path / "net.pt"),
            "--data",
            "synthetic:4",
            "--input-shape",
            "2,8,8",
            "--format",
            "json",
        ],
        capsys,
    )
    assert code == 0 and json.loads(out)["spike_source"] == "snn"
    code, out, _ = _main(
        [
            "quantize",
            str(tmp_path / "net.pt"),
            "--out",
            str(tmp_path / "q"),
            "--data",
            "synthetic:4",
            "--input-shape",
            "2,8,8",
        ],
        capsys,
    )
    assert code == 0
    report = json.loads((tmp_path / "q" / "report.json").read_text())
    assert report["intsim_vs_closed_form"]["exact"] and report["intsim_vs_ttfsnet"]["exact"]
    with pytest.raises(Exception, match="synthetic"):
        main(["--debug", "estimate", str(tmp_path / "net.pt"), "--data", "synthetic:x"])


def test_quantize_and_calibrate_paper(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(
        ["quantize", SMALL, *SHAPE, "--out", str(tmp_path / "q"), "--data", "synthetic:3"], capsys
    )
    assert code == 0 and "exact: True" in out
    with np.load(tmp_path / "q" / "quantized.npz") as z:
        assert "stem0/q_weight" in z.files and z["stem0/q_weight"].dtype == np.int64
    code, out, _ = _main(
        [
            "calibrate",
            SMALL,
            *SHAPE,
            "--rates",
            "0.1",
            "--out",
            str(tmp_path / "cal.yaml"),
            "--latency-ms",
            "5",
            "--energy-mj",
            "1",
            "--data-point",
            "unit test",
        ],
        capsys,
    )
    assert code == 0, out
    from ttfsnet_hw.profile import load_profile

    cal = load_profile(tmp_path / "cal.yaml")
    assert cal.calibration[-1].data_point == "unit test"
    code, _, err = _main(
        [
            "calibrate",
            SMALL,
            *SHAPE,
            "--rates",
            "0.1",
            "--out",
            str(tmp_path / "c2.yaml"),
            "--latency-ms",
            "5",
            "--energy-mj",
            "1e-12",
            "--data-point",
            "x",
        ],
        capsys,
    )
    assert code == 2 and "exceeds" in err


def test_subprocess_smoke() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "ttfsnet_hw", "estimate", SMALL, *SHAPE, "--rates", "0.1", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["spike_source"] == "assumed"
    res = subprocess.run(
        [sys.executable, "-m", "ttfsnet_hw", "estimate", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 2 and res.stderr.startswith("error:")


def test_ttfsnet_nas_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    artifact_torch = pytest.importorskip("ttfsnet_nas.torch.artifact_torch")
    from torch import nn

    torch.manual_seed(0)
    ann = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 3),
    ).eval()
    artifact_torch.save_model(ann, tmp_path / "art")
    args = ["--data", "synthetic:6", "--input-shape", "2,8,8"]
    code, out, err = _main(["estimate", str(tmp_path / "art"), *args, "--format", "json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["spike_source"] == "ann" and doc["n_samples"] == 6
    code, out, err = _main(["quantize", str(tmp_path / "art"), "--out", str(tmp_path / "q"), *args], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "q" / "report.json").read_text())
    assert report["intsim_vs_closed_form"]["exact"] and report["intsim_vs_ttfsnet"]["exact"]
    code, _, err = _main(["estimate", str(tmp_path / "art"), *args, "--input-range", "1,0"], capsys)
    assert code == 2 and "--input-range" in err


def test_snn_file_and_model_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A ``ttfsnet.save`` file, alone and as a folder's ``snn.pt``; files in other formats are refused."""
    torch = pytest.importorskip("torch")
    ttfsnet = pytest.importorskip("ttfsnet")
    from ttfsnet_hw.adapters.torch import ttfs_from_ir
    from ttfsnet_hw.ir import IRBuilder

    ir = IRBuilder("n", (2, 8, 8), rng=np.random.default_rng(0)).conv(4, 3).maxpool(2).flatten().readout(3)
    net = ttfs_from_ir(ir)
    art = tmp_path / "artifact"
    ttfsnet.save(net, art / "snn.pt", input_shape=[2, 8, 8])
    (art / "model.json").write_text("{}")  # the ANN is there too; the SNN must win
    for model in (art / "snn.pt", art):
        code, out, err = _main(["estimate", str(model), "--data", "synthetic:3", "--format", "json"], capsys)
        assert code == 0, err
        doc = json.loads(out)
        assert doc["spike_source"] == "snn" and doc["n_samples"] == 3
    torch.save({"format": "something/else"}, tmp_path / "other.pt")
    code, _, err = _main(["estimate", str(tmp_path / "other.pt"), "--data", "synthetic:3"], capsys)
    assert code == 2 and "other.pt" in err and "ttfsnet.network" in err and len(err.strip().splitlines()) == 1


def test_pickled_module_is_refused_without_running_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file is data: a pickled nn.Module (or anything that would run code on load) is a one-line error."""
    torch = pytest.importorskip("torch")
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (marker,))

    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")
    torch.save({"network": Payload()}, tmp_path / "evil.pt")
    for name in ("module.pt", "evil.pt"):
        code, _, err = _main(["estimate", str(tmp_path / name), "--data", "synthetic:2", *SHAPE], capsys)
        assert code == 2 and name in err and "pickled" in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not marker.exists()


def test_outputs_have_plain_file_permissions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """quantize and calibrate write their files like open() would (0o666 minus the umask), atomically."""
    old = os.umask(0o022)
    try:
        code, _, err = _main(
            ["quantize", SMALL, *SHAPE, "--out", str(tmp_path / "q"), "--data", "synthetic:2"], capsys
        )
        assert code == 0, err
        code, _, err = _main(
            [
                "calibrate",
                SMALL,
                *SHAPE,
                "--rates",
                "0.1",
                "--out",
                str(tmp_path / "c.yaml"),
                "--latency-ms",
                "5",
                "--energy-mj",
                "1",
                "--data-point",
                "x",
            ],
            capsys,
        )
        assert code == 0, err
    finally:
        os.umask(old)
    for path in (tmp_path / "q" / "quantized.npz", tmp_path / "q" / "report.json", tmp_path / "c.yaml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == ["quantized.npz", "report.json"]


def test_paper_models_without_torch_name_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(
        sys.modules, "ttfsnet", None
    )  # import ttfsnet now fails, as without the [torch] extra
    code, _, err = _main(["estimate", SMALL, *SHAPE, "--rates", "0.1"], capsys)
    assert code == 2 and "[torch] extra" in err and len(err.strip().splitlines()) == 1


def test_quantize_reports_accuracy_with_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = np.random.default_rng(0).uniform(0, 1, (6, 4, 16, 16))
    from ttfsnet_hw.closedform import run
    from ttfsnet_hw.paper import paper_network

    arch = dict(item.split("=") for item in SMALL.split(":")[1].split(","))
    ir = paper_network(arch, groups=2, image_size=16, rng=np.random.default_rng(0))
    y = np.argmax(run(ir, x)[0], axis=1)  # the float network is right on every sample by construction
    np.savez(tmp_path / "d.npz", x=x, y=y)
    code, out, err = _main(
        [
            "quantize",
            SMALL,
            *SHAPE,
            "--out",
            str(tmp_path / "q"),
            "--data",
            str(tmp_path / "d.npz"),
            "--labels",
            str(tmp_path / "d.npz"),
        ],
        capsys,
    )
    assert code == 0, err
    acc = json.loads((tmp_path / "q" / "report.json").read_text())["accuracy"]
    assert acc["float"] == 1.0 and acc["samples"] == 6
    assert acc["drop"] == pytest.approx(1.0 - acc["quantized"])
    assert "accuracy on 6 samples" in out


def test_nir_file_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("nir")
    from ttfsnet_hw.adapters.torch import ttfs_from_ir
    from ttfsnet_hw.ir import IRBuilder
    from ttfsnet_hw.nir import export_nir

    ir = IRBuilder("n", (2, 8, 8), rng=np.random.default_rng(0)).conv(4, 3).maxpool(2).flatten().readout(3)
    path = export_nir(ttfs_from_ir(ir), tmp_path / "m.nir", input_shape=(2, 8, 8))
    code, out, err = _main(
        ["estimate", str(path), "--data", "synthetic:3", "--input-shape", "2,8,8", "--format", "csv"], capsys
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows] == ["layers.0", "layers.1", "layers.3"]


def _manifest(folder: Path) -> None:
    files = {}
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        files[f.relative_to(folder).as_posix()] = {
            "sha256": hashlib.sha256(f.read_bytes()).hexdigest(), "bytes": f.stat().st_size
        }
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "files": files}))


@pytest.mark.parametrize("command", ["estimate-folder", "estimate-file", "quantize", "calibrate"])
def test_artifacts_are_checked_against_their_manifest_and_never_run_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Every command that opens a model checks an artifact's manifest first, and loads data only."""
    torch = pytest.importorskip("torch")
    ttfsnet = pytest.importorskip("ttfsnet")
    from ttfsnet_hw.adapters.torch import ttfs_from_ir
    from ttfsnet_hw.ir import IRBuilder

    ir = IRBuilder("n", (2, 8, 8), rng=np.random.default_rng(0)).conv(4, 3).maxpool(2).flatten().readout(3)
    art = tmp_path / "artifact"
    ttfsnet.save(ttfs_from_ir(ir), art / "snn.pt", input_shape=[2, 8, 8])
    _manifest(art)
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (marker,))

    def run() -> tuple[int, str]:
        model = art / "snn.pt" if command == "estimate-file" else art
        args = ["--data", "synthetic:2"]
        if command == "quantize":
            args += ["--out", str(tmp_path / "q")]
        if command == "calibrate":
            args += [
                "--out", str(tmp_path / "cal.yaml"), "--latency-ms", "5", "--energy-mj", "0.5",
                "--data-point", "a test point",
            ]
        code, _, err = _main([command.split("-")[0], str(model), *args], capsys)
        return code, err

    assert run()[0] == 0
    torch.save({"format": "ttfsnet.network", "version": 1, "layers": Payload()}, art / "snn.pt")
    code, err = run()  # a stale manifest: refused before the file is read
    assert code == 2 and "snn.pt" in err and "does not match its sha256" in err
    assert len(err.strip().splitlines()) == 1
    _manifest(art)  # a sender who rewrites the manifest too: the file is still only read as data
    code, err = run()
    assert code == 2 and "snn.pt" in err and "pickled objects" in err and len(err.strip().splitlines()) == 1
    (art / "snn.pt").unlink()
    code, err = run()
    assert code == 2 and "snn.pt" in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()


def test_help_shows_no_bool_placeholder() -> None:
    """Boolean flags take no value, so ``--help`` shows no ``<bool>`` next to them (typer's default does)."""
    for args in ([], ["estimate"], ["quantize"]):
        res = runner.invoke(app, [*args, "--help"])
        assert res.exit_code == 0, res.output
        assert "<bool>" not in res.output and "--help" in res.output
    res = runner.invoke(app, ["quantize", "--help"])
    line = next(line for line in res.output.splitlines() if "--bias-correction" in line)
    assert "<" not in line  # the flag's row: name and help, no value placeholder
    assert "<int>" in runner.invoke(app, ["estimate", "--help"]).output  # options with values keep theirs


def test_format_vocabulary_is_the_nas_one(capsys: pytest.CaptureFixture[str]) -> None:
    """One ``--format`` vocabulary across both CLIs; a word a command cannot write is one usage line."""
    from ttfsnet_hw.cli import OutputFormat

    nas_cli = pytest.importorskip("ttfsnet_nas.cli")
    assert [f.value for f in OutputFormat] == [f.value for f in nas_cli.OutputFormat]
    for args, accepted in (
        (["estimate", SMALL, *SHAPE, "--rates", "0.2"], "table, json or csv"),
        (["profiles"], "table or json"),
    ):
        code, out, err = _main([*args, "--format", "markdown"], capsys)
        assert code == 2 and out == ""
        assert err == f"error: Invalid value for '--format' / '-f': expected {accepted}, got 'markdown'\n"


def test_runtime_error_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A runtime failure has the same ``error: ...`` form as bad input, with exit code 1."""
    import ttfsnet_hw.cli as hw_cli

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated failure\nsecond line")

    monkeypatch.setattr(hw_cli, "estimate", boom)
    code, out, err = _main(["estimate", SMALL, *SHAPE, "--rates", "0.2"], capsys)
    assert (code, out, err) == (1, "", "error: simulated failure\n")
