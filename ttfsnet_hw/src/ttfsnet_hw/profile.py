"""Hardware profiles: YAML files → frozen, validated dataclasses.

A profile describes one neuromorphic target for the analytic cost model (``docs/hardware.md``): clock,
processing elements (PEs) and their memories, the network-on-chip (NoC), the datapath bit widths, the
per-operation energies and the mapping policy. Every leaf value may be written either as a plain scalar
or as a mapping ``{value: ..., source: ..., confidence: ..., note: ...}``; the second form is how the shipped
profiles record where each constant comes from. Sources survive a load/write round trip.

Shipped profiles live next to this module in ``profiles/*.yaml`` and are loaded by name
([`load_profile("yoso")`][ttfsnet_hw.profile.load_profile]); any other argument is read as a path. The section
dataclasses live in [`ttfsnet_hw.profile_specs`][ttfsnet_hw.profile_specs] (the widths,
[`PrecisionSpec`][ttfsnet_hw.profile.PrecisionSpec], in [`ttfsnet_hw.types`][ttfsnet_hw.types]) and are
re-exported here, where profiles are assembled.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ttfsnet_hw.atomic import atomic_write
from ttfsnet_hw.errors import ProfileError
from ttfsnet_hw.profile_specs import (
    CalibrationRecord,
    ClockSpec,
    EnergySpec,
    MappingSpec,
    NoCSpec,
    PESpec,
    Provenance,
)
from ttfsnet_hw.types import PrecisionSpec

__all__ = [
    "CalibrationRecord",
    "ClockSpec",
    "EnergySpec",
    "HardwareProfile",
    "MappingSpec",
    "NoCSpec",
    "PESpec",
    "PrecisionSpec",
    "ProfileError",
    "Provenance",
    "builtin_profiles",
    "load_profile",
    "profile_from_dict",
    "profile_to_dict",
    "write_profile",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class HardwareProfile:
    """A complete hardware profile.

    Attributes:
        name: short name.
        description: one paragraph.
        clock: clock spec.
        pe: PE spec.
        noc: NoC spec.
        precision: bit widths.
        energy: energy spec.
        mapping: mapping policy.
        calibration: fitted values, in fit order.
        provenance: dotted key → where that value comes from.
    """

    name: str
    description: str
    clock: ClockSpec
    pe: PESpec
    noc: NoCSpec
    precision: PrecisionSpec
    energy: EnergySpec
    mapping: MappingSpec
    calibration: tuple[CalibrationRecord, ...] = ()
    provenance: Mapping[str, Provenance] = field(default_factory=dict)

    @property
    def pe_budget(self) -> int:
        """PEs the mapper may use."""
        return self.mapping.max_pes if self.mapping.max_pes > 0 else self.pe.count

    def replace(self, **changes: Any) -> HardwareProfile:
        """Copy with dotted-key changes, e.g. ``replace(**{"pe.cycles_per_synop": 2.0})``.

        Args:
            **changes: dotted key → new value; keys are validated like a YAML file.

        Returns:
            The new profile (validated).
        """
        raw = profile_to_dict(self)
        for dotted, value in changes.items():
            parts = dotted.split(".")
            node = raw
            for part in parts[:-1]:
                if part not in node or not isinstance(node[part], dict):
                    raise ProfileError(f"profile {self.name}: unknown section {part!r} in key {dotted!r}")
                node = node[part]
            leaf = node.get(parts[-1])
            if isinstance(leaf, dict) and "value" in leaf:
                leaf = dict(leaf)
                leaf["value"] = value
                node[parts[-1]] = leaf
            else:
                node[parts[-1]] = value
        return profile_from_dict(raw, where=f"profile {self.name}")


_SECTIONS: dict[str, type] = {
    "clock": ClockSpec,
    "pe": PESpec,
    "noc": NoCSpec,
    "precision": PrecisionSpec,
    "energy": EnergySpec,
    "mapping": MappingSpec,
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "pe.neuron_update": ("closed_form", "stepped"),
    "energy.sram_access_model": ("optimistic", "pessimistic"),
    "mapping.partition": ("spatial", "channel"),
}

# Keys that may be zero; every other number must be strictly positive.
_NONNEGATIVE = {
    "pe.cycles_per_input_spike",
    "pe.cycles_per_output_spike",
    "pe.cycles_per_neuron_update",
    "pe.cycles_per_input_value",
    "pe.layer_overhead_cycles",
    "pe.cycles_per_synop",
    "noc.cycles_per_hop",
    "noc.energy_per_hop_pj",
    "noc.io_port_x",
    "noc.io_port_y",
    "energy.add_pj",
    "energy.compare_pj",
    "energy.spike_pj",
    "energy.static_power_per_pe_mw",
    "energy.base_power_mw",
    "energy.sram_read_64b_pj_at_8kib",
    "energy.sram_size_exponent",
    "energy.sram_write_factor",
    "mapping.max_pes",
}

_BIT_LIMITS = {
    "precision.weight_bits": (2, 32),
    "precision.membrane_bits": (4, 63),
    "precision.time_bits": (1, 24),
}

MAX_MESH_SIDE = 1024
"""Upper bound of ``pe.mesh_x`` and ``pe.mesh_y`` (a million PEs; YOSO: 24 × 24, TrueNorth: 64 × 64 cores).
The mapping and the estimate keep per-PE arrays, so a typo like ``mesh_x: 1e12`` must fail when read."""

# Largest value of the other integer keys; beyond these the estimate's arrays or loops blow up.
_UPPER_LIMITS = {
    "pe.mesh_x": MAX_MESH_SIDE,
    "pe.mesh_y": MAX_MESH_SIDE,
    "pe.neurons_per_pe": 2**31 - 1,
    "pe.neuron_updates_per_cycle": 2**31 - 1,
    "mapping.max_pes": MAX_MESH_SIDE * MAX_MESH_SIDE,
}


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e6`` as a float (YAML 1.2, as recipes do) and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # PyYAML silently keeps the last of two equal keys; in a profile that hides an edit
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first.get(key)
            except TypeError:  # an unhashable key: the base constructor reports it
                continue
            if seen is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first set on line {seen})", key_node.start_mark
                )
            first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _unwrap(value: Any, key: str, where: str, prov: dict[str, Provenance]) -> Any:
    if isinstance(value, dict):
        unknown = set(value) - {"value", "source", "confidence", "note"}
        if unknown or "value" not in value:
            raise ProfileError(
                f"{where}: key {key!r} must be a scalar or a mapping with 'value' (and optional 'source', "
                f"'confidence', 'note'); got keys {sorted(value)}"
            )
        prov[key] = Provenance(
            source=str(value.get("source", "")),
            confidence=str(value.get("confidence", "")),
            note=str(value.get("note", "")),
        )
        return value["value"]
    return value


def _coerce(value: Any, typ: Any, key: str, where: str) -> Any:
    typ_name = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            raise ProfileError(f"{where}: key {key!r} must be one of {list(_CHOICES[key])}, got {value!r}")
        return value
    if typ_name == "bool":
        if not isinstance(value, bool):
            raise ProfileError(f"{where}: key {key!r} must be true or false, got {value!r}")
        return value
    if typ_name in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProfileError(f"{where}: key {key!r} must be a number, got {value!r}")
        if typ_name == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ProfileError(f"{where}: key {key!r} must be an integer, got {value!r}")
            value = int(value)
        else:
            value = float(value)
        if not math.isfinite(value):
            raise ProfileError(f"{where}: key {key!r} must be finite, got {value!r}")
        if key in _NONNEGATIVE:
            if value < 0:
                raise ProfileError(f"{where}: key {key!r} must be >= 0, got {value!r}")
        elif value <= 0:
            raise ProfileError(f"{where}: key {key!r} must be > 0, got {value!r}")
        if key in _BIT_LIMITS:
            lo, hi = _BIT_LIMITS[key]
            if not lo <= value <= hi:
                raise ProfileError(f"{where}: key {key!r} must be in [{lo}, {hi}], got {value!r}")
        if key in _UPPER_LIMITS and value > _UPPER_LIMITS[key]:
            raise ProfileError(f"{where}: key {key!r} must be <= {_UPPER_LIMITS[key]}, got {value!r}")
        return value
    return value


def profile_from_dict(raw: Mapping[str, Any], *, where: str = "profile") -> HardwareProfile:
    """Build and validate a profile from parsed YAML.

    Args:
        raw: the mapping (top-level keys ``name``, ``description``, the sections, ``calibration``).
        where: prefix for error messages (usually the file name).

    Returns:
        The validated profile.

    Raises:
        ProfileError: unknown or missing key, wrong type, impossible value; the message names the key.
    """
    if not isinstance(raw, Mapping):
        raise ProfileError(f"{where}: expected a mapping at the top level, got {type(raw).__name__}")
    top_keys = {"name", "description", "calibration", *_SECTIONS}
    unknown = sorted(set(raw) - top_keys)
    if unknown:
        raise ProfileError(f"{where}: unknown key {unknown[0]!r}; valid top-level keys: {sorted(top_keys)}")
    prov: dict[str, Provenance] = {}
    sections: dict[str, Any] = {}
    for sec, cls in _SECTIONS.items():
        body = raw.get(sec)
        if not isinstance(body, Mapping):
            raise ProfileError(f"{where}: missing section {sec!r} (expected a mapping)")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        bad = sorted(set(body) - set(fields))
        if bad:
            raise ProfileError(
                f"{where}: unknown key '{sec}.{bad[0]}'; valid keys in {sec!r}: {sorted(fields)}"
            )
        kwargs: dict[str, Any] = {}
        for name, f in fields.items():
            key = f"{sec}.{name}"
            if name not in body:
                raise ProfileError(f"{where}: missing key {key!r}")
            value = _unwrap(body[name], key, where, prov)
            typ_str = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
            if typ_str.startswith("Literal"):
                typ_str = "str"
            kwargs[name] = _coerce(value, typ_str, key, where)
        sections[sec] = cls(**kwargs)
    pe: PESpec = sections["pe"]
    noc: NoCSpec = sections["noc"]
    if noc.io_port_x >= pe.mesh_x or noc.io_port_y >= pe.mesh_y:
        raise ProfileError(
            f"{where}: key 'noc.io_port_x'/'noc.io_port_y' = ({noc.io_port_x}, {noc.io_port_y}) lies outside "
            f"the {pe.mesh_x}x{pe.mesh_y} mesh"
        )
    if sections["mapping"].max_pes > pe.count:
        raise ProfileError(
            f"{where}: key 'mapping.max_pes' = {sections['mapping'].max_pes} exceeds the mesh size {pe.count}"
        )
    calib_raw = raw.get("calibration") or []
    if not isinstance(calib_raw, list):
        raise ProfileError(f"{where}: key 'calibration' must be a list of records")
    cal_fields = {f.name for f in dataclasses.fields(CalibrationRecord)}
    records = []
    for i, rec in enumerate(calib_raw):
        if not isinstance(rec, Mapping):
            raise ProfileError(f"{where}: calibration[{i}] must be a mapping")
        bad = sorted(set(rec) - cal_fields)
        if bad:
            raise ProfileError(
                f"{where}: unknown key 'calibration[{i}].{bad[0]}'; valid: {sorted(cal_fields)}"
            )
        try:
            values: dict[str, Any] = {k: (float(v) if k == "value" else str(v)) for k, v in rec.items()}
            records.append(CalibrationRecord(**values))
        except (TypeError, ValueError) as exc:
            raise ProfileError(f"{where}: calibration[{i}]: {exc}") from None
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ProfileError(f"{where}: key 'name' must be a non-empty string")
    return HardwareProfile(
        name=name,
        description=str(raw.get("description", "")),
        calibration=tuple(records),
        provenance=prov,
        **sections,
    )


def profile_to_dict(profile: HardwareProfile) -> dict[str, Any]:
    """Inverse of [`profile_from_dict`][ttfsnet_hw.profile.profile_from_dict], keeping provenance in the
    ``{value, source, ...}`` form.

    Args:
        profile: the profile.

    Returns:
        A YAML-ready mapping.
    """
    out: dict[str, Any] = {"name": profile.name, "description": profile.description}
    for sec in _SECTIONS:
        spec = getattr(profile, sec)
        body: dict[str, Any] = {}
        for f in dataclasses.fields(spec):
            key = f"{sec}.{f.name}"
            value = getattr(spec, f.name)
            p = profile.provenance.get(key)
            if p is None:
                body[f.name] = value
            else:
                leaf: dict[str, Any] = {"value": value, "source": p.source, "confidence": p.confidence}
                if p.note:
                    leaf["note"] = p.note
                body[f.name] = leaf
        out[sec] = body
    out["calibration"] = [dataclasses.asdict(r) for r in profile.calibration]
    return out


def builtin_profiles() -> list[str]:
    """Names of the shipped profiles."""
    root = resources.files("ttfsnet_hw") / "profiles"
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_profile(name_or_path: str | os.PathLike[str] | HardwareProfile) -> HardwareProfile:
    """Load a shipped profile by name, or a user profile from a YAML path.

    Args:
        name_or_path: ``"yoso"``, ``"horowitz45"``, a path, or an already-built profile (returned as is).

    Returns:
        The validated profile.

    Raises:
        ProfileError: unknown name, unreadable file, or invalid content.
    """
    if isinstance(name_or_path, HardwareProfile):
        return name_or_path
    text_name = os.fspath(name_or_path)
    if text_name in builtin_profiles():
        res = resources.files("ttfsnet_hw") / "profiles" / f"{text_name}.yaml"
        where = f"profile {text_name} ({text_name}.yaml)"
        text = res.read_text(encoding="utf-8")
    else:
        path = Path(text_name)
        if not path.is_file():
            raise ProfileError(
                f"profile {text_name!r}: not a shipped profile ({', '.join(builtin_profiles())}) "
                "and no such file"
            )
        where = f"profile file {path}"
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ProfileError(
                f"{where}: not a UTF-8 text file (byte 0x{exc.object[exc.start]:02x} at byte offset "
                f"{exc.start}; expected a YAML profile)"
            ) from None
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProfileError(f"{where}: invalid YAML ({at}{problem})") from None
    return profile_from_dict(raw, where=where)


def write_profile(profile: HardwareProfile, path: str | os.PathLike[str], *, header: str = "") -> Path:
    """Write a profile as YAML atomically ([`ttfsnet_hw.atomic.atomic_write`][ttfsnet_hw.atomic.atomic_write];
    creates parent folders).

    Args:
        profile: the profile.
        path: destination.
        header: optional comment block written at the top.

    Returns:
        The destination path.
    """
    dest = Path(path)
    text = yaml.safe_dump(profile_to_dict(profile), sort_keys=False, allow_unicode=True, width=110)
    if header:
        text = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + text
    return atomic_write(dest, text.encode("utf-8"))
