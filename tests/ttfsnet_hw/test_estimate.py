"""Cost-model invariants (yoso-hw-model.md §7.7), mapping feasibility and the paper reference point."""

from __future__ import annotations

import numpy as np
import pytest

from ttfsnet_hw.calibrate import calibrate
from ttfsnet_hw.closedform import run
from ttfsnet_hw.errors import IRError, MappingError
from ttfsnet_hw.estimate import energy_per_synop_pj, estimate
from ttfsnet_hw.ir import IRBuilder
from ttfsnet_hw.mapping import map_network, minimal_partition
from ttfsnet_hw.paper import PAPER_FIGURES, groups_of, paper_network, reference_architecture, reference_record
from ttfsnet_hw.profile import load_profile
from ttfsnet_hw.records import (
    SpikeRecorder,
    assumed_spike_record,
    check_ttfs_bound,
    record_from_times,
    uniform_spike_record,
)


def _record(net, x):  # type: ignore[no-untyped-def]
    _, times = run(net, x)
    return record_from_times(net, [times])


def test_synops_equal_macs_when_every_input_spikes(net) -> None:  # type: ignore[no-untyped-def]
    rec = SpikeRecorder(net)
    rec.add([np.ones((2, *net.emitter_shape(e)), dtype=bool) for e in net.emitters])
    r = rec.finish()
    assert r.mean_synops().tolist() == [float(c.macs) for c in net.consumers]
    # the readout's MACs are dense; a padded conv has fewer synapses than positions x fan-in
    conv = net.consumers[0]
    assert conv.macs < conv.neurons * conv.fan_in


def test_exact_synops_match_rate_times_macs_in_expectation(net) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    rho = 0.3
    rec = SpikeRecorder(net)
    for _ in range(20):
        rec.add([rng.random((50, *net.emitter_shape(e))) < rho for e in net.emitters])
    got = rec.finish().mean_synops()
    want = np.array([rho * c.macs for c in net.consumers])
    # per sample, synops = Σ_i b_i·f_i with b_i ~ Bernoulli(ρ): variance ρ(1-ρ)·Σf_i², so the mean of
    # n = 1000 samples has standard error √(ρ(1-ρ)·Σf²/n) (0.4 %-1.5 % of the mean here; a flat 3 % was 2 SE
    # for the readout and failed on other seeds). 5 SE: a correct model fails with p < 1e-6 per consumer.
    se = np.sqrt(rho * (1 - rho) * np.array([(c.fanout_map() ** 2.0).sum() for c in net.consumers]) / 1000)
    assert bool((np.abs(got - want) <= 5 * se).all()), (got - want) / se


def test_exact_synops_against_brute_force_unit_weight_conv() -> None:
    b = IRBuilder("b", (2, 7, 6))
    ir = b.conv(3, 3, stride=2, padding=1).flatten().readout(2)
    conv = ir.layers[0]
    mask = np.random.default_rng(3).random((1, 2, 7, 6)) < 0.5
    # brute force: count (input spike, output neuron) pairs over the receptive fields
    count = 0
    for _o_c in range(3):
        for oy in range(conv.out_shape[1]):
            for ox in range(conv.out_shape[2]):
                for ky in range(3):
                    for kx in range(3):
                        iy, ix = oy * 2 - 1 + ky, ox * 2 - 1 + kx
                        if 0 <= iy < 7 and 0 <= ix < 6:
                            count += int(mask[0, :, iy, ix].sum())
    assert float((mask[0] * conv.fanout_map()).sum()) == count


def test_ttfs_bound_is_enforced(net, inputs) -> None:  # type: ignore[no-untyped-def]
    r = _record(net, inputs)
    check_ttfs_bound(net, r)
    with pytest.raises(IRError, match="at most one"):
        estimate(net, r.scaled(3.0), load_profile("horowitz45"))


def test_zero_spikes_zero_dynamic_energy(net) -> None:  # type: ignore[no-untyped-def]
    prof = load_profile("horowitz45").replace(**{"energy.compare_pj": 0.0})
    r = assumed_spike_record(net, 0.0)
    est = estimate(net, r, prof)
    assert est.energy_split_mj["synaptic"] == 0.0
    assert est.energy_split_mj["noc"] == 0.0
    assert est.energy_split_mj["neuron"] == 0.0
    assert est.synops.mean == 0.0
    # latency = fixed overheads only: neuron updates, hops and layer overheads
    fixed = sum(layer.cycles for layer in est.layers)
    assert est.cycles.mean == pytest.approx(fixed, rel=1e-14)  # a sum of ~6 layer terms: a few ulp
    upd = prof.pe.cycles_per_neuron_update
    assert all(layer.cycles >= upd for layer in est.layers)


def test_dynamic_energy_is_linear_in_spikes(net, inputs) -> None:  # type: ignore[no-untyped-def]
    prof = load_profile("horowitz45").replace(**{"energy.compare_pj": 0.0})
    r = _record(net, inputs)
    mapping = map_network(net, prof)
    e1 = estimate(net, r, prof, mapping)
    e3 = estimate(net, r.scaled(0.5), prof, mapping)
    for part in ("synaptic", "noc", "neuron"):
        assert e3.energy_split_mj[part] == pytest.approx(0.5 * e1.energy_split_mj[part], rel=1e-12)
    # Every SynOP costs e_w (weight read + membrane read/write + add) except those into the max pool, which
    # read no weight (e_u). So synaptic = Σ SynOPs·e_w − pool SynOPs·(e_w − e_u) holds exactly; the naive
    # Σ SynOPs·e_w is off by (pool SynOPs / Σ SynOPs)·(e_w − e_u)/e_w ≈ 2.2 % · 21 % ≈ 0.5 % on this network.
    # rel=1e-12 covers float64 rounding of a five-term sum (a few ulps, ~1e-16 each) and nothing else.
    e_w, e_u = energy_per_synop_pj(prof), energy_per_synop_pj(prof, weighted=False)
    pool_synops = sum(layer.synops for layer in e1.layers if layer.kind == "maxpool")
    assert pool_synops > 0  # otherwise the second term is not exercised
    assert e1.energy_split_mj["synaptic"] == pytest.approx(
        (e1.synops.mean * e_w - pool_synops * (e_w - e_u)) * 1e-9, rel=1e-12, abs=0.0
    )


def test_latency_non_increasing_in_pe_budget(net, inputs) -> None:  # type: ignore[no-untyped-def]
    prof = load_profile("horowitz45")
    r = _record(net, inputs)
    need = sum(minimal_partition(c, prof).n_pes for c in net.consumers)
    lats = [
        estimate(net, r, prof.replace(**{"mapping.max_pes": b})).latency_ms.mean
        for b in range(need, need + 120, 7)
    ]
    assert all(b <= a + 1e-12 for a, b in zip(lats, lats[1:], strict=False)), lats
    assert lats[-1] < lats[0]


def test_mapping_errors_name_the_layer() -> None:
    big = IRBuilder("big", (256, 4, 4)).conv(8, 7).flatten().readout(2)
    prof = load_profile("horowitz45").replace(**{"pe.weight_memory_kib": 1.0})
    with pytest.raises(MappingError, match="layer conv0"):
        map_network(big, prof)
    wide = IRBuilder("wide", (4, 90, 90)).conv(32, 3).conv(32, 3).maxpool(9).flatten().readout(2)
    with pytest.raises(MappingError, match="needs .* PEs but profile .* has 20"):
        map_network(wide, load_profile("horowitz45").replace(**{"mapping.max_pes": 20}))


def test_mapping_limits_and_utilisation(net) -> None:  # type: ignore[no-untyped-def]
    prof = load_profile("horowitz45").replace(**{"pe.neurons_per_pe": 40, "mapping.spread": False})
    m = map_network(net, prof)
    for lm in m.layers:
        assert lm.max_neurons_per_pe <= 40
        assert lm.weight_bytes_per_pe <= prof.pe.weight_memory_kib * 1024
    assert 0 < m.neuron_utilisation <= 1 and 0 <= m.memory_utilisation <= 1
    assert m.pes_used == sum(minimal_partition(c, prof).n_pes for c in net.consumers)
    assert m.pes_required == m.pes_used


def test_channel_policy_also_maps(net, inputs) -> None:  # type: ignore[no-untyped-def]
    prof = load_profile("horowitz45").replace(**{"mapping.partition": "channel", "pe.neurons_per_pe": 64})
    est = estimate(net, _record(net, inputs), prof)
    assert est.pes_used <= prof.pe_budget and est.latency_ms.mean > 0


def test_stepped_neurons_cost_more_than_closed_form(net, inputs) -> None:  # type: ignore[no-untyped-def]
    r = _record(net, inputs)
    a = estimate(net, r, load_profile("horowitz45"))
    b = estimate(net, r, load_profile("horowitz45").replace(**{"pe.neuron_update": "stepped"}))
    assert b.cycles.mean > a.cycles.mean


def test_min_max_bracket_mean(net, inputs) -> None:  # type: ignore[no-untyped-def]
    est = estimate(net, _record(net, inputs), load_profile("yoso"))
    for st in (est.latency_ms, est.energy_mj, est.synops, est.spikes):
        assert st.min <= st.mean <= st.max
    d = est.to_dict()
    assert {"latency_ms", "energy_mj", "synops", "spikes", "layers"} <= set(d)


def test_calibration_fits_and_records(make_net) -> None:  # type: ignore[no-untyped-def]
    ir = make_net(size=16)
    rec = uniform_spike_record(ir, 0.2, 0.5)
    prof, est = calibrate(
        ir,
        rec,
        load_profile("horowitz45"),
        latency_ms=1.0,
        energy_mj=0.5,
        data_point="unit test",
        reference_network="small",
        date="2026-01-01",
    )
    # the fit inverts latency = fixed + k·synops (and the same for energy) in float64: measured residual
    # 4.6e-13 relative, from cancellation against the fixed overheads; 1e-11 leaves ~20x.
    assert est.latency_ms.mean == pytest.approx(1.0, rel=1e-11)
    assert est.energy_mj.mean == pytest.approx(0.5, rel=1e-11)
    assert [r.parameter for r in prof.calibration] == ["pe.cycles_per_synop", "energy.base_power_mw"]
    assert prof.calibration[0].date == "2026-01-01"
    with pytest.raises(ValueError, match="already exceeds"):
        calibrate(
            ir,
            rec,
            load_profile("horowitz45"),
            latency_ms=1.0,
            energy_mj=1e-9,
            data_point="x",
            reference_network="y",
        )


def test_yoso_reproduces_the_paper_point_on_the_reference() -> None:
    # What this shows: the shipped yoso.yaml, the reference architecture and the reference record still
    # belong together (the fit was not broken by a later change to the network family, the record or the
    # cost model). What it does not show: that the cost model is right. The two constants checked against
    # 48.0 ms / 9.0 mJ were fitted by this same code (pe.cycles_per_synop, energy.base_power_mw), and ~96 % of
    # the energy is the fitted static term, so a wrong dynamic term is absorbed by the fit. The model itself
    # is checked against hand-computed figures in test_cost_oracle.py.
    pytest.importorskip("torch")  # paper models are built with ttfsnet.models
    arch = reference_architecture()
    ir = paper_network(arch)
    assert abs(ir.params - 1.04e6) <= 0.005e6  # the paper prints 1.04 M: half a unit in the last digit
    est = estimate(ir, reference_record(ir), load_profile("yoso"))
    # yoso.yaml stores the fitted constants at full float64 precision, so the point is reproduced to
    # rounding (measured: synops 2.5e-16, latency 7e-14, energy 0 relative); 1e-12 leaves ~15x for
    # summation-order changes, while any change to the model or record that moves the point shows.
    assert est.synops.mean == pytest.approx(PAPER_FIGURES["ops_g"] * 1e9, rel=1e-12)
    assert est.latency_ms.mean == pytest.approx(PAPER_FIGURES["latency_ms"], rel=1e-12)
    assert est.energy_mj.mean == pytest.approx(PAPER_FIGURES["energy_mj"], rel=1e-12)


def test_groups_of_reads_tnas_er_gene_names() -> None:
    pytest.importorskip("torch")
    assert groups_of(reference_architecture()) == 3
    assert groups_of(["g0b0", "g0b1", "g4b1"]) == 5
    assert groups_of(["block0", "gxb0", "g1"]) == 0
