"""The quantised-network file: exact round trip, plain arrays only, clear errors, atomic writes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from ttfsnet_hw.errors import QuantizationError
from ttfsnet_hw.intsim import compare, simulate
from ttfsnet_hw.ir import IRBuilder
from ttfsnet_hw.quantize import quantize
from ttfsnet_hw.quantized_file import FORMAT, load_quantized, save_quantized
from ttfsnet_hw.types import PrecisionSpec


def _qnet(x: np.ndarray):  # type: ignore[no-untyped-def]
    ir = (
        IRBuilder("rt", (2, 8, 8), rng=np.random.default_rng(3))
        .conv(4, 3)
        .avgpool(2)
        .conv(3, 3, padding=0)
        .maxpool(2, stride=1)
        .flatten()
        .linear(5)
        .readout(3)
    )
    return quantize(ir, PrecisionSpec(weight_bits=6, membrane_bits=16, time_bits=4), x, bias_correction=True)


def test_round_trip_is_exact(tmp_path: Path) -> None:
    x = np.random.default_rng(4).uniform(0, 1, (5, 2, 8, 8))
    q = _qnet(x)
    back = load_quantized(save_quantized(q, tmp_path / "sub" / "quantized.npz"))
    assert back.steps == q.steps and back.precision == q.precision
    assert back.weight_errors == q.weight_errors and back.overflow_layers == q.overflow_layers
    assert back.ir.name == q.ir.name and back.ir.input_range == q.ir.input_range
    for a, b in zip(q.layers, back.layers, strict=True):
        assert (a.name, a.kind, a.weight_shift, a.time_exp, a.out_shift, a.unit_exp) == (
            b.name,
            b.kind,
            b.weight_shift,
            b.time_exp,
            b.out_shift,
            b.unit_exp,
        )
        for field in ("q_weight", "q_bias"):
            va, vb = getattr(a, field), getattr(b, field)
            assert (va is None) == (vb is None)
            if va is not None:
                np.testing.assert_array_equal(va, vb)
                assert vb.dtype == np.int64
    for a, b in zip(q.ir.layers, back.ir.layers, strict=True):
        assert (a.kind, a.in_shape, a.out_shape, a.kernel, a.stride, a.padding, a.window) == (
            b.kind,
            b.in_shape,
            b.out_shape,
            b.kernel,
            b.stride,
            b.padding,
            b.window,
        )
        for field in ("weight", "threshold", "bias"):
            va, vb = getattr(a, field), getattr(b, field)
            assert (va is None) == (vb is None)
            if va is not None:
                np.testing.assert_array_equal(va, vb)
    r1, r2 = simulate(q, x), simulate(back, x)
    assert compare(r1, r2).exact
    np.testing.assert_array_equal(r1.logits_int, r2.logits_int)


def test_file_holds_plain_arrays_and_meta(tmp_path: Path) -> None:
    x = np.random.default_rng(4).uniform(0, 1, (2, 2, 8, 8))
    path = save_quantized(_qnet(x), tmp_path / "q.npz")
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"][()]))
        assert meta["format"] == FORMAT and meta["version"] == 1
        assert z["conv0/q_weight"].dtype == np.int64 and z["conv0/shifts"].shape == (4,)
    assert [entry["name"] for entry in meta["layers"]][:2] == ["conv0", "avgpool1"]


def test_written_like_open_would(tmp_path: Path) -> None:
    x = np.random.default_rng(4).uniform(0, 1, (2, 2, 8, 8))
    old = os.umask(0o027)
    try:
        path = save_quantized(_qnet(x), tmp_path / "q.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["q.npz"]  # no temporary file left behind


def test_unreadable_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(QuantizationError, match="no such"):
        load_quantized(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    np.savez(tmp_path / "newer.npz", meta=np.array(json.dumps({"format": FORMAT, "version": 99})))
    np.savez(tmp_path / "objects.npz", meta=np.array([{"format": FORMAT}], dtype=object))
    for name, needle in (
        ("junk.npz", "not a quantised-network file"),
        ("plain.npy", "not a quantised-network file"),
        ("other.npz", "no readable key 'meta'"),
        ("newer.npz", "version 99"),
        ("objects.npz", "not a quantised-network file"),
    ):
        with pytest.raises(QuantizationError, match=needle) as info:
            load_quantized(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)
