"""The settings of the TNAS-ER reproduction that the paper text lost or does not give: one registry.

The text of the TNAS-ER paper (arXiv 2512.02459) that this project works from has lost its symbols,
formulas and some numbers ("the searched backbone includes [·] macro-block groups", "a kernel size of [·]
or [·]", Eq. 6), and it does not give a few settings at all. Every value the pipeline uses for such a
setting is an assumption. [`ASSUMPTIONS`][ttfsnet_nas.emotion.assumptions.ASSUMPTIONS] lists them once:

* every recipe line in ``ttfsnet_nas/recipes/`` that sets one of their keys carries the end-of-line comment
  ``# assumed (paper text lost): …``;
* the table "Settings the paper text lost" in docs/tnas-er.md is
  [`assumptions_table`][ttfsnet_nas.emotion.assumptions.assumptions_table]'s output.

A test checks both (tests/ttfsnet_nas/emotion/test_assumptions.py).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ASSUMPTIONS", "Assumption", "RECIPE_COMMENT", "assumptions_table", "assumed_keys"]

RECIPE_COMMENT = "# assumed (paper text lost)"
"""Start of the end-of-line comment that marks an assumed setting in a recipe."""


@dataclass(frozen=True, slots=True)
class Assumption:
    """One setting the paper text lost or does not give, and the value this project uses.

    Attributes:
        setting: what the setting is, in words.
        keys: the recipe key paths that set it (``data.…`` also covers ``target_data.…``); empty when it is
            part of the backbone definition or the training loop, not a recipe key.
        value: the value used (in the ``see``/``dsee`` recipes and the recipe defaults).
        why: what the paper text says, and why this value.
    """

    setting: str
    keys: tuple[str, ...]
    value: str
    why: str


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "macro-block groups G",
        ("space.groups",),
        "3",
        "§4.2: 'the searched backbone includes [G] macro-block groups' (number lost); with width 32, G = 3 "
        "holds members near the paper's 1.04 M parameters",
    ),
    Assumption(
        "candidate ops of a searchable block",
        ("space.ops",),
        "`conv3x3`, `conv5x5`, `skip`",
        "§4.5: 'a kernel size of [·] or [·], or a skip connection' (sizes lost); 3×3 survives in §3.2, "
        "5×5 is the assumed second size",
    ),
    Assumption(
        "fixed-backbone baselines",
        ("baselines.fixed",),
        "`conv3x3`, `conv5x5`",
        "§4.5: 'uniform kernel sizes ([·] or [·])' (sizes lost); the two convolutions of `space.ops`",
    ),
    Assumption(
        "fitness (Eq. 6)",
        ("search.fitness",),
        "`war_uar` = (WAR + UAR) / 2",
        "Eq. 6 is lost; the text says only that WAR and UAR are 'jointly defined' as the fitness",
    ),
    Assumption(
        "the two search sizes set to 12 (P, k)",
        ("search.pool_size", "search.elite_size"),
        "pool P = 12, elite k = 12",
        "§4.2: 'during the search, [·] and [·] are set to 12' (symbols lost); read as the pool and the "
        "elite of §3.3",
    ),
    Assumption(
        "mutation probability",
        ("search.mutation_prob",),
        "0.2 per gene",
        "not in the text; the value of AutoSNN (Na et al. 2022, ref. [20]), whose search space inspired "
        "TNAS-ER's",
    ),
    Assumption(
        "mutation / crossover mix",
        ("search.mutation_fraction", "search.swap_prob"),
        "half the children by mutation, uniform crossover with swap probability 0.5",
        "§3.3 names mutation and crossover but not how many children each makes, nor the crossover kind",
    ),
    Assumption(
        "`skip` where the width doubles",
        (),
        "1×1 conv + BN + ReLU width adapter (backbone definition)",
        "§3.3 has a skip operation but does not say how it bridges a group's doubled width",
    ),
    Assumption(
        "stem kernel and pooling",
        (),
        "3×3 stem convolutions; 2×2 max-pooling after every group, then one linear layer (backbone "
        "definition)",
        "§4.2: 'two convolutional layers with kernel size [·]' (lost); the pooling window and the head's "
        "depth are not given",
    ),
    Assumption(
        "learning-rate schedule",
        (),
        "constant learning rate (no schedule)",
        "§4.2 gives one learning rate per stage (5e-3, 5e-4, 5e-5) and no schedule",
    ),
    Assumption(
        "Adam weight decay",
        ("supernet.weight_decay", "retrain.weight_decay"),
        "0",
        "not in the text",
    ),
    Assumption(
        "retraining initialisation",
        ("retrain.inherit",),
        "false: retrain from a fresh initialisation",
        "the text does not say whether the retrained subnet starts from the supernet weights",
    ),
    Assumption(
        "supernet / search split rule",
        ("data.search_split",),
        "`random`: 80 / 20, stratified by emotion",
        "§4.1 says only '80 % for supernet training and the remaining 20 % for evolutionary search'; "
        "`subject` (whole subjects held out) is this project's choice for the synthetic recipes",
    ),
    Assumption(
        "input size",
        ("data.image_size",),
        "90 × 90",
        "not in the text; §4.2 'preprocessing follows prior works', and SEEN resizes 180 → 90",
    ),
    Assumption(
        "resize filter",
        ("data.resize",),
        "`bilinear` in the `see*` / `dsee` recipes",
        "not in the text; 'follows prior works': SEEN's `Resize(90)` is bilinear",
    ),
    Assumption(
        "input normalisation",
        ("data.normalize",),
        "`seen` (mean 0.504413, std 0.06928615) in the `see*` / `dsee` recipes",
        "not in the text; 'follows prior works': SEEN normalises event frames with these values",
    ),
    Assumption(
        "temporal window sampler",
        ("data.legacy_quirks",),
        "`true` in the `see*` / `dsee` recipes: SEEN's sampler with its quirks",
        "§4.2 'random start points' following prior works; SEEN's sampler has an offset in {0..4} and never "
        "draws the last window",
    ),
)
"""Every setting the paper text lost or does not give, in the order of the docs table."""


def assumed_keys() -> dict[str, Assumption]:
    """Every recipe key path of [`ASSUMPTIONS`][ttfsnet_nas.emotion.assumptions.ASSUMPTIONS], with its
    record."""
    return {key: a for a in ASSUMPTIONS for key in a.keys}


def assumptions_table() -> str:
    """The Markdown table "setting / recipe key / our value / why" of the registry (docs/tnas-er.md)."""
    lines = ["| setting | recipe key | our value | why (what the paper text says) |", "|---|---|---|---|"]
    for a in ASSUMPTIONS:
        keys = ", ".join(f"`{k}`" for k in a.keys) if a.keys else "—"
        lines.append(f"| {a.setting} | {keys} | {a.value} | {a.why} |")
    return "\n".join(lines) + "\n"
