"""Calibration mode: fit two profile scalars to one published (latency, energy) point.

With a single published data point, exactly one scalar per measured quantity is
fitted — ``pe.cycles_per_synop`` to the latency (by bisection), then ``energy.base_power_mw`` to the energy —
and every other constant keeps its documented value and source. The fit is recorded in the profile.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt

from ttfsnet_hw.errors import HardwareValueError
from ttfsnet_hw.estimate import Estimate, estimate, layer_loads
from ttfsnet_hw.profile import CalibrationRecord, HardwareProfile, Provenance
from ttfsnet_hw.records import check_ttfs_bound
from ttfsnet_hw.types import NetworkIR, SpikeRecord

__all__ = ["calibrate"]


def calibrate(
    ir: NetworkIR,
    record: SpikeRecord,
    profile: HardwareProfile,
    *,
    latency_ms: float,
    energy_mj: float,
    data_point: str,
    reference_network: str,
    note: str = "",
    date: str | None = None,
) -> tuple[HardwareProfile, Estimate]:
    """Fit ``pe.cycles_per_synop`` to a published latency, then ``energy.base_power_mw`` to its energy.

    The fit is one scalar per measured quantity, all a single published point can determine; every other
    constant keeps its documented value. Both fits are appended to the profile's ``calibration`` records
    (value, target, data point, reference network, date) and their provenance is marked ``F`` (fitted), so a
    calibrated profile never hides what was tuned.

    Args:
        ir: reference network.
        record: its spike record.
        profile: starting profile.
        latency_ms: published latency per inference.
        energy_mj: published energy per inference.
        data_point: citation of the published numbers.
        reference_network: description of ``ir`` and its inputs.
        note: extra context stored with the records.
        date: ISO date (default: today).

    Returns:
        ``(calibrated profile, estimate with it)``.

    Raises:
        HardwareValueError: the target is unreachable (latency below the spike-independent floor, or
            dynamic energy alone above the target).
    """
    check_ttfs_bound(ir, record)
    # the spike maps do not change during the fit: sum them into per-PE loads once
    shared = layer_loads(ir, record, profile)

    def lat(c: float) -> float:
        return estimate(
            ir, record, profile.replace(**{"pe.cycles_per_synop": c}), loads=shared
        ).latency_ms.mean

    lo, hi = 0.0, 1.0
    if lat(lo) > latency_ms:
        raise HardwareValueError(
            f"calibrate: latency {latency_ms} ms is below the model's floor {lat(lo):.3f} ms at "
            "zero SynOP cost"
        )
    while lat(hi) < latency_ms:
        hi *= 2.0
        if hi > 1e9:
            raise HardwareValueError(
                f"calibrate: cannot reach latency {latency_ms} ms (network {ir.name} has no SynOPs?)"
            )
    for _ in range(40):  # relative precision ~1e-12 of the bracket
        mid = 0.5 * (lo + hi)
        if lat(mid) < latency_ms:
            lo = mid
        else:
            hi = mid
    c_fit = 0.5 * (lo + hi)
    prof = profile.replace(**{"pe.cycles_per_synop": c_fit, "energy.base_power_mw": 0.0})
    est0 = estimate(ir, record, prof, loads=shared)
    dyn_and_leak = est0.energy_mj.mean
    if dyn_and_leak > energy_mj:
        raise HardwareValueError(
            f"calibrate: dynamic + leakage energy {dyn_and_leak:.4g} mJ already exceeds the target "
            f"{energy_mj} mJ"
        )
    p_base_mw = (energy_mj - dyn_and_leak) / est0.latency_ms.mean * 1e3
    prof = prof.replace(**{"energy.base_power_mw": p_base_mw})
    today = date or _dt.date.today().isoformat()
    prov = dict(prof.provenance)
    prov["pe.cycles_per_synop"] = Provenance(
        source=f"fitted by ttfsnet_hw.estimate.calibrate to {latency_ms} ms ({data_point})",
        confidence="F",
        note=f"{today}; reference: {reference_network}",
    )
    prov["energy.base_power_mw"] = Provenance(
        source=f"fitted by ttfsnet_hw.estimate.calibrate to {energy_mj} mJ ({data_point})",
        confidence="F",
        note=f"{today}; energy = dynamic + leakage + base_power x latency",
    )
    fitted_keys = {"pe.cycles_per_synop", "energy.base_power_mw"}
    records = (
        *(r for r in prof.calibration if r.parameter not in fitted_keys),
        CalibrationRecord(
            parameter="pe.cycles_per_synop",
            value=c_fit,
            target=f"{latency_ms} ms",
            data_point=data_point,
            reference_network=reference_network,
            date=today,
            note=note,
        ),
        CalibrationRecord(
            parameter="energy.base_power_mw",
            value=p_base_mw,
            target=f"{energy_mj} mJ",
            data_point=data_point,
            reference_network=reference_network,
            date=today,
            note=note,
        ),
    )
    prof = dataclasses.replace(prof, calibration=records, provenance=prov)
    return prof, estimate(ir, record, prof)
