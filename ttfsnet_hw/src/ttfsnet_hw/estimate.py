"""Latency and energy estimates from recorded spikes (the cost model of ``docs/hardware.md``).

Per consumer layer ``l`` mapped on PEs ``p`` (see [`ttfsnet_hw.mapping`][ttfsnet_hw.mapping]), per sample:

.. math::

    \\text{cycles}_{l,p} = \\text{SynOP}_{l,p} c_{syn} + S^{in}_{l,p} c_{spk} + S^{out}_{l,p} c_{fire}
        + \\lceil N_{l,p} / \\text{lanes} \\rceil c_{upd} \\,[\\times 2^{b_t} \\text{ if stepped}]

``cycles_l = max_p cycles_{l,p} + h̄_l c_hop + overhead`` and ``cycles = S_0 c_in + Σ_l cycles_l`` (layers are
causal: a layer's window opens when the previous one closes). The bottleneck PE ``p*`` of each layer is
found on the calibration-set average spike maps; per sample, its share of the layer's SynOPs and spikes is
kept fixed, which makes every per-sample figure linear in that sample's spike counts (so zero spikes give
zero dynamic energy, and energy is linear in spikes).

Energy: ``E_syn = Σ SynOP·(weight read + membrane read/write + add)``,
``E_neu = Σ (checks·e_cmp + spikes·e_spk)``,
``E_noc = Σ packets·h̄·e_hop`` and ``E_static = (PEs·P_leak + P_base)·latency``; SRAM energies follow the
Horowitz size law of the profile. [`ttfsnet_hw.calibrate.calibrate`][ttfsnet_hw.calibrate.calibrate] fits
``pe.cycles_per_synop`` and ``energy.base_power_mw`` to a published (latency, energy) point and records the
fit in the profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from ttfsnet_hw.datapath import conv2d
from ttfsnet_hw.errors import IRError
from ttfsnet_hw.mapping import NetworkMapping, Partition, hop_distance, map_network, region_bounds
from ttfsnet_hw.profile import HardwareProfile
from ttfsnet_hw.records import check_ttfs_bound
from ttfsnet_hw.types import LayerIR, NetworkIR, SpikeRecord

__all__ = [
    "Estimate",
    "LayerEstimate",
    "LayerLoad",
    "Stat",
    "energy_per_synop_pj",
    "estimate",
    "layer_loads",
]

PJ_TO_MJ = 1e-9


@dataclass(frozen=True, kw_only=True, slots=True)
class Stat:
    """Mean, min and max over the calibration samples."""

    mean: float
    min: float
    max: float

    @staticmethod
    def of(values: np.ndarray) -> Stat:
        """Summarise a per-sample vector."""
        v = np.asarray(values, dtype=np.float64)
        return Stat(mean=float(v.mean()), min=float(v.min()), max=float(v.max()))


@dataclass(frozen=True, kw_only=True, slots=True)
class LayerEstimate:
    """Per-layer figures (means over samples).

    Attributes:
        name: layer name.
        kind: layer kind.
        pes: PEs used.
        partition: ``channel_groups x tiles_y x tiles_x``.
        neurons: neurons per sample.
        macs: dense MACs per sample.
        synops: SynOPs into this layer.
        spikes_in: spikes arriving (from the previous emitter).
        spikes_out: spikes emitted (0 for the readout).
        packets: NoC packets (one per input spike and destination PE).
        hops: mean hops per packet.
        cycles: layer cycles.
        latency_ms: layer latency.
        energy_synaptic_mj: synaptic energy.
        energy_neuron_mj: neuron energy.
        energy_noc_mj: NoC energy.
    """

    name: str
    kind: str
    pes: int
    partition: str
    neurons: int
    macs: int
    synops: float
    spikes_in: float
    spikes_out: float
    packets: float
    hops: float
    cycles: float
    latency_ms: float
    energy_synaptic_mj: float
    energy_neuron_mj: float
    energy_noc_mj: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Estimate:
    """A full estimate (JSON schema: `to_dict`).

    Attributes:
        network: network name.
        profile: profile name.
        n_samples: calibration samples.
        spike_source: ``snn``, ``ann`` or ``assumed``.
        latency_ms: per-inference latency.
        energy_mj: per-inference energy.
        energy_split_mj: mean energy by part (``synaptic``, ``neuron``, ``noc``, ``static``).
        cycles: cycles per inference.
        synops: SynOPs per inference.
        spikes: spikes per inference (all emitters, input included).
        macs: dense MACs per inference.
        params: parameters.
        pes_used: PEs with a layer.
        pes_required: PEs of the minimal all-resident mapping (footprint; ≤ ``pes_used``).
        pes_available: PEs the mapper could use.
        neuron_utilisation: Σ neurons / neuron slots of used PEs.
        memory_utilisation: Σ stored weights / weight memory of used PEs.
        layers: per-layer rows.
    """

    network: str
    profile: str
    n_samples: int
    spike_source: str
    latency_ms: Stat
    energy_mj: Stat
    energy_split_mj: dict[str, float]
    cycles: Stat
    synops: Stat
    spikes: Stat
    macs: int
    params: int
    pes_used: int
    pes_required: int
    pes_available: int
    neuron_utilisation: float
    memory_utilisation: float
    layers: tuple[LayerEstimate, ...]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict; scalar top-level ``latency_ms``/``energy_mj``/``synops``/``spikes`` are means,
        with ``*_min``/``*_max`` next to them."""
        out: dict[str, object] = {
            "network": self.network,
            "profile": self.profile,
            "n_samples": self.n_samples,
            "spike_source": self.spike_source,
        }
        for key in ("latency_ms", "energy_mj", "cycles", "synops", "spikes"):
            st: Stat = getattr(self, key)
            out[key] = st.mean
            out[f"{key}_min"] = st.min
            out[f"{key}_max"] = st.max
        out.update(
            energy_split_mj=dict(self.energy_split_mj),
            macs=self.macs,
            params=self.params,
            pes_used=self.pes_used,
            pes_required=self.pes_required,
            pes_available=self.pes_available,
            neuron_utilisation=self.neuron_utilisation,
            memory_utilisation=self.memory_utilisation,
            layers=[asdict(layer) for layer in self.layers],
        )
        return out


def _sram_pj(profile: HardwareProfile, bits: int, size_kib: float) -> float:
    e = profile.energy
    e64 = e.sram_read_64b_pj_at_8kib * (size_kib / 8.0) ** e.sram_size_exponent
    if e.sram_access_model == "optimistic":
        return e64 * bits / 64.0
    return e64


def energy_per_synop_pj(profile: HardwareProfile, weighted: bool = True) -> float:
    """Dynamic energy of one SynOP: weight read (weighted layers) + membrane read/write + add."""
    e = profile.energy
    pr = profile.precision
    total = e.add_pj
    if weighted:
        total += _sram_pj(profile, pr.weight_bits, profile.pe.weight_memory_kib)
    if not e.membrane_in_registers:
        mem = _sram_pj(profile, pr.membrane_bits, profile.pe.membrane_memory_kib)
        total += mem * (1.0 + e.sram_write_factor)
    return total * e.tech_scale


def _prefix3(a: np.ndarray) -> np.ndarray:
    p = np.zeros((a.shape[0] + 1, a.shape[1] + 1, a.shape[2] + 1), dtype=np.float64)
    # in place: three full temporaries per call were most of a NAS candidate's estimate
    v = p[1:, 1:, 1:]
    np.cumsum(a, axis=0, out=v)
    np.cumsum(v, axis=1, out=v)
    np.cumsum(v, axis=2, out=v)
    return p


def _box3(
    p: np.ndarray,
    c0: np.ndarray,
    c1: np.ndarray,
    y0: np.ndarray,
    y1: np.ndarray,
    x0: np.ndarray,
    x1: np.ndarray,
) -> np.ndarray:
    return (
        p[c1, y1, x1]
        - p[c0, y1, x1]
        - p[c1, y0, x1]
        - p[c1, y1, x0]
        + p[c0, y0, x1]
        + p[c0, y1, x0]
        + p[c1, y0, x0]
        - p[c0, y0, x0]
    )


def _as3(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], 1, 1) if a.ndim == 1 else a


class LayerLoad:
    """Per-PE quantities of one consumer layer under any partition (from its mean spike maps).

    Building one sums the spike maps into prefix sums once; `evaluate` then costs any partition in
    O(PEs). [`ttfsnet_hw.calibrate.calibrate`][ttfsnet_hw.calibrate.calibrate] reuses the loads across its
    bisection (only the profile changes) through `with_profile` and ``estimate(..., loads=...)``.

    Args:
        ir: the network.
        layer: one of its consumer layers.
        record: the spike record.
        profile: the profile whose PE constants `evaluate` uses.
    """

    def __init__(self, ir: NetworkIR, layer: LayerIR, record: SpikeRecord, profile: HardwareProfile) -> None:
        self.layer = layer
        self.profile = profile
        n = record.n_samples
        src = ir.source_of(layer)
        s_in = _as3(record.per_neuron[record.emitters.index(src)] / n)
        if layer.kind in ("linear", "readout"):
            s_in = s_in.reshape(-1, 1, 1)
            total = float(s_in.sum())
            self.inc = np.full((layer.out_shape[0], 1, 1), total)
            self.groups_in = None
        else:
            c_in = layer.in_shape[0]
            groups = layer.groups if layer.kind == "conv" else c_in
            cg = c_in // groups
            og = layer.out_shape[0] // groups
            gmap = s_in.reshape(groups, cg, *s_in.shape[1:]).sum(axis=1)
            ones = np.ones((groups, 1, *layer.kernel))
            box = conv2d(gmap[None], ones, layer.stride, layer.padding, groups=groups)[0]
            self.inc = np.repeat(box, og, axis=0)
            self.groups_in = (cg, og)
        self.s_in_total = float(s_in.sum())
        self.p_in = _prefix3(s_in)
        self.p_inc = _prefix3(self.inc)
        if layer.emits:
            out = _as3(record.per_neuron[record.emitters.index(layer.name)] / n)
            self.p_out = _prefix3(out)
            self.s_out_total = float(out.sum())
        else:
            self.p_out = None
            self.s_out_total = 0.0
        self.syn_total = float(self.inc.sum())
        self.in_hw = s_in.shape[1:]
        self._cache: dict[Partition, tuple[float, dict[str, float]]] = {}
        self._pe_cache: dict[Partition, dict[str, np.ndarray]] = {}

    def with_profile(self, profile: HardwareProfile) -> LayerLoad:
        """Same spike maps under another profile (per-PE sums are reused)."""
        other = object.__new__(LayerLoad)
        other.__dict__.update(self.__dict__)
        other.profile = profile
        other._cache = {}
        return other

    def per_pe(self, part: Partition) -> dict[str, np.ndarray]:
        """Per PE of ``part``: synaptic events ``syn``, input spikes ``in``, output spikes ``out`` and
        ``neurons`` (arrays over the PEs, means per sample)."""
        hit = self._pe_cache.get(part)
        if hit is None:
            hit = self._pe_cache[part] = self._per_pe(part)
        return hit

    def _per_pe(self, part: Partition) -> dict[str, np.ndarray]:
        layer = self.layer
        cb, yb, xb = region_bounds(layer, part)
        gi, yi, xi = np.meshgrid(
            np.arange(part.channel_groups), np.arange(part.tiles_y), np.arange(part.tiles_x), indexing="ij"
        )
        c0, c1 = cb[gi].ravel(), cb[gi + 1].ravel()
        y0, y1 = yb[yi].ravel(), yb[yi + 1].ravel()
        x0, x1 = xb[xi].ravel(), xb[xi + 1].ravel()
        syn = _box3(self.p_inc, c0, c1, y0, y1, x0, x1)
        nrn = (c1 - c0) * (y1 - y0) * (x1 - x0)
        if self.p_out is not None:
            out = _box3(self.p_out, c0, c1, y0, y1, x0, x1)
        else:
            out = np.zeros_like(syn)
        if self.groups_in is None:
            spk_in = np.full(syn.shape, self.s_in_total)
        else:
            cg, og = self.groups_in
            ic0 = (c0 // og) * cg
            ic1 = ((c1 - 1) // og + 1) * cg
            (kh, kw), (sh, sw), (ph, pw) = layer.kernel, layer.stride, layer.padding
            hi, wi = self.in_hw
            iy0 = np.clip(y0 * sh - ph, 0, hi)
            iy1 = np.clip((y1 - 1) * sh - ph + kh, 0, hi)
            ix0 = np.clip(x0 * sw - pw, 0, wi)
            ix1 = np.clip((x1 - 1) * sw - pw + kw, 0, wi)
            spk_in = _box3(self.p_in, ic0, ic1, iy0, iy1, ix0, ix1)
        return {"syn": syn, "in": spk_in, "out": out, "neurons": nrn.astype(np.float64)}

    def update_cycles(self, neurons: np.ndarray) -> np.ndarray:
        """Neuron-update cycles of PEs holding ``neurons`` neurons each."""
        pe = self.profile.pe
        per = np.ceil(neurons / pe.neuron_updates_per_cycle) * pe.cycles_per_neuron_update
        if pe.neuron_update == "stepped" and self.layer.kind != "readout":
            per = per * (2**self.profile.precision.time_bits)
        return per

    def evaluate(self, part: Partition) -> tuple[float, dict[str, float]]:
        """(mean cycles, bottleneck shares) for a partition."""
        hit = self._cache.get(part)
        if hit is not None:
            return hit
        pe = self.profile.pe
        q = self.per_pe(part)
        upd = self.update_cycles(q["neurons"])
        cyc = (
            q["syn"] * pe.cycles_per_synop
            + q["in"] * pe.cycles_per_input_spike
            + q["out"] * pe.cycles_per_output_spike
            + upd
        )
        p = int(np.argmax(cyc))
        hops = hop_distance(part.n_pes)
        fixed = float(upd[p]) + hops * self.profile.noc.cycles_per_hop + pe.layer_overhead_cycles
        shares = {
            "syn": float(q["syn"][p] / self.syn_total) if self.syn_total > 0 else 0.0,
            "in": float(q["in"][p] / self.s_in_total) if self.s_in_total > 0 else 0.0,
            "out": float(q["out"][p] / self.s_out_total) if self.s_out_total > 0 else 0.0,
            "fixed": fixed,
            "packets": float(q["in"].sum() / self.s_in_total) if self.s_in_total > 0 else float(part.n_pes),
            "hops": hops,
        }
        total = float(cyc[p]) + hops * self.profile.noc.cycles_per_hop + pe.layer_overhead_cycles
        self._cache[part] = (total, shares)
        return total, shares


def estimate(
    ir: NetworkIR,
    record: SpikeRecord,
    profile: HardwareProfile,
    mapping: NetworkMapping | None = None,
    *,
    loads: Mapping[str, LayerLoad] | None = None,
) -> Estimate:
    """Estimate latency and energy of ``ir`` on ``profile`` from a spike record.

    Args:
        ir: the network.
        record: spike statistics over the calibration set.
        profile: hardware profile.
        mapping: a fixed mapping (default: map with the spike-based load model).
        loads: per consumer layer, its [`LayerLoad`][ttfsnet_hw.estimate.LayerLoad] from
            [`layer_loads`][ttfsnet_hw.estimate.layer_loads] of the same ``ir`` and ``record`` (any profile);
            saves rebuilding them when only the profile changes.

    Returns:
        The estimate (means with min/max over samples).

    Raises:
        IRError: the record does not belong to ``ir`` or violates the TTFS bound.
        MappingError: the network does not fit.
    """
    if tuple(record.emitters) != tuple(ir.emitters):
        raise IRError(
            f"spike record emitters {record.emitters} do not match network {ir.name} ({ir.emitters})"
        )
    if record.per_sample_synops.shape[1] != len(ir.consumers):
        raise IRError(
            f"spike record has {record.per_sample_synops.shape[1]} consumer columns, network "
            f"{ir.name} has {len(ir.consumers)}"
        )
    check_ttfs_bound(ir, record)
    if loads is None:
        own = layer_loads(ir, record, profile)
    else:
        own = {name: load.with_profile(profile) for name, load in loads.items()}
    if mapping is None:
        mapping = map_network(ir, profile, lambda layer, part: own[layer.name].evaluate(part)[0])
    pe, en = profile.pe, profile.energy
    f_hz = profile.clock.frequency_mhz * 1e6
    n = record.n_samples
    spikes = record.per_sample_spikes
    cycles = spikes[:, 0] * pe.cycles_per_input_value
    e_syn = np.zeros(n)
    e_neu = np.zeros(n)
    e_noc = np.zeros(n)
    rows = []
    per_layer_cycles = []
    for ci, layer in enumerate(ir.consumers):
        lm = mapping.layer(layer.name)
        _, sh = own[layer.name].evaluate(lm.partition)
        syn = record.per_sample_synops[:, ci]
        s_in = spikes[:, record.emitters.index(ir.source_of(layer))]
        s_out = spikes[:, record.emitters.index(layer.name)] if layer.emits else np.zeros(n)
        cyc = (
            sh["syn"] * syn * pe.cycles_per_synop
            + sh["in"] * s_in * pe.cycles_per_input_spike
            + sh["out"] * s_out * pe.cycles_per_output_spike
            + sh["fixed"]
        )
        cycles = cycles + cyc
        per_layer_cycles.append(cyc)
        ls = syn * energy_per_synop_pj(profile, weighted=layer.weighted)
        checks = 0.0
        if layer.kind != "readout":
            checks = layer.neurons * (2**profile.precision.time_bits if pe.neuron_update == "stepped" else 1)
        ln = (checks * en.compare_pj + s_out * en.spike_pj) * en.tech_scale * np.ones(n)
        packets = sh["packets"] * s_in
        lc = packets * sh["hops"] * profile.noc.energy_per_hop_pj * en.tech_scale
        e_syn += ls
        e_neu += ln
        e_noc += lc
        rows.append(
            LayerEstimate(
                name=layer.name,
                kind=layer.kind,
                pes=lm.n_pes,
                partition=f"{lm.partition.channel_groups}x{lm.partition.tiles_y}x{lm.partition.tiles_x}",
                neurons=layer.neurons,
                macs=layer.macs,
                synops=float(syn.mean()),
                spikes_in=float(s_in.mean()),
                spikes_out=float(s_out.mean()),
                packets=float(packets.mean()),
                hops=float(sh["hops"]),
                cycles=float(cyc.mean()),
                latency_ms=float(cyc.mean() / f_hz * 1e3),
                energy_synaptic_mj=float(ls.mean() * PJ_TO_MJ),
                energy_neuron_mj=float(ln.mean() * PJ_TO_MJ),
                energy_noc_mj=float(lc.mean() * PJ_TO_MJ),
            )
        )
    latency_s = cycles / f_hz
    static_w = (mapping.pes_used * en.static_power_per_pe_mw + en.base_power_mw) * 1e-3
    e_static_mj = static_w * latency_s * 1e3
    energy = (e_syn + e_neu + e_noc) * PJ_TO_MJ + e_static_mj
    return Estimate(
        network=ir.name,
        profile=profile.name,
        n_samples=n,
        spike_source=record.source,
        latency_ms=Stat.of(latency_s * 1e3),
        energy_mj=Stat.of(energy),
        energy_split_mj={
            "synaptic": float(e_syn.mean() * PJ_TO_MJ),
            "neuron": float(e_neu.mean() * PJ_TO_MJ),
            "noc": float(e_noc.mean() * PJ_TO_MJ),
            "static": float(e_static_mj.mean()),
        },
        cycles=Stat.of(cycles),
        synops=Stat.of(record.per_sample_synops.sum(axis=1)),
        spikes=Stat.of(spikes.sum(axis=1)),
        macs=ir.macs,
        params=ir.params,
        pes_used=mapping.pes_used,
        pes_required=mapping.pes_required,
        pes_available=mapping.pes_available,
        neuron_utilisation=mapping.neuron_utilisation,
        memory_utilisation=mapping.memory_utilisation,
        layers=tuple(rows),
    )


def layer_loads(ir: NetworkIR, record: SpikeRecord, profile: HardwareProfile) -> dict[str, LayerLoad]:
    """The [`LayerLoad`][ttfsnet_hw.estimate.LayerLoad] of every consumer layer of ``ir``, by layer name."""
    return {layer.name: LayerLoad(ir, layer, record, profile) for layer in ir.consumers}
