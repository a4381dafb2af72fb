"""Spike records: recorded spike masks, or expected counts from firing fractions, and the TTFS bound.

A [`SpikeRecord`][ttfsnet_hw.types.SpikeRecord] holds, per emitter, the spikes of every neuron summed over the
calibration samples, plus per-sample spike totals and exact per-sample SynOPs of every consumer (each input
spike times its fan-out). Recorded: [`SpikeRecorder`][ttfsnet_hw.records.SpikeRecorder] /
[`record_from_times`][ttfsnet_hw.records.record_from_times]. Expected:
[`assumed_spike_record`][ttfsnet_hw.records.assumed_spike_record] (one fraction per emitter),
[`uniform_spike_record`][ttfsnet_hw.records.uniform_spike_record] (one hidden fraction, max pools derived),
[`layer_totals_record`][ttfsnet_hw.records.layer_totals_record] (per-emitter totals).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from ttfsnet_hw.errors import IRError
from ttfsnet_hw.types import NetworkIR, SpikeRecord

__all__ = [
    "SpikeRecorder",
    "assumed_spike_record",
    "check_ttfs_bound",
    "layer_totals_record",
    "record_from_times",
    "uniform_spike_record",
]


class SpikeRecorder:
    """Accumulates per-emitter spike masks batch by batch into a
    [`SpikeRecord`][ttfsnet_hw.records.SpikeRecord].

    Args:
        ir: the network.
        source: label stored in the record.
    """

    def __init__(self, ir: NetworkIR, source: str = "snn") -> None:
        self.ir = ir
        self.source = source
        self._fan: list[np.ndarray] = []
        self._consumer_src: list[int] = []
        for layer in ir.consumers:
            self._consumer_src.append(ir.emitters.index(ir.source_of(layer)))
            self._fan.append(layer.fanout_map().astype(np.float64).reshape(-1))
        self._per_neuron = [np.zeros(ir.emitter_shape(e), dtype=np.float64) for e in ir.emitters]
        self._spikes: list[np.ndarray] = []
        self._synops: list[np.ndarray] = []
        self._n = 0

    def add(self, fired: Sequence[np.ndarray]) -> None:
        """Add one batch.

        Args:
            fired: one boolean (or 0/1) array ``(B, *emitter_shape)`` per emitter, in ``ir.emitters`` order.

        Raises:
            IRError: wrong number of arrays or shapes.
        """
        if len(fired) != len(self.ir.emitters):
            raise IRError(
                f"spike record for {self.ir.name}: expected {len(self.ir.emitters)} emitters, got "
                f"{len(fired)}"
            )
        masks = []
        for name, m in zip(self.ir.emitters, fired, strict=True):
            m = np.asarray(m)
            shape = self.ir.emitter_shape(name)
            if m.shape[1:] != shape:
                raise IRError(
                    f"spike record for {self.ir.name}: emitter {name} has shape {m.shape[1:]}, "
                    f"expected {shape}"
                )
            masks.append((m != 0).reshape(m.shape[0], -1))
        b = masks[0].shape[0]
        self._spikes.append(np.stack([m.sum(axis=1) for m in masks], axis=1).astype(np.float64))
        self._synops.append(
            np.stack(
                [
                    masks[s].astype(np.float64) @ fan
                    for s, fan in zip(self._consumer_src, self._fan, strict=True)
                ],
                axis=1,
            )
        )
        for acc, m in zip(self._per_neuron, masks, strict=True):
            acc += m.sum(axis=0).reshape(acc.shape)
        self._n += b

    def finish(self) -> SpikeRecord:
        """The accumulated record.

        Raises:
            IRError: no batch was added.
        """
        if self._n == 0:
            raise IRError(f"spike record for {self.ir.name}: no samples were added")
        return SpikeRecord(
            emitters=self.ir.emitters,
            n_samples=self._n,
            per_neuron=tuple(self._per_neuron),
            per_sample_spikes=np.concatenate(self._spikes, axis=0),
            per_sample_synops=np.concatenate(self._synops, axis=0),
            source=self.source,
        )


def record_from_times(
    ir: NetworkIR, batches: Iterable[Sequence[np.ndarray]], source: str = "snn"
) -> SpikeRecord:
    """Build a record from per-emitter spike-time arrays (inf = no spike).

    Args:
        ir: the network.
        batches: iterable of per-emitter time lists (e.g. the ``times`` of
            [`ttfsnet_hw.closedform.run`][ttfsnet_hw.closedform.run]).
        source: label.

    Returns:
        The record.
    """
    rec = SpikeRecorder(ir, source)
    for times in batches:
        rec.add([np.isfinite(t) for t in times])
    return rec.finish()


def assumed_spike_record(ir: NetworkIR, rates: float | Sequence[float], n_samples: int = 1) -> SpikeRecord:
    """Expected spike statistics for i.i.d. firing fractions ρ per emitter (SynOPs = ρ·MAC per layer).

    Args:
        ir: the network.
        rates: one firing fraction for all emitters, or one per emitter.
        n_samples: samples to pretend (all identical).

    Returns:
        A record whose SynOPs are ρ·MAC exactly in expectation.

    Raises:
        IRError: a wrong number of rates, or a rate outside [0, 1].
    """
    ems = ir.emitters
    rho = [float(rates)] * len(ems) if isinstance(rates, (int, float)) else [float(r) for r in rates]
    if len(rho) != len(ems) or any(not 0.0 <= r <= 1.0 for r in rho):
        raise IRError(f"assumed rates for {ir.name}: need {len(ems)} values in [0, 1], got {rates}")
    per_neuron = tuple(np.full(ir.emitter_shape(e), r * n_samples) for e, r in zip(ems, rho, strict=True))
    spikes = np.array([r * math.prod(ir.emitter_shape(e)) for e, r in zip(ems, rho, strict=True)])
    synops = np.array([rho[ems.index(ir.source_of(c))] * c.macs for c in ir.consumers], dtype=np.float64)
    return SpikeRecord(
        emitters=ems,
        n_samples=n_samples,
        per_neuron=per_neuron,
        per_sample_spikes=np.tile(spikes, (n_samples, 1)),
        per_sample_synops=np.tile(synops, (n_samples, 1)),
        source="assumed",
    )


def layer_totals_record(
    ir: NetworkIR, spikes_per_sample: Sequence[float], source: str = "ann"
) -> SpikeRecord:
    """A record from per-emitter mean spike counts only (uniform firing inside each emitter).

    Used when only layer totals are known (ANN statistics during NAS): SynOPs are then ρ·MAC.

    Args:
        ir: the network.
        spikes_per_sample: mean spikes per sample for each emitter (``ir.emitters`` order).
        source: label.

    Returns:
        The record.

    Raises:
        IRError: a wrong number of totals, or more spikes than an emitter has neurons.
    """
    ems = ir.emitters
    if len(spikes_per_sample) != len(ems):
        raise IRError(
            f"layer totals for {ir.name}: expected {len(ems)} emitters, got {len(spikes_per_sample)}"
        )
    rates = []
    for e, s in zip(ems, spikes_per_sample, strict=True):
        size = math.prod(ir.emitter_shape(e))
        if not 0 <= s <= size + 1e-9:
            raise IRError(f"layer totals for {ir.name}: emitter {e} has {s} spikes for {size} neurons")
        rates.append(min(1.0, s / size))
    per_neuron = tuple(np.full(ir.emitter_shape(e), r) for e, r in zip(ems, rates, strict=True))
    synops = np.array([rates[ems.index(ir.source_of(c))] * c.macs for c in ir.consumers], dtype=np.float64)
    return SpikeRecord(
        emitters=ems,
        n_samples=1,
        per_neuron=per_neuron,
        per_sample_spikes=np.asarray(spikes_per_sample, dtype=np.float64)[None, :],
        per_sample_synops=synops[None, :],
        source=source,
    )


def uniform_spike_record(ir: NetworkIR, hidden_rate: float, input_rate: float = 1.0) -> SpikeRecord:
    """Expected spikes when every hidden neuron fires with probability ``hidden_rate`` independently.

    Input neurons fire with ``input_rate``; a max pool over k inputs fires with 1 − (1 − ρ)^k (the earliest of
    its inputs). SynOPs are then ρ_source·MAC per layer.

    Args:
        ir: the network.
        hidden_rate: firing fraction of spiking layers.
        input_rate: firing fraction of the input.

    Returns:
        A one-sample record (``source="assumed"``).

    Raises:
        IRError: a rate outside [0, 1].
    """
    if not (0.0 <= hidden_rate <= 1.0 and 0.0 <= input_rate <= 1.0):
        raise IRError(f"uniform rates for {ir.name} must lie in [0, 1], got {hidden_rate}, {input_rate}")
    counts = [input_rate * math.prod(ir.input_shape)]
    prev = input_rate
    for layer in ir.layers:
        if not layer.emits:
            continue
        prev = (
            1.0 - (1.0 - prev) ** (layer.kernel[0] * layer.kernel[1])
            if layer.kind == "maxpool"
            else hidden_rate
        )
        counts.append(prev * layer.neurons)
    return layer_totals_record(ir, counts, source="assumed")


def check_ttfs_bound(ir: NetworkIR, record: SpikeRecord) -> None:
    """Enforce the TTFS bound: at most one spike per neuron per sample.

    Raises:
        IRError: naming the emitter that violates it.
    """
    for i, name in enumerate(record.emitters):
        n = math.prod(ir.emitter_shape(name))
        if record.per_sample_spikes[:, i].max(initial=0) > n + 1e-9:
            raise IRError(
                f"spike record: emitter {name} has more spikes per sample than its {n} neurons "
                "(TTFS: at most one each)"
            )
        if record.per_neuron[i].max(initial=0) > record.n_samples + 1e-9:
            raise IRError(f"spike record: a neuron of {name} spiked more than once per sample")
