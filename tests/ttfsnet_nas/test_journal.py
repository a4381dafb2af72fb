"""Journal, atomic writes, RNG hooks and crash-safe resume (including real SIGKILLs)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from ttfsnet_nas.artifact import read_artifact
from ttfsnet_nas.fitness import Fitness
from ttfsnet_nas.journal import (
    Journal,
    JournalError,
    JournalExistsError,
    NumpyGlobalRngHook,
    PythonRandomHook,
    atomic_write_json,
    read_journal,
    sha256_file,
)
from ttfsnet_nas.search import ResumeError, SearchSession, result_from_journal, run_search
from ttfsnet_nas.space import Architecture
from ttfsnet_nas.strategies import create_strategy
from ttfsnet_nas.toy import Landscape, toy_space

SCRIPT = textwrap.dedent(
    """
    import json, random, sys, time
    import numpy as np
    from ttfsnet_nas.fitness import Fitness
    from ttfsnet_nas.search import run_search
    from ttfsnet_nas.strategies import create_strategy
    from ttfsnet_nas.toy import Landscape, toy_space

    journal, resume = sys.argv[1], sys.argv[2] == "1"
    space = toy_space(6, 3)
    land = Landscape(space, seed=4)

    def evaluate(arch):
        time.sleep(0.02)  # evaluation cost, so kills land mid-search
        # global-RNG noise: identical results after resume only if the RNG hooks restore these states
        return {"accuracy": land.accuracy(arch) + float(np.random.normal(0, 1.0)) + random.random()}

    np.random.seed(123)
    random.seed(123)
    strategy = create_strategy(
        "evolution", space=space, fitness=Fitness(), seed=11, pool_size=6, elite_size=4, rounds=6
    )
    res = run_search(strategy, evaluate, journal=journal, resume=resume, header={"weights_hash": "w0"})
    print(json.dumps({"best": res.best.architecture.key, "n": len(res.history), "resumed": res.resumed}))
    """
)


def _evals(path: Path) -> list[tuple[str, dict[str, float], int]]:
    return [(r["key"], r["values"], r["round"]) for r in read_journal(path).records]


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_sigkill_at_random_points_then_resume_matches_uninterrupted(tmp_path: Path) -> None:
    script = tmp_path / "search_script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    ref = tmp_path / "ref.jsonl"
    done = subprocess.run(
        [sys.executable, str(script), str(ref), "0"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    ref_out = json.loads(done.stdout)
    assert ref_out["n"] == 36

    rng = random.Random(2024)
    targets = sorted(rng.sample(range(1, 32), 4))  # kill after this many journal lines (+ random delay)
    path = tmp_path / "killed.jsonl"
    kills = []
    for target in targets:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path), "1"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while _count_lines(path) < target + 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.03))  # anywhere inside an evaluation or a journal write
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        assert proc.returncode == -signal.SIGKILL
        kills.append(_count_lines(path) - 1)
    assert kills == sorted(kills) and 0 < kills[0] < 36 and kills[-1] < 36, kills  # all landed mid-search

    final = subprocess.run(
        [sys.executable, str(script), str(path), "1"], env=env, capture_output=True, text=True
    )
    assert final.returncode == 0, final.stderr
    out = json.loads(final.stdout)
    assert out["resumed"] > 0
    assert out["best"] == ref_out["best"]
    assert _evals(path) == _evals(ref)  # identical history: candidates, rounds and (noisy) values


def test_torn_last_line_is_dropped_and_truncated(tmp_path: Path) -> None:
    space = toy_space(4, 3)
    land = Landscape(space, seed=0)
    ev = lambda a: {"accuracy": land.accuracy(a)}  # noqa: E731
    mk = lambda: create_strategy("evolution", space=space, fitness=Fitness(), seed=0, pool_size=4, rounds=4)  # noqa: E731
    full = run_search(mk(), ev, journal=tmp_path / "full.jsonl")
    lines = (tmp_path / "full.jsonl").read_bytes().split(b"\n")
    for cut in (5, len(lines[6]) // 2, len(lines[6]) - 1):
        torn = tmp_path / f"torn{cut}.jsonl"
        torn.write_bytes(b"\n".join(lines[:6]) + b"\n" + lines[6][:cut])
        contents = read_journal(torn)
        assert contents.torn and len(contents.records) == 5
        res = run_search(mk(), ev, journal=torn, resume=True)
        assert res.resumed == 5
        assert [t.architecture for t in res.history] == [t.architecture for t in full.history]
        assert _evals(torn) == _evals(tmp_path / "full.jsonl")
    # a terminated but unparsable last line (newline reached the disk, record did not) is also torn
    bad_end = tmp_path / "bad_end.jsonl"
    bad_end.write_bytes(b"\n".join(lines[:6]) + b"\n{\"type\": \"ev\n")
    assert read_journal(bad_end).torn


def test_corrupt_middle_line_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    p.write_text('{"type": "header", "format": 1}\n{oops\n{"type": "eval"}\n')
    with pytest.raises(JournalError, match=r"j.jsonl:2: corrupt record"):
        read_journal(p)
    p.write_text('{"type": "eval"}\n')
    with pytest.raises(JournalError, match="first line is not a header"):
        read_journal(p)
    with pytest.raises(JournalError, match="file not found"):
        read_journal(tmp_path / "missing.jsonl")


def test_header_checks_on_resume(tmp_path: Path) -> None:
    space = toy_space(4, 3)
    land = Landscape(space, seed=0)
    ev = lambda a: {"accuracy": land.accuracy(a)}  # noqa: E731
    j = tmp_path / "j.jsonl"
    mk = lambda **kw: create_strategy(  # noqa: E731
        "evolution", space=kw.pop("space", space), fitness=Fitness(), seed=kw.pop("seed", 0), rounds=2, **kw
    )
    run_search(mk(), ev, journal=j, header={"weights_hash": "abc", "split": [1, 2, 3]})
    with pytest.raises(JournalExistsError, match="already exists; resume it"):
        run_search(mk(), ev, journal=j)
    with pytest.raises(ResumeError, match="header 'weights_hash' differs: journal \"abc\", now \"xyz\""):
        run_search(mk(), ev, journal=j, resume=True, header={"weights_hash": "xyz", "split": [1, 2, 3]})
    with pytest.raises(ResumeError, match="header 'space_hash' differs"):
        run_search(
            mk(space=toy_space(4, 2)), ev, journal=j, resume=True,
            header={"weights_hash": "abc", "split": [1, 2, 3]},
        )
    with pytest.raises(ResumeError, match="header 'seed' differs"):
        run_search(mk(seed=1), ev, journal=j, resume=True, header={"weights_hash": "abc", "split": [1, 2, 3]})
    with pytest.raises(ResumeError, match="header 'hparams' differs"):
        run_search(
            mk(pool_size=5), ev, journal=j, resume=True, header={"weights_hash": "abc", "split": [1, 2, 3]}
        )
    with pytest.raises(ResumeError, match=r"header has entries \['split', 'weights_hash'\]"):
        run_search(mk(), ev, journal=j, resume=True)
    # a finished journal resumes to the same result without evaluating anything
    calls = []
    res = run_search(mk(), lambda a: calls.append(a) or ev(a), journal=j, resume=True,
                     header={"weights_hash": "abc", "split": [1, 2, 3]})
    assert calls == [] and res.resumed == 24


def test_replay_detects_a_tampered_journal(tmp_path: Path) -> None:
    space = toy_space(4, 3)
    land = Landscape(space, seed=0)
    ev = lambda a: {"accuracy": land.accuracy(a)}  # noqa: E731
    mk = lambda: create_strategy("evolution", space=space, fitness=Fitness(), seed=0, pool_size=4, rounds=3)  # noqa: E731
    j = tmp_path / "j.jsonl"
    run_search(mk(), ev, journal=j)
    lines = j.read_text().splitlines()
    rec = json.loads(lines[4])  # last of round 0 and the worst of it: ranked last in the elite
    rec["values"]["accuracy"] = 1000.0  # now ranked first → other parents → round 1 diverges
    lines[4] = json.dumps(rec)
    j.write_text("\n".join(lines[:12]) + "\n")
    with pytest.raises(ResumeError, match="never proposed|differs"):
        run_search(mk(), ev, journal=j, resume=True)


def test_session_parallel_style_out_of_order_and_resume(tmp_path: Path) -> None:
    space = toy_space(4, 3)
    land = Landscape(space, seed=1)
    mk = lambda: create_strategy("evolution", space=space, fitness=Fitness(), seed=5, pool_size=4, rounds=3)  # noqa: E731
    j = tmp_path / "par.jsonl"
    with SearchSession(mk(), journal=j) as session:
        batch = session.ask_batch()
        for arch in reversed(batch):  # results arrive out of order
            session.tell(arch, {"accuracy": land.accuracy(arch)})
        batch2 = session.ask_batch()
        session.tell(batch2[1], {"accuracy": land.accuracy(batch2[1])})
    # killed with 3 of 4 round-1 candidates outstanding: they are asked again after resume
    with SearchSession(mk(), journal=j, resume=True) as session:
        assert session.resumed == 5
        again = session.ask_batch()
        assert [a.key for a in again] == [batch2[0].key, batch2[2].key, batch2[3].key]


def test_rng_hooks_roundtrip() -> None:
    hooks = [PythonRandomHook(), NumpyGlobalRngHook()]
    random.seed(1)
    np.random.seed(2)
    states = json.loads(json.dumps({h.name: h.get_state() for h in hooks}))
    a = (random.random(), np.random.rand())
    for h in hooks:
        h.set_state(states[h.name])
    assert (random.random(), np.random.rand()) == a


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_atomic_write_and_journal_append(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.json"]  # no temp files left
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # as a plain open() would
    old = os.umask(0o027)
    try:
        atomic_write_json(target, {"a": 3})
    finally:
        os.umask(old)
    assert oct(target.stat().st_mode & 0o777) == "0o640"  # the umask applies, not a fixed mode
    with Journal.create(tmp_path / "j.jsonl", {"x": 1}) as j:
        j.append({"type": "eval", "i": 0})
    with Journal.open(tmp_path / "j.jsonl") as j:
        assert j.header["x"] == 1 and j.records == [{"type": "eval", "i": 0}]
    assert len(sha256_file(target)) == 64


def test_result_from_journal_rebuilds_history(tmp_path: Path) -> None:
    space = toy_space(4, 3)
    land = Landscape(space, seed=0)
    mk = lambda: create_strategy("random_search", space=space, fitness=Fitness(), seed=0, samples=10)  # noqa: E731
    res = run_search(mk(), lambda a: {"accuracy": land.accuracy(a)}, journal=tmp_path / "j.jsonl")
    again = result_from_journal(tmp_path / "j.jsonl", mk())
    assert again.best == res.best and again.history == res.history
    assert isinstance(again.best.architecture, Architecture)


@pytest.mark.parametrize("name", ["exhaustive", "random_search", "evolution"])
def test_round_lists_are_journaled_once_per_round_and_rebuilt_on_resume(name: str, tmp_path: Path) -> None:
    # exhaustive puts all 1024 architectures in one round: listing them in every record grew the journal
    # with the square of the run length
    space = toy_space(5, 4)
    land = Landscape(space, seed=1)
    kwargs = {"random_search": {"samples": 300}, "evolution": {"pool_size": 8, "rounds": 6}}.get(name, {})
    mk = lambda: create_strategy(name, space=space, fitness=Fitness(), seed=3, **kwargs)  # noqa: E731
    evaluate = lambda a: {"accuracy": land.accuracy(a)}  # noqa: E731
    full = tmp_path / "full.jsonl"
    res = run_search(mk(), evaluate, journal=full)
    records = read_journal(full).records
    states = [(r["state"]["round"], r["state"]["finished"]) for r in records]
    listed = [st for r, st in zip(records, states, strict=True) if "queue" in r["state"]]
    # only records that open a round, and the last one, which finds no further round
    assert listed == [st for i, st in enumerate(states) if i == 0 or st != states[i - 1]]
    assert len(listed) == len({r["round"] for r in records}) + 1
    lines = full.read_text().splitlines(keepends=True)
    # the other records do not grow along the round (RNG states make up most of their ~7 KB)
    sizes = [len(line) for line in lines[1:] if '"queue"' not in line]
    assert max(sizes) < min(sizes) + 1000
    for cut in (2, len(lines) // 3, len(lines) - 2):  # header + cut - 1 records: inside a round
        part = tmp_path / f"part{cut}.jsonl"
        part.write_text("".join(lines[:cut]))
        again = run_search(mk(), evaluate, journal=part, resume=True)
        assert again.resumed == cut - 1
        assert [t.architecture for t in again.history] == [t.architecture for t in res.history]
        assert _evals(part) == _evals(full)
        assert result_from_journal(part, mk()).history == res.history


def test_pareto_search_resumes_identically(tmp_path: Path) -> None:
    space = toy_space(5, 3)
    land = Landscape(space, seed=3)
    fitness = Fitness(mode="pareto", objectives=("accuracy", "params"))
    ev = lambda a: {"accuracy": land.accuracy(a), "params": land.params(a)}  # noqa: E731
    mk = lambda: create_strategy(  # noqa: E731
        "evolution", space=space, fitness=fitness, seed=2, pool_size=6, elite_size=4, rounds=5
    )
    full = run_search(mk(), ev, journal=tmp_path / "full.jsonl")
    lines = (tmp_path / "full.jsonl").read_text().splitlines()
    (tmp_path / "cut.jsonl").write_text("\n".join(lines[:15]) + "\n")  # stop inside round 2
    res = run_search(mk(), ev, journal=tmp_path / "cut.jsonl", resume=True)
    assert res.resumed == 14
    assert [t.architecture for t in res.history] == [t.architecture for t in full.history]
    assert [t.architecture for t in res.front] == [t.architecture for t in full.front]


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []

    def start(self, task: str, total: int | None = None, *, completed: int = 0) -> None:
        self.events.append(("start", task, (total, completed)))

    def advance(self, task: str, n: int = 1, **info: object) -> None:
        self.events.append(("advance", task, n))

    def finish(self, task: str) -> None:
        self.events.append(("finish", task, None))

    def log(self, message: str) -> None:
        self.events.append(("log", "", message))


def test_progress_reports_evaluations_and_rounds(tmp_path: Path) -> None:
    space = toy_space(4, 3)
    land = Landscape(space, seed=0)
    ev = lambda a: {"accuracy": land.accuracy(a)}  # noqa: E731
    mk = lambda: create_strategy("evolution", space=space, fitness=Fitness(), seed=0, pool_size=4, rounds=3)  # noqa: E731
    rec = _Recorder()
    run_search(mk(), ev, journal=tmp_path / "j.jsonl", progress=rec)
    assert ("start", "rounds", (3, 0)) in rec.events and ("start", "search", (12, 0)) in rec.events
    assert sum(1 for e in rec.events if e[:2] == ("advance", "search")) == 12
    assert sum(1 for e in rec.events if e[:2] == ("advance", "rounds")) == 3
    rec = _Recorder()
    run_search(mk(), ev, journal=tmp_path / "j.jsonl", resume=True, progress=rec)  # finished: nothing left
    assert ("start", "rounds", (3, 3)) in rec.events and ("start", "search", (12, 12)) in rec.events
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    (tmp_path / "j.jsonl").write_text("\n".join(lines[:7]) + "\n")  # 6 evaluations: inside round 1
    rec = _Recorder()
    run_search(mk(), ev, journal=tmp_path / "j.jsonl", resume=True, progress=rec)
    assert ("start", "rounds", (3, 1)) in rec.events and ("start", "search", (12, 6)) in rec.events
    assert sum(1 for e in rec.events if e[:2] == ("advance", "rounds")) == 2


def test_torch_rng_hook_roundtrip() -> None:
    torch = pytest.importorskip("torch")
    from ttfsnet_nas.torch.rng import TorchRngHook

    hook = TorchRngHook()
    torch.manual_seed(3)
    state = json.loads(json.dumps(hook.get_state()))
    a = torch.rand(4)
    torch.rand(10)
    hook.set_state(state)
    assert torch.equal(torch.rand(4), a)


# -- artifacts ------------------------------------------------------------------------------------


def test_artifact_is_self_contained_and_written_atomically(tmp_path: Path) -> None:
    from ttfsnet_nas.artifact import ArtifactError, write_artifact
    from ttfsnet_nas.space import CostBound, SearchSpace

    # a space built in this process only: the reader below never sees this source
    genes = {f"blk{i}": ["k3", "k5", "skip"] for i in range(3)}
    space = SearchSpace(genes, [CostBound.op_count("skip", high=1)])
    arch = space.architecture({"blk0": "k5", "blk1": "skip", "blk2": "k3"})

    def weights(stage: Path) -> None:
        (stage / "weights.bin").write_bytes(b"\x00\x01" * 100)

    out = write_artifact(
        tmp_path / "art",
        architecture=arch,
        space=space,
        metrics={"war": 80.1},
        recipe={"type": "toy", "search": {"seed": 3}},
        hooks=[weights],
        info={"note": "x"},
    )
    code = textwrap.dedent(
        f"""
        import json
        from ttfsnet_nas import read_artifact
        art = read_artifact({str(out)!r})
        print(json.dumps([art.architecture.key, art.metrics, art.recipe, sorted(art.manifest["files"]),
                          art.manifest["space_hash"], art.manifest["note"]]))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    key, metrics, recipe, files, space_hash, note = json.loads(done.stdout)
    assert key == arch.key and metrics == {"war": 80.1} and recipe["search"]["seed"] == 3 and note == "x"
    assert files == ["architecture.json", "metrics.json", "resolved_recipe.yaml", "space.json", "weights.bin"]
    assert space_hash == space.hash

    with pytest.raises(ArtifactError, match="already exists"):
        write_artifact(out, architecture=arch, space=space, metrics={})

    def crash(stage: Path) -> None:
        (stage / "weights.bin").write_bytes(b"partial")
        raise OSError("disk full")

    # a failure while assembling never leaves a partial artifact, and an overwrite keeps the old one intact
    with pytest.raises(OSError, match="disk full"):
        write_artifact(tmp_path / "new", architecture=arch, space=space, metrics={}, hooks=[crash])
    with pytest.raises(OSError, match="disk full"):
        write_artifact(out, architecture=arch, space=space, metrics={}, hooks=[crash], overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]
    assert (out / "weights.bin").read_bytes() == b"\x00\x01" * 100
    assert read_artifact(out).metrics == {"war": 80.1}


def test_broken_artifact_is_an_artifact_error(tmp_path: Path) -> None:
    from ttfsnet_nas.artifact import ArtifactError, write_artifact

    space = toy_space(2, 2)
    out = write_artifact(tmp_path / "a", architecture=space.decode([0, 1]), space=space, metrics={})
    (out / "architecture.json").write_text(json.dumps({"architecture": {"b0": "op9", "b1": "op0"}}))
    with pytest.raises(ArtifactError, match="gene 'b0': expected one of"):
        read_artifact(out, verify=False)
    with pytest.raises(ArtifactError, match="architecture.json does not match its sha256"):
        read_artifact(out)


def _partial_batches(
    session: SearchSession, land: Landscape, stop_after: int | None = None
) -> tuple[list[str], list[str]]:
    """Drive ``session`` the way a pool of three workers does: ask three candidates at a time, tell them in
    reverse order. Returns (keys told, keys asked but not told when ``stop_after`` tells were reached)."""
    told: list[str] = []
    while True:
        batch = session.ask_batch(3)
        if not batch:
            return told, []
        for i, arch in enumerate(reversed(batch)):
            if stop_after is not None and len(told) == stop_after:
                return told, [a.key for a in batch[: len(batch) - i]]
            session.tell(arch, {"accuracy": land.accuracy(arch)})
            told.append(arch.key)


@pytest.mark.parametrize("name", ["evolution", "random_search", "random_sampling", "exhaustive"])
@pytest.mark.parametrize("stop_after", [1, 2, 4])
def test_resume_after_a_partial_ask_batch_of_every_strategy(
    tmp_path: Path, name: str, stop_after: int
) -> None:
    """Killed with candidates asked but not told (a partial ``ask_batch``): the resumed session accepts its
    own journal, asks exactly the outstanding candidates again in their original order, and the finished
    search scores the same candidates as an uninterrupted one with the same worker pattern."""
    space = toy_space(3, 3)  # 27 architectures: exhaustive stays small
    land = Landscape(space, seed=2)
    kwargs = {"evolution": {"pool_size": 4, "elite_size": 2, "rounds": 3}, "exhaustive": {}}.get(
        name, {"samples": 7}
    )

    def make() -> object:
        return create_strategy(name, space=space, fitness=Fitness(), seed=3, **kwargs)

    with SearchSession(make(), journal=tmp_path / "ref.jsonl") as session:
        reference, _ = _partial_batches(session, land)
    j = tmp_path / "killed.jsonl"
    with SearchSession(make(), journal=j) as session:
        before, outstanding = _partial_batches(session, land, stop_after=stop_after)
    assert len(before) == stop_after and outstanding
    with SearchSession(make(), journal=j, resume=True) as session:
        assert session.resumed == stop_after
        again = session.ask_batch(len(outstanding))
        assert [a.key for a in again] == outstanding
        for arch in reversed(again):
            session.tell(arch, {"accuracy": land.accuracy(arch)})
        after, _ = _partial_batches(session, land)
    assert sorted(before + outstanding + after) == sorted(reference)
    # the journal holds every tell once, in the order told
    assert [r["key"] for r in read_journal(j).records] == before + outstanding[::-1] + after
