"""``ttfsnet-hw`` command line: estimate, profiles, quantize, calibrate.

The CLI parses arguments, calls the library and prints; everything else is in
[`ttfsnet_hw.load`][ttfsnet_hw.load] (MODEL: a ``ttfsnet.save`` file, a NIR file, a model folder, or
``paper[:gene=op,...]`` for the TNAS-ER family at SEE input size with random weights; all need the ``[torch]``
extra), [`ttfsnet_hw.reports`][ttfsnet_hw.reports] and
[`ttfsnet_hw.quantized_file`][ttfsnet_hw.quantized_file]. DATA is a ``.npy``/``.npz`` array of raw inputs
``(N, *input_shape)`` or ``synthetic:N[:SEED]`` (uniform in the input range). Exit codes: 0 success, 2 bad
input (one-line message), 1 runtime error; ``--debug`` shows tracebacks.

JSON output of ``estimate`` (schema ``ttfsnet_hw.estimate/1``): ``latency_ms``, ``energy_mj``, ``cycles``,
``synops``, ``spikes`` (means, each with ``*_min``/``*_max``), ``energy_split_mj`` {synaptic, neuron, noc,
static}, ``macs``, ``params``, ``pes_used``, ``pes_required``, ``pes_available``, ``neuron_utilisation``,
``memory_utilisation``, ``network``, ``profile``, ``n_samples``, ``spike_source`` and ``layers[]`` with
``name, kind, pes, partition, neurons, macs, synops, spikes_in, spikes_out, packets, hops, cycles,
latency_ms, energy_synaptic_mj, energy_neuron_mj, energy_noc_mj``. Its CSV (``--format csv``) has exactly
these layer rows; ``--totals FILE`` writes the top-level fields as a one-row CSV of their own. Every error is
one ``error: ...`` line, as in ``ttfsnet-nas``, and ``--format`` uses the same words (table, json, csv).

``--device`` (estimate, quantize, calibrate; default ``cpu``) is where a torch model runs while its spikes
are recorded and an ANN is converted; everything after that is numpy on the CPU. The options of the four
commands, each typed and documented where it is declared, make this module run a little over 500 lines.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer >= 0.16 vendors click as typer._click; its exceptions are not click's
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as _click_exc  # type: ignore[no-redef]

from ttfsnet_hw.atomic import atomic_write
from ttfsnet_hw.calibrate import calibrate
from ttfsnet_hw.errors import DatapathOverflowError, HardwareValueError, MappingError, MissingExtraError
from ttfsnet_hw.estimate import estimate
from ttfsnet_hw.load import LoadedNetwork, is_paper_spec, load_network, open_model, synthetic_inputs
from ttfsnet_hw.profile import builtin_profiles, load_profile, profile_to_dict, write_profile
from ttfsnet_hw.quantize import quantize
from ttfsnet_hw.quantized_file import save_quantized
from ttfsnet_hw.reports import estimate_layers_csv, estimate_table, estimate_totals_csv, quantization_report

__all__ = ["SCHEMA", "OutputFormat", "UsageError", "app", "main"]

SCHEMA = "ttfsnet_hw.estimate/1"


def _plain_flags(params: list[Any]) -> list[Any]:
    # a boolean flag takes no value: typer's rich help would show a <bool> type next to it
    for param in params:
        if getattr(param, "is_bool_flag", False):
            param.metavar = ""
    return params


class _Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    help="YOSO-style hardware backend for TTFS networks.",
)


class OutputFormat(str, Enum):  # noqa: UP042 - StrEnum would change str()/format() to the bare value
    """The ``--format`` vocabulary, the same words as ``ttfsnet-nas`` uses; each command accepts the subset it
    can write (``estimate``: table, json, csv; ``profiles``: table, json)."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def _format_option(*accepted: OutputFormat) -> Any:
    # the same option and message as ttfsnet_nas.cli.format_option (this distribution cannot import it)
    names = [f.value for f in accepted]
    expected = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)

    def parse(text: str) -> OutputFormat:
        if text not in names:
            raise typer.BadParameter(f"expected {expected}, got {text!r}")
        return OutputFormat(text)

    return typer.Option("--format", "-f", parser=parse, metavar="|".join(names), help=f"Output: {expected}.")


class UsageError(HardwareValueError):
    """Bad command-line input (exit code 2)."""


# HardwareValueError covers usage, profile, IR, model-file and quantisation errors; a network too big for
# the chip, a missing extra and an accumulator too wide to simulate are fixed by the user's input as well
_INPUT_ERRORS: tuple[type[BaseException], ...] = (
    HardwareValueError,
    MappingError,
    MissingExtraError,
    DatapathOverflowError,
    FileNotFoundError,
)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    """YOSO-style neuromorphic hardware backend: estimates, quantisation, integer simulation."""


def _parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(
            f"--input-shape: expected comma-separated integers like 4,90,90, got {text!r}"
        ) from None
    if not shape or any(v <= 0 for v in shape):
        raise UsageError(f"--input-shape: dimensions must be positive, got {text!r}")
    return shape


def _load_data(
    spec: str | None, shape: tuple[int, ...] | None, input_range: tuple[float, float]
) -> np.ndarray | None:
    if spec is None:
        return None
    if spec.startswith("synthetic:"):
        parts = spec.split(":")
        try:
            n = int(parts[1])
            seed = int(parts[2]) if len(parts) > 2 else 0
        except (ValueError, IndexError):
            raise UsageError(f"--data: expected synthetic:N[:SEED], got {spec!r}") from None
        if n <= 0:
            raise UsageError(f"--data: synthetic sample count must be > 0, got {n}")
        if shape is None:
            raise UsageError("--data synthetic:N needs --input-shape for this model")
        return synthetic_inputs(n, shape, input_range, seed)
    path = Path(spec)
    arr = _read_array(path, "--data", npz_key=None, expected=".npy/.npz or synthetic:N")
    if arr.ndim < 2 or arr.shape[0] == 0 or not np.issubdtype(arr.dtype, np.number):
        raise UsageError(
            f"--data: {path}: expected a numeric array (N, ...) with N >= 1, got shape {arr.shape} "
            f"dtype {arr.dtype}"
        )
    if shape is not None and tuple(arr.shape[1:]) != shape:
        raise UsageError(f"--data: {path}: samples have shape {arr.shape[1:]}, expected {shape}")
    x = arr.astype(np.float64)
    # the model refuses such inputs too, but only naming the model; the user needs the file and sample
    p, q = input_range
    tol = 1e-6 * (q - p)  # the tolerance of ttfsnet_hw.datapath.encode_times
    bad = ~np.isfinite(x) | (x < p - tol) | (x > q + tol)
    if bad.any():
        sample = int(np.argwhere(bad)[0][0])
        raise UsageError(
            f"--data: {path}: sample {sample} has a value that is not finite or outside the model's input "
            f"range [{p:g}, {q:g}] ({int(bad.sum())} such values in the file)"
        )
    return x


def _read_array(path: Path, option: str, *, npz_key: str | None, expected: str) -> np.ndarray:
    """A ``.npy`` array, or key ``npz_key`` of an ``.npz`` (``None``: ``x`` if present, else the first)."""
    if not path.is_file():
        raise UsageError(f"{option}: {path}: no such file (expected {expected})")
    # numpy reads a file without its magic as a pickle and then advises loading it unsafely: say what it is
    magic = b"PK" if path.suffix == ".npz" else b"\x93NUMPY"
    try:
        with path.open("rb") as f:
            head = f.read(len(magic))
    except OSError as exc:
        raise UsageError(f"{option}: {path}: cannot read ({exc.strerror})") from None
    if head != magic:
        kind = "an .npz (zip) archive" if path.suffix == ".npz" else "a .npy file"
        raise UsageError(f"{option}: {path}: not {kind} (expected {expected})")
    try:
        if path.suffix != ".npz":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as z:
            key = npz_key or ("x" if "x" in z.files else z.files[0])
            if key not in z.files:
                raise UsageError(f"{option}: {path}: has no key {key!r} (keys {z.files})")
            return np.asarray(z[key])
    except UsageError:
        raise
    except Exception as exc:  # numpy raises several types for a file that is not an array
        raise UsageError(f"{option}: {path}: cannot read as a numpy array ({exc})") from None


def _load_labels(spec: str, data: str | None, n: int) -> np.ndarray:
    """Labels from a ``.npy`` file, or ``y`` of the ``.npz`` given as both --data and --labels."""
    path = Path(spec)
    y = _read_array(path, "--labels", npz_key="y", expected=".npy, or the --data .npz with key 'y'")
    if y.ndim != 1 or y.shape[0] != n or not np.issubdtype(y.dtype, np.integer):
        raise UsageError(
            f"--labels: {path}: expected {n} integer labels (one per --data sample), got shape "
            f"{y.shape} dtype {y.dtype}"
        )
    if data is None or data.startswith("synthetic:"):
        raise UsageError("--labels needs --data FILE (labels of synthetic inputs mean nothing)")
    return y.astype(np.int64)


def _parse_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        p, q = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--input-range: expected P,Q like 0,1, got {text!r}") from None
    if not p < q:
        raise UsageError(f"--input-range: need P < Q, got {text!r}")
    return p, q


_DEVICE_OPTION = typer.Option(
    "--device", help="Where torch models record spikes: cpu, auto, cuda or cuda:N (estimates run on the CPU)."
)


def _device(spec: str) -> Any:
    """``--device`` as a ``torch.device`` (needs torch, unlike ``cpu``, where models load anyway)."""
    try:
        from ttfsnet_hw.adapters.torch import resolve_device
    except ImportError as exc:
        raise MissingExtraError(f"--device {spec}: needs the [torch] extra ({exc})") from None
    return resolve_device(spec)


def _load(
    model: str,
    data: str | None,
    input_shape: str | None,
    rates: float | None,
    seed: int,
    *,
    input_range: str | None = None,
    convert_ann: bool = False,
    device: str = "cpu",
) -> LoadedNetwork:
    shape, value_range = _parse_shape(input_shape), _parse_range(input_range)
    target = None if device == "cpu" else _device(device)  # refused before any file is read
    try:
        opened = open_model(model, input_shape=shape, input_range=value_range, seed=seed)
    except (HardwareValueError, MissingExtraError) as exc:
        # the library names the file; the CLI says which argument it was
        text = str(exc).splitlines()[0]
        raise type(exc)(text if model in text else f"MODEL {model}: {text}") from None
    if target is not None and opened.torch_model is not None:
        opened.torch_model.to(target)  # paper models are IRs: numpy only, nothing to move
    x = None
    if opened.ir is None or rates is None:
        # paper models run on two synthetic inputs unless told otherwise; torch models need real ones
        spec = data if data is not None or not is_paper_spec(model) else "synthetic:2"
        x = _load_data(spec, opened.input_shape, opened.input_range)
        if x is None:
            raise UsageError(
                f"MODEL {model}: --data is required to record spikes (a .npy file or synthetic:N)"
            )
    try:
        return load_network(opened, x, rates=rates, convert_ann=convert_ann)
    except HardwareValueError as exc:
        raise UsageError(f"MODEL {model}: {str(exc).splitlines()[0]}") from None


@app.command("estimate", cls=_Command)
def estimate_cmd(
    model: Annotated[
        str,
        typer.Argument(
            help="Model folder, .pt file of ttfsnet.save, .nir file, or paper[:gene=op,...] "
            "(all need the \\[torch] extra)."
        ),
    ],
    profile: Annotated[str, typer.Option(help="Shipped profile name or YAML path.")] = "yoso",
    data: Annotated[
        str | None, typer.Option(help="Calibration inputs: .npy/.npz or synthetic:N[:SEED].")
    ] = None,
    input_shape: Annotated[str | None, typer.Option(help="Per-sample input shape, e.g. 4,90,90.")] = None,
    rates: Annotated[
        float | None, typer.Option(help="paper models: assume this firing fraction instead of running.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random weights of paper models.")] = 0,
    input_range: Annotated[
        str | None, typer.Option(help="ANN models: raw input range P,Q (default 0,1).")
    ] = None,
    format: Annotated[
        OutputFormat, _format_option(OutputFormat.table, OutputFormat.json, OutputFormat.csv)
    ] = OutputFormat.table,
    totals: Annotated[
        Path | None,
        typer.Option(
            "--totals",
            help="Also write the network totals (latency, energy, SynOPs, PEs, ...) as a one-row CSV here; "
            "--format csv has one row per layer and no total.",
        ),
    ] = None,
    device: Annotated[str, _DEVICE_OPTION] = "cpu",
) -> None:
    """Estimate latency, energy, SynOPs and the PE mapping of a model."""
    prof = load_profile(profile)
    loaded = _load(model, data, input_shape, rates, seed, input_range=input_range, device=device)
    est = estimate(loaded.ir, loaded.record, prof)
    if totals is not None:
        atomic_write(totals, estimate_totals_csv(est).encode())
    if format is OutputFormat.json:
        typer.echo(json.dumps({"schema": SCHEMA, **est.to_dict()}, indent=2))
    elif format is OutputFormat.csv:
        typer.echo(estimate_layers_csv(est), nl=False)
    else:
        typer.echo(estimate_table(est), nl=False)


@app.command("profiles", cls=_Command)
def profiles_cmd(
    name: Annotated[str | None, typer.Argument(help="Show one profile (name or path) with sources.")] = None,
    format: Annotated[
        OutputFormat, _format_option(OutputFormat.table, OutputFormat.json)
    ] = OutputFormat.table,
) -> None:
    """List the shipped profiles, or show one with every constant's source."""
    if name is None:
        profs = [load_profile(n) for n in builtin_profiles()]
        if format is OutputFormat.json:
            typer.echo(json.dumps([{"name": p.name, "description": p.description} for p in profs], indent=2))
        else:
            for p in profs:
                typer.echo(f"{p.name:12s} {p.description}")
        return
    p = load_profile(name)
    if format is OutputFormat.json:
        typer.echo(json.dumps(profile_to_dict(p), indent=2))
        return
    typer.echo(f"{p.name}: {p.description}")
    d = profile_to_dict(p)
    for sec in ("clock", "pe", "noc", "precision", "energy", "mapping"):
        for key, leaf in d[sec].items():
            if isinstance(leaf, dict):
                typer.echo(
                    f"  {sec}.{key} = {leaf['value']}  [{leaf.get('confidence', '')}] "
                    f"{leaf.get('source', '')}"
                )
            else:
                typer.echo(f"  {sec}.{key} = {leaf}")
    for rec in p.calibration:
        typer.echo(
            f"  calibration: {rec.parameter} = {rec.value:.6g} -> {rec.target} ({rec.data_point}; {rec.date})"
        )


@app.command("quantize", cls=_Command)
def quantize_cmd(
    model: Annotated[
        str,
        typer.Argument(
            help="A ttfsnet network (.pt of ttfsnet.save, .nir), a model folder (an ANN is converted with "
            "ttfsnet.convert on --data) or paper[:gene=op,...] (all need the \\[torch] extra)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    profile: Annotated[str, typer.Option(help="Profile whose precision is used.")] = "yoso",
    data: Annotated[
        str | None, typer.Option(help="Calibration/evaluation inputs (.npy/.npz or synthetic:N).")
    ] = None,
    input_shape: Annotated[str | None, typer.Option(help="Per-sample input shape.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of paper models' random weights.")] = 0,
    input_range: Annotated[
        str | None, typer.Option(help="ANN models: raw input range P,Q (default 0,1).")
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            help="Integer labels of --data (.npy, or key 'y' of the .npz): "
            "report float vs quantised accuracy."
        ),
    ] = None,
    bias_correction: Annotated[
        bool,
        typer.Option(
            "--bias-correction",
            help="Compensate the mean floor error of quantised spike times (calibrated on --data).",
        ),
    ] = False,
    device: Annotated[str, _DEVICE_OPTION] = "cpu",
) -> None:
    """Quantise to the profile widths, check the integer simulator against the closed form, write DIR."""
    prof = load_profile(profile)
    loaded = _load(
        model, data, input_shape, None, seed, input_range=input_range, convert_ann=True, device=device
    )
    if not loaded.ir.has_parameters:
        raise UsageError(
            f"MODEL {model}: quantize needs a TTFS network with parameters (convert the ANN first)"
        )
    x = _load_data(data or "synthetic:8", loaded.ir.input_shape, loaded.ir.input_range)
    assert x is not None
    y = _load_labels(labels, data, x.shape[0]) if labels is not None else None
    q = quantize(loaded.ir, prof, x, bias_correction=bias_correction)
    report = quantization_report(
        loaded.ir,
        q,
        x,
        profile=prof,
        bias_correction=bias_correction,
        labels=y,
        torch_model=loaded.torch_model,
    )
    save_quantized(q, out / "quantized.npz")
    atomic_write(out / "report.json", json.dumps(report, indent=2).encode())
    exact = report["intsim_vs_closed_form"]["exact"]
    typer.echo(
        f"wrote {out / 'quantized.npz'} and {out / 'report.json'}; integer simulation exact: {exact}; "
        f"prediction disagreement with float SNN: {report['vs_float_snn']['prediction_disagreement']:.3f}"
    )
    if "accuracy" in report:
        acc = report["accuracy"]
        typer.echo(
            f"accuracy on {acc['samples']} samples: float SNN {acc['float']:.4f}, quantised (integer "
            f"simulation) {acc['quantized']:.4f}, drop {acc['drop']:+.4f}"
        )
    if not exact:
        raise RuntimeError("integer simulation disagrees with the quantised closed form (see report.json)")


@app.command("calibrate", cls=_Command)
def calibrate_cmd(
    model: Annotated[str, typer.Argument(help="Reference model (e.g. paper; needs the \\[torch] extra).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the calibrated profile YAML.")],
    latency_ms: Annotated[float, typer.Option(help="Published latency per inference.")],
    energy_mj: Annotated[float, typer.Option(help="Published energy per inference.")],
    data_point: Annotated[str, typer.Option(help="Citation of the published numbers.")],
    profile: Annotated[str, typer.Option(help="Starting profile.")] = "yoso",
    data: Annotated[str | None, typer.Option(help="Calibration inputs.")] = None,
    input_shape: Annotated[str | None, typer.Option(help="Per-sample input shape.")] = None,
    rates: Annotated[float | None, typer.Option(help="paper models: assumed firing fraction.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of paper models' random weights.")] = 0,
    device: Annotated[str, _DEVICE_OPTION] = "cpu",
) -> None:
    """Fit pe.cycles_per_synop and energy.base_power_mw to a published point; write the fitted profile."""
    if latency_ms <= 0 or energy_mj <= 0:
        raise UsageError("--latency-ms and --energy-mj must be > 0")
    prof = load_profile(profile)
    loaded = _load(model, data, input_shape, rates, seed, device=device)
    desc = f"{model} ({loaded.record.n_samples} samples, spikes from {loaded.record.source})"
    fitted, est = calibrate(
        loaded.ir,
        loaded.record,
        prof,
        latency_ms=latency_ms,
        energy_mj=energy_mj,
        data_point=data_point,
        reference_network=desc,
    )
    write_profile(fitted, out)
    typer.echo(
        f"wrote {out}: pe.cycles_per_synop={fitted.pe.cycles_per_synop:.6g}, "
        f"energy.base_power_mw={fitted.energy.base_power_mw:.6g} -> {est.latency_ms.mean:.4g} ms, "
        f"{est.energy_mj.mean:.4g} mJ"
    )


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app, map errors to exit codes (2 bad input, 1 runtime)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:
        if isinstance(exc, _click_exc.ClickException):
            if debug:
                raise
            # one line like every other input error, not click's usage banner
            typer.echo(f"error: {exc.format_message()}", err=True)
            return 2
        if debug:
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, _INPUT_ERRORS):
            typer.echo(f"error: {msg}", err=True)
            return 2
        # the same one-line form as an input error; the exit code tells them apart and --debug shows the type
        typer.echo(f"error: {msg}", err=True)
        return 1
    return 0
