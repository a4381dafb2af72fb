"""Recipe guards (issue 12): every malformed, unbounded or impossible recipe or hardware profile is refused up
front through the CLI with exit code 2 and one line naming the file and the key; nothing runs.

The table is the acceptance record: each row is (case, command, file content, expected exit, expected key).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from ttfsnet_hw.cli import main as hw_main
from ttfsnet_nas.cli import main as nas_main
from ttfsnet_nas.emotion.memory import MEMORY_LIMIT_BYTES, estimate_memory
from ttfsnet_nas.emotion.recipe import MAX_EPOCHS, EmotionRecipe, load_recipe, recipe_from_mapping

RECIPES = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes"
YOSO = Path(__file__).resolve().parents[3] / "ttfsnet_hw" / "src" / "ttfsnet_hw" / "profiles" / "yoso.yaml"

# a valid, small recipe; rows add sections to it (text rows) or merge into it (mapping rows)
BASE: dict[str, Any] = {
    "type": "emotion",
    "name": "guard",
    "data": {"synthetic": "tiny", "channels": 8, "image_size": 16},
    "space": {"groups": 1, "width": 4},
}
BASE_TEXT = "type: emotion\nname: guard\ndata: {synthetic: tiny, channels: 8, image_size: 16}\n"


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and key in out else value
    return out


def _profile(old: str, new: str) -> bytes:
    text = YOSO.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1).encode("utf-8")


# a Latin-1 'é' in a comment on line 5
_NOT_UTF8 = BASE_TEXT.encode() + b"space: {groups: 1, width: 4}\n# caf\xe9\n"
_MESH_X = "  mesh_x:\n    value: 24\n"
_MESH_Y = "  mesh_y:\n    value: 24\n"

# (case, command, content, expected exit, expected key in the message)
# content: a mapping merged into BASE, YAML text appended to BASE_TEXT, or raw bytes (the whole file)
CASES: list[tuple[str, str, Any, int, str]] = [
    # issue 12's list
    (
        "epochs 1e23",
        "nas",
        BASE_TEXT + "space: {groups: 1, width: 4}\nsupernet: {epochs: 1e23}\n",
        2,
        "supernet.epochs",
    ),
    ("image_size 50000", "nas", {"data": {"image_size": 50000}}, 2, "data.image_size"),
    ("width 1e8", "nas", BASE_TEXT + "space: {groups: 1, width: 1e8}\n", 2, "space.width"),
    ("lr .inf", "nas", BASE_TEXT + "space: {groups: 1, width: 4}\nsupernet: {lr: .inf}\n", 2, "supernet.lr"),
    ("non-UTF-8 byte", "nas", _NOT_UTF8, 2, f"byte 0xe9 at byte offset {len(_NOT_UTF8) - 2} (line 5)"),
    ("groups 10", "nas", {"space": {"groups": 10}}, 2, "space.groups"),
    (
        "duplicate key",
        "nas",
        BASE_TEXT + "space: {groups: 1, width: 4}\nsupernet:\n  lr: 0.1\n  lr: 0.2\n",
        2,
        'line 7, column 3: duplicate key "lr" (first set on line 6)',
    ),
    ("elite > pool", "nas", {"search": {"pool_size": 4, "elite_size": 6}}, 2, "search.elite_size"),
    (
        "mesh_x 1e12",
        "hw",
        _profile(_MESH_X, "  mesh_x:\n    value: 1e12\n"),
        2,
        "'pe.mesh_x' must be <= 1024",
    ),
    # the same limits spelled otherwise
    ("epochs as a 24-digit int", "nas", {"supernet": {"epochs": 10**23}}, 2, "supernet.epochs"),
    ("retrain epochs over the limit", "nas", {"retrain": {"epochs": MAX_EPOCHS + 1}}, 2, "retrain.epochs"),
    ("finetune epochs over the limit", "nas", {"snn": {"finetune_epochs": 10**6}}, 2, "snn.finetune_epochs"),
    ("width as an int", "nas", {"space": {"width": 10**8}}, 2, "space.width"),
    ("lr .nan", "nas", BASE_TEXT + "space: {groups: 1, width: 4}\nretrain: {lr: .nan}\n", 2, "retrain.lr"),
    ("zeta -.inf", "nas", BASE_TEXT + "space: {groups: 1, width: 4}\nsnn: {zeta: -.inf}\n", 2, "snn.zeta"),
    (
        "constraint max .inf",
        "nas",
        BASE_TEXT + "space: {groups: 1, width: 4}\n"
        "search: {fitness: {constraints: [{objective: params, max: .inf}]}}\n",
        2,
        "search.fitness.constraints[0].max",
    ),
    ("seed beyond 64 bits", "nas", {"seed": 2**70}, 2, "seed: expected an int that fits in 64 bits"),
    ("groups beyond the image", "nas", {"space": {"groups": 5}}, 2, "space.groups"),
    (
        "duplicate top-level key",
        "nas",
        BASE_TEXT + "space: {groups: 1}\nspace: {width: 4}\n",
        2,
        'duplicate key "space"',
    ),
    ("elite > default pool", "nas", {"search": {"elite_size": 13}}, 2, "search.elite_size"),
    # raw event recordings (docs/events.md): tonic frames only recordings, and only whole microseconds
    ("tonic framing of frames", "nas", {"data": {"event_framing": "tonic"}}, 2, "data.event_framing"),
    (
        "tonic window under 1 µs",
        "nas",
        {"data": {"layout": "events", "event_framing": "tonic", "frame_window_ms": 0.0005}},
        2,
        "data.frame_window_ms",
    ),
    # the memory estimate (one training or evaluation batch, 1 TiB ceiling): the key that dominates
    (
        "memory: image size",
        "nas",
        {"data": {"image_size": 1024}, "space": {"width": 512}},
        2,
        "data.image_size",
    ),
    (
        "memory: width",
        "nas",
        {"data": {"image_size": 90}, "space": {"width": 4096, "groups": 3}},
        2,
        "space.width",
    ),
    (
        "memory: groups",
        "nas",
        {"data": {"image_size": 1024}, "space": {"width": 32, "groups": 10}},
        2,
        "space.groups",
    ),
    (
        "memory: training batch",
        "nas",
        {
            "data": {"image_size": 90},
            "space": {"width": 32, "groups": 3},
            "supernet": {"batch_size": 100_000},
        },
        2,
        "supernet.batch_size",
    ),
    (
        "memory: evaluation batch",
        "nas",
        {"data": {"image_size": 90}, "space": {"width": 32, "groups": 3}, "test": {"batch_size": 10**7}},
        2,
        "test.batch_size",
    ),
    # hardware profiles (ttfsnet-hw estimate --profile FILE)
    (
        "mesh_y as an int",
        "hw",
        _profile(_MESH_Y, "  mesh_y:\n    value: 1000000000000\n"),
        2,
        "'pe.mesh_y' must be <= 1024",
    ),
    (
        "mesh_x .inf",
        "hw",
        _profile(_MESH_X, "  mesh_x:\n    value: .inf\n"),
        2,
        "'pe.mesh_x' must be an integer",
    ),
    (
        "profile duplicate key",
        "hw",
        _profile(_MESH_Y, "  mesh_x: 3\n" + _MESH_Y),
        2,
        "duplicate key 'mesh_x' (first set on line 16)",
    ),
    ("profile non-UTF-8 byte", "hw", b"name: \xff\n" + YOSO.read_bytes(), 2, "byte 0xff at byte offset 6"),
]


def _content(cli: str, content: Any) -> bytes:
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode("utf-8")
    return yaml.safe_dump(_merge(BASE, content)).encode("utf-8")


@pytest.mark.parametrize(("case", "cli", "content", "exit_code", "key"), CASES, ids=[row[0] for row in CASES])
def test_guard_table(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    cli: str,
    content: Any,
    exit_code: int,
    key: str,
) -> None:
    path = tmp_path / "input.yaml"
    path.write_bytes(_content(cli, content))
    out = tmp_path / "run"
    if cli == "nas":
        with pytest.raises(SystemExit) as info:
            nas_main(["search", str(path), "--out", str(out)])
        code = int(info.value.code or 0)
    else:
        code = hw_main(["estimate", "paper", "--rates", "0.1", "--profile", str(path)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == exit_code, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(path) in lines[0] and key in lines[0], lines[0]
    assert not out.exists()  # refused before anything ran


def test_table_covers_every_case_of_the_issue() -> None:
    named = {row[0] for row in CASES}
    issue = {
        "epochs 1e23",
        "image_size 50000",
        "width 1e8",
        "lr .inf",
        "non-UTF-8 byte",
        "groups 10",
        "duplicate key",
        "elite > pool",
        "mesh_x 1e12",
    }
    assert issue <= named and len(CASES) == 31


@pytest.mark.parametrize("name", sorted(p.stem for p in RECIPES.glob("*.yaml")))
def test_builtin_recipes_pass_the_memory_estimate(name: str) -> None:
    estimate = estimate_memory(load_recipe(RECIPES / f"{name}.yaml"))
    # far below the ceiling: the paper-sized recipes need about 2 GiB for one training batch of 96
    assert estimate.total < MEMORY_LIMIT_BYTES / 100, estimate


def test_paper_setting_estimate() -> None:
    estimate = estimate_memory(recipe_from_mapping({}))  # TNAS-ER: 90 px, width 32, G = 3, batch 96
    assert (estimate.step, estimate.batch_key, estimate.batch_size) == (
        "training batch",
        "supernet.batch_size",
        96,
    )
    assert 1.5 * 2**30 < estimate.activations < 2.5 * 2**30 and estimate.weights < 2**30


def _saved_activation_bytes(recipe: EmotionRecipe, batch: int) -> int:
    """Bytes autograd keeps for the backward pass of the widest path (all conv5x5), weights excluded."""
    from ttfsnet_nas.emotion.space import backbone
    from ttfsnet_nas.torch.supernet import MacroSupernet

    d, s = recipe.data, recipe.space
    net = MacroSupernet(
        backbone(groups=s.groups, ops=s.ops, width=s.width, in_channels=d.channels, image_size=d.image_size)
    )
    params = {p.data_ptr() for p in net.parameters()}
    seen: set[int] = set()
    total = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in seen and t.data_ptr() not in params:
            seen.add(t.data_ptr())
            total[0] += t.numel() * t.element_size()
        return t

    x = torch.rand(batch, d.channels, d.image_size, d.image_size)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(x, {gene: "conv5x5" for gene in net.genes})
    return total[0]


@pytest.mark.parametrize(
    ("image_size", "channels", "width", "groups"),
    [(16, 8, 4, 1), (32, 8, 8, 3), (45, 4, 16, 3), (64, 4, 8, 5)],
)
def test_activation_estimate_matches_autograd(
    image_size: int, channels: int, width: int, groups: int
) -> None:
    batch = 2
    recipe = recipe_from_mapping(
        {
            "data": {"channels": channels, "image_size": image_size, "sampling": f"E{channels}-S3"},
            "space": {"width": width, "groups": groups},
            "supernet": {"batch_size": batch},
            "retrain": {"batch_size": batch},
            "snn": {"batch_size": batch},
            "search": {"batch_size": 1},
            "test": {"batch_size": 1},
        }
    )
    estimate = estimate_memory(recipe)
    assert estimate.step == "training batch"
    measured = _saved_activation_bytes(recipe, batch)
    # the model counts every activation autograd saves; it leaves out only BN's per-channel statistics
    assert abs(estimate.activations - measured) <= 0.01 * measured
