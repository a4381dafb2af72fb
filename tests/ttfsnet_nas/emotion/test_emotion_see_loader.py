"""SEE / DSEE loader: real-layout fixtures (aliases, spellings, broken files) and the generated tiny set."""

from __future__ import annotations

from pathlib import Path

import pytest

from ttfsnet_nas.emotion.layouts import get_layout, layout_names
from ttfsnet_nas.emotion.see import (
    DATA_ENV_VAR,
    DSEE_LAYOUT,
    EMOTIONS,
    DatasetError,
    DatasetLayout,
    NameSchema,
    canonical_emotion,
    format_see_name,
    load_see,
    read_frame,
    resolve_root,
)
from ttfsnet_nas.emotion.splits import split_training
from ttfsnet_nas.errors import InputError

A = "1_001_man_24_Master_normal_angry_45_take000"
B = "2_001_man_24_Master_normal_angry_50_take001"
N = "40_002_woman_21_Doctor_Low_neutral_30_take000"
H = "77_003_man_25_undergraduate_HDR_happiness_20_take002"


def test_parses_real_name_format_and_split(make_see_tree) -> None:
    root = make_see_tree(
        {A: ("angry", "training", 6, 6), N: ("neutral", "testing", 5, 5), H: ("happiness", "testing", 4, 4)},
        labels=list(EMOTIONS),
    )
    index = load_see(root)
    assert index.labels == EMOTIONS
    by = {s.name: s for s in index.sequences}
    assert by[A].subject == "001" and by[A].lighting == "normal" and by[A].emotion == "angry"
    assert by[A].label == 0 and by[N].label == EMOTIONS.index("neutral")
    assert by[N].lighting == "Low" and by[H].lighting == "HDR"
    assert by[A].length == 6 and by[A].event_files[0] == "00000.jpg"
    assert by[A].frame_dir is not None and by[A].frame_dir.parent.parent.name == "frame"
    assert [s.name for s in index.subset("test")] == sorted([N, H])
    assert index.counts()["subset"] == {"testing": 2, "training": 1}


def test_code_default_aliases_event30_and_json_name(make_see_tree) -> None:
    root = make_see_tree(
        {A: ("angry", "training", 3, 3)}, event_dir="event_30", json_name="emotion_new_adjust2.json"
    )
    index = load_see(root)
    assert index.json_path.name == "emotion_new_adjust2.json"
    assert index.sequences[0].event_dir.parent.parent.name == "event_30"
    # Without a labels list the ids fall back to the alphabetical order.
    assert index.labels == EMOTIONS


def test_neutral_folder_spelling_is_matched_case_insensitively(make_see_tree) -> None:
    root = make_see_tree({N: ("neutral", "testing", 4, 4)}, folder_names={"neutral": "neutraL"})
    (seq,) = load_see(root).sequences
    assert seq.emotion == "neutral" and seq.event_dir.parent.name == "neutraL"


def test_label_order_comes_from_the_json(make_see_tree) -> None:
    order = ["surprise", "sadness", "neutral", "happiness", "fear", "disgust", "angry"]
    root = make_see_tree({A: ("angry", "training", 3, 3)}, labels=order)
    assert load_see(root).sequences[0].label == 6


def test_missing_root_json_and_tree_errors_name_the_path(tmp_path: Path, make_see_tree) -> None:
    with pytest.raises(DatasetError, match="dataset root not found"):
        load_see(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"empty: no split JSON found \(expected one of emotion.json"):
        load_see(empty)
    root = make_see_tree({A: ("angry", "training", 3, 3)}, event_dir="wrong")
    with pytest.raises(DatasetError, match="no event-frame folder found"):
        load_see(root)


def test_malformed_json_is_an_error(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 3, 3)})
    (root / "emotion.json").write_text('{"database": [1, 2]}', encoding="utf-8")
    with pytest.raises(DatasetError, match="emotion.json: expected a JSON object with a 'database'"):
        load_see(root)
    (root / "emotion.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DatasetError, match="cannot read the split JSON"):
        load_see(root)


def test_json_entry_without_folder_strict_and_lenient(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 3, 3), B: ("angry", "training", 3, 3)})
    import shutil

    shutil.rmtree(root / "event" / "angry" / B)
    with pytest.raises(DatasetError, match=f"{B}: sequence folder listed in emotion.json does not exist"):
        load_see(root)
    index = load_see(root, strict=False)
    assert [s.name for s in index.sequences] == [A]
    assert index.skipped == {"missing folder": 1}


def test_folder_not_in_json_is_reported_not_loaded(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 3, 3)})
    (root / "event" / "angry" / B).mkdir()
    index = load_see(root)
    assert [s.name for s in index.sequences] == [A]
    assert index.unlisted == (B,)


def test_segment_beyond_files_names_the_missing_frame(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 3, 5)})
    with pytest.raises(
        DatasetError, match=r"00003\.jpg: missing frame \(2 of the 5 frames of segment \[0, 5\)"
    ):
        load_see(root)
    index = load_see(root, strict=False)
    assert index.sequences[0].length == 3 and index.skipped == {"frames missing": 2}


def test_gap_in_the_frame_files_names_the_missing_file(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 5, 5)})
    (root / "event" / "angry" / A / "00002.jpg").unlink()
    with pytest.raises(DatasetError, match=rf"{A}/00002\.jpg: missing frame \(1 of the 5 frames"):
        load_see(root)
    (seq,) = load_see(root, strict=False).sequences
    assert seq.event_files == ("00000.jpg", "00001.jpg", "00003.jpg", "00004.jpg")
    assert load_see(root, strict=False).skipped == {"frames missing": 1}


def test_release_numbered_from_one_and_segment_start(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 4, 4)})
    folder = root / "event" / "angry" / A
    for i in (3, 2, 1, 0):  # 00000..00003 → 00001..00004, as one third-party README draws it
        (folder / f"{i:05d}.jpg").rename(folder / f"{i + 1:05d}.jpg")
    assert load_see(root).sequences[0].event_files == ("00001.jpg", "00002.jpg", "00003.jpg", "00004.jpg")


def test_empty_segment_is_counted(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 3, 0), B: ("angry", "training", 3, 3)})
    index = load_see(root)
    assert len(index.sequences) == 1 and index.skipped == {"empty segment": 1}


def test_label_name_mismatch_and_bad_entries(make_see_tree) -> None:
    root = make_see_tree({A: ("fear", "training", 3, 3)})
    with pytest.raises(DatasetError, match="name says emotion 'angry' but the label is 'fear'"):
        load_see(root)
    assert load_see(root, strict=False).skipped == {"label mismatch": 1}
    root2 = make_see_tree({B: ("angry", "validation", 3, 3)})
    with pytest.raises(DatasetError, match="expected subset 'training' or 'testing'"):
        load_see(root2)


def test_json_entries_missing_keys_strict_and_lenient(make_see_tree) -> None:
    import json

    root = make_see_tree(
        {A: ("angry", "training", 3, 3), B: ("angry", "training", 3, 3), N: ("neutral", "testing", 3, 3)}
    )
    path = root / "emotion.json"
    data = json.loads(path.read_text())
    del data["database"][B]["annotations"]
    del data["database"][N]["subset"]
    path.write_text(json.dumps(data))
    with pytest.raises(
        DatasetError, match=r"emotion.json: database\['2_001_.*expected subset, annotations.label"
    ):
        load_see(root)
    index = load_see(root, strict=False)
    assert [s.name for s in index.sequences] == [A]
    assert index.skipped == {"malformed entry": 2}
    # A folder whose JSON entry was dropped is reported as unlisted, never loaded silently.
    assert set(index.unlisted) == {B, N}


def test_broken_jpg_read_error_names_the_file(make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 3, 3)})
    bad = root / "event" / "angry" / A / "00001.jpg"
    bad.write_bytes(b"\xff\xd8\xff not a jpeg")
    assert read_frame(root / "event" / "angry" / A / "00000.jpg").shape == (8, 8)
    with pytest.raises(DatasetError, match=r"00001\.jpg: cannot decode frame"):
        read_frame(bad)


def test_dsee_schema_without_subject_and_lighting(make_see_tree) -> None:
    converted = "ck_S005_001_surprise"  # a v2e conversion without SEE's subject/lighting tokens
    root = make_see_tree({converted: ("surprise", "training", 4, 4), A: ("angry", "testing", 3, 3)})
    index = load_see(root, layout=DSEE_LAYOUT)
    by = {s.name: s for s in index.sequences}
    assert by[converted].subject is None and by[converted].lighting is None
    assert by[converted].emotion == "surprise"
    assert by[A].subject == "001" and by[A].lighting == "normal"
    assert index.counts()["lighting"] == {"?": 1, "normal": 1}
    # SEE's own schema does not accept the converted name silently: an error, or counted with strict=False.
    with pytest.raises(DatasetError, match=r"'ck_S005_001_surprise': expected at least 9 tokens .* got 4"):
        load_see(root)
    assert load_see(root, strict=False).skipped == {"malformed name": 1}
    # A long converted name whose tokens are not SEE's is accepted too (lenient schema), but not by SEE's.
    odd = "mug_s12_take3_cam1_v2e_f30_x_y_z_fear"
    root2 = make_see_tree({odd: ("fear", "testing", 3, 3)})
    assert load_see(root2, layout=DSEE_LAYOUT).sequences[0].lighting is None
    with pytest.raises(DatasetError, match="unknown lighting 'f30'"):
        load_see(root2)


def test_custom_layout_and_schema(make_see_tree) -> None:
    layout = DatasetLayout(
        event_dirs=("ev",),
        json_names=("split.json",),
        schema=NameSchema(subject=0, lighting=None, emotion=1, min_tokens=2),
    )
    root = make_see_tree({"s07_fear": ("fear", "training", 3, 3)}, event_dir="ev", json_name="split.json")
    (seq,) = load_see(root, layout=layout).sequences
    assert (seq.subject, seq.lighting, seq.emotion) == ("s07", None, "fear")


def test_root_from_env_var(monkeypatch: pytest.MonkeyPatch, make_see_tree) -> None:
    root = make_see_tree({A: ("angry", "training", 3, 3)})
    monkeypatch.setenv(DATA_ENV_VAR, str(root))
    assert resolve_root(None) == root
    assert len(load_see().sequences) == 1
    monkeypatch.delenv(DATA_ENV_VAR)
    with pytest.raises(DatasetError, match=DATA_ENV_VAR):
        resolve_root(None)


def test_name_helpers() -> None:
    assert canonical_emotion("neutraL") == "neutral" and canonical_emotion("Happy") == "happiness"
    with pytest.raises(ValueError, match="unknown emotion 'joy'"):
        canonical_emotion("joy")
    name = format_see_name(
        seq=1,
        subject=1,
        sex="man",
        age=24,
        degree="Master",
        lighting="normal",
        emotion="angry",
        length=45,
        take=0,
    )
    assert name == A


def test_tiny_synthetic_set_reads_with_the_same_loader(tiny_see_root: Path) -> None:
    index = load_see(tiny_see_root)
    assert len(index.sequences) == 168 and not index.skipped and not index.unlisted
    counts = index.counts()
    assert set(counts["emotion"]) == set(EMOTIONS) and set(counts["emotion"].values()) == {24}
    assert counts["lighting"] == {"HDR": 42, "Low": 42, "Overexposed": 42, "normal": 42}
    assert len(counts["subject"]) == 12
    train_subjects = {s.subject for s in index.subset("training")}
    test_subjects = {s.subject for s in index.subset("testing")}
    assert train_subjects.isdisjoint(test_subjects)  # default split is subject-disjoint
    # One lighting condition per subject, and each lighting has test subjects (stratified split).
    assert {s.lighting for s in index.subset("testing")} == {"normal", "Overexposed", "Low", "HDR"}
    for seq in index.sequences[:5]:
        assert int(seq.name.split("_")[7]) == seq.length


def test_split_training_is_stratified_and_deterministic(tiny_see_root: Path) -> None:
    train = load_see(tiny_see_root).subset("training")
    a1, b1 = split_training(train, search_fraction=0.25, seed=3, rule="random")
    a2, b2 = split_training(train, search_fraction=0.25, seed=3, rule="random")
    assert [s.name for s in a1] == [s.name for s in a2] and len(a1) + len(b1) == len(train)
    assert {s.name for s in a1}.isdisjoint({s.name for s in b1})
    per_class = {e: sum(s.emotion == e for s in b1) for e in EMOTIONS}
    assert set(per_class.values()) == {4}  # 16 training sequences per class → 4 held out each


def test_a_split_that_leaves_a_part_empty_is_an_input_error(tiny_see_root: Path) -> None:
    # one sequence per emotion: a per-emotion 20 % draw rounds to none held out
    train = load_see(tiny_see_root).subset("training")
    one_each = list({s.emotion: s for s in train}.values())
    with pytest.raises(DatasetError, match=r"data\.search_split: the random split of 7 .* search part empty"):
        split_training(one_each, search_fraction=0.2, rule="random")
    with pytest.raises(DatasetError, match="supernet part empty"):
        split_training(one_each, search_fraction=0.9, rule="random")


def test_split_training_by_subject_keeps_people_apart(tiny_see_root: Path) -> None:
    train = load_see(tiny_see_root).subset("training")
    supernet, search = split_training(train, search_fraction=0.25, seed=3, rule="subject")
    assert split_training(train, search_fraction=0.25, seed=3, rule="subject") == (supernet, search)
    assert {s.subject for s in supernet}.isdisjoint({s.subject for s in search})
    assert len(supernet) + len(search) == len(train) and search and supernet
    per_subject = len(train) / len({s.subject for s in train})
    assert abs(len(search) - 0.25 * len(train)) <= per_subject / 2  # within half a subject of the target
    with pytest.raises(ValueError, match="rule must be 'subject' or 'random'"):
        split_training(train, rule="people")  # type: ignore[arg-type]


# Layouts with their own indexer read other files than frame trees (``events``: test_emotion_events.py).
@pytest.mark.parametrize("name", [n for n in layout_names() if get_layout(n).indexer is None])
def test_every_registered_layout_loads_a_tree_in_its_own_conventions(name: str, make_see_tree) -> None:
    layout = get_layout(name)
    schema = layout.schema
    fields = {schema.subject: "001", schema.lighting: "normal", schema.emotion: "angry"}
    fields.pop(None, None)
    tokens = ["7"] * max(schema.min_tokens, *(i + 1 for i in fields if i is not None))
    for i, token in fields.items():  # a name in the layout's own token positions
        tokens[i] = token
    seq = schema.separator.join(tokens)
    root = make_see_tree(
        {seq: ("angry", "training", 3, 3)}, event_dir=layout.event_dirs[-1], json_name=layout.json_names[-1]
    )
    index = load_see(root, layout=layout)
    assert [s.name for s in index.sequences] == [seq] and index.sequences[0].emotion == "angry"


def test_layouts_are_named_in_recipes_and_the_cli() -> None:
    from ttfsnet_nas.config import RecipeError
    from ttfsnet_nas.emotion.recipe import recipe_from_mapping

    assert {"see", "dsee"} <= set(layout_names())
    assert recipe_from_mapping({"data": {"layout": "dsee"}}).data.layout == "dsee"
    with pytest.raises(RecipeError, match=r"data\.layout: expected one of \[.*'see'.*\], got 'seen'"):
        recipe_from_mapping({"data": {"layout": "seen"}})
    with pytest.raises(InputError, match="unknown dataset layout 'seen'"):
        get_layout("seen")
