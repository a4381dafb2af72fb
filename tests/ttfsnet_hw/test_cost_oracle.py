"""Hand-computed YOSO cost model (``docs/hardware.md``, "Cost model"): an oracle that shares no code with
:mod:`ttfsnet_hw.estimate`.

Two tiny networks on a small profile with round constants, and a spike record written out neuron by neuron.
Every expected figure is arithmetic on counted quantities (spikes, SynOPs, packets, hops, neurons), with a
comment per term, so a wrong term in the estimator (a factor on one energy, the wrong spike count, a missing
hop factor) changes one asserted number.

Tolerance: every expected value is a short sum of products of small integers, the exact binary fractions
below (7.5 pJ, 0.25 pJ, ...) and the mean hop counts 5/3 and 1 + ⅔(√2 − 1), which are not representable, so
the library and the test round differently in the last bits: a sum of ≲ 20 rounded terms is off by at most
~20 ulp ≈ 4.4e-15 relative (measured ≤ 1.7e-16, about one ulp). ``REL = 2e-14`` (~100 ulp) leaves 4x over that
bound and is far below any modelling error (the smallest term asserted, one compare of 0.25 pJ in an 8 pJ
figure, is 3 %). Integer counts are compared exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from ttfsnet_hw.estimate import Estimate, estimate
from ttfsnet_hw.ir import IRBuilder
from ttfsnet_hw.profile import HardwareProfile, profile_from_dict
from ttfsnet_hw.records import SpikeRecorder
from ttfsnet_hw.types import NetworkIR, SpikeRecord

REL = 2e-14

# Round constants. Derived per-operation energies (optimistic SRAM model, energy ∝ accessed bits):
#   weight read    = 16 pJ · (2 KiB / 8 KiB)^0.5 · 8 bit / 64 bit      = 1.0 pJ
#   membrane read  = 16 pJ · (8 KiB / 8 KiB)^0.5 · 16 bit / 64 bit     = 4.0 pJ, write = 0.5 · read = 2.0 pJ
#   weighted SynOP = add 0.5 + weight 1.0 + membrane 4.0 + 2.0         = 7.5 pJ
#   max-pool SynOP = add 0.5 + membrane 4.0 + 2.0 (no weight read)      = 6.5 pJ
PROFILE_YAML = """
name: oracle
description: round numbers for hand-computed costs
clock: {frequency_mhz: 100.0}
pe:
  mesh_x: 4
  mesh_y: 4
  neurons_per_pe: 8
  weight_memory_kib: 2.0
  membrane_memory_kib: 8.0
  cycles_per_synop: 2.0
  cycles_per_input_spike: 3.0
  cycles_per_output_spike: 5.0
  neuron_update: closed_form
  cycles_per_neuron_update: 1.0
  neuron_updates_per_cycle: 2
  cycles_per_input_value: 7.0
  layer_overhead_cycles: 11.0
noc: {cycles_per_hop: 4.0, energy_per_hop_pj: 2.0, io_port_x: 0, io_port_y: 0}
precision: {weight_bits: 8, membrane_bits: 16, time_bits: 4}
energy:
  sram_read_64b_pj_at_8kib: 16.0
  sram_size_exponent: 0.5
  sram_write_factor: 0.5
  sram_access_model: optimistic
  membrane_in_registers: false
  add_pj: 0.5
  compare_pj: 0.25
  spike_pj: 3.0
  tech_scale: 1.0
  static_power_per_pe_mw: 1.0
  base_power_mw: 10.0
mapping: {partition: spatial, spread: false, max_pes: 0}
"""

E_SYN_W = 7.5  # pJ per weighted SynOP (derivation above)
E_SYN_POOL = 6.5  # pJ per max-pool SynOP
MS_PER_CYCLE = 1e3 / 100e6  # 100 MHz
MJ_PER_PJ = 1e-9
MJ_PER_MW_MS = 1e-3  # 1 mW · 1 ms = 1 µJ

# mean hops of a spike into a compact group of n PEs: 1 + (2/3)(√n − 1) (docs/hardware.md)
HOPS_4 = 1 + (2 / 3) * (2 - 1)  # = 5/3
HOPS_2 = 1 + (2 / 3) * (math.sqrt(2) - 1)
HOPS_1 = 1.0

# The spike record (one sample). Input (1, 4, 4): spikes at (y, x) =
INPUT_SPIKES = [(0, 0), (1, 0), (2, 1), (3, 3), (1, 2), (3, 0)]  # 6 spikes
# Conv output (2, 4, 4): (channel, y, x); two of them fall into the same 2x2 pool window (0, 0, 0)
CONV_SPIKES = [(0, 0, 1), (0, 1, 0), (1, 2, 1), (0, 3, 2), (1, 1, 3)]  # 5 spikes
# Max pool 2x2 of the conv spikes (consistent with CONV_SPIKES): (c, Y, X) fires iff its window holds one
POOL_SPIKES = [(0, 0, 0), (1, 1, 0), (0, 1, 1), (1, 0, 1)]  # 4 spikes
FC_SPIKES = [1, 7, 8]  # 3 of the 12 linear neurons: one in PE 0 (neurons 0-5), two in PE 1 (6-11)


def _close(value: float) -> object:
    """``value`` within ``REL`` (no absolute slack: pytest's default 1e-12 would swallow these mJ figures)."""
    return pytest.approx(value, rel=REL, abs=0.0)


def _profile(**changes: object) -> HardwareProfile:
    prof = profile_from_dict(yaml.safe_load(PROFILE_YAML), where="oracle profile")
    return prof.replace(**changes) if changes else prof


def _mask(shape: tuple[int, ...], where: list) -> np.ndarray:  # type: ignore[type-arg]
    m = np.zeros(shape)
    for idx in where:
        m[idx] += 1.0
    return m


def one_layer() -> NetworkIR:
    """input (1,4,4) → conv c: 2 channels, 3x3, padding 1 → flatten → readout r: 3 classes."""
    return IRBuilder("one", (1, 4, 4)).conv(2, 3, name="c").flatten(name="f").readout(3, name="r")


def two_layers() -> NetworkIR:
    """input (1,4,4) → conv c (2, 3x3, pad 1) → max pool p 2x2 → flatten → linear fc (12) → readout r (3)."""
    return (
        IRBuilder("two", (1, 4, 4))
        .conv(2, 3, name="c")
        .maxpool(2, name="p")
        .flatten(name="f")
        .linear(12, name="fc")
        .readout(3, name="r")
    )


def _masks(ir: NetworkIR) -> list[np.ndarray]:
    """Per emitter, the spike mask of the one recorded sample (shape ``(1, *emitter_shape)``)."""
    by_name = {
        "input": _mask((1, 4, 4), [(0, *yx) for yx in INPUT_SPIKES]),
        "c": _mask((2, 4, 4), CONV_SPIKES),
        "p": _mask((2, 2, 2), POOL_SPIKES),
        "fc": _mask((12,), [(i,) for i in FC_SPIKES]),
    }
    return [by_name[e][None] for e in ir.emitters]


def _record(ir: NetworkIR, synops: list[float], silent_second_sample: bool = False) -> SpikeRecord:
    """The record written by hand: per-neuron counts, per-sample spike totals and hand-counted SynOPs.

    With ``silent_second_sample`` a second sample without any spike is added (per-neuron sums unchanged)."""
    masks = [m[0] for m in _masks(ir)]
    spikes = [float(m.sum()) for m in masks]
    per_sample_spikes = [spikes]
    per_sample_synops = [synops]
    if silent_second_sample:
        per_sample_spikes.append([0.0] * len(spikes))
        per_sample_synops.append([0.0] * len(synops))
    return SpikeRecord(
        emitters=ir.emitters,
        n_samples=len(per_sample_spikes),
        per_neuron=tuple(masks),
        per_sample_spikes=np.array(per_sample_spikes),
        per_sample_synops=np.array(per_sample_synops),
        source="snn",
    )


# ------------------------------------------------------------------------------------- hand counts
# Conv c on the input: output (2, 4, 4) = 32 neurons. Mapping (spatial policy): a 3x3x1 kernel is 9 B, both
# channels fit one PE's 2 KiB, so 1 channel group of 2 channels; 8 neuron slots / 2 channels = 4 positions
# per PE, and the fewest tiles of ≤ 4 positions on a 4x4 map are 4 (ties broken towards fewer row bands):
# 1 row band x 4 column bands, PE j owns output column j, all rows, both channels: partition 1x1x4.
#
# An input spike at (y, x) reaches output rows y-1..y+1 ∩ [0, 3] (2 rows at y ∈ {0, 3}, else 3) in columns
# x-1..x+1 ∩ [0, 3], both channels. PE j receives the input spikes of columns j-1..j+1 (its receptive field).
#   spike   rows  PEs (columns)   SynOPs = 2 ch · rows · columns
#   (0,0)    2    0 1             8
#   (1,0)    3    0 1             12
#   (2,1)    3    0 1 2           18
#   (3,3)    2    2 3             8
#   (1,2)    3    1 2 3           18
#   (3,0)    2    0 1             8          total 72 SynOPs
# per PE:  in-spikes  SynOPs                  out-spikes (conv spikes in column j)
#   PE0    4          2·(2+3+3+2)  = 20       1   (0,1,0)
#   PE1    5          2·(2+3+3+3+2) = 26      2   (0,0,1), (1,2,1)
#   PE2    3          2·(3+2+3)    = 16       1   (0,3,2)
#   PE3    2          2·(2+3)      = 10       1   (1,1,3)
# packets (one per input spike and destination PE) = 4 + 5 + 3 + 2 = 14
# PE cycles = 2·SynOPs + 3·in + 5·out + ⌈8 neurons / 2 lanes⌉·1:
#   PE0 = 40 + 12 + 5 + 4 = 61;  PE1 = 52 + 15 + 10 + 4 = 81 (bottleneck);
#   PE2 = 32 + 9 + 5 + 4 = 50;   PE3 = 20 + 6 + 5 + 4 = 35
CONV_SYNOPS = 72.0
CONV_PACKETS = 14.0
CONV_CYCLES = 81 + 4 * HOPS_4 + 11  # bottleneck PE1 + hops·c_hop + layer overhead
CONV_E_SYN = CONV_SYNOPS * E_SYN_W  # 540 pJ
CONV_E_NEU = 32 * 0.25 + 5 * 3.0  # 32 neuron checks · e_cmp + 5 OUTPUT spikes · e_spk = 23 pJ
CONV_E_NOC = CONV_PACKETS * HOPS_4 * 2.0  # packets · mean hops · e_hop = 140/3 pJ


def _check_layer(est: Estimate, name: str, **want: float | str | int) -> None:
    row = next(layer for layer in est.layers if layer.name == name)
    for key, value in want.items():
        got = getattr(row, key)
        if isinstance(value, str | int):
            assert got == value, (name, key, got, value)
        else:
            assert got == _close(value), (name, key, got, value)


def test_hand_counted_synops_match_the_spike_recorder() -> None:
    # the hand counts feed the oracle below; check them once against the library's SynOP counter
    for ir, want in ((one_layer(), [72, 15]), (two_layers(), [72, 5, 48, 9])):
        rec = SpikeRecorder(ir)
        rec.add(_masks(ir))
        assert rec.finish().per_sample_synops[0].tolist() == want


def test_one_layer_network_by_hand() -> None:
    ir = one_layer()
    # readout r: 5 conv spikes x 3 outputs = 15 SynOPs, in 1 PE (3 neurons ≤ 8; 32 B of weights each)
    est = estimate(ir, _record(ir, [72.0, 15.0]), _profile())

    _check_layer(est, "c", partition="1x1x4", pes=4, synops=CONV_SYNOPS, spikes_in=6.0, spikes_out=5.0)
    _check_layer(est, "c", packets=CONV_PACKETS, hops=HOPS_4, cycles=CONV_CYCLES)
    _check_layer(est, "c", energy_synaptic_mj=CONV_E_SYN * MJ_PER_PJ, energy_neuron_mj=CONV_E_NEU * MJ_PER_PJ)
    _check_layer(est, "c", energy_noc_mj=CONV_E_NOC * MJ_PER_PJ)
    # readout: 15 SynOPs · 2 + 5 in-spikes · 3 + no out-spikes + ⌈3 / 2⌉ · 1 update cycles = 47,
    # + 1 hop (one PE) · 4 + overhead 11
    r_cycles = 15 * 2 + 5 * 3 + 0 + 2 + HOPS_1 * 4 + 11  # = 62
    r_e_syn = 15 * E_SYN_W  # 112.5 pJ
    r_e_neu = 0.0  # a readout is not checked against a threshold and emits no spikes
    r_e_noc = 5 * HOPS_1 * 2.0  # 5 packets (one PE) · 1 hop · 2 pJ = 10 pJ
    _check_layer(est, "r", partition="1x1x1", pes=1, synops=15.0, spikes_in=5.0, spikes_out=0.0)
    _check_layer(est, "r", packets=5.0, hops=HOPS_1, cycles=r_cycles)
    _check_layer(est, "r", energy_synaptic_mj=r_e_syn * MJ_PER_PJ, energy_neuron_mj=r_e_neu * MJ_PER_PJ)
    _check_layer(est, "r", energy_noc_mj=r_e_noc * MJ_PER_PJ)

    cycles = 6 * 7 + CONV_CYCLES + r_cycles  # 6 input spikes · c_in + layers in sequence = 608/3
    latency_ms = cycles * MS_PER_CYCLE
    static_mw = 5 * 1.0 + 10.0  # 5 PEs · leakage + base power
    split = {
        "synaptic": (CONV_E_SYN + r_e_syn) * MJ_PER_PJ,  # 652.5 pJ
        "neuron": (CONV_E_NEU + r_e_neu) * MJ_PER_PJ,  # 23 pJ
        "noc": (CONV_E_NOC + r_e_noc) * MJ_PER_PJ,  # 170/3 pJ
        "static": static_mw * latency_ms * MJ_PER_MW_MS,  # 15 mW · 2.0267e-3 ms = 3.04e-5 mJ
    }
    assert est.pes_used == 5 and est.pes_required == 5
    assert est.synops.mean == 87.0 and est.spikes.mean == 11.0
    assert est.cycles.mean == _close(cycles)
    assert est.latency_ms.mean == _close(latency_ms)
    for part, value in split.items():
        assert est.energy_split_mj[part] == _close(value), part
    assert est.energy_mj.mean == _close(sum(split.values()))


def test_two_layer_network_by_hand() -> None:
    ir = two_layers()
    # SynOPs: conv 72 (above); pool: each of the 5 conv spikes lies in exactly one 2x2 window = 5;
    # fc: 4 pool spikes x 12 neurons = 48; readout: 3 fc spikes x 3 classes = 9
    est = estimate(ir, _record(ir, [72.0, 5.0, 48.0, 9.0]), _profile())

    # conv c: exactly as in the one-layer network
    _check_layer(est, "c", partition="1x1x4", pes=4, cycles=CONV_CYCLES, packets=CONV_PACKETS, hops=HOPS_4)
    _check_layer(est, "c", energy_synaptic_mj=CONV_E_SYN * MJ_PER_PJ, energy_neuron_mj=CONV_E_NEU * MJ_PER_PJ)
    _check_layer(est, "c", energy_noc_mj=CONV_E_NOC * MJ_PER_PJ)

    # max pool p: (2, 2, 2) = 8 neurons, no weights, so one PE (8 slots).
    # cycles: 5 SynOPs · 2 + 5 in · 3 + 4 out · 5 + ⌈8 / 2⌉ · 1 = 49, + 1 hop · 4 + 11
    p_cycles = 5 * 2 + 5 * 3 + 4 * 5 + 4 + HOPS_1 * 4 + 11  # = 64
    p_e_syn = 5 * E_SYN_POOL  # no weight read: 32.5 pJ
    p_e_neu = 8 * 0.25 + 4 * 3.0  # 8 checks + 4 OUTPUT spikes = 14 pJ
    p_e_noc = 5 * HOPS_1 * 2.0  # 10 pJ
    _check_layer(
        est, "p", partition="1x1x1", pes=1, synops=5.0, spikes_in=5.0, spikes_out=4.0, cycles=p_cycles
    )
    _check_layer(est, "p", energy_synaptic_mj=p_e_syn * MJ_PER_PJ, energy_neuron_mj=p_e_neu * MJ_PER_PJ)
    _check_layer(est, "p", energy_noc_mj=p_e_noc * MJ_PER_PJ)

    # linear fc: 12 neurons > 8 slots, so 2 channel groups of 6 (8 B of weights each, far below 2 KiB).
    # Each PE receives all 4 pool spikes (8 packets) and does 4 · 6 = 24 SynOPs; PE0 emits 1 spike, PE1 2:
    #   PE0 = 24·2 + 4·3 + 1·5 + ⌈6/2⌉ = 68;  PE1 = 48 + 12 + 10 + 3 = 73 (bottleneck)
    fc_cycles = 73 + HOPS_2 * 4 + 11
    fc_e_syn = 48 * E_SYN_W  # 360 pJ
    fc_e_neu = 12 * 0.25 + 3 * 3.0  # 12 checks + 3 OUTPUT spikes = 12 pJ
    fc_e_noc = 8 * HOPS_2 * 2.0  # 8 packets · mean hops of a 2-PE group · 2 pJ
    _check_layer(est, "fc", partition="2x1x1", pes=2, synops=48.0, spikes_in=4.0, spikes_out=3.0)
    _check_layer(est, "fc", packets=8.0, hops=HOPS_2, cycles=fc_cycles)
    _check_layer(est, "fc", energy_synaptic_mj=fc_e_syn * MJ_PER_PJ, energy_neuron_mj=fc_e_neu * MJ_PER_PJ)
    _check_layer(est, "fc", energy_noc_mj=fc_e_noc * MJ_PER_PJ)

    # readout r: 9 SynOPs · 2 + 3 in · 3 + ⌈3 / 2⌉ = 29, + 1 hop · 4 + 11
    r_cycles = 9 * 2 + 3 * 3 + 2 + HOPS_1 * 4 + 11  # = 44
    r_e_syn = 9 * E_SYN_W  # 67.5 pJ
    r_e_noc = 3 * HOPS_1 * 2.0  # 6 pJ
    _check_layer(est, "r", pes=1, synops=9.0, spikes_in=3.0, spikes_out=0.0, packets=3.0, cycles=r_cycles)
    _check_layer(est, "r", energy_synaptic_mj=r_e_syn * MJ_PER_PJ, energy_neuron_mj=0.0)
    _check_layer(est, "r", energy_noc_mj=r_e_noc * MJ_PER_PJ)

    cycles = 6 * 7 + CONV_CYCLES + p_cycles + fc_cycles + r_cycles  # input injection + layers in sequence
    latency_ms = cycles * MS_PER_CYCLE
    static_mw = (4 + 1 + 2 + 1) * 1.0 + 10.0  # 8 PEs · leakage + base power
    split = {
        "synaptic": (CONV_E_SYN + p_e_syn + fc_e_syn + r_e_syn) * MJ_PER_PJ,  # exactly 1000 pJ
        "neuron": (CONV_E_NEU + p_e_neu + fc_e_neu) * MJ_PER_PJ,  # 23 + 14 + 12 = 49 pJ
        "noc": (CONV_E_NOC + p_e_noc + fc_e_noc + r_e_noc) * MJ_PER_PJ,
        "static": static_mw * latency_ms * MJ_PER_MW_MS,
    }
    assert est.pes_used == 8
    assert est.synops.mean == 72 + 5 + 48 + 9 and est.spikes.mean == 6 + 5 + 4 + 3
    assert est.cycles.mean == _close(cycles)
    assert est.latency_ms.mean == _close(latency_ms)
    for part, value in split.items():
        assert est.energy_split_mj[part] == _close(value), part
    assert est.energy_mj.mean == _close(sum(split.values()))


def test_silent_sample_pays_only_fixed_costs() -> None:
    # Two samples: the recorded one and one without any spike. The bottleneck PE is chosen on the mean maps
    # (half of the first sample's; the ordering of PE cycles is unchanged as every conv PE has the same 4
    # update cycles), and each sample is costed with that PE's fixed shares.
    ir = one_layer()
    est = estimate(ir, _record(ir, [72.0, 15.0], silent_second_sample=True), _profile())
    busy = 6 * 7 + CONV_CYCLES + (15 * 2 + 5 * 3 + 2 + HOPS_1 * 4 + 11)  # as in the one-layer test
    # silent: no input injection, no SynOP/spike cycles; the bottleneck PE's 4 update cycles, hops and
    # overhead of the conv, the readout's 2 update cycles, 1 hop and overhead
    silent = (4 + HOPS_4 * 4 + 11) + (2 + HOPS_1 * 4 + 11)
    assert est.cycles.max == _close(busy)
    assert est.cycles.min == _close(silent)
    assert est.cycles.mean == _close((busy + silent) / 2)
    assert est.latency_ms.min == _close(silent * MS_PER_CYCLE)
    # a silent sample still pays the conv's 32 threshold checks (0.25 pJ each) and static power
    e_silent = 32 * 0.25 * MJ_PER_PJ + 15.0 * silent * MS_PER_CYCLE * MJ_PER_MW_MS
    assert est.energy_mj.min == _close(e_silent)
    assert est.energy_split_mj["neuron"] == _close((CONV_E_NEU + 32 * 0.25) / 2 * MJ_PER_PJ)
    assert est.energy_split_mj["synaptic"] == _close((CONV_E_SYN + 15 * E_SYN_W) / 2 * MJ_PER_PJ)


def test_stepped_neurons_by_hand() -> None:
    # stepped neuron update: every neuron is updated (and checked) at each of the 2^4 = 16 steps of its
    # window; the readout is not stepped
    ir = one_layer()
    est = estimate(ir, _record(ir, [72.0, 15.0]), _profile(**{"pe.neuron_update": "stepped"}))
    # conv PEs: update cycles ⌈8/2⌉ · 1 · 16 = 64; PE1 = 52 + 15 + 10 + 64 = 141 stays the bottleneck
    conv_cycles = 141 + HOPS_4 * 4 + 11
    r_cycles = 15 * 2 + 5 * 3 + 2 + HOPS_1 * 4 + 11
    assert est.cycles.mean == _close(6 * 7 + conv_cycles + r_cycles)
    # 32 neurons · 16 checks · 0.25 pJ + 5 output spikes · 3 pJ = 143 pJ
    assert est.energy_split_mj["neuron"] == _close((32 * 16 * 0.25 + 5 * 3.0) * MJ_PER_PJ)


@pytest.mark.parametrize(
    ("changes", "e_weighted"),
    [
        # pessimistic: every access costs a full 64-bit word: weight 16 · 0.5 = 8, membrane 16 · (1 + 0.5)
        ({"energy.sram_access_model": "pessimistic"}, 0.5 + 8.0 + 24.0),
        # membrane in registers: only the add and the (optimistic) 8-bit weight read
        ({"energy.membrane_in_registers": True}, 0.5 + 1.0),
        # tech_scale multiplies every dynamic energy
        ({"energy.tech_scale": 2.0}, 2 * E_SYN_W),
    ],
)
def test_synop_energy_variants_by_hand(changes: dict[str, object], e_weighted: float) -> None:
    ir = one_layer()
    est = estimate(ir, _record(ir, [72.0, 15.0]), _profile(**changes))
    # both consumers are weighted: (72 + 15) SynOPs
    assert est.energy_split_mj["synaptic"] == _close(87 * e_weighted * MJ_PER_PJ)
