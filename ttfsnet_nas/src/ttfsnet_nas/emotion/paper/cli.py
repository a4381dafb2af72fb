"""``ttfsnet-nas paper``: one sub-command per entry of [`ARTEFACTS`][ttfsnet_nas.emotion.paper.ARTEFACTS]
(mounted through the ``ttfsnet_nas.commands`` entry point). Each parses the folders, ``--out`` and
``--label NAME=PATH``, calls [`build_artefact`][ttfsnet_nas.emotion.paper.build_artefact] and prints the
files written; bad input exits with 2 and one ``error:`` line."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from ttfsnet_nas.cli import Command, Group
from ttfsnet_nas.emotion.paper import ARTEFACTS, Artefact, build_artefact

__all__ = ["paper_app"]

paper_app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    add_completion=False,
    help="Regenerate the TNAS-ER paper's tables and figures from run folders (Markdown + CSV + PNG).",
)


@paper_app.callback()
def _paper() -> None:
    """TNAS-ER paper artefacts: one sub-command per table or figure (docs/paper.md)."""


def _command(artefact: Artefact) -> Callable[..., None]:
    def command(
        inputs: Annotated[
            list[Path] | None, typer.Argument(help=f"Input folders: {artefact.inputs}.", show_default=False)
        ] = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("paper"),
        label: Annotated[
            list[str] | None,
            typer.Option(
                "--label",
                help="NAME=PATH: name the method of an input folder (repeatable; folders with one name are "
                "the seeds of one method).",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        for path in build_artefact(artefact.name, inputs or [], out, labels=label or []):
            typer.echo(str(path))

    command.__doc__ = f"{artefact.summary} Writes {artefact.name}.md/.csv" + (
        "/.png" if artefact.figure else "") + " into --out."
    return command


for _artefact in ARTEFACTS.values():
    paper_app.command(_artefact.name, cls=Command)(_command(_artefact))
