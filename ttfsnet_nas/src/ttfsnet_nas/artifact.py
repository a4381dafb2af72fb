"""Exported artifact directories: the generic part.

An artifact is a folder that describes one chosen architecture without needing the code that defined the
search space::

    architecture.json     {"architecture": {gene: op}, "key": "...", "space_hash": "..."}
    space.json            genes, op order, constraint names, and the space hash
    resolved_recipe.yaml  the fully resolved recipe that produced it (if given)
    metrics.json          search/evaluation metrics
    manifest.json         format version, creation time, package version, sha256 + size of every file

Pipelines add files through hooks (e.g. the torch part writes weights and TTFS metadata): a hook is
``hook(staging_dir: Path) -> None`` and may write any files into ``staging_dir``; the manifest covers them.
The folder is assembled in a staging directory and renamed into place, so a crash never leaves a
half-written artifact under the final name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ttfsnet_nas.config import dump_yaml, load_yaml
from ttfsnet_nas.errors import InputError
from ttfsnet_nas.journal import atomic_write_json, sha256_file
from ttfsnet_nas.space import Architecture, SearchSpace, SpaceError

__all__ = ["ARTIFACT_FORMAT", "Artifact", "ArtifactError", "ArtifactHook", "read_artifact", "write_artifact"]

ARTIFACT_FORMAT = 1

ArtifactHook = Callable[[Path], None]


class ArtifactError(InputError):
    """Missing, inconsistent or modified artifact files (a bad input: the CLI exits with status 2)."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """A loaded artifact.

    Attributes:
        path: Folder.
        architecture: The architecture.
        space: The search space rebuilt from ``space.json`` (without constraint callables).
        metrics: Content of ``metrics.json``.
        recipe: Parsed ``resolved_recipe.yaml`` (``None`` if absent).
        manifest: Content of ``manifest.json``.
    """

    path: Path
    architecture: Architecture
    space: SearchSpace
    metrics: dict[str, Any]
    recipe: dict[str, Any] | None
    manifest: dict[str, Any]


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("ttfsnet-nas")
    except metadata.PackageNotFoundError:
        return "unknown"


def write_artifact(
    out: str | os.PathLike[str],
    *,
    architecture: Mapping[str, str],
    space: SearchSpace,
    metrics: Mapping[str, Any],
    recipe: Any = None,
    hooks: Sequence[ArtifactHook] = (),
    info: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an artifact folder atomically.

    Args:
        out: Target folder.
        architecture: Chosen architecture (validated against ``space``).
        space: Search space it belongs to.
        metrics: JSON-serialisable metrics.
        recipe: Resolved recipe (a config dataclass or plain mapping), written as YAML.
        hooks: Callables writing extra files into the staging folder (weights, TTFS metadata, ...).
        info: Extra manifest entries (e.g. ``{"weights_hash": ...}``).
        overwrite: Replace an existing folder.

    Raises:
        ArtifactError: ``out`` exists and ``overwrite`` is false.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise ArtifactError(f"artifact {out} already exists (pass overwrite=True or --force)")
    arch = space.architecture(architecture)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _json(
            stage / "architecture.json",
            {"architecture": arch.to_dict(), "key": arch.key, "space_hash": space.hash},
        )
        _json(stage / "space.json", {**space.to_dict(), "hash": space.hash})
        _json(stage / "metrics.json", dict(metrics))
        if recipe is not None:
            (stage / "resolved_recipe.yaml").write_text(dump_yaml(recipe), encoding="utf-8")
        for hook in hooks:
            hook(stage)
        files = {}
        for p in sorted(stage.rglob("*")):
            if p.is_file():
                rel = p.relative_to(stage).as_posix()
                files[rel] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        manifest = {
            "format": ARTIFACT_FORMAT,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "ttfsnet_nas_version": _version(),
            "architecture": arch.key,
            "space_hash": space.hash,
            **(dict(info) if info else {}),
            "files": files,
        }
        atomic_write_json(stage / "manifest.json", manifest)
        os.chmod(stage, 0o755)  # mkdtemp makes 0700 folders
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(stage, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return out


def _json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def read_artifact(path: str | os.PathLike[str], *, verify: bool = True) -> Artifact:
    """Load an artifact folder.

    Args:
        path: Folder written by [`write_artifact`][ttfsnet_nas.artifact.write_artifact].
        verify: Check every file's sha256 and size against the manifest, and the space hash.

    Raises:
        ArtifactError: Missing files, hash mismatch or an unknown format.
    """
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"artifact {path}: not a directory")
    if not (path / "manifest.json").exists():
        # a run folder (or any folder above an artifact) rather than the artifact: name the one to pass
        inner = sorted(m.parent for m in path.glob("*/manifest.json"))
        inner.sort(key=lambda d: d.name != "artifact")
        if inner:
            raise ArtifactError(
                f"artifact {path}: not an artifact (no manifest.json); did you mean {inner[0]}?"
            )
    manifest = _read_json(path / "manifest.json")
    if manifest.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"artifact {path}: format {manifest.get('format')!r}, expected {ARTIFACT_FORMAT}")
    if verify:
        for rel, meta in manifest.get("files", {}).items():
            f = path / rel
            if not f.is_file():
                raise ArtifactError(f"artifact {path}: file {rel} listed in manifest.json is missing")
            if f.stat().st_size != meta["bytes"] or sha256_file(f) != meta["sha256"]:
                raise ArtifactError(f"artifact {path}: file {rel} does not match its sha256 in manifest.json")
    space_data = _read_json(path / "space.json")
    arch_data = _read_json(path / "architecture.json")
    try:
        space = SearchSpace.from_dict(space_data)
        arch = space.architecture(arch_data.get("architecture", {}))
    except SpaceError as exc:  # reported as a broken artifact, not as a bad search space of the caller
        raise ArtifactError(f"artifact {path}: {exc}") from None
    # constraint callables are not stored, so hash the stored description rather than the rebuilt space
    if verify and SearchSpace.hash_of(space_data) != space_data.get("hash"):
        raise ArtifactError(f"artifact {path}: space.json does not match its hash")
    if arch_data.get("space_hash") != space_data.get("hash"):
        raise ArtifactError(f"artifact {path}: architecture.json belongs to another search space")
    recipe_path = path / "resolved_recipe.yaml"
    recipe = load_yaml(recipe_path) if recipe_path.exists() else None
    return Artifact(
        path=path,
        architecture=arch,
        space=space,
        metrics=_read_json(path / "metrics.json"),
        recipe=recipe,
        manifest=manifest,
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"artifact {path.parent}: {path.name} is missing") from None
    except ValueError as exc:
        raise ArtifactError(f"artifact {path.parent}: {path.name} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"artifact {path.parent}: {path.name} must hold a JSON object")
    return data
