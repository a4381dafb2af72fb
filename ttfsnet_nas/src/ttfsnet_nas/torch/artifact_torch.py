"""Self-contained model files of an exported architecture: ``model.json`` + ``weights.pt``.

``ttfsnet_nas.artifact`` (torch-free) writes the architecture, the space, the metrics and the recipe of an
artifact directory; this module adds the network itself so that it loads with one call and without the
search-space source (NNI #2832, #3171):

.. code-block:: python

    model = ttfsnet_nas.torch.load_artifact("runs/best")   # a plain nn.Sequential

``model.json`` lists primitive layer specs in order (``{"type": "Conv2d", "in_channels": 4, ...}``) plus
the SHA-256 of ``weights.pt``; ``weights.pt`` is the ``state_dict`` of the ``nn.Sequential`` (tensors only,
loaded with ``weights_only=True``). Both files are written atomically (temporary file + ``os.replace``);
``weights.pt`` goes first, so a reader that finds ``model.json`` finds matching weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ttfsnet_nas.journal import atomic_write_bytes, sha256_bytes
from ttfsnet_nas.torch.files import read_tensors
from ttfsnet_nas.torch.supernet import flatten_sequential
from ttfsnet_nas.torch.train import save_torch_atomic

__all__ = [
    "MODEL_FILE",
    "WEIGHTS_FILE",
    "build_model",
    "load_artifact",
    "load_model_dir",
    "model_hook",
    "model_spec",
    "save_model",
]

MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.pt"
FORMAT = "ttfsnet_nas.model/1"

# Layer type → constructor arguments that fully describe it (all JSON-representable).
_FIELDS: dict[type[nn.Module], tuple[str, ...]] = {
    nn.Conv2d: (
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
        "bias",
        "padding_mode",
    ),
    nn.Linear: ("in_features", "out_features", "bias"),
    nn.BatchNorm1d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    nn.BatchNorm2d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    nn.ReLU: (),
    nn.MaxPool2d: ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    nn.AvgPool2d: ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    nn.Flatten: ("start_dim", "end_dim"),
    nn.Dropout: ("p",),
}
_TYPES = {cls.__name__: cls for cls in _FIELDS}


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _layer_spec(layer: nn.Module, index: int) -> dict[str, Any]:
    cls = type(layer)
    if cls not in _FIELDS:
        raise TypeError(
            f"model_spec: layer {index} is {cls.__name__}; supported layers are {sorted(_TYPES)} "
            "(register_op factories must build models from these)"
        )
    spec: dict[str, Any] = {"type": cls.__name__}
    for name in _FIELDS[cls]:
        value = getattr(layer, name)
        if name == "bias" and cls in (nn.Conv2d, nn.Linear):
            value = layer.bias is not None
        spec[name] = _json_value(value)
    return spec


def model_spec(model: nn.Module) -> list[dict[str, Any]]:
    """Primitive layer specs of ``model`` (an ``nn.Sequential``, nested ones flattened, identities dropped).

    Raises:
        TypeError: If a layer type has no spec.
    """
    return [_layer_spec(layer, i) for i, layer in enumerate(flatten_sequential(model))]


def build_model(spec: list[dict[str, Any]]) -> nn.Sequential:
    """Rebuild an (untrained) ``nn.Sequential`` from
    [`model_spec`][ttfsnet_nas.torch.artifact_torch.model_spec] output.

    Raises:
        ValueError: If an entry has an unknown type or wrong keys.
    """
    layers: list[nn.Module] = []
    for i, entry in enumerate(spec):
        kind = entry.get("type")
        if kind not in _TYPES:
            raise ValueError(f"model spec: layer {i} has type {kind!r}; expected one of {sorted(_TYPES)}")
        cls = _TYPES[kind]
        kwargs = {k: v for k, v in entry.items() if k != "type"}
        if set(kwargs) != set(_FIELDS[cls]):
            raise ValueError(
                f"model spec: layer {i} ({kind}) has keys {sorted(kwargs)}; expected {sorted(_FIELDS[cls])}"
            )
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
        layers.append(cls(**kwargs))
    return nn.Sequential(*layers)


def save_model(
    model: nn.Module, directory: str | os.PathLike[str], *, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``weights.pt`` and ``model.json`` for ``model`` into ``directory`` (created if needed).

    Args:
        model: A plain ``nn.Sequential`` of supported layers, e.g.
            [`Supernet.subnet`][ttfsnet_nas.torch.Supernet.subnet].
        directory: The artifact directory.
        metadata: Extra JSON-serialisable information stored under ``"metadata"`` in ``model.json``.

    Returns:
        The path of ``model.json``.
    """
    spec = model_spec(model)
    flat = nn.Sequential(*flatten_sequential(model))
    state = {k: v.detach().cpu().clone() for k, v in flat.state_dict().items()}
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    payload = save_torch_atomic(state, out / WEIGHTS_FILE)
    document = {
        "format": FORMAT,
        "layers": spec,
        "weights": WEIGHTS_FILE,
        "weights_sha256": sha256_bytes(payload),
        "torch_version": torch.__version__,
        "metadata": metadata or {},
    }
    text = json.dumps(document, indent=2, sort_keys=False).encode()
    atomic_write_bytes(out / MODEL_FILE, text)
    return out / MODEL_FILE


def model_hook(model: nn.Module, *, metadata: dict[str, Any] | None = None) -> Callable[[Path], None]:
    """An ``ArtifactHook`` for ``ttfsnet_nas.artifact.write_artifact(..., hooks=[...])``.

    The layer specs are checked now, so an unsupported model fails before the artifact is staged.

    Example:
        >>> write_artifact(out, architecture=arch, space=space, hooks=[model_hook(subnet)])  # doctest: +SKIP
    """
    model_spec(model)

    def hook(staging_dir: Path) -> None:
        save_model(model, staging_dir, metadata=metadata)

    return hook


def load_artifact(
    directory: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> nn.Sequential:
    """Load the model of an artifact directory, in eval mode, without the search-space source.

    Raises:
        FileNotFoundError: If ``model.json`` or ``weights.pt`` is missing.
        ValueError: If the format is unknown, the weights do not match their checksum or the layer specs.
    """
    root = Path(directory)
    model_path = root / MODEL_FILE
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path}: missing; export the model with ttfsnet_nas.torch.save_model")
    document = json.loads(model_path.read_text())
    if document.get("format") != FORMAT:
        raise ValueError(f"{model_path}: key 'format' is {document.get('format')!r}; expected {FORMAT!r}")
    weights_path = root / str(document.get("weights", WEIGHTS_FILE))
    if not weights_path.is_file():
        raise FileNotFoundError(f"{weights_path}: missing (named by {model_path})")
    payload = weights_path.read_bytes()
    if sha256_bytes(payload) != document.get("weights_sha256"):
        raise ValueError(f"{weights_path}: SHA-256 does not match 'weights_sha256' in {model_path}")
    model = build_model(document["layers"])
    state = read_tensors(payload, what="state dict", name=str(weights_path))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise ValueError(f"{weights_path}: does not match the layers of {model_path}: {first}") from None
    return model.to(map_location).eval()


def load_model_dir(directory: Path) -> tuple[nn.Sequential, dict[str, Any]] | None:
    """Entry point of group ``ttfsnet_hw.model_loaders``: the ANN of an artifact folder, or ``None`` when the
    folder has no ``model.json`` (not this format), so ``ttfsnet-hw`` reads artifacts without importing us.

    Returns:
        ``(model in eval mode, metadata)``; the metadata is what
        [`save_model`][ttfsnet_nas.torch.artifact_torch.save_model] stored (may be empty).
    """
    path = Path(directory) / MODEL_FILE
    if not path.is_file():
        return None
    metadata = json.loads(path.read_text()).get("metadata") or {}
    return load_artifact(directory), dict(metadata)
