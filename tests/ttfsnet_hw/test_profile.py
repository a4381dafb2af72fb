"""Profiles: shipped files carry provenance; bad files fail with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ttfsnet_hw.profile import (
    ProfileError,
    builtin_profiles,
    load_profile,
    profile_to_dict,
    write_profile,
)


def test_builtins_load() -> None:
    assert {"yoso", "horowitz45"} <= set(builtin_profiles())
    yoso = load_profile("yoso")
    assert yoso.clock.frequency_mhz == 54.0
    assert yoso.provenance["clock.frequency_mhz"].confidence == "P"


@pytest.mark.parametrize("name", builtin_profiles())
def test_every_constant_has_source_and_confidence(name: str) -> None:
    raw = profile_to_dict(load_profile(name))
    for sec in ("clock", "pe", "noc", "precision", "energy", "mapping"):
        for key, leaf in raw[sec].items():
            assert isinstance(leaf, dict), f"{name}: {sec}.{key} has no provenance"
            assert leaf["source"].strip() and leaf["confidence"] in {"V", "P", "S", "D", "U", "F"}, (sec, key)


def test_yoso_records_its_fit() -> None:
    yoso = load_profile("yoso")
    fitted = {r.parameter: r for r in yoso.calibration}
    assert set(fitted) == {"pe.cycles_per_synop", "energy.base_power_mw"}
    # the record and the constant are the same fitted float, written twice at full precision: exact
    assert fitted["pe.cycles_per_synop"].value == yoso.pe.cycles_per_synop
    assert fitted["energy.base_power_mw"].value == yoso.energy.base_power_mw
    assert "48.0" in fitted["pe.cycles_per_synop"].data_point and fitted["pe.cycles_per_synop"].date
    assert yoso.provenance["pe.cycles_per_synop"].confidence == "F"


def _write(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    raw = profile_to_dict(load_profile("horowitz45"))
    mutate(raw)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r["pe"].__setitem__("neurons_per_pe", -5), "pe.neurons_per_pe"),
        (lambda r: r["pe"].__setitem__("neuron_per_pe", 5), "pe.neuron_per_pe"),
        (lambda r: r.__setitem__("bogus", 1), "bogus"),
        (lambda r: r["precision"].__setitem__("weight_bits", 1), "precision.weight_bits"),
        (lambda r: r["mapping"].__setitem__("partition", "diagonal"), "mapping.partition"),
        (lambda r: r["energy"].__setitem__("add_pj", "cheap"), "energy.add_pj"),
        (lambda r: r["pe"].pop("mesh_x"), "pe.mesh_x"),
        (lambda r: r["noc"].__setitem__("io_port_x", 99), "io_port_x"),
        (lambda r: r["mapping"].__setitem__("max_pes", 100000), "mapping.max_pes"),
        (
            lambda r: r["clock"].__setitem__("frequency_mhz", {"value": 5, "sorce": "x"}),
            "clock.frequency_mhz",
        ),
    ],
)
def test_bad_profiles_name_the_key(tmp_path: Path, mutate, needle: str) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, mutate)
    with pytest.raises(ProfileError, match=needle.replace(".", r"\.")):
        load_profile(path)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pe: [unclosed")
    with pytest.raises(ProfileError, match="invalid YAML"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="no such file"):
        load_profile(tmp_path / "missing.yaml")


def test_roundtrip_and_replace(tmp_path: Path) -> None:
    p = load_profile("yoso")
    out = write_profile(p, tmp_path / "copy.yaml", header="test header")
    assert out.read_text().startswith("# test header")
    q = load_profile(out)
    assert profile_to_dict(q) == profile_to_dict(p)
    r = p.replace(**{"pe.cycles_per_synop": 2.5, "mapping.max_pes": 10})
    assert r.pe.cycles_per_synop == 2.5 and r.pe_budget == 10
    assert r.provenance["pe.cycles_per_synop"].source == p.provenance["pe.cycles_per_synop"].source
    with pytest.raises(ProfileError, match="pe.cycles_per_synop"):
        p.replace(**{"pe.cycles_per_synop": -1.0})
