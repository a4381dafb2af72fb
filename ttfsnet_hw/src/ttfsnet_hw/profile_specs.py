"""The sections of a hardware profile as frozen dataclasses (clock, PEs, NoC, energies, mapping policy) and
the provenance and calibration records stored with it.

[`HardwareProfile`][ttfsnet_hw.profile.HardwareProfile] combines them with the datapath widths
([`PrecisionSpec`][ttfsnet_hw.types.PrecisionSpec]); [`ttfsnet_hw.profile`][ttfsnet_hw.profile] reads,
validates and writes profiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CalibrationRecord",
    "ClockSpec",
    "EnergySpec",
    "MappingSpec",
    "NoCSpec",
    "PESpec",
    "Provenance",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Provenance:
    """Where a profile constant comes from.

    Attributes:
        source: citation (paper + section, or "assumption").
        confidence: tag (``docs/hardware.md``): V (primary), P (TNAS-ER text), S (secondary),
            D (derived), U (unverified assumption), F (fitted by `ttfsnet_hw.estimate.calibrate`).
        note: free text.
    """

    source: str = ""
    confidence: str = ""
    note: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ClockSpec:
    """Clock.

    Attributes:
        frequency_mhz: core clock in MHz.
    """

    frequency_mhz: float


@dataclass(frozen=True, kw_only=True, slots=True)
class PESpec:
    """Processing elements and their compute throughput.

    Attributes:
        mesh_x: PEs per mesh row (2-D mesh NoC); at most 1024 (``profile.MAX_MESH_SIDE``).
        mesh_y: PE rows; at most 1024.
        neurons_per_pe: neuron-state slots per PE (membrane SRAM words).
        weight_memory_kib: weight SRAM per PE in KiB.
        membrane_memory_kib: neuron-state SRAM per PE in KiB.
        cycles_per_synop: PE cycles per synaptic operation (1 / synops per cycle).
        cycles_per_input_spike: cycles to decode one incoming spike packet at a PE.
        cycles_per_output_spike: cycles to emit one spike.
        neuron_update: ``closed_form`` (each neuron's firing step is computed once, at its window start) or
            ``stepped`` (every neuron is checked at every time step of its window).
        cycles_per_neuron_update: cycles per neuron update (closed form: per neuron; stepped: per neuron
            and per time step), divided over ``neuron_updates_per_cycle`` lanes.
        neuron_updates_per_cycle: parallel neuron-update lanes per PE.
        cycles_per_input_value: cycles to inject one input spike from the host port.
        layer_overhead_cycles: fixed cycles per layer (window hand-over / synchronisation).
    """

    mesh_x: int
    mesh_y: int
    neurons_per_pe: int
    weight_memory_kib: float
    membrane_memory_kib: float
    cycles_per_synop: float
    cycles_per_input_spike: float
    cycles_per_output_spike: float
    neuron_update: Literal["closed_form", "stepped"]
    cycles_per_neuron_update: float
    neuron_updates_per_cycle: int
    cycles_per_input_value: float
    layer_overhead_cycles: float

    @property
    def count(self) -> int:
        """Number of PEs on the chip."""
        return self.mesh_x * self.mesh_y


@dataclass(frozen=True, kw_only=True, slots=True)
class NoCSpec:
    """Network-on-chip.

    Attributes:
        cycles_per_hop: router latency per hop.
        energy_per_hop_pj: energy per packet and hop.
        io_port_x: mesh column where input spikes enter.
        io_port_y: mesh row where input spikes enter.
    """

    cycles_per_hop: float
    energy_per_hop_pj: float
    io_port_x: int
    io_port_y: int


@dataclass(frozen=True, kw_only=True, slots=True)
class EnergySpec:
    """Per-operation energies and static power.

    Attributes:
        sram_read_64b_pj_at_8kib: energy of a 64-bit read from an 8 KiB SRAM macro.
        sram_size_exponent: e(S) = e(8 KiB)·(S / 8 KiB)**exponent.
        sram_write_factor: write energy relative to a read.
        sram_access_model: ``optimistic`` (energy ∝ bits accessed) or ``pessimistic`` (a full 64-bit word).
        membrane_in_registers: if true, the membrane read-modify-write per SynOP costs no SRAM access.
        add_pj: one membrane-width addition.
        compare_pj: one threshold comparison.
        spike_pj: emitting one spike (encoding + local buffer).
        tech_scale: multiplies every dynamic energy (1.0 = 45 nm, 0.9 V).
        static_power_per_pe_mw: leakage per active PE.
        base_power_mw: chip/board base power while an inference runs.
    """

    sram_read_64b_pj_at_8kib: float
    sram_size_exponent: float
    sram_write_factor: float
    sram_access_model: Literal["optimistic", "pessimistic"]
    membrane_in_registers: bool
    add_pj: float
    compare_pj: float
    spike_pj: float
    tech_scale: float
    static_power_per_pe_mw: float
    base_power_mw: float


@dataclass(frozen=True, kw_only=True, slots=True)
class MappingSpec:
    """Layer → PE mapping policy.

    Attributes:
        partition: ``spatial`` (each PE owns a tile of output positions, kernels replicated; channels are
            split only when the kernel does not fit) or ``channel`` (each PE owns a group of output
            channels at all positions; positions are split only when the neurons do not fit).
        spread: give PEs left over after the minimal mapping to the bottleneck layers.
        max_pes: use at most this many PEs (0 = the whole mesh).
    """

    partition: Literal["spatial", "channel"]
    spread: bool
    max_pes: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CalibrationRecord:
    """One fitted scalar, written into the profile by the calibration mode.

    Attributes:
        parameter: dotted key of the fitted value (e.g. ``pe.cycles_per_synop``).
        value: fitted value.
        target: the published value it was fitted to, with unit.
        data_point: where the target comes from.
        reference_network: what the model was evaluated on.
        date: ISO date of the fit.
        note: inputs used (e.g. synthetic calibration data).
    """

    parameter: str
    value: float
    target: str
    data_point: str
    reference_network: str
    date: str
    note: str = ""
