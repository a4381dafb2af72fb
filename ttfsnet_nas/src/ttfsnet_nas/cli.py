"""``ttfsnet-nas`` command line (typer). Thin: parse, call one library function, print.

Exit codes: 0 success; 2 usage or recipe errors (bad option, invalid recipe, journal exists without
``--resume``, journal of another run); 1 any other error. Errors print one line; ``--debug`` adds the
traceback, and every error, of any command, has the form ``error: ...``. Progress shows as bars with an ETA on
a terminal; ``--quiet``, or a standard error that is no terminal, gives log lines with the ETA instead (see
[`cli_progress`][ttfsnet_nas.progress.cli_progress]). ``--debug`` and ``--quiet`` may stand before or after
the sub-command. ``--format`` has one vocabulary, [`OutputFormat`][ttfsnet_nas.cli.OutputFormat].

Task packages add sub-commands through the entry-point group ``ttfsnet_nas.commands`` (this distribution's
emotion data layer adds ``data`` and ``report``) and pipelines through ``ttfsnet_nas.pipelines``; both are
imported only when used, so the core CLI names no task and never imports torch.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import sys
import traceback
from contextlib import AbstractContextManager
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer >= 0.17 vendors its own copy of click
    from typer._click import core as _click_core
    from typer._click import exceptions as _click_exc
except ImportError:  # older typer runs on click itself
    from click import core as _click_core  # type: ignore[no-redef]
    from click import exceptions as _click_exc  # type: ignore[no-redef]

from ttfsnet_nas.artifact import read_artifact
from ttfsnet_nas.errors import InputError
from ttfsnet_nas.pipelines import load_recipe, resolve_recipe
from ttfsnet_nas.progress import Progress, cli_progress

__all__ = ["COMMANDS_GROUP", "Command", "Group", "OutputFormat", "app", "format_option", "main"]

log = logging.getLogger("ttfsnet_nas")

COMMANDS_GROUP = "ttfsnet_nas.commands"
"""Entry-point group of extra sub-commands (name → ``module:attr``, a typer app, click command or function).

Task packages mount their commands here, e.g. this distribution's emotion data layer (``data``,
``report``); each is imported only when it is invoked or listed, so the core CLI needs no task."""


@functools.cache
def _plugin_commands() -> dict[str, str]:
    # read once per process: click asks for every command again while it renders --help
    return {ep.name: ep.value for ep in metadata.entry_points(group=COMMANDS_GROUP)}


def _plain_flags(params: list[Any]) -> list[Any]:
    # a boolean flag takes no value: typer's rich help would show a <bool> type next to it
    for param in params:
        if getattr(param, "is_bool_flag", False):
            param.metavar = ""
    return params


class Command(TyperCommand):
    """Typer command whose ``--help`` shows no value placeholder on boolean flags (``--resume``, ``--help``).

    Pass it as ``cls=`` to every command of this CLI and of its plugins."""

    def get_params(self, ctx: _click_core.Context) -> list[Any]:
        return _plain_flags(super().get_params(ctx))


class Group(TyperGroup):
    """Typer group counterpart of [`Command`][ttfsnet_nas.cli.Command] (``typer.Typer(cls=Group)``)."""

    def get_params(self, ctx: _click_core.Context) -> list[Any]:
        return _plain_flags(super().get_params(ctx))


class _Placeholder(Command):
    """Stands in for a plugin command that could not be imported, so ``--help`` still lists it."""

    def __init__(self, name: str, short_help: str) -> None:
        super().__init__(name, short_help=short_help, help=short_help)


class _LazyGroup(Group):
    """Typer group that adds the [`COMMANDS_GROUP`][ttfsnet_nas.cli.COMMANDS_GROUP] plugin commands, importing
    each on first use."""

    def list_commands(self, ctx: _click_core.Context) -> list[str]:
        return list(super().list_commands(ctx)) + [n for n in _plugin_commands() if n not in self.commands]

    def get_command(self, ctx: _click_core.Context, cmd_name: str) -> _click_core.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        target = _plugin_commands().get(cmd_name)
        if cmd is not None or target is None:
            return cmd
        try:
            return _load_plugin(cmd_name, target)
        except _click_exc.UsageError as exc:
            return _Placeholder(cmd_name, f"unavailable: {exc.message}")

    def resolve_command(
        self, ctx: _click_core.Context, args: list[str]
    ) -> tuple[str | None, _click_core.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        if isinstance(cmd, _Placeholder) and name is not None:
            cmd = _load_plugin(name, _plugin_commands()[name])  # raises the import problem as a usage error
        return name, cmd, rest


def _load_plugin(name: str, target: str) -> _click_core.Command:
    module_name, _, attr = target.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise _click_exc.UsageError(
            f"'{name}' needs {target}, which could not be imported ({type(exc).__name__}: {exc}); "
            "install ttfsnet-nas[torch]"
        ) from exc
    if isinstance(obj, typer.Typer):
        cmd = typer.main.get_command(obj)
    elif isinstance(obj, _click_core.Command):
        cmd = obj
    else:
        single = typer.Typer(add_completion=False)
        single.command(name, cls=Command)(obj)
        cmd = typer.main.get_command(single)
    cmd.name = name
    # typer may vendor its own copy of click: the same Command API under another module name
    return cast(_click_core.Command, cmd)


app = typer.Typer(
    cls=_LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="One-shot evolutionary NAS for TTFS spiking networks.",
)

_STATE: dict[str, bool] = {"debug": False, "quiet": False}


class OutputFormat(str, Enum):  # noqa: UP042 - StrEnum would change str()/format() to the bare value
    """The one ``--format`` vocabulary of every ``ttfsnet-nas`` command (``ttfsnet-hw`` uses the same words);
    each command accepts the subset it can write (see [`format_option`][ttfsnet_nas.cli.format_option])."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def format_option(*accepted: OutputFormat) -> Any:
    """The ``--format``/``-f`` option of a command that writes the ``accepted`` formats.

    Its help and placeholder list them (``table|json``), and any other value is a usage error (exit 2) that
    names them: ``Invalid value for '--format' / '-f': expected table or json, got 'xml'``.
    """
    names = [f.value for f in accepted]
    expected = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)

    def parse(text: str) -> OutputFormat:
        if text not in names:
            raise typer.BadParameter(f"expected {expected}, got {text!r}")
        return OutputFormat(text)

    return typer.Option("--format", "-f", parser=parse, metavar="|".join(names), help=f"Output: {expected}.")


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Log lines instead of progress bars.")] = False,
) -> None:
    """One-shot evolutionary NAS for TTFS spiking networks."""
    _STATE["debug"] = debug
    _STATE["quiet"] = quiet
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        force=True,
    )


def _progress() -> AbstractContextManager[Progress]:
    # bars with an ETA on a terminal; log lines with the ETA with --quiet, in logs and in pipes
    return cli_progress(quiet=_STATE["quiet"], logger=log)


_DEVICE_OPTION = typer.Option(
    "--device",
    help="Where the models run: auto (CUDA when available, else the CPU), cpu, cuda or cuda:N; overrides the "
    "recipe's device. A device this machine lacks is an error (exit 2).",
)


def _split_stages(stages: str | None) -> list[str] | None:
    if not stages:
        return None
    return [s.strip() for s in stages.split(",") if s.strip()]


@app.command(cls=Command)
def search(
    recipe: Annotated[
        str, typer.Argument(help="Recipe YAML file, or a built-in recipe name (tiny, demo, see, ...).")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default runs/<recipe name>).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the journal in the run folder.")] = False,
    stages: Annotated[
        str | None, typer.Option("--stages", help="Comma-separated stages to run (default: all).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the search seed.")] = None,
    force_stage: Annotated[
        str | None,
        typer.Option(
            "--force-stage",
            help="Comma-separated stages whose partial outputs --resume discards and starts over, although "
            "the recipe changed under them (without it such a resume is refused).",
        ),
    ] = None,
    device: Annotated[str | None, _DEVICE_OPTION] = None,
) -> None:
    """Run a recipe's pipeline (supernet, search, retraining, export ... as the pipeline defines)."""
    recipe_path = resolve_recipe(recipe)
    pipeline, rec = load_recipe(recipe_path)
    run_dir = out if out is not None else Path("runs") / recipe_path.stem
    with _progress() as prog:
        path = pipeline.search(
            rec, out=run_dir, resume=resume, stages=_split_stages(stages), seed=seed, progress=prog,
            force=_split_stages(force_stage) or (), device=device,
        )
    typer.echo(str(path))


@app.command(cls=Command)
def evaluate(
    recipe: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Recipe YAML.")],
    artifact: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Artifact folder.")],
    fmt: Annotated[OutputFormat, format_option(OutputFormat.table, OutputFormat.json)] = OutputFormat.table,
    device: Annotated[str | None, _DEVICE_OPTION] = None,
) -> None:
    """Evaluate an exported artifact with the recipe's pipeline and print its metrics."""
    pipeline, rec = load_recipe(recipe)
    with _progress() as prog:
        metrics = pipeline.evaluate(rec, artifact=artifact, progress=prog, device=device)
    _print_mapping("metrics", metrics, fmt)


@app.command(cls=Command)
def export(
    run_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Run folder of `search`.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Artifact folder (default RUN_DIR/artifact).")
    ] = None,
    recipe: Annotated[
        Path | None, typer.Option("--recipe", help="Recipe (default RUN_DIR/resolved_recipe.yaml).")
    ] = None,
) -> None:
    """Export the best architecture of a run as a self-contained artifact folder."""
    recipe_path = recipe if recipe is not None else run_dir / "resolved_recipe.yaml"
    pipeline, rec = load_recipe(recipe_path)
    with _progress() as prog:
        path = pipeline.export(rec, run_dir=run_dir, out=out, progress=prog)
    typer.echo(str(path))


@app.command(cls=Command)
def show(
    artifact: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, help="Artifact folder (RUN_DIR/artifact).")
    ],
    fmt: Annotated[OutputFormat, format_option(OutputFormat.table, OutputFormat.json)] = OutputFormat.table,
) -> None:
    """Print an artifact's architecture and metrics (files are verified against the manifest)."""
    art = read_artifact(artifact)
    if fmt is OutputFormat.json:
        payload = {
            "architecture": art.architecture.to_dict(),
            "key": art.architecture.key,
            "space_hash": art.manifest.get("space_hash"),
            "metrics": art.metrics,
            "files": sorted(art.manifest.get("files", {})),
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"artifact: {art.path}")
    table = Table(title="architecture")
    table.add_column("block")
    table.add_column("op")
    for gene, op in art.architecture.items():
        table.add_row(gene, op)
    console.print(table)
    console.print(f"space hash: {art.manifest.get('space_hash')}")
    _print_mapping("metrics", art.metrics, OutputFormat.table, console=console)


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(data, dict):
        rows: list[tuple[str, str]] = []
        for k, v in data.items():
            rows += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return rows
    if isinstance(data, float):
        return [(prefix, f"{data:.6g}")]
    return [(prefix, json.dumps(data) if isinstance(data, list) else str(data))]


def _print_mapping(title: str, data: dict[str, Any], fmt: OutputFormat, console: Any = None) -> None:
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=title)
    table.add_column("name")
    table.add_column("value", justify="right")
    for k, v in _flatten(data):
        table.add_row(k, v)
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and turn errors into exit codes.

    As a worker of a ``torchrun`` launch of several processes the process leaves with ``os._exit`` once the
    command is done (output flushed, logging shut down): torch's gloo backend sometimes aborts during
    interpreter teardown, after the process group is destroyed (seen with torch 2.13 in a few launches in a
    hundred under load), which would report a finished run as failed.

    Args:
        argv: Arguments without the program name (default ``sys.argv[1:]``).
    """
    try:
        _main(argv)
    except SystemExit as exc:
        # TORCHELASTIC_RUN_ID: set by torchrun for its workers (a plain WORLD_SIZE may come from elsewhere)
        if "TORCHELASTIC_RUN_ID" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            raise
        code = exc.code
        if not isinstance(code, int):
            if code is not None:
                print(code, file=sys.stderr)
            code = 0 if code is None else 1
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _main(argv: list[str] | None) -> None:
    args = _hoist_global_flags(list(sys.argv[1:] if argv is None else argv))
    command = typer.main.get_command(app)
    _STATE["debug"] = "--debug" in args  # before parsing, so parse-time errors honour it too
    try:
        command.main(args=args, prog_name="ttfsnet-nas", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(130)
    except _click_exc.ClickException as exc:
        # one line like every other error (click's own form adds a usage banner and a "Try ..." line);
        # the sub-command's --help shows the usage
        if _STATE["debug"]:
            traceback.print_exception(exc)
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(2 if isinstance(exc, _click_exc.UsageError) else exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        sys.exit(130)
    except InputError as exc:  # the user asked for something invalid (recipe, file, resume, ...)
        _report(exc)
        sys.exit(2)
    except Exception as exc:  # any other failure is a runtime error
        _report(exc)
        sys.exit(1)
    sys.exit(0)


#: Options of the root callback that may also be written after the sub-command.
GLOBAL_FLAGS = ("--debug", "--quiet", "-q")


def _hoist_global_flags(args: list[str]) -> list[str]:
    # click only accepts group options before the sub-command; users write `search r.yaml --quiet` too.
    # No sub-command defines these names, so moving them to the front cannot change another option.
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
    return flags + [a for i, a in enumerate(args) if i >= end or a not in GLOBAL_FLAGS]


def _report(exc: BaseException) -> None:
    if _STATE["debug"]:
        traceback.print_exception(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    typer.echo(f"error: {text}", err=True)
