"""Data flow of the TNAS-ER stages: each stage sees exactly the sequences its part of the recorded split
allows (no leakage of test or search sequences into training), checked on a real ``tiny`` run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ttfsnet_nas.emotion import stages as stages_module
from ttfsnet_nas.emotion.pipeline import run_pipeline
from ttfsnet_nas.emotion.stages import EmotionStages

TINY = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes" / "tiny.yaml"


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[list[str]]], dict[str, Any]]:
    """Which sequence names every stage trained, scored or tested on, and the run's ``split.json``."""
    out = tmp_path_factory.mktemp("flow") / "tiny"
    record: dict[str, list[list[str]]] = {}

    def spy(kind: str, fn: Callable[..., Any], names: Callable[[tuple[Any, ...]], list[str]]) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            record.setdefault(kind, []).append(list(names(args)))
            return fn(*args, **kwargs)

        return wrapped

    original_inputs = EmotionStages.evaluator_inputs

    def evaluator_inputs(self: EmotionStages) -> Any:
        data = self.search_data()
        assert data.search is not None
        record.setdefault("search", []).append(list(data.search.names))
        return original_inputs(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TTFSNET_DATA", str(tmp_path_factory.mktemp("data")))
        for name, kind, names in (
            ("train_supernet", "supernet", lambda a: a[1].names),  # (model, dataset, config)
            ("train_model", "retrain", lambda a: a[1].names),
            ("EpochBatches", "finetune", lambda a: a[0].names),  # (dataset, batch_size, seed)
            ("evaluate_runs", "test", lambda a: a[1].test.names),  # (recipe, EmotionData, ...)
        ):
            mp.setattr(stages_module, name, spy(kind, getattr(stages_module, name), names))
        mp.setattr(EmotionStages, "evaluator_inputs", evaluator_inputs)
        run_pipeline(TINY, out=out)
    return record, json.loads((out / "split.json").read_text())


def test_every_stage_sees_only_its_part_of_the_split(
    seen: tuple[dict[str, list[list[str]]], dict[str, Any]],
) -> None:
    record, split = seen
    assert record["supernet"] == [split["supernet"]]
    assert record["search"] == [split["search"]]
    assert record["retrain"] == [split["train"]]
    assert record["finetune"] == [split["train"]]
    # the test stage evaluates the test split, of data that is not the training data
    assert record["test"] == [split["test"]]


def test_the_recorded_parts_are_disjoint_and_cover_the_training_split(
    seen: tuple[dict[str, list[list[str]]], dict[str, Any]],
) -> None:
    _, split = seen
    supernet, search, train, test = (set(split[k]) for k in ("supernet", "search", "train", "test"))
    assert not supernet & search and supernet | search == train
    assert not train & test
    assert len(split["train"]) == len(train) and len(split["test"]) == len(test)  # no sequence twice
