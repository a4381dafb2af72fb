"""Command-line front end of the emotion data layer (mounted into ``ttfsnet-nas`` by the main CLI).

``data_app`` provides ``synth`` and ``info`` (``--verify`` decodes every frame);
[`report`][ttfsnet_nas.emotion.cli.report] is the ``report`` command. The commands only
parse arguments, call one library function and print. Bad input (a missing or malformed dataset or result
folder, an unknown preset, a non-empty output folder) becomes
[`ttfsnet_nas.errors.InputError`][ttfsnet_nas.errors.InputError], which the main CLI reports as one
``error: ...`` line with exit code 2; any other failure exits with 1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from ttfsnet_nas.cli import Command, Group, OutputFormat, format_option
from ttfsnet_nas.errors import InputError
from ttfsnet_nas.progress import cli_progress

__all__ = ["data_app", "info", "report", "synth"]


@contextmanager
def _input_errors() -> Iterator[None]:
    """Turn the data layer's value errors (a [`DatasetError`][ttfsnet_nas.emotion.DatasetError] is one) into
    [`InputError`][ttfsnet_nas.emotion.cli.InputError]."""

    try:
        yield
    except ValueError as exc:  # DatasetError is one too
        raise InputError(str(exc)) from None


data_app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    add_completion=False,
    help="Eye-emotion datasets: synthetic generator and dataset info.",
)


@data_app.callback()
def _data() -> None:
    """Eye-emotion datasets (SEE / DSEE layout)."""


def _cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _quiet(ctx: typer.Context) -> bool:
    """``--quiet`` of the ``ttfsnet-nas`` root command (False when this app runs on its own)."""
    return bool(ctx.find_root().params.get("quiet", False))


@contextmanager
def _generation_progress(quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback for [`generate`][ttfsnet_nas.emotion.synth.generate]: a rich bar
    with an ETA on a terminal, else (``--quiet``, logs, pipes) a log line with the elapsed time and the ETA
    per tenth done ([`cli_progress`][ttfsnet_nas.progress.cli_progress])."""
    with cli_progress(quiet=quiet) as prog:
        started = [False]

        def advance(done: int, total: int) -> None:
            if not started[0]:
                prog.start("generate", total, completed=done - 1)
                started[0] = True
            prog.advance("generate", 1)

        yield advance
        if started[0]:
            prog.finish("generate")


@data_app.command("synth", cls=Command)
def synth(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Output folder (SEE layout).")],
    preset: Annotated[str, typer.Option(help="tiny | small | hard | wide | full")] = "small",
    seed: Annotated[int, typer.Option(help="Seed; the output does not depend on --workers.")] = 0,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes \\[default: every CPU this process may use].")
    ] = None,
    split: Annotated[str | None, typer.Option(help="subject_disjoint (default) | official")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty output folder.")] = False,
    events: Annotated[
        bool,
        typer.Option(
            "--events", help="Also write the raw event streams (events/*.npy, events.json: layout 'events')."
        ),
    ] = False,
) -> None:
    """Generate a SYNTHETIC event-eye emotion dataset in the real SEE on-disk layout."""
    from ttfsnet_nas.emotion.synth import generate

    overrides = {"split": split} if split is not None else {}
    with _input_errors(), _generation_progress(_quiet(ctx)) as progress:
        summary = generate(
            out,
            preset=preset,
            seed=seed,
            workers=workers if workers is not None else _cpu_count(),
            overwrite=overwrite,
            progress=progress,
            events=events,
            **overrides,
        )
    typer.echo(
        f"wrote {summary.sequences} synthetic sequences ({summary.frames} event frames) to {summary.root} "
        f"in {summary.seconds:.1f} s"
    )
    for key in ("subset", "emotion", "lighting"):
        typer.echo(f"  {key}: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.counts[key].items())))


@data_app.command("info", cls=Command)
def info(
    directory: Annotated[Path, typer.Argument(help="Dataset root (SEE layout).")],
    layout: Annotated[
        str, typer.Option(help="Registered dataset layout: see, dsee (names may lack subject/lighting), ...")
    ] = "see",
    dsee: Annotated[bool, typer.Option(help="Same as --layout dsee.")] = False,
    fmt: Annotated[OutputFormat, format_option(OutputFormat.table, OutputFormat.json)] = OutputFormat.table,
    strict: Annotated[
        bool, typer.Option("--strict/--lenient", help="Fail on the first bad entry, or count bad entries.")
    ] = True,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Also decode every event frame (slow); strict: exit 2 naming the first bad file.",
        ),
    ] = False,
) -> None:
    """Counts per emotion, lighting, subject and split of a SEE-style dataset."""
    from ttfsnet_nas.emotion.layouts import get_layout
    from ttfsnet_nas.emotion.see import DatasetError, load_see, verify_frames

    with _input_errors():
        index = load_see(directory, layout=get_layout("dsee" if dsee else layout), strict=strict)
    counts = index.counts()
    synthetic = (index.root / "synth_config.json").is_file()
    check = verify_frames(index) if verify else None
    if check is not None and not check.ok and strict:
        with _input_errors():
            raise DatasetError(
                f"{check.first_problem} [--verify: {check.undecodable} of {check.frames} frames undecodable, "
                f"{check.mixed_sizes} sequences with mixed frame sizes]"
            )
    if fmt is OutputFormat.json:
        payload = {
            "root": str(index.root),
            "synthetic": synthetic,
            "sequences": len(index.sequences),
            "frames": sum(s.length for s in index.sequences),
            "labels": list(index.labels),
            "counts": counts,
            "skipped": dict(index.skipped),
            "unlisted": len(index.unlisted),
        }
        if check is not None:
            payload["verify"] = {
                "frames": check.frames,
                "undecodable": check.undecodable,
                "mixed_sizes": check.mixed_sizes,
                "first_problem": check.first_problem,
            }
        typer.echo(json.dumps(payload, indent=2))
        return
    kind = "SYNTHETIC" if synthetic else "dataset"
    frames = sum(s.length for s in index.sequences)
    typer.echo(f"{kind} {index.root}: {len(index.sequences)} sequences, {frames} frames")
    typer.echo(f"  labels: {', '.join(index.labels)}")
    for key in ("subset", "emotion", "lighting"):
        typer.echo(f"  {key}: " + ", ".join(f"{k} {v}" for k, v in counts[key].items()))
    subjects = counts["subject"]
    typer.echo(f"  subjects: {len(subjects)} (" + ", ".join(f"{k}:{v}" for k, v in subjects.items()) + ")")
    if index.skipped:
        typer.echo("  skipped: " + ", ".join(f"{k} {v}" for k, v in index.skipped.items()))
    if index.unlisted:
        typer.echo(f"  folders not in the JSON (ignored): {len(index.unlisted)}")
    if check is not None:
        typer.echo(
            f"  verified: {check.frames} frames checked, {check.undecodable} undecodable, "
            f"{check.mixed_sizes} sequences with mixed frame sizes"
            + (f" (first: {check.first_problem})" if check.first_problem else "")
        )


def report(
    directory: Annotated[
        Path,
        typer.Argument(
            help="Folder of SEEN-format result JSONs, of method folders, a run's baselines folder "
            "(RUN_DIR/baselines) or a run folder."
        ),
    ],
    out: Annotated[Path | None, typer.Option(help="Also write results.md and results.csv here.")] = None,
    fmt: Annotated[
        OutputFormat, format_option(OutputFormat.markdown, OutputFormat.csv)
    ] = OutputFormat.markdown,
    std: Annotated[bool, typer.Option(help="Show ± std over runs.")] = True,
) -> None:
    """Results table of SEEN result files or of a run's baselines (Markdown or CSV).

    Columns in percent: Ha Sa An Di Su Fe Ne | Nor Over Low HDR | WAR UAR, mean (± std) over the runs.
    """
    from ttfsnet_nas.emotion.report import report as build_report

    with _input_errors():
        md, text = build_report(directory, out=out, with_std=std)
    typer.echo(md if fmt is OutputFormat.markdown else text, nl=False)
