"""The quantised-network file: [`save_quantized`][ttfsnet_hw.quantized_file.save_quantized] and
[`load_quantized`][ttfsnet_hw.quantized_file.load_quantized] (``quantized.npz``).

A file is a numpy ``.npz`` archive of plain arrays only, read with ``allow_pickle=False`` (opening a file
someone sent you never runs code from it), written atomically. Keys (format version 1):

* ``meta``: a 0-d string array holding JSON: ``format`` (``"ttfsnet_hw.quantized"``), ``version`` (``1``),
  ``name``, ``input_shape``, ``input_range``, ``steps`` (``L``), ``precision`` (``weight_bits``,
  ``membrane_bits``, ``time_bits``), ``weight_errors``, ``overflow_layers`` and ``layers``: one entry per
  layer with ``name``, ``kind``, ``in_shape``, ``out_shape``, ``kernel``, ``stride``, ``padding``,
  ``groups``, ``weight_shift``, ``out_shift``, ``unit_exp`` and ``time_exp`` (``null`` for layers without a
  window).
* ``<layer>/q_weight`` and ``<layer>/q_bias``: the integer weights and bias (int64) of layers that have them.
* ``<layer>/shifts``: ``[weight_shift, out_shift, unit_exp, time_exp or 0]`` (int64), for readers that do
  not parse ``meta``.

The float values of the quantised IR (weights ``q·2^-s``, windows ``L·2^e``, thresholds ``T' − q_b·u``,
readout bias ``q_b·u``) are exact functions of these integers and are rebuilt on load, so a loaded network
simulates bit for bit like the saved one.

Example:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from ttfsnet_hw.ir import IRBuilder
    >>> from ttfsnet_hw.quantize import quantize
    >>> from ttfsnet_hw.types import PrecisionSpec
    >>> ir = IRBuilder("n", (1, 4, 4), rng=np.random.default_rng(0)).conv(2, 3).flatten().readout(2)
    >>> q = quantize(ir, PrecisionSpec(weight_bits=6, membrane_bits=20, time_bits=4))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = load_quantized(save_quantized(q, Path(tmp) / "quantized.npz"))
    >>> [layer.name for layer in back.layers], back.steps
    (['conv0', 'flatten1', 'readout2'], 16)
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ttfsnet_hw.atomic import atomic_write
from ttfsnet_hw.errors import IRError, QuantizationError
from ttfsnet_hw.types import LayerIR, NetworkIR, PrecisionSpec, QLayer, QuantizedNetwork

__all__ = ["FORMAT", "FORMAT_VERSION", "load_quantized", "save_quantized"]

FORMAT = "ttfsnet_hw.quantized"
FORMAT_VERSION = 1


def save_quantized(qnet: QuantizedNetwork, path: str | os.PathLike[str]) -> Path:
    """Write a quantised network (format in the module docstring), atomically.

    Args:
        qnet: the network (from [`ttfsnet_hw.quantize.quantize`][ttfsnet_hw.quantize.quantize]).
        path: destination, conventionally ``quantized.npz``; parent folders are created.

    Returns:
        The destination path.
    """
    layers = []
    arrays: dict[str, np.ndarray] = {}
    for layer, ql in zip(qnet.ir.layers, qnet.layers, strict=True):
        layers.append(
            {
                "name": layer.name,
                "kind": layer.kind,
                "in_shape": list(layer.in_shape),
                "out_shape": list(layer.out_shape),
                "kernel": list(layer.kernel),
                "stride": list(layer.stride),
                "padding": list(layer.padding),
                "groups": layer.groups,
                "weight_shift": ql.weight_shift,
                "out_shift": ql.out_shift,
                "unit_exp": ql.unit_exp,
                "time_exp": ql.time_exp,
            }
        )
        if ql.q_weight is not None:
            arrays[f"{ql.name}/q_weight"] = np.asarray(ql.q_weight, dtype=np.int64)
        if ql.q_bias is not None:
            arrays[f"{ql.name}/q_bias"] = np.asarray(ql.q_bias, dtype=np.int64)
        arrays[f"{ql.name}/shifts"] = np.array(
            [ql.weight_shift, ql.out_shift, ql.unit_exp, ql.time_exp if ql.time_exp is not None else 0],
            dtype=np.int64,
        )
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "name": qnet.ir.name,
        "input_shape": list(qnet.ir.input_shape),
        "input_range": list(qnet.ir.input_range),
        "steps": qnet.steps,
        "precision": {
            "weight_bits": qnet.precision.weight_bits,
            "membrane_bits": qnet.precision.membrane_bits,
            "time_bits": qnet.precision.time_bits,
        },
        "weight_errors": dict(qnet.weight_errors),
        "overflow_layers": list(qnet.overflow_layers),
        "layers": layers,
    }
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]
    return atomic_write(path, buf.getvalue())


def load_quantized(path: str | os.PathLike[str]) -> QuantizedNetwork:
    """Read a file written by [`save_quantized`][ttfsnet_hw.quantized_file.save_quantized] (as plain arrays:
    ``allow_pickle=False``).

    Args:
        path: the file.

    Returns:
        The quantised network, equal to the saved one in every integer and float value.

    Raises:
        QuantizationError: missing file, not a quantised-network file, a newer format version, or
            contents that do not fit together. The message names the file.
    """
    src = Path(path)
    if not src.is_file():
        raise QuantizationError(f"{src}: no such quantised-network file")
    try:
        archive = np.load(src, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):  # a plain .npy array
            raise ValueError("not an .npz archive")
        with archive as z:
            arrays = {key: np.asarray(z[key]) for key in z.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise QuantizationError(f"{src}: not a quantised-network file ({type(exc).__name__})") from None
    try:
        meta = json.loads(str(arrays["meta"][()]))
    except (KeyError, json.JSONDecodeError):
        raise QuantizationError(f"{src}: no readable key 'meta' (not a file of save_quantized)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise QuantizationError(f"{src}: format is {found!r}, expected {FORMAT!r}")
    version = meta.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise QuantizationError(
            f"{src}: format version {version!r}; this ttfsnet_hw reads up to {FORMAT_VERSION}"
        )
    try:
        return _network(meta, arrays)
    except (KeyError, TypeError, ValueError, IRError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise QuantizationError(f"{src}: contents do not fit together ({text})") from None


def _network(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> QuantizedNetwork:
    steps = int(meta["steps"])
    qlayers: list[QLayer] = []
    layers: list[LayerIR] = []
    for entry in meta["layers"]:
        name = str(entry["name"])
        q_weight = _integers(arrays.get(f"{name}/q_weight"), f"{name}/q_weight")
        q_bias = _integers(arrays.get(f"{name}/q_bias"), f"{name}/q_bias")
        ql = QLayer(
            name=name,
            kind=str(entry["kind"]),
            q_weight=q_weight,
            weight_shift=int(entry["weight_shift"]),
            q_bias=q_bias,
            time_exp=None if entry["time_exp"] is None else int(entry["time_exp"]),
            out_shift=int(entry["out_shift"]),
            unit_exp=int(entry["unit_exp"]),
        )
        qlayers.append(ql)
        layers.append(_float_layer(entry, ql, steps))
    ir = NetworkIR(
        name=str(meta["name"]),
        input_shape=tuple(int(v) for v in meta["input_shape"]),
        layers=tuple(layers),
        input_range=(float(meta["input_range"][0]), float(meta["input_range"][1])),
    )
    p = meta["precision"]
    return QuantizedNetwork(
        ir=ir,
        layers=tuple(qlayers),
        precision=PrecisionSpec(
            weight_bits=int(p["weight_bits"]),
            membrane_bits=int(p["membrane_bits"]),
            time_bits=int(p["time_bits"]),
        ),
        steps=steps,
        weight_errors={str(k): float(v) for k, v in meta["weight_errors"].items()},
        overflow_layers=tuple(str(v) for v in meta["overflow_layers"]),
    )


def _integers(values: np.ndarray | None, key: str) -> np.ndarray | None:
    if values is None:
        return None
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"key {key!r} has dtype {values.dtype}, expected integers")
    return values.astype(np.int64)


def _float_layer(entry: dict[str, Any], ql: QLayer, steps: int) -> LayerIR:
    """The quantised IR layer: the exact float values the integers stand for (as ``quantize`` builds them)."""
    kind = ql.kind
    window = None if ql.time_exp is None else steps * 2.0**ql.time_exp
    unit = 2.0**ql.unit_exp
    weight = threshold = bias = None
    if kind in ("conv", "linear", "readout"):
        if ql.q_weight is None or ql.q_bias is None:
            raise KeyError(f"layer {ql.name} has no q_weight/q_bias")
        weight = ql.q_weight * 2.0**-ql.weight_shift
        if kind == "readout":
            bias = ql.q_bias * unit
        else:
            if window is None:
                raise KeyError(f"layer {ql.name} has no time_exp")
            threshold = window - ql.q_bias * unit
    return LayerIR(
        name=ql.name,
        kind=kind,  # type: ignore[arg-type]
        in_shape=tuple(int(v) for v in entry["in_shape"]),
        out_shape=tuple(int(v) for v in entry["out_shape"]),
        kernel=(int(entry["kernel"][0]), int(entry["kernel"][1])),
        stride=(int(entry["stride"][0]), int(entry["stride"][1])),
        padding=(int(entry["padding"][0]), int(entry["padding"][1])),
        groups=int(entry["groups"]),
        window=window,
        weight=weight,
        threshold=threshold,
        bias=bias,
    )
