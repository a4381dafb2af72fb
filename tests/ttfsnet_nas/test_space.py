"""Search space and architecture encoding."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from ttfsnet_nas.space import Architecture, CostBound, SearchSpace, SpaceError


def test_architecture_is_frozen_hashable_mapping() -> None:
    a = Architecture([("b0", "k3"), ("b1", "skip")])
    b = Architecture({"b0": "k3", "b1": "skip"})
    assert a == b and hash(a) == hash(b)
    assert dict(a) == {"b0": "k3", "b1": "skip"}
    assert list(a) == ["b0", "b1"] and len(a) == 2 and a["b1"] == "skip"
    assert {a: 1}[b] == 1
    with pytest.raises(AttributeError):
        a.x = 1  # type: ignore[attr-defined]
    assert Architecture([("b1", "skip"), ("b0", "k3")]) != a  # gene order is part of identity


def test_architecture_key_and_json_roundtrip() -> None:
    a = Architecture([("b0", "k3"), ("b1", "skip")])
    assert a.key == "b0=k3,b1=skip"
    assert Architecture.from_key(a.key) == a
    assert Architecture.from_json(a.to_json()) == a
    assert Architecture.from_json(json.loads(a.to_json())) == a
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(SpaceError, match="given twice"):
        Architecture([("b0", "k3"), ("b0", "k5")])
    with pytest.raises(SpaceError, match="gene=op"):
        Architecture.from_key("b0k3")


def test_space_rejects_bad_definitions() -> None:
    with pytest.raises(SpaceError, match="at least one gene"):
        SearchSpace({})
    with pytest.raises(SpaceError, match="'b0' has no ops"):
        SearchSpace({"b0": []})
    with pytest.raises(SpaceError, match="lists an op twice"):
        SearchSpace({"b0": ["k3", "k3"]})
    with pytest.raises(SpaceError, match="expected a list"):
        SearchSpace({"b0": "k3"})
    with pytest.raises(SpaceError, match="without"):
        SearchSpace({"b0": ["k=3"]})


def test_size_encode_decode_and_errors(space36: SearchSpace) -> None:
    assert space36.size == 729
    arch = space36.decode([2, 0, 1, 2, 1, 0])
    assert space36.encode(arch) == (2, 0, 1, 2, 1, 0)
    assert space36.architecture(arch.key) == arch
    assert space36.architecture({"b5": "op0", **{g: arch[g] for g in arch if g != "b5"}}) == arch
    with pytest.raises(SpaceError, match="gene 'b0': expected one of"):
        space36.architecture({**arch, "b0": "nope"})
    with pytest.raises(SpaceError, match="unknown gene"):
        space36.architecture({**arch, "zz": "op0"})
    with pytest.raises(SpaceError, match="missing"):
        space36.architecture({"b0": "op0"})
    with pytest.raises(SpaceError, match=r"index 3 outside \[0, 2\]"):
        space36.decode([3, 0, 0, 0, 0, 0])


def test_constraints_enumerate_sample_validity() -> None:
    # at most one "big" op: cost bound on a cheap cost function (like a parameter budget)
    space = SearchSpace(
        {f"b{i}": ["small", "big"] for i in range(4)},
        constraints=[CostBound("bigs", lambda a: sum(op == "big" for op in a.values()), high=1)],
    )
    valid = list(space.enumerate())
    assert len(valid) == 5  # none or exactly one big
    assert all(space.is_valid(a) for a in valid)
    bad = space.architecture({f"b{i}": "big" for i in range(4)})
    assert not space.is_valid(bad) and not space.satisfies(bad)
    assert space.satisfies(valid[0])
    # is_valid also checks membership: a foreign architecture meets the (count) constraint but is invalid
    assert not space.is_valid(Architecture({"x": "big"})) and space.satisfies(Architecture({"x": "big"}))
    assert space.violated(bad) == ["-inf <= bigs <= 1"]
    rng = np.random.default_rng(0)
    samples = [space.sample(rng) for _ in range(200)]
    assert all(space.is_valid(a) for a in samples)
    assert {a.key for a in samples} == {a.key for a in valid}  # uniform over valid ones, all reached


def test_sampling_is_seeded(space36: SearchSpace) -> None:
    a = [space36.sample(np.random.default_rng(5)) for _ in range(3)]
    b = [space36.sample(np.random.default_rng(5)) for _ in range(3)]
    assert a == b


def test_sample_gives_up_with_clear_error() -> None:
    space = SearchSpace({"b0": ["a", "b"]}, constraints=[lambda a: False])
    with pytest.raises(SpaceError, match="no valid architecture in 5 random draws"):
        space.sample(np.random.default_rng(0), max_tries=5)


def test_enumeration_limit() -> None:
    big = SearchSpace({f"b{i}": ["a", "b", "c", "d"] for i in range(7)})  # 16384 > 1e4
    with pytest.raises(SpaceError, match="more than the enumeration limit 10000"):
        next(big.enumerate())
    assert next(big.enumerate(limit=None)) == big.decode([0] * 7)


def test_enumeration_order_is_canonical(space36: SearchSpace) -> None:
    archs = list(space36.enumerate())
    assert len(archs) == 729 and len(set(archs)) == 729
    assert [space36.encode(a) for a in archs] == sorted(space36.encode(a) for a in archs)


def test_hash_and_dict_roundtrip(space36: SearchSpace) -> None:
    h = space36.hash
    assert len(h) == 64 and h == SearchSpace(space36.genes).hash
    again = SearchSpace.from_dict(json.loads(json.dumps(space36.to_dict())))
    assert again == space36 and again.hash == h
    reordered = SearchSpace({g: tuple(reversed(ops)) for g, ops in space36.genes.items()})
    assert reordered.hash != h  # op order defines the encoding, so it is part of the identity
    constrained = SearchSpace(space36.genes, constraints=[CostBound("p", lambda a: 1.0, high=2.0)])
    assert constrained.hash != h
    with pytest.raises(SpaceError, match="expected key 'genes'"):
        SearchSpace.from_dict({})


def test_cost_bound_validation() -> None:
    with pytest.raises(SpaceError, match="give low, high or both"):
        CostBound("p", lambda a: 0.0)
    with pytest.raises(SpaceError, match="low 2 > high 1"):
        CostBound("p", lambda a: 0.0, low=2, high=1)


def test_op_count_bound() -> None:
    genes = {f"b{i}": ["k3", "k5", "skip"] for i in range(4)}
    bounds = [CostBound.op_count("skip", high=1), CostBound.op_count(["k5"], low=1)]
    space = SearchSpace(genes, constraints=bounds)
    valid = list(space.enumerate())
    # at most one skip and at least one k5, checked against a direct count over the whole space
    ops = [list(a.values()) for a in SearchSpace(genes).enumerate()]
    expected = [space.architecture(dict(zip(genes, o, strict=True))) for o in ops
                if o.count("skip") <= 1 and o.count("k5") >= 1]
    assert valid == expected and 0 < len(valid) < space.size
    assert space.violated(space.architecture({g: "skip" for g in genes})) == [
        "-inf <= count(skip) <= 1",
        "1 <= count(k5) <= inf",
    ]
    # the name is canonical, so the space hash does not depend on how the ops were listed
    a = SearchSpace(genes, constraints=[CostBound.op_count(["skip", "k5"], high=2)])
    b = SearchSpace(genes, constraints=[CostBound.op_count(["k5", "skip"], high=2)])
    assert a.hash == b.hash
    with pytest.raises(SpaceError, match="at least one op name"):
        CostBound.op_count([], high=1)


def test_hash_of_stored_description_matches_live_space() -> None:
    space = SearchSpace({"b0": ["k3", "skip"]}, constraints=[CostBound.op_count("skip", high=0)])
    stored = json.loads(json.dumps({**space.to_dict(), "hash": space.hash}))  # as in an artifact's space.json
    assert SearchSpace.hash_of(stored) == space.hash
    assert SearchSpace.from_dict(stored).hash != space.hash  # the rebuilt space has lost its constraint
