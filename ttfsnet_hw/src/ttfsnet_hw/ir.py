"""Torch-free network IR for the hardware backend: layer specs, fan-out, a numpy closed form, spike records.

The IR mirrors ``ttfsnet``'s TTFS network (``ttfs-math.md`` §0): an input window [0, 1], then an ordered
chain of layers. Spiking layers (``conv``, ``linear``, ``avgpool``) own a window width ``T``; ``maxpool``
passes the earliest spike of each pool inside the same window; ``flatten`` reshapes (channel-first, as
``torch.flatten``); the final ``readout`` is a linear layer whose logits are its membrane at the start of
its window (``W x + b``).

*Emitters* are the nodes whose output is a set of spike times: ``input``, every spiking layer and every max
pool. Every other layer except ``flatten`` *consumes* the spikes of the closest emitter before it; the
synaptic operations of a consumer are ``SynOP = Σ_i s_i · fanout(i)`` over its input spikes ``s_i ∈ {0, 1}``
(``yoso-hw-model.md`` §7.2), computed exactly, borders included, from per-input fan-out maps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "IRError",
    "LayerIR",
    "LayerKind",
    "NetworkIR",
    "SpikeRecord",
    "SpikeRecorder",
    "assumed_spike_record",
    "IRBuilder",
    "check_ttfs_bound",
    "conv2d",
    "record_from_times",
]

LayerKind = Literal["conv", "linear", "avgpool", "maxpool", "flatten", "readout"]
_KINDS = ("conv", "linear", "avgpool", "maxpool", "flatten", "readout")


class IRError(ValueError):
    """The network description is inconsistent (shapes, parameters) or a spike record violates TTFS."""


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    a, b = v
    return (int(a), int(b))


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


def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class NetworkIR:
    """An ordered TTFS network.

    Attributes:
        name: label used in reports.
        input_shape: per-sample input shape.
        layers: the layers, in order; the last one must be a ``readout``.
        input_range: declared raw input range ``(p, q)``; inputs are encoded as t0 = 1 − (x − p)/(q − p).
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
            if layer.kind not in _KINDS:
                raise IRError(
                    f"layer {layer.name}: unknown kind {layer.kind!r}; expected one of {list(_KINDS)}"
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
        object.__setattr__(
            self, "_emitters", ("input", *(layer.name for layer in self.layers if layer.emits))
        )

    # ----------------------------------------------------------------- structure
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
    def has_parameters(self) -> bool:
        """True if every weighted layer carries weights and thresholds/bias (not a cost-only IR)."""
        for layer in self.layers:
            if layer.weighted and layer.weight is None:
                return False
            if layer.kind in ("conv", "linear") and layer.threshold is None:
                return False
        return True

    # ----------------------------------------------------------------- closed form (float)
    def encode(self, x: np.ndarray) -> np.ndarray:
        """Raw inputs → input spike times in [0, 1] (inf where x̃ = 0).

        Args:
            x: ``(B, *input_shape)`` values inside ``input_range``.

        Returns:
            ``(B, *input_shape)`` spike times.

        Raises:
            IRError: NaN/Inf or values outside the declared range.
        """
        p, q = self.input_range
        x = np.asarray(x, dtype=np.float64)
        tol = 1e-6 * (q - p)
        if not np.all(np.isfinite(x)) or x.min(initial=p) < p - tol or x.max(initial=q) > q + tol:
            raise IRError(
                f"network {self.name}: inputs must be finite and inside input_range {self.input_range}"
            )
        xt = np.clip((x - p) / (q - p), 0.0, 1.0)
        return np.where(xt > 0, 1.0 - xt, np.inf)

    def run_times(self, t0: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Float closed form from input spike times (``ttfs-math.md`` §0, relative times).

        Args:
            t0: ``(B, *input_shape)`` input spike times, inf = no spike.

        Returns:
            ``(logits, times)`` where ``times[i]`` are the spike times of ``emitters[i]`` relative to that
            emitter's window start (inf = no spike).
        """
        if not self.has_parameters:
            raise IRError(f"network {self.name}: cost-only IR (no weights); cannot run the closed form")
        t = np.asarray(t0, dtype=np.float64)
        times = [t]
        t_prev = 1.0
        logits: np.ndarray | None = None
        for layer in self.layers:
            if layer.kind == "flatten":
                t = t.reshape(t.shape[0], -1)
                continue
            if layer.kind == "maxpool":
                t = _maxpool_times(t, layer)
                times.append(t)
                continue
            x = np.where(np.isfinite(t), np.maximum(t_prev - t, 0.0), 0.0)
            pre = _affine(x, layer)
            if layer.kind == "readout":
                logits = pre + np.asarray(layer.bias, dtype=np.float64)
                break
            assert layer.window is not None
            big_t = float(layer.window)
            theta = _threshold(layer)
            act = np.clip(pre + (big_t - theta), 0.0, big_t)
            t = np.where(act > 0, big_t - act, np.inf)
            times.append(t)
            t_prev = big_t
        assert logits is not None
        return logits, times

    def run(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Encode raw inputs and run the closed form; see :meth:`run_times`."""
        return self.run_times(self.encode(x))


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
        expect = (expect_c, _conv_out(h, kh, sh, ph), _conv_out(w, kw, sw, pw))
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


def _threshold(layer: LayerIR) -> np.ndarray | float:
    if layer.kind == "avgpool":
        return float(layer.window)  # type: ignore[arg-type]
    thr = np.asarray(layer.threshold, dtype=np.float64)
    if layer.kind == "conv" and thr.ndim == 1:
        return thr[:, None, None]
    return thr


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    stride: tuple[int, int],
    padding: tuple[int, int],
    groups: int = 1,
) -> np.ndarray:
    """Cross-correlation ``(B, C, H, W) * (O, C/g, kh, kw) → (B, O, H_out, W_out)`` in numpy (im2col).

    Args:
        x: input activations.
        w: kernel.
        stride: stride.
        padding: zero padding.
        groups: groups.

    Returns:
        The output (same dtype as the inputs' common type).
    """
    b, c, _, _ = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if (ph or pw) else x
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    ho, wo = win.shape[2], win.shape[3]
    og = o // groups
    outs = []
    for g in range(groups):
        cols = win[:, g * cg : (g + 1) * cg]  # (B, cg, Ho, Wo, kh, kw)
        cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(b * ho * wo, cg * kh * kw)
        kern = w[g * og : (g + 1) * og].reshape(og, cg * kh * kw)
        outs.append((cols @ kern.T).reshape(b, ho, wo, og))
    out = outs[0] if groups == 1 else np.concatenate(outs, axis=3)
    del c
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _affine(x: np.ndarray, layer: LayerIR) -> np.ndarray:
    if layer.kind == "conv":
        return conv2d(x, np.asarray(layer.weight, dtype=x.dtype), layer.stride, layer.padding, layer.groups)
    if layer.kind in ("linear", "readout"):
        return x @ np.asarray(layer.weight, dtype=x.dtype).T
    if layer.kind == "avgpool":
        c = layer.in_shape[0]
        kh, kw = layer.kernel
        w = np.full((c, 1, kh, kw), 1.0 / (kh * kw), dtype=x.dtype)
        return conv2d(x, w, layer.stride, layer.padding, groups=c)
    raise IRError(f"layer {layer.name}: no affine map for kind {layer.kind}")


def _maxpool_times(t: np.ndarray, layer: LayerIR, silent: float = np.inf) -> np.ndarray:
    """Earliest spike per pool window; padding holds ``silent`` (no spike: ``inf``, or ``L`` in steps)."""
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel, layer.stride, layer.padding
    tp = np.pad(t, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=silent) if (ph or pw) else t
    win = np.lib.stride_tricks.sliding_window_view(tp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return win.min(axis=(4, 5))


# --------------------------------------------------------------------------- spike records
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


class SpikeRecorder:
    """Accumulates per-emitter spike masks batch by batch into a :class:`SpikeRecord`.

    Args:
        ir: the network.
        source: label stored in the record.
    """

    def __init__(self, ir: NetworkIR, source: str = "snn") -> None:
        self.ir = ir
        self.source = source
        self._fan = []
        self._consumer_src = []
        for layer in ir.consumers:
            src = ir.source_of(layer)
            self._consumer_src.append(ir.emitters.index(src))
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
        """The accumulated record."""
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
        batches: iterable of per-emitter time lists.
        source: label.

    Returns:
        The record.
    """
    rec = SpikeRecorder(ir, source)
    for times in batches:
        rec.add([np.isfinite(t) for t in times])
    return rec.finish()


def assumed_spike_record(ir: NetworkIR, rates: float | Sequence[float], n_samples: int = 1) -> SpikeRecord:
    """Expected spike statistics for i.i.d. firing fractions ρ per emitter (``yoso-hw-model.md`` §7.2).

    Args:
        ir: the network.
        rates: one firing fraction for all emitters, or one per emitter.
        n_samples: samples to pretend (all identical).

    Returns:
        A record whose SynOPs are ρ·MAC exactly in expectation.
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


class IRBuilder:
    """Chains layers while tracking shapes, so IRs can be written by hand (tests, paper family).

    Args:
        name: network name.
        input_shape: per-sample input shape.
        input_range: raw input range.
        rng: if given, random weights/thresholds/windows are drawn (a runnable IR); otherwise cost-only.
    """

    def __init__(
        self,
        name: str,
        input_shape: Sequence[int],
        input_range: tuple[float, float] = (0.0, 1.0),
        rng: np.random.Generator | None = None,
    ) -> None:
        self.name = name
        self.input_shape = tuple(int(v) for v in input_shape)
        self.input_range = input_range
        self.rng = rng
        self.layers: list[LayerIR] = []
        self._shape = self.input_shape

    def _name(self, kind: str, name: str | None) -> str:
        return name or f"{kind}{len(self.layers)}"

    def _window(self, window: float | None) -> float:
        if window is not None:
            return float(window)
        return float(self.rng.uniform(0.5, 2.0)) if self.rng is not None else 1.0

    def conv(
        self,
        out_channels: int,
        kernel: int | Sequence[int],
        *,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] | str = "same",
        groups: int = 1,
        window: float | None = None,
        name: str | None = None,
    ) -> IRBuilder:
        """Append a spiking conv (``padding="same"`` = k // 2)."""
        c, h, w = self._shape
        k = _pair(kernel)
        pad = (k[0] // 2, k[1] // 2) if padding == "same" else _pair(padding)  # type: ignore[arg-type]
        s = _pair(stride)
        out = (out_channels, _conv_out(h, k[0], s[0], pad[0]), _conv_out(w, k[1], s[1], pad[1]))
        weight = threshold = None
        win = self._window(window)
        if self.rng is not None:
            fan_in = (c // groups) * k[0] * k[1]
            weight = self.rng.normal(0.0, 1.5 / math.sqrt(fan_in), size=(out_channels, c // groups, *k))
            threshold = win - self.rng.normal(0.0, 0.1, size=(out_channels,))
        self.layers.append(
            LayerIR(
                name=self._name("conv", name),
                kind="conv",
                in_shape=self._shape,
                out_shape=out,
                kernel=k,
                stride=s,
                padding=pad,
                groups=groups,
                window=win,
                weight=weight,
                threshold=threshold,
            )
        )
        self._shape = out
        return self

    def _pool(
        self, kind: LayerKind, kernel: int, stride: int | None, window: float | None, name: str | None
    ) -> IRBuilder:
        c, h, w = self._shape
        k = _pair(kernel)
        s = _pair(stride if stride is not None else kernel)
        out = (c, _conv_out(h, k[0], s[0], 0), _conv_out(w, k[1], s[1], 0))
        win = self._window(window) if kind == "avgpool" else None
        self.layers.append(
            LayerIR(
                name=self._name(kind, name),
                kind=kind,
                in_shape=self._shape,
                out_shape=out,
                kernel=k,
                stride=s,
                window=win,
            )
        )
        self._shape = out
        return self

    def maxpool(self, kernel: int = 2, stride: int | None = None, name: str | None = None) -> IRBuilder:
        """Append a max pool (earliest spike)."""
        return self._pool("maxpool", kernel, stride, None, name)

    def avgpool(
        self, kernel: int = 2, stride: int | None = None, window: float | None = None, name: str | None = None
    ) -> IRBuilder:
        """Append a spiking average pool."""
        return self._pool("avgpool", kernel, stride, window, name)

    def flatten(self, name: str | None = None) -> IRBuilder:
        """Append a channel-first flatten."""
        out = (math.prod(self._shape),)
        self.layers.append(
            LayerIR(name=self._name("flatten", name), kind="flatten", in_shape=self._shape, out_shape=out)
        )
        self._shape = out
        return self

    def linear(self, out_features: int, *, window: float | None = None, name: str | None = None) -> IRBuilder:
        """Append a spiking linear layer."""
        (n,) = self._shape
        win = self._window(window)
        weight = threshold = None
        if self.rng is not None:
            weight = self.rng.normal(0.0, 1.5 / math.sqrt(n), size=(out_features, n))
            threshold = win - self.rng.normal(0.0, 0.1, size=(out_features,))
        self.layers.append(
            LayerIR(
                name=self._name("linear", name),
                kind="linear",
                in_shape=self._shape,
                out_shape=(out_features,),
                window=win,
                weight=weight,
                threshold=threshold,
            )
        )
        self._shape = (out_features,)
        return self

    def readout(self, classes: int, name: str | None = None) -> NetworkIR:
        """Append the readout and build the network."""
        (n,) = self._shape
        weight = bias = None
        if self.rng is not None:
            weight = self.rng.normal(0.0, 1.0 / math.sqrt(n), size=(classes, n))
            bias = self.rng.normal(0.0, 0.1, size=(classes,))
        self.layers.append(
            LayerIR(
                name=self._name("readout", name),
                kind="readout",
                in_shape=self._shape,
                out_shape=(classes,),
                weight=weight,
                bias=bias,
            )
        )
        return NetworkIR(
            name=self.name,
            input_shape=self.input_shape,
            layers=tuple(self.layers),
            input_range=self.input_range,
        )
