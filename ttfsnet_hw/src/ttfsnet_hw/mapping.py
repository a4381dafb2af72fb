"""Layer → processing-element mapping (``docs/hardware.md``, "Mapping").

Every consumer layer (conv, linear, pools, readout) gets its own group of PEs (all-resident mapping, as
TNAS-ER describes its YOSO deployment: "different layers are assigned to distinct PE groups"). Inside a
group a layer is split by output channel into ``channel_groups`` groups and spatially into a
``tiles_y × tiles_x`` grid of output regions; each PE owns one (channel group, region) pair.

* ``spatial`` policy: the fewest channel groups that fit the weight memory (kernels are replicated in every
  region), then as many regions as the neuron memory needs.
* ``channel`` policy: the fewest regions whose every position fits, then split channels.

A layer that cannot fit even one output channel's weights in a PE, or a network that needs more PEs than the
profile has, raises [`MappingError`][ttfsnet_hw.mapping.MappingError] naming the layer.

**Spreading.** Spare PEs go where they cut the most cycles: each layer has a Pareto frontier of candidate
partitions (PEs → cycles from the load model), and a multiple-choice knapsack over the PE budget picks one
entry per layer minimising the summed layer cycles (layers run one after the other). The optimum over a
larger budget can only be better, so the latency is non-increasing in the number of PEs (§7.7).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ttfsnet_hw.errors import MappingError
from ttfsnet_hw.profile import HardwareProfile
from ttfsnet_hw.types import LayerIR, NetworkIR

__all__ = [
    "LayerMapping",
    "MappingError",
    "NetworkMapping",
    "Partition",
    "candidate_partitions",
    "hop_distance",
    "map_network",
    "minimal_partition",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Partition:
    """How one layer is split over PEs.

    Attributes:
        channel_groups: contiguous output-channel (or output-neuron, for linear) groups.
        tiles_y: row bands of the output map.
        tiles_x: column bands of the output map.
    """

    channel_groups: int
    tiles_y: int = 1
    tiles_x: int = 1

    @property
    def n_pes(self) -> int:
        """PEs used."""
        return self.channel_groups * self.tiles_y * self.tiles_x


@dataclass(frozen=True, kw_only=True, slots=True)
class LayerMapping:
    """Mapping of one layer.

    Attributes:
        layer: layer name.
        partition: the split.
        neurons: neurons of the layer (per sample).
        max_neurons_per_pe: neurons on the fullest PE.
        weight_bytes_per_pe: weight bytes stored on each PE (replicated kernels counted per PE).
        weight_bytes: weight bytes of the layer without replication.
        cost_cycles: the layer's estimated cycles under this partition (from the load model).
        hops: mean NoC hops of a spike delivered to this layer.
    """

    layer: str
    partition: Partition
    neurons: int
    max_neurons_per_pe: int
    weight_bytes_per_pe: float
    weight_bytes: float
    cost_cycles: float
    hops: float

    @property
    def n_pes(self) -> int:
        """PEs used by this layer."""
        return self.partition.n_pes


@dataclass(frozen=True, kw_only=True, slots=True)
class NetworkMapping:
    """Mapping of a whole network.

    Attributes:
        profile: profile name.
        layers: per-layer mappings in network order (consumer layers only).
        pes_available: PEs the mapper could use.
        neurons_per_pe: neuron slots per PE.
        weight_bytes_capacity: weight memory per PE in bytes.
        pes_required: PEs of the minimal all-resident mapping (the network's footprint; ``pes_used`` can be
            larger when ``mapping.spread`` hands spare PEs to the slow layers).
    """

    profile: str
    layers: tuple[LayerMapping, ...]
    pes_available: int
    neurons_per_pe: int
    weight_bytes_capacity: float
    pes_required: int

    @property
    def pes_used(self) -> int:
        """PEs with at least one layer."""
        return sum(m.n_pes for m in self.layers)

    @property
    def neuron_utilisation(self) -> float:
        """Σ neurons / (neuron slots of the used PEs)."""
        return sum(m.neurons for m in self.layers) / max(1, self.neurons_per_pe * self.pes_used)

    @property
    def memory_utilisation(self) -> float:
        """Σ stored weight bytes (with replication) / (weight memory of the used PEs)."""
        stored = sum(m.weight_bytes_per_pe * m.n_pes for m in self.layers)
        return stored / max(1.0, self.weight_bytes_capacity * self.pes_used)

    def layer(self, name: str) -> LayerMapping:
        """Mapping of one layer."""
        for m in self.layers:
            if m.layer == name:
                return m
        raise KeyError(name)


def hop_distance(n_pes: int) -> float:
    """Mean XY hops for a spike entering a compact group of ``n_pes`` PEs from the adjacent group.

    One hop to cross into the group plus the mean Manhattan distance inside a √n×√n block, (2/3)·√n
    (``docs/hardware.md``, "Cost model"). Depends on the group size only, so the mapping stays monotone.
    """
    return 1.0 + (2.0 / 3.0) * math.sqrt(max(n_pes, 1)) - (2.0 / 3.0)


def _bands(size: int, parts: int) -> np.ndarray:
    """Band boundaries of ``size`` split into ``parts`` near-equal contiguous bands."""
    q, r = divmod(size, parts)
    return np.array([i * q + min(i, r) for i in range(parts + 1)], dtype=np.int64)


def _spatial(layer: LayerIR) -> tuple[int, int]:
    if len(layer.out_shape) == 3:
        return layer.out_shape[1], layer.out_shape[2]
    return 1, 1


def _channels(layer: LayerIR) -> int:
    return layer.out_shape[0]


def weight_bytes_per_channel(layer: LayerIR, weight_bits: int) -> float:
    """Weight bytes for one output channel (conv) or one output neuron (linear); 0 for pools."""
    if layer.kind == "conv":
        return (layer.in_shape[0] // layer.groups) * layer.kernel[0] * layer.kernel[1] * weight_bits / 8.0
    if layer.kind in ("linear", "readout"):
        return layer.in_shape[0] * weight_bits / 8.0
    return 0.0


def _useful_counts(size: int) -> list[int]:
    """Part counts where ceil(size / parts) changes (the only ones worth trying)."""
    out, seen = [], set()
    for parts in range(1, size + 1):
        c = math.ceil(size / parts)
        if c not in seen:
            seen.add(c)
            out.append(math.ceil(size / c))
    return sorted(set(out))


def minimal_partition(layer: LayerIR, profile: HardwareProfile) -> Partition:
    """Fewest PEs that hold the layer under the profile's neuron and weight-memory limits.

    Raises:
        MappingError: one output channel's weights or one output position's channel group does not fit.
    """
    n_neu = profile.pe.neurons_per_pe
    cap = profile.pe.weight_memory_kib * 1024.0
    per_ch = weight_bytes_per_channel(layer, profile.precision.weight_bits)
    c = _channels(layer)
    h, w = _spatial(layer)
    if per_ch > cap:
        raise MappingError(
            f"layer {layer.name}: one output channel needs {per_ch:.0f} B of weights but a PE holds "
            f"{cap:.0f} B (pe.weight_memory_kib={profile.pe.weight_memory_kib})"
        )
    gc_min = 1 if per_ch == 0 else max(1, math.ceil(c / max(1, math.floor(cap / per_ch))))
    gc_min = min(gc_min, c)
    if profile.mapping.partition == "channel":
        for gc in range(gc_min, c + 1):
            if math.ceil(c / gc) * h * w <= n_neu:
                return Partition(channel_groups=gc)
        gc = c
    else:
        gc = gc_min
    while gc <= c:
        per_pe_ch = math.ceil(c / gc)
        if per_pe_ch <= n_neu:
            ty, tx = _fewest_tiles(h, w, n_neu // per_pe_ch)
            return Partition(channel_groups=gc, tiles_y=ty, tiles_x=tx)
        gc += 1
    raise MappingError(f"layer {layer.name}: a single neuron does not fit a PE (pe.neurons_per_pe={n_neu})")


def _fewest_tiles(h: int, w: int, max_area: int) -> tuple[int, int]:
    best: tuple[int, int, int] | None = None
    for ty in _useful_counts(h):
        rows = math.ceil(h / ty)
        if rows > max_area:
            continue
        tx_needed = math.ceil(w / max(1, max_area // rows))
        tx = math.ceil(w / math.ceil(w / tx_needed))
        area = rows * math.ceil(w / tx)
        key = (ty * tx, area, ty)
        if area <= max_area and (best is None or key < best):
            best = key
    assert best is not None
    n, _, ty = best
    return ty, n // ty


def candidate_partitions(layer: LayerIR, profile: HardwareProfile, max_pes: int) -> list[Partition]:
    """Partitions with at most ``max_pes`` PEs that respect the memory limits (minimal one first).

    Spatial policy: channel groups fixed at the minimum, regions grown; channel policy: channel groups grown
    up to one channel per PE, then regions. Linear layers split their neurons (channel groups only).
    """
    base = minimal_partition(layer, profile)
    out = [base]
    c = _channels(layer)
    h, w = _spatial(layer)
    if base.n_pes > max_pes:
        return out
    if h * w == 1:
        for gc in range(base.channel_groups + 1, min(c, max_pes) + 1):
            out.append(Partition(channel_groups=gc))
        return out
    if profile.mapping.partition == "channel":
        for gc in range(base.channel_groups + 1, c + 1):
            if gc * base.tiles_y * base.tiles_x > max_pes:
                break
            out.append(Partition(channel_groups=gc, tiles_y=base.tiles_y, tiles_x=base.tiles_x))
        gc = out[-1].channel_groups
    else:
        gc = base.channel_groups
    max_tiles = max_pes // gc
    if profile.mapping.partition == "spatial" and h * w <= max_tiles:
        for gc2 in _useful_counts(c):
            if gc2 > gc and gc2 * h * w <= max_pes:
                out.append(Partition(channel_groups=gc2, tiles_y=h, tiles_x=w))
    for ty in _useful_counts(h):
        if ty > max_tiles:
            break
        for tx in _useful_counts(w):
            if ty * tx > max_tiles:
                break
            if ty < base.tiles_y or tx < base.tiles_x or (ty, tx) == (base.tiles_y, base.tiles_x):
                continue
            out.append(Partition(channel_groups=gc, tiles_y=ty, tiles_x=tx))
    return out


LoadModel = Callable[[LayerIR, Partition], float]


def static_load(profile: HardwareProfile) -> LoadModel:
    """Spike-free load proxy: dense MACs of the fullest PE (used when no spike record is given)."""

    def load(layer: LayerIR, part: Partition) -> float:
        c = _channels(layer)
        h, w = _spatial(layer)
        per = math.ceil(c / part.channel_groups) * math.ceil(h / part.tiles_y) * math.ceil(w / part.tiles_x)
        return (
            per * max(1, layer.fan_in) * profile.pe.cycles_per_synop
            + hop_distance(part.n_pes) * profile.noc.cycles_per_hop
        )

    return load


def map_network(ir: NetworkIR, profile: HardwareProfile, load: LoadModel | None = None) -> NetworkMapping:
    """Map every consumer layer of ``ir`` onto its own PE group.

    Args:
        ir: the network.
        profile: hardware profile.
        load: cycles of a layer under a partition (the estimator passes its spike-based model).

    Returns:
        The mapping.

    Raises:
        MappingError: a layer does not fit a PE, or the network needs more PEs than ``profile.pe_budget``.
    """
    load = load or static_load(profile)
    budget = profile.pe_budget
    layers = ir.consumers
    minimal = [minimal_partition(layer, profile) for layer in layers]
    need = sum(p.n_pes for p in minimal)
    if need > budget:
        worst = max(zip(layers, minimal, strict=True), key=lambda lp: lp[1].n_pes)
        raise MappingError(
            f"network {ir.name} needs {need} PEs but profile {profile.name} has {budget}; largest layer "
            f"{worst[0].name} needs {worst[1].n_pes} (neurons {worst[0].neurons}, pe.neurons_per_pe="
            f"{profile.pe.neurons_per_pe})"
        )
    spare = budget - need
    # Pareto frontier per layer: (n_pes, cost, partition) with cost strictly decreasing in n_pes.
    frontiers: list[list[tuple[int, float, Partition]]] = []
    for layer, base in zip(layers, minimal, strict=True):
        cands = candidate_partitions(layer, profile, base.n_pes + spare) if profile.mapping.spread else [base]
        scored = sorted(((p.n_pes, load(layer, p), p) for p in cands), key=lambda t: (t[0], t[1]))
        front: list[tuple[int, float, Partition]] = []
        for n, cost, p in scored:
            if not front or cost < front[-1][1] - 1e-9 * max(1.0, abs(front[-1][1])):
                front.append((n, cost, p))
        frontiers.append(front)
    chosen = [f[0] for f in frontiers]
    if profile.mapping.spread and spare > 0:
        chosen = _allocate(frontiers, budget)
    out = []
    wb = profile.precision.weight_bits
    for layer, (_, cost, part) in zip(layers, chosen, strict=True):
        c = _channels(layer)
        h, w = _spatial(layer)
        per_ch = weight_bytes_per_channel(layer, wb)
        out.append(
            LayerMapping(
                layer=layer.name,
                partition=part,
                neurons=layer.neurons,
                max_neurons_per_pe=math.ceil(c / part.channel_groups)
                * math.ceil(h / part.tiles_y)
                * math.ceil(w / part.tiles_x),
                weight_bytes_per_pe=math.ceil(c / part.channel_groups) * per_ch,
                weight_bytes=c * per_ch,
                cost_cycles=cost,
                hops=hop_distance(part.n_pes),
            )
        )
    return NetworkMapping(
        profile=profile.name,
        layers=tuple(out),
        pes_available=budget,
        neurons_per_pe=profile.pe.neurons_per_pe,
        weight_bytes_capacity=profile.pe.weight_memory_kib * 1024.0,
        pes_required=need,
    )


def _allocate(
    frontiers: list[list[tuple[int, float, Partition]]], budget: int
) -> list[tuple[int, float, Partition]]:
    """Exact minimum of Σ cost over one frontier entry per layer with Σ PEs ≤ budget (multiple-choice
    knapsack by dynamic programming over the budget). The optimum can only improve with a larger budget."""
    inf = float("inf")
    dp = np.zeros(budget + 1)
    choices: list[np.ndarray] = []
    for front in frontiers:
        new = np.full(budget + 1, inf)
        arg = np.full(budget + 1, -1, dtype=np.int64)
        for k, (n, cost, _) in enumerate(front):
            if n > budget:
                break
            cand = np.full(budget + 1, inf)
            cand[n:] = dp[: budget + 1 - n] + cost
            better = cand < new
            new[better] = cand[better]
            arg[better] = k
        dp = new
        choices.append(arg)
    b = int(np.argmin(dp))
    picked: list[tuple[int, float, Partition]] = []
    for front, arg in zip(reversed(frontiers), reversed(choices), strict=True):
        entry = front[int(arg[b])]
        picked.append(entry)
        b -= entry[0]
    return picked[::-1]


def region_bounds(layer: LayerIR, part: Partition) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band boundaries (channels, rows, columns) of a partition."""
    c = _channels(layer)
    h, w = _spatial(layer)
    return _bands(c, part.channel_groups), _bands(h, part.tiles_y), _bands(w, part.tiles_x)
