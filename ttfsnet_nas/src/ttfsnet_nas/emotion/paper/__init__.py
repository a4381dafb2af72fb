"""``ttfsnet-nas paper``: one command per artefact of the TNAS-ER paper, each regenerated from run folders
(and, for the result tables, SEEN-format result folders) as Markdown + CSV, and a PNG where the paper has a
figure (docs/paper.md).

The artefacts form a registry, [`ARTEFACTS`][ttfsnet_nas.emotion.paper.ARTEFACTS]: name → builder. Every
builder takes the [`PaperInputs`][ttfsnet_nas.emotion.paper.inputs.PaperInputs] and an output folder and
returns the files it wrote; the CLI makes one sub-command of each. Statistics over training seeds come from
[`ttfsnet_nas.emotion.seed_stats`][ttfsnet_nas.emotion.seed_stats], kept apart from the test-window spread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ttfsnet_nas.emotion.paper.fig4 import build_fig4
from ttfsnet_nas.emotion.paper.fig5 import build_fig5
from ttfsnet_nas.emotion.paper.fig7 import build_fig7
from ttfsnet_nas.emotion.paper.inputs import PaperInputs, parse_inputs
from ttfsnet_nas.emotion.paper.quantized import build_quantized
from ttfsnet_nas.emotion.paper.table3 import build_table3
from ttfsnet_nas.emotion.paper.table12 import build_table1, build_table2
from ttfsnet_nas.errors import InputError

__all__ = ["ARTEFACTS", "Artefact", "build_artefact"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Artefact:
    """One paper artefact.

    Attributes:
        name: sub-command and file stem (``table1``, ``fig7``, ...).
        summary: one line for ``--help``.
        inputs: what the inputs must be (for ``--help``).
        build: ``build(inputs, out)`` → the files written.
        figure: whether a PNG is written too.
    """

    name: str
    summary: str
    inputs: str
    build: Callable[[PaperInputs, Path], list[Path]]
    figure: bool


ARTEFACTS: dict[str, Artefact] = {
    a.name: a
    for a in (
        Artefact(name="table1", summary="Table 1 (SEE): per-emotion and per-lighting accuracy, WAR, UAR.",
                 inputs="run folders and/or SEEN result folders", build=build_table1, figure=False),
        Artefact(name="table2", summary="Table 2 (DSEE): same layout as Table 1.",
                 inputs="run folders and/or SEEN result folders", build=build_table2, figure=False),
        Artefact(name="table3", summary="Table 3: WAR, UAR, OPs, parameters, latency, with baseline rows.",
                 inputs="run folders (baselines rows where baselines/baselines.json exists)",
                 build=build_table3, figure=False),
        Artefact(name="fig4", summary="Fig. 4: search curves in the ANN and the SNN domain.",
                 inputs="run folders (search.domain: ann | snn)", build=build_fig4, figure=True),
        Artefact(name="fig5", summary="Fig. 5: the three retraining settings.",
                 inputs="run folders with settings.enabled: true", build=build_fig5, figure=True),
        Artefact(name="fig7", summary="Fig. 7: searched architecture vs random sampling, random search and "
                 "fixed backbones.", inputs="run folders with baselines", build=build_fig7, figure=True),
        Artefact(name="quantized", summary="Quantised SNN vs float SNN, WAR/UAR over the test runs.",
                 inputs="run folders with quantize.enabled: true", build=build_quantized, figure=False),
    )
}
"""Every paper artefact by name, in the paper's order."""


def build_artefact(
    name: str,
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    labels: Sequence[str] = (),
) -> list[Path]:
    """Build one artefact from input folders into ``out``; returns the files written.

    Args:
        name: a key of [`ARTEFACTS`][ttfsnet_nas.emotion.paper.ARTEFACTS].
        paths: run folders or SEEN result folders.
        out: output folder (created).
        labels: ``NAME=PATH`` method names (see
            [`parse_inputs`][ttfsnet_nas.emotion.paper.inputs.parse_inputs]).

    Raises:
        InputError: an unknown artefact or a missing/malformed input (one line naming the file).
    """
    if name not in ARTEFACTS:
        raise InputError(f"unknown paper artefact {name!r}; expected one of {', '.join(ARTEFACTS)}")
    return ARTEFACTS[name].build(parse_inputs(paths, labels), Path(out))
