"""The settings the paper text lost are labelled as assumptions everywhere: one registry
(`ttfsnet_nas.emotion.assumptions`), its table in docs/tnas-er.md, the recipe comments, and no docs line that
calls a lost setting "the paper's settings"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ttfsnet_nas.emotion.assumptions import ASSUMPTIONS, RECIPE_COMMENT, assumed_keys, assumptions_table
from ttfsnet_nas.emotion.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[3]
RECIPES = ROOT / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes"
DOCS = ROOT / "docs"
KEY_LINE = re.compile(r"^(\s*)([A-Za-z_][\w-]*):(\s|$)")
# how the prose names each lost setting (any of these in a line means the line talks about it)
PROSE = {
    "space.groups": ("G = 3", "groups"),
    "space.ops": ("5×5", "5x5", "conv5x5", "kernel"),
    "baselines.fixed": ("fixed",),
    "search.fitness": ("Eq. 6", "WAR + UAR", "war_uar", "fitness"),
    "search.pool_size": ("P = k", "pool"),
    "search.mutation_prob": ("mutation",),
    "data.search_split": ("subject-disjoint", "search split", "split rule"),
    "data.image_size": ("90 × 90", "90×90", "180 → 90"),
}


def _key_paths(text: str) -> list[tuple[int, str, str]]:
    """(line number, dotted key path, line) of every ``key:`` line of a block-style YAML text."""
    stack: list[tuple[int, str]] = []
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        match = KEY_LINE.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match.group(2)))
        out.append((number, ".".join(k for _, k in stack), line))
    return out


def _table_rows(text: str) -> list[str]:
    heading = r"^## Settings the paper text lost\n(?:.*\n)*?"
    match = re.search(heading + r"(\| setting \|.*\n(?:\|.*\|\n)+)", text, re.M)
    assert match, "docs/tnas-er.md has no table under '## Settings the paper text lost'"
    return match.group(1).splitlines()


def test_the_docs_table_is_the_registry() -> None:
    rows = _table_rows((DOCS / "tnas-er.md").read_text(encoding="utf-8"))
    assert rows == assumptions_table().splitlines()
    assert len(rows) == len(ASSUMPTIONS) + 2  # header, rule, one row per record
    # the table appears once in the docs
    first_row = assumptions_table().splitlines()[2]
    pages = [p for p in DOCS.rglob("*.md") if first_row in p.read_text(encoding="utf-8")]
    assert pages == [DOCS / "tnas-er.md"]


def test_the_registry_covers_the_lost_settings_and_names_real_keys() -> None:
    keys = assumed_keys()
    for key in ("space.groups", "space.ops", "search.fitness", "search.pool_size", "search.elite_size",
                "search.mutation_prob", "data.search_split", "baselines.fixed"):
        assert key in keys, key
    settings = " ".join(a.setting + " " + a.value for a in ASSUMPTIONS)
    for words in ("1×1", "constant learning rate", "(WAR + UAR) / 2"):
        assert words in settings, words
    # every registered key is a real recipe key (a renamed key would leave a stale entry here)
    recipe = load_recipe(RECIPES / "see.yaml")
    for key in keys:
        obj: object = recipe
        for part in key.split("."):
            assert hasattr(obj, part), key
            obj = getattr(obj, part)


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_every_recipe_line_that_sets_a_lost_setting_is_marked(recipe: str) -> None:
    keys = assumed_keys()
    text = (RECIPES / recipe).read_text(encoding="utf-8")
    unmarked = []
    for number, path, line in _key_paths(text):
        # target_data is a second data section: the same keys, the same assumptions
        key = "data." + path.split(".", 1)[1] if path.startswith("target_data.") else path
        if key in keys and f"  {RECIPE_COMMENT}: " not in line:
            unmarked.append(f"{recipe}:{number}: {line.strip()}")
    assert not unmarked, f"add '{RECIPE_COMMENT}: …' to: {unmarked}"
    # and the parser sees the keys it should: every recipe sets at least the fitness and the ops
    assert {"search.fitness", "space.ops"} <= {p for _, p, _ in _key_paths(text)}


def _claims_a_lost_setting(line: str) -> bool:
    """Whether ``line`` calls something "the paper's settings" and names a lost setting without saying
    "assumed"."""
    if not re.search(r"paper(?:'|’)s settings?", line, re.I) or "assum" in line.lower():
        return False
    names = [word for key in assumed_keys() for word in PROSE.get(key, (key.split(".")[-1],))]
    return any(word in line for word in names)


def test_no_docs_line_presents_a_lost_setting_as_the_papers() -> None:
    hits = [
        f"{page.relative_to(ROOT)}:{number}: {line.strip()}"
        for page in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if _claims_a_lost_setting(line)
    ]
    assert not hits, hits


def test_the_claim_check_can_fail() -> None:
    # the kind of sentence the docs had: caught; labelled or unrelated ones: not
    assert _claims_a_lost_setting("Defaults are the paper's settings: G = 3, pool 12, mutation 0.2.")
    assert _claims_a_lost_setting("| `see` | real SEE with the paper's settings (P = k = 12, 18 rounds) |")
    assert not _claims_a_lost_setting("the paper's settings plus the assumed G = 3")
    assert not _claims_a_lost_setting("the paper's settings: Adam, batch 96, 600 epochs")
