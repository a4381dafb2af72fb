"""Opening models for the hardware backend and recording their spikes (what ``ttfsnet-hw MODEL`` accepts).

A model is one of:

* ``paper[:gene=op,...]``: a member of the TNAS-ER family
  ([`ttfsnet_hw.paper.paper_network`][ttfsnet_hw.paper.paper_network]) with random weights (``seed``); genes
  not given are ``conv3x3``, G follows the highest gene (default 3);
* a ``.pt`` file written by [`ttfsnet.save`][ttfsnet.save], read with [`ttfsnet.load`][ttfsnet.load]
  (``weights_only``: a file is data, never code; pickled modules are refused). Its ``input_shape`` comes from
  the file;
* a NIR file (``.nir``/``.h5``) exported by ``ttfsnet.export_nir``;
* a folder: its ``snn.pt`` (a ``ttfsnet.save`` file) when present, else whatever a **model loader** accepts.
  A folder with a ``manifest.json`` (an exported artifact: ``files`` maps each relative path to its
  ``sha256`` and ``bytes``) is checked against it before anything in it is read, and so is a file inside
  such a folder: a stale or tampered artifact is refused, not loaded.
  Model loaders are entry points of group ``ttfsnet_hw.model_loaders``; each is a callable
  ``(path: Path) -> tuple[nn.Module, dict] | None`` that returns the model (a ReLU ANN or a
  ``TTFSNetwork``) and its metadata (e.g. ``input_shape``), or ``None`` when the folder is not its format.
  Other packages register theirs (an ANN artifact of ``model.json`` + ``weights.pt``, for instance), so this
  package imports none of them.

[`open_model`][ttfsnet_hw.load.open_model] opens one; [`load_network`][ttfsnet_hw.load.load_network] turns it
into an IR and a spike record on given inputs (recorded SNN spikes, positive ReLU outputs of an ANN, or
assumed rates for paper models). Torch models need the ``[torch]`` extra, and so do paper models (they are
built with ``ttfsnet.models``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ttfsnet_hw.closedform import run
from ttfsnet_hw.errors import HardwareValueError, MissingExtraError, ModelLoadError
from ttfsnet_hw.records import assumed_spike_record, record_from_times
from ttfsnet_hw.types import NetworkIR, SpikeRecord

__all__ = [
    "MANIFEST",
    "MODEL_LOADERS_GROUP",
    "SNN_FILE",
    "LoadedNetwork",
    "Model",
    "is_paper_spec",
    "load_model",
    "load_network",
    "open_model",
    "paper_model",
    "synthetic_inputs",
    "verify_manifest",
]

MODEL_LOADERS_GROUP = "ttfsnet_hw.model_loaders"
"""Entry-point group of model loaders: ``(path: Path) -> tuple[nn.Module, dict] | None``."""

SNN_FILE = "snn.pt"
"""The deployed TTFS network inside a model folder (a [`ttfsnet.save`][ttfsnet.save] file)."""

_NIR_SUFFIXES = (".nir", ".h5", ".hdf5")


@dataclass(frozen=True, kw_only=True, slots=True)
class Model:
    """A model opened by [`open_model`][ttfsnet_hw.load.open_model], before any spikes are recorded.

    Attributes:
        name: the network name used in reports (the paper spec, or the file name).
        path: the file or folder it was read from (``None`` for paper models).
        input_shape: per-sample input shape, when known (given, from the file, or the paper geometry).
        input_range: raw input range ``(p, q)``.
        ir: the runnable IR of a paper model; ``None`` for torch models.
        torch_model: the ``nn.Module`` (a ``TTFSNetwork`` or a ReLU ANN); ``None`` for paper models.
        is_snn: whether ``torch_model`` is a ``TTFSNetwork``.
    """

    name: str
    input_shape: tuple[int, ...] | None
    input_range: tuple[float, float]
    path: Path | None = None
    ir: NetworkIR | None = None
    torch_model: Any = None
    is_snn: bool = False


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class LoadedNetwork:
    """An IR with its spike record (and the torch model it came from, if any)."""

    ir: NetworkIR
    record: SpikeRecord
    torch_model: Any = None


def is_paper_spec(spec: str | os.PathLike[str]) -> bool:
    """True for ``paper`` and ``paper:gene=op,...``."""
    text = os.fspath(spec)
    return text == "paper" or text.startswith("paper:")


def _paper_arch(text: str) -> dict[str, str]:
    out = {}
    for item in filter(None, text.split(",")):
        if "=" not in item:
            raise ModelLoadError(f"paper:{text}: expected gene=op pairs like g0b0=conv3x3,g0b1=skip")
        gene, op = item.split("=", 1)
        out[gene.strip()] = op.strip()
    return out


def paper_model(spec: str, *, input_shape: tuple[int, ...] | None = None, seed: int = 0) -> NetworkIR:
    """The runnable IR of ``paper[:gene=op,...]`` (random weights from ``seed``).

    Args:
        spec: ``paper`` (the reference architecture) or ``paper:g0b0=conv3x3,...``.
        input_shape: ``(C, S, S)``; default the SEE input size 4×90×90.
        seed: seed of the random weights.

    Raises:
        ModelLoadError: a malformed spec, unknown genes/ops, or a non-square input shape.
        MissingExtraError: torch is not installed.
    """
    from ttfsnet_hw.paper import groups_of, paper_network, reference_architecture

    arch = reference_architecture() if spec == "paper" else _paper_arch(spec[len("paper:") :])
    geometry: dict[str, int] = {}
    if input_shape is not None:
        if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
            raise ModelLoadError(f"paper models need a C,S,S input shape (square images), got {input_shape}")
        geometry = {"in_channels": input_shape[0], "image_size": input_shape[1]}
    try:
        return paper_network(
            arch,
            groups=groups_of(arch) or 3,
            rng=np.random.default_rng(seed),
            name=spec.replace(":", "-"),
            **geometry,
        )
    except MissingExtraError:
        raise
    except ValueError as exc:
        raise ModelLoadError(str(exc).splitlines()[0]) from None


def _torch_adapter() -> Any:
    try:
        from ttfsnet_hw.adapters import torch as adapter
    except ImportError as exc:
        raise MissingExtraError(
            f"loading torch models needs the [torch] extra (pip install 'ttfsnet-hw[torch]'; {exc})"
        ) from None
    return adapter


MANIFEST = "manifest.json"
"""An artifact folder's list of files with their sha256 and size, checked before any file is read."""


def verify_manifest(folder: Path) -> None:
    """Check every file ``folder/manifest.json`` lists against its size and sha256 (no manifest: nothing).

    Raises:
        ModelLoadError: the manifest is unreadable, or a listed file is missing or differs (named).
    """
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return
    try:
        files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
        entries = [(str(rel), int(meta["bytes"]), str(meta["sha256"])) for rel, meta in files.items()]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelLoadError(f"{manifest}: not an artifact manifest ({exc})") from None
    for rel, size, digest in entries:
        path = folder / rel
        if not path.resolve().is_relative_to(folder.resolve()):
            raise ModelLoadError(f"{manifest}: lists {rel!r}, which lies outside the artifact folder")
        if not path.is_file():
            raise ModelLoadError(f"{path}: listed in {manifest} but missing")
        if path.stat().st_size != size or _sha256(path) != digest:
            raise ModelLoadError(f"{path}: does not match its sha256 in {manifest} (stale or modified file)")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_ttfs_file(path: Path) -> tuple[Any, dict[str, Any]]:
    import ttfsnet

    try:
        net, meta = ttfsnet.load(path)
    except ttfsnet.FormatError as exc:
        raise ModelLoadError(str(exc).splitlines()[0]) from None
    meta = dict(meta)
    shape = net.input_shape if net.input_shape is not None else meta.get("input_shape")
    if shape is not None:
        meta["input_shape"] = tuple(int(v) for v in shape)
    return net, meta


def _from_loaders(folder: Path) -> tuple[Any, dict[str, Any]]:
    """The first model loader that accepts ``folder``."""
    from torch import nn

    tried: list[str] = []
    for ep in metadata.entry_points(group=MODEL_LOADERS_GROUP):
        try:
            loader = ep.load()
        except Exception as exc:  # a broken plugin must not hide the others; it is named if none accepts
            tried.append(f"{ep.name} (failed to load: {type(exc).__name__}: {exc})")
            continue
        tried.append(ep.name)
        try:
            result = loader(folder)
        except Exception as exc:  # the loader took the folder but could not read it
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelLoadError(f"{folder}: model loader {ep.name!r} failed ({first})") from None
        if result is None:
            continue
        model, meta = result
        if not isinstance(model, nn.Module):
            raise ModelLoadError(
                f"{folder}: model loader {ep.name!r} returned {type(model).__name__}, expected an nn.Module"
            )
        return model, dict(meta or {})
    raise ModelLoadError(
        f"{folder}: folder has no {SNN_FILE} and no model loader accepts it (e.g. an ANN artifact with "
        f"model.json + weights.pt); loaders of entry-point group {MODEL_LOADERS_GROUP!r}: "
        f"{', '.join(tried) or 'none installed'}"
    )


def load_model(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """Read a model file or folder (see the module docstring) as data only.

    Args:
        path: a ``.pt`` file of ``ttfsnet.save``, a NIR file, or a model folder.

    Returns:
        ``(model in eval mode, metadata)``; metadata holds ``input_shape`` when the file records it.

    Raises:
        ModelLoadError: no such path, an unknown format, a ``.pt`` file not in ``ttfsnet``'s format
            (pickled modules included), or a folder no loader accepts. The message names the file.
        MissingExtraError: torch is not installed.
    """
    _torch_adapter()
    p = Path(path)
    verify_manifest(p if p.is_dir() else p.parent)
    if p.is_dir():
        if (p / SNN_FILE).is_file():
            return _load_ttfs_file(p / SNN_FILE)
        model, meta = _from_loaders(p)
        return model.eval(), meta
    if not p.is_file():
        raise ModelLoadError(f"{p}: no such file or directory")
    if p.suffix in _NIR_SUFFIXES:
        import ttfsnet

        return ttfsnet.import_nir(p).eval(), {}
    if p.suffix not in (".pt", ".pth"):
        raise ModelLoadError(
            f"{p}: unknown model format (expected a model folder, a .pt file of ttfsnet.save, or .nir/.h5)"
        )
    return _load_ttfs_file(p)


def open_model(
    spec: str | os.PathLike[str],
    *,
    input_shape: tuple[int, ...] | None = None,
    input_range: tuple[float, float] | None = None,
    seed: int = 0,
) -> Model:
    """Open a paper spec, a file or a folder (see the module docstring).

    Args:
        spec: ``paper[:gene=op,...]`` or a path.
        input_shape: per-sample input shape (overrides what a file records).
        input_range: raw input range of an ANN (default ``(0, 1)``; an SNN and a paper model have their own).
        seed: seed of a paper model's random weights.

    Returns:
        The opened model.

    Raises:
        ModelLoadError: see [`load_model`][ttfsnet_hw.load.load_model] and
            [`paper_model`][ttfsnet_hw.load.paper_model].
        MissingExtraError: torch is not installed.
    """
    if is_paper_spec(spec):
        ir = paper_model(os.fspath(spec), input_shape=input_shape, seed=seed)
        return Model(name=ir.name, input_shape=ir.input_shape, input_range=ir.input_range, ir=ir)
    path = Path(spec)
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file or directory (or use 'paper[:gene=op,...]')")
    adapter = _torch_adapter()
    net, meta = load_model(path)
    is_snn = adapter.is_ttfs(net)
    shape = input_shape or meta.get("input_shape")
    own_range = tuple(float(v) for v in net.input_range) if is_snn else (input_range or (0.0, 1.0))
    return Model(
        name=path.name,
        path=path,
        input_shape=None if shape is None else tuple(int(v) for v in shape),
        input_range=own_range,  # type: ignore[arg-type]
        torch_model=net,
        is_snn=is_snn,
    )


def synthetic_inputs(
    n: int, shape: tuple[int, ...], input_range: tuple[float, float], seed: int = 0
) -> np.ndarray:
    """``n`` inputs drawn uniformly from the input range (calibration data when none is at hand)."""
    p, q = input_range
    return np.random.default_rng(seed).uniform(p, q, size=(n, *shape))


def load_network(
    model: Model, inputs: np.ndarray | None = None, *, rates: float | None = None, convert_ann: bool = False
) -> LoadedNetwork:
    """The IR of an opened model and its spike record on ``inputs``.

    Args:
        model: from [`open_model`][ttfsnet_hw.load.open_model].
        inputs: raw inputs ``(N, *input_shape)``.
        rates: paper models only: assume this firing fraction everywhere instead of running ``inputs``.
        convert_ann: convert an ANN to a TTFS network first (``ttfsnet.convert``, calibrated on ``inputs``),
            so the IR carries parameters (what quantisation needs).

    Returns:
        The IR (with parameters for SNNs and paper models, cost-only for ANNs), the record (``snn``,
        ``ann`` or ``assumed``) and the torch model that was recorded (``None`` for paper models).

    Raises:
        HardwareValueError: no inputs (and no rates for a paper model).
        ModelLoadError: the ANN cannot be converted to TTFS.
    """
    if model.ir is not None:
        if rates is not None:
            return LoadedNetwork(ir=model.ir, record=assumed_spike_record(model.ir, rates))
        if inputs is None:
            raise HardwareValueError(f"model {model.name}: needs inputs or assumed rates to count spikes")
        _, times = run(model.ir, inputs)
        return LoadedNetwork(ir=model.ir, record=record_from_times(model.ir, [times]))
    if inputs is None:
        raise HardwareValueError(f"model {model.name}: needs inputs to record spikes")
    adapter = _torch_adapter()
    shape = model.input_shape or tuple(inputs.shape[1:])
    net, is_snn = model.torch_model, model.is_snn
    if not is_snn and convert_ann:
        import torch

        import ttfsnet

        try:
            x = torch.as_tensor(inputs, dtype=next(net.parameters()).dtype)
            net = ttfsnet.convert(net, x, input_range=model.input_range)
        except ValueError as exc:
            raise ModelLoadError(
                f"model {model.name}: cannot convert to TTFS ({str(exc).splitlines()[0]})"
            ) from None
        is_snn = True
    if is_snn:
        # a TTFS network is named by the file's stem, an ANN by the whole file (or folder) name
        ir = adapter.ir_from_ttfs(net, shape, name=model.path.stem if model.path else model.name)
        return LoadedNetwork(ir=ir, record=adapter.record_snn(net, ir, inputs), torch_model=net)
    ir = adapter.ir_from_ann(net, shape, name=model.name, input_range=model.input_range)
    return LoadedNetwork(ir=ir, record=adapter.record_ann(net, ir, inputs), torch_model=net)
