"""The data types of ``ttfsnet_hw``: the network IR, spike records, quantised networks and simulation results.

This is the leaf module of the package (it imports only [`ttfsnet_hw.errors`][ttfsnet_hw.errors]), so every
other module can share these types without import cycles; that is also why it runs a little over 500 lines
(splitting it would make a second leaf). Behaviour lives elsewhere: the integer and float kernels in
[`ttfsnet_hw.datapath`][ttfsnet_hw.datapath], the walk over the layers in [`ttfsnet_hw.walk`][ttfsnet_hw.walk]
, the simulators in [`ttfsnet_hw.closedform`][ttfsnet_hw.closedform] and
[`ttfsnet_hw.intsim`][ttfsnet_hw.intsim].

The IR mirrors ``ttfsnet``'s TTFS network (``docs/ttfs-model.md`` §1): an input window [0, 1], then an ordered
chain of layers. Spiking layers (``conv``, ``linear``, ``avgpool``) own a window width ``T``; ``maxpool``
passes the earliest spike of each pool inside the same window; ``flatten`` reshapes (channel-first, as
``torch.flatten``); the final ``readout`` is a linear layer whose logits are its membrane at the start of
its window (``W x + b``).

*Emitters* are the nodes whose output is a set of spike times: ``input``, every spiking layer and every max
pool. Every other layer except ``flatten`` *consumes* the spikes of the closest emitter before it; the
synaptic operations of a consumer are ``SynOP = Σ_i s_i · fanout(i)`` over its input spikes ``s_i ∈ {0, 1}``
(``docs/hardware.md``), computed exactly, borders included, from per-input fan-out maps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ttfsnet_hw.errors import IRError

__all__ = [
    "LAYER_KINDS",
    "Agreement",
    "IntSimResult",
    "LayerIR",
    "LayerKind",
    "NetworkIR",
    "PrecisionSpec",
    "QLayer",
    "QuantizedNetwork",
    "SpikeRecord",
    "conv_output_size",
    "pair",
]

LayerKind = Literal["conv", "linear", "avgpool", "maxpool", "flatten", "readout"]
LAYER_KINDS: tuple[str, ...] = ("conv", "linear", "avgpool", "maxpool", "flatten", "readout")


def pair(value: int | Sequence[int]) -> tuple[int, int]:
    """``k`` → ``(k, k)``; a pair is returned as a tuple of ints (torch modules store either)."""
    if isinstance(value, int):
        return (value, value)
    a, b = value
    return (int(a), int(b))


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a window sliding over ``size`` inputs (floor mode, no dilation)."""
    return (size + 2 * padding - kernel) // stride + 1


# --------------------------------------------------------------------------------------------- the IR
@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class LayerIR:
    """One layer of the IR.

    Attributes:
        name: unique name.
        kind: one of ``conv``, ``linear``, ``avgpool``, ``maxpool``, ``flatten``, ``readout``.
        in_shape: per-sample input shape, ``(C, H, W)`` or ``(N,)``.
        out_shape: per-sample output shape.
        kernel: kernel size (conv, pools).
        stride: stride (conv, pools).
        padding: zero padding in activation space (= padding with "no spike").
        groups: conv groups.
        window: window width T of a spiking layer (``None`` for maxpool/flatten/readout).
        weight: ``(C_out, C_in/groups, kh, kw)`` for conv, ``(out, in)`` for linear/readout; ``None``: pools
            and for cost-only IRs (shapes without parameters).
        threshold: ϑ, shape ``(C_out,)``, ``(C_out, H, W)`` or ``(out,)``; ``None`` for cost-only IRs.
        bias: readout bias ``b`` (logits = W x + b).

    Shapes:
        conv: ``(C_in, H, W) → (C_out, H_out, W_out)``; linear/readout: ``(N_in,) → (N_out,)``.
    """

    name: str
    kind: LayerKind
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    window: float | None = None
    weight: np.ndarray | None = None
    threshold: np.ndarray | None = None
    bias: np.ndarray | None = None

    @property
    def spiking(self) -> bool:
        """True for layers with their own window (conv, linear, avgpool)."""
        return self.kind in ("conv", "linear", "avgpool")

    @property
    def emits(self) -> bool:
        """True if the layer's output is a spike-time tensor that the next consumer reads."""
        return self.spiking or self.kind == "maxpool"

    @property
    def consumes(self) -> bool:
        """True if the layer receives synapses from the previous emitter."""
        return self.kind != "flatten"

    @property
    def weighted(self) -> bool:
        """True for layers with a stored weight matrix (conv, linear, readout)."""
        return self.kind in ("conv", "linear", "readout")

    @property
    def neurons(self) -> int:
        """Neurons per sample (0 for flatten)."""
        return 0 if self.kind == "flatten" else int(np.prod(self.out_shape))

    @property
    def weight_count(self) -> int:
        """Stored weights (pools have fixed weights and store none)."""
        if self.kind == "conv":
            return self.out_shape[0] * (self.in_shape[0] // self.groups) * self.kernel[0] * self.kernel[1]
        if self.kind in ("linear", "readout"):
            return self.in_shape[0] * self.out_shape[0]
        return 0

    @property
    def param_count(self) -> int:
        """Weights plus one threshold/bias per output channel or neuron."""
        if self.kind in ("conv", "linear", "readout"):
            return self.weight_count + self.out_shape[0]
        return 0

    @property
    def fan_in(self) -> int:
        """Synapses per output neuron (interior neurons for conv/pools)."""
        if self.kind == "conv":
            return (self.in_shape[0] // self.groups) * self.kernel[0] * self.kernel[1]
        if self.kind in ("linear", "readout"):
            return self.in_shape[0]
        if self.kind in ("avgpool", "maxpool"):
            return self.kernel[0] * self.kernel[1]
        return 0

    @property
    def macs(self) -> int:
        """Dense synapse count = MACs per sample (= SynOPs when every input spikes)."""
        # summed over one channel's map and scaled: fanout_map would broadcast it to every channel
        if self.kind == "conv":
            per_group_out = self.out_shape[0] // self.groups
            return int(self.spatial_fanout().sum()) * self.in_shape[0] * per_group_out
        if self.kind in ("linear", "readout"):
            return self.in_shape[0] * self.out_shape[0]
        if self.kind in ("avgpool", "maxpool"):
            return int(self.spatial_fanout().sum()) * self.in_shape[0]
        return 0

    def spatial_fanout(self) -> np.ndarray:
        """Per input position ``(H_in, W_in)``: output positions whose receptive field covers it."""
        _, h_in, w_in = self.in_shape
        _, h_out, w_out = self.out_shape
        counts = []
        for size_in, size_out, k, s, p in (
            (h_in, h_out, self.kernel[0], self.stride[0], self.padding[0]),
            (w_in, w_out, self.kernel[1], self.stride[1], self.padding[1]),
        ):
            c = np.zeros(size_in, dtype=np.int64)
            for o in range(size_out):
                lo = o * s - p
                a, b = max(lo, 0), min(lo + k, size_in)
                if b > a:
                    c[a:b] += 1
            counts.append(c)
        return np.outer(counts[0], counts[1])

    def fanout_map(self) -> np.ndarray:
        """Synapses leaving each input element (shape ``in_shape``), exact at borders."""
        if self.kind == "conv":
            per_group_out = self.out_shape[0] // self.groups
            return np.broadcast_to(self.spatial_fanout() * per_group_out, self.in_shape).copy()
        if self.kind in ("avgpool", "maxpool"):
            return np.broadcast_to(self.spatial_fanout(), self.in_shape).copy()
        if self.kind in ("linear", "readout"):
            return np.full(self.in_shape, self.out_shape[0], dtype=np.int64)
        return np.zeros(self.in_shape, dtype=np.int64)


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class NetworkIR:
    """An ordered TTFS network (validated on construction).

    Attributes:
        name: label used in reports.
        input_shape: per-sample input shape.
        layers: the layers, in order; the last one must be a ``readout``.
        input_range: declared raw input range ``(p, q)``; inputs are encoded as t0 = 1 − (x − p)/(q − p).

    Raises:
        IRError: empty or inconsistent chain (shapes, kinds, parameters, names, range).
    """

    name: str
    input_shape: tuple[int, ...]
    layers: tuple[LayerIR, ...]
    input_range: tuple[float, float] = (0.0, 1.0)
    _emitters: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.layers:
            raise IRError(f"network {self.name}: no layers")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names) or "input" in names:
            raise IRError(f"network {self.name}: layer names must be unique and not 'input', got {names}")
        shape = tuple(self.input_shape)
        for layer in self.layers:
            if layer.kind not in LAYER_KINDS:
                raise IRError(
                    f"layer {layer.name}: unknown kind {layer.kind!r}; expected one of {list(LAYER_KINDS)}"
                )
            if tuple(layer.in_shape) != shape:
                raise IRError(
                    f"layer {layer.name}: in_shape {layer.in_shape} does not match the previous "
                    f"output {shape}"
                )
            _check_layer(layer)
            shape = tuple(layer.out_shape)
        if self.layers[-1].kind != "readout":
            raise IRError(
                f"network {self.name}: the last layer must be a readout, got {self.layers[-1].kind}"
            )
        if any(layer.kind == "readout" for layer in self.layers[:-1]):
            raise IRError(f"network {self.name}: only the last layer may be a readout")
        p, q = self.input_range
        if not q > p:
            raise IRError(f"network {self.name}: input_range must satisfy p < q, got {self.input_range}")
        # object.__setattr__: the dataclass is frozen; the emitter names are derived once, here
        object.__setattr__(
            self, "_emitters", ("input", *(layer.name for layer in self.layers if layer.emits))
        )

    @property
    def emitters(self) -> tuple[str, ...]:
        """Names of spike-emitting nodes: ``input`` then spiking layers and max pools, in order."""
        return self._emitters

    @property
    def consumers(self) -> tuple[LayerIR, ...]:
        """Layers that receive synapses (everything except flatten)."""
        return tuple(layer for layer in self.layers if layer.consumes)

    def emitter_shape(self, name: str) -> tuple[int, ...]:
        """Output shape of an emitter."""
        if name == "input":
            return tuple(self.input_shape)
        return tuple(self.layer(name).out_shape)

    def layer(self, name: str) -> LayerIR:
        """Layer by name."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise IRError(f"network {self.name}: no layer named {name!r}")

    def source_of(self, consumer: LayerIR) -> str:
        """Emitter whose spikes a consumer reads (skipping flatten)."""
        src = "input"
        for layer in self.layers:
            if layer is consumer:
                return src
            if layer.emits:
                src = layer.name
        raise IRError(f"network {self.name}: layer {consumer.name} is not part of this network")

    def consumer_of(self, emitter: str) -> LayerIR | None:
        """The layer that reads an emitter's spikes (``None`` for the last one)."""
        for layer in self.consumers:
            if self.source_of(layer) == emitter:
                return layer
        return None

    def windows(self) -> list[float]:
        """Window widths of the spiking layers, in order."""
        return [float(layer.window) for layer in self.layers if layer.spiking and layer.window is not None]

    def latency_time(self) -> float:
        """Model time from the input window start to the readout: 1 + Σ T."""
        return 1.0 + sum(self.windows())

    @property
    def params(self) -> int:
        """Parameters (weights + thresholds/biases)."""
        return sum(layer.param_count for layer in self.layers)

    @property
    def macs(self) -> int:
        """Dense MACs per sample."""
        return sum(layer.macs for layer in self.layers)

    @property
    def neurons(self) -> int:
        """Spiking neurons per sample (spiking layers and max pools)."""
        return sum(layer.neurons for layer in self.layers if layer.emits)

    @property
    def hidden_neurons(self) -> int:
        """Neurons of the spiking layers (conv, linear, average pool; max pools excluded). For a network
        without average pools this is what its ReLU ANN counts as ReLU outputs."""
        return sum(layer.neurons for layer in self.layers if layer.spiking)

    @property
    def has_parameters(self) -> bool:
        """True if every weighted layer carries weights and thresholds/bias (not a cost-only IR)."""
        for layer in self.layers:
            if layer.weighted and layer.weight is None:
                return False
            if layer.kind in ("conv", "linear") and layer.threshold is None:
                return False
        return True


def _check_layer(layer: LayerIR) -> None:
    where = f"layer {layer.name}"
    if layer.kind in ("conv", "avgpool", "maxpool"):
        if len(layer.in_shape) != 3 or len(layer.out_shape) != 3:
            raise IRError(
                f"{where}: {layer.kind} needs (C, H, W) shapes, got {layer.in_shape} -> {layer.out_shape}"
            )
        c, h, w = layer.in_shape
        (kh, kw), (sh, sw), (ph, pw) = layer.kernel, layer.stride, layer.padding
        expect_c = layer.out_shape[0] if layer.kind == "conv" else c
        expect = (expect_c, conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw))
        if tuple(layer.out_shape) != expect:
            raise IRError(
                f"{where}: out_shape {layer.out_shape} inconsistent with kernel/stride/padding; "
                f"expected {expect}"
            )
        if layer.kind == "conv" and (c % layer.groups or layer.out_shape[0] % layer.groups):
            raise IRError(
                f"{where}: channels {c}->{layer.out_shape[0]} not divisible by groups={layer.groups}"
            )
        if layer.kind == "conv" and layer.weight is not None:
            ws = (layer.out_shape[0], c // layer.groups, kh, kw)
            if tuple(layer.weight.shape) != ws:
                raise IRError(f"{where}: weight shape {tuple(layer.weight.shape)}, expected {ws}")
    elif layer.kind in ("linear", "readout"):
        if len(layer.in_shape) != 1 or len(layer.out_shape) != 1:
            raise IRError(
                f"{where}: {layer.kind} needs flat shapes, got {layer.in_shape} -> {layer.out_shape}"
            )
        if layer.weight is not None and tuple(layer.weight.shape) != (layer.out_shape[0], layer.in_shape[0]):
            raise IRError(
                f"{where}: weight shape {tuple(layer.weight.shape)}, expected "
                f"{(layer.out_shape[0], layer.in_shape[0])}"
            )
        if layer.kind == "readout" and layer.weight is not None and layer.bias is None:
            raise IRError(f"{where}: readout with weights needs a bias")
    elif layer.kind == "flatten":
        if math.prod(layer.in_shape) != math.prod(layer.out_shape) or len(layer.out_shape) != 1:
            raise IRError(f"{where}: flatten {layer.in_shape} -> {layer.out_shape} changes the element count")
    if layer.spiking and (layer.window is None or not layer.window > 0):
        raise IRError(f"{where}: spiking layer needs a window T > 0, got {layer.window}")


# ------------------------------------------------------------------------------------- spike records
@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class SpikeRecord:
    """Spike statistics of a network over a calibration set.

    Attributes:
        emitters: emitter names (``NetworkIR.emitters``).
        n_samples: calibration samples.
        per_neuron: for each emitter, spikes per neuron summed over samples (shape = emitter shape).
        per_sample_spikes: ``(n_samples, n_emitters)`` spikes per sample.
        per_sample_synops: ``(n_samples, n_consumers)`` exact SynOPs per sample for each consumer layer
            (``NetworkIR.consumers`` order).
        source: ``snn`` (recorded spike times), ``ann`` (positive ReLU = spike) or ``assumed`` (rates).
    """

    emitters: tuple[str, ...]
    n_samples: int
    per_neuron: tuple[np.ndarray, ...]
    per_sample_spikes: np.ndarray
    per_sample_synops: np.ndarray
    source: str = "snn"

    def mean_spikes(self) -> np.ndarray:
        """Mean spikes per sample per emitter."""
        return self.per_sample_spikes.mean(axis=0)

    def mean_synops(self) -> np.ndarray:
        """Mean SynOPs per sample per consumer."""
        return self.per_sample_synops.mean(axis=0)

    def scaled(self, factor: float) -> SpikeRecord:
        """All counts multiplied by ``factor`` (used to test linearity in spikes).

        Args:
            factor: non-negative scale.

        Returns:
            A record with scaled counts (may exceed the TTFS bound; for analysis only).
        """
        return SpikeRecord(
            emitters=self.emitters,
            n_samples=self.n_samples,
            per_neuron=tuple(p * factor for p in self.per_neuron),
            per_sample_spikes=self.per_sample_spikes * factor,
            per_sample_synops=self.per_sample_synops * factor,
            source=self.source,
        )


# ------------------------------------------------------------------------------------ quantisation
@dataclass(frozen=True, kw_only=True, slots=True)
class PrecisionSpec:
    """Datapath widths (used by quantisation, the integer simulator and the SRAM energy model).

    Attributes:
        weight_bits: signed weight width.
        membrane_bits: signed membrane accumulator width (saturating), also the threshold width.
        time_bits: spike-time resolution; a window has ``2**time_bits`` time steps.
    """

    weight_bits: int
    membrane_bits: int
    time_bits: int


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class QLayer:
    """Integer parameters of one layer.

    Attributes:
        name: layer name.
        kind: layer kind.
        q_weight: integer weights (``None`` for pools/flatten).
        weight_shift: ``s`` in ``W = q·2^{-s}``.
        q_bias: integer bias in membrane units (threshold layers and readout).
        time_exp: ``e`` with ``Δ = 2^e`` for spiking layers.
        out_shift: ``r`` with ``a_out = ⌊acc / 2^r⌋`` (negative: left shift).
        unit_exp: ``log2 u`` of the membrane unit.
    """

    name: str
    kind: str
    q_weight: np.ndarray | None = None
    weight_shift: int = 0
    q_bias: np.ndarray | None = None
    time_exp: int | None = None
    out_shift: int = 0
    unit_exp: int = 0


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class QuantizedNetwork:
    """A quantised network: the float IR carrying the quantised values, plus the integer parameters.

    Attributes:
        ir: IR whose weights/thresholds/windows/bias are the exact dyadic quantised values.
        layers: integer parameters, aligned with ``ir.layers``.
        precision: the widths used.
        steps: time steps per window ``L``.
        weight_errors: per weighted layer, max |W − W_q| / max |W|.
        overflow_layers: layers whose calibration accumulators did not fit the membrane width initially.
    """

    ir: NetworkIR
    layers: tuple[QLayer, ...]
    precision: PrecisionSpec
    steps: int
    weight_errors: dict[str, float]
    overflow_layers: tuple[str, ...] = ()

    @property
    def membrane_limit(self) -> int:
        """Largest signed membrane value."""
        return 2 ** (self.precision.membrane_bits - 1) - 1


# --------------------------------------------------------------------------------------- simulation
@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class IntSimResult:
    """Result of an integer (or quantised closed-form) run.

    Attributes:
        logits: ``(B, classes)`` float logits (``u·V``).
        logits_int: integer readout membrane (``None`` for the float reference).
        predictions: argmax of the logits.
        steps: per emitter, spike step ``k ∈ [0, L)`` relative to its window, ``L`` = no spike (int64).
        saturated: per spiking layer, neurons that fired at step 0 because ``x ≥ T``.
        overflow: per layer, membrane values clipped to the accumulator range.
    """

    logits: np.ndarray
    logits_int: np.ndarray | None
    predictions: np.ndarray
    steps: list[np.ndarray]
    saturated: dict[str, int]
    overflow: dict[str, int]


@dataclass(frozen=True, kw_only=True, slots=True)
class Agreement:
    """Exact agreement of two runs.

    Attributes:
        exact: all spike steps and predictions equal.
        step_mismatches: per emitter, neurons whose spike step differs.
        prediction_mismatches: samples whose prediction differs.
        max_logit_diff: largest |Δ logit|.
    """

    exact: bool
    step_mismatches: list[int]
    prediction_mismatches: int
    max_logit_diff: float
