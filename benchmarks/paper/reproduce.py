"""Reproduce the TNAS-ER paper's tables and figures on one recipe, over several training seeds.

    python benchmarks/paper/reproduce.py --recipe demo --seeds 0 1 2 --out runs/paper

For every seed it runs the recipe's whole pipeline (with the ``quantize`` stage switched on, and the
``settings`` stage of Fig. 5 with ``--settings``) into ``OUT/seed<k>``; for the first seed it also runs the
supernet and search stages again with ``search.domain: snn`` into ``OUT/seed<k>-snn-search`` (Fig. 4's second
curve); then it writes every paper artefact (``ttfsnet-nas paper ...``) into ``OUT/paper/<artefact>/``.
Every step resumes: rerun the same command after an interruption and finished runs are kept.

Which artefacts are written depends on the recipe: ``fig7`` needs its ``baselines`` section, ``fig5`` the
``--settings`` flag. The result tables say "synthetic" when the recipe's data is synthetic.
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from ttfsnet_nas.emotion.paper import build_artefact
from ttfsnet_nas.emotion.pipeline import run_pipeline
from ttfsnet_nas.errors import InputError
from ttfsnet_nas.pipelines import resolve_recipe
from ttfsnet_nas.progress import cli_progress


def _with(recipe: dict[str, Any], section: str, **values: Any) -> dict[str, Any]:
    out = copy.deepcopy(recipe)
    out[section] = {**(out.get(section) or {}), **values}
    return out


def _run(recipe: dict[str, Any], out: Path, seed: int, stages: list[str] | None = None) -> None:
    """One pipeline run into ``out``, resumed when ``out`` already holds one."""
    with cli_progress() as progress:
        run_pipeline(
            recipe, out=out, seed=seed, resume=(out / "stages").is_dir(), stages=stages, progress=progress
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", default="demo", help="built-in recipe name or YAML file (default: demo)")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--settings", action="store_true", help="also run the Fig. 5 settings stage")
    parser.add_argument("--no-snn-search", action="store_true", help="skip the SNN-domain search of Fig. 4")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # the stages' progress lines

    base = yaml.safe_load(resolve_recipe(args.recipe).read_text(encoding="utf-8"))
    base = _with(base, "quantize", enabled=True)
    if args.settings:
        base = _with(base, "settings", enabled=True)
    runs = []
    for seed in args.seeds:
        run = args.out / f"seed{seed}"
        _run(base, run, seed)
        runs.append(run)
    searches = [runs[0]]
    if not args.no_snn_search:
        snn_search = args.out / f"seed{args.seeds[0]}-snn-search"
        _run(_with(base, "search", domain="snn"), snn_search, args.seeds[0], ["supernet", "search"])
        searches.append(snn_search)

    wanted = {"table1": runs, "table3": runs, "fig4": searches, "quantized": runs}
    if args.settings:
        wanted["fig5"] = runs
    if base.get("baselines"):
        wanted["fig7"] = runs
    labels = [f"{base.get('name', 'run')} (SNN-domain search)={searches[1]}"] if len(searches) > 1 else []
    for name, inputs in wanted.items():
        try:
            files = build_artefact(
                name, inputs, args.out / "paper" / name, labels=labels if name == "fig4" else ()
            )
        except InputError as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            return 2
        print(f"{name}: " + ", ".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
