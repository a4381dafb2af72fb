"""The TTFS network container: window schedule, input encoding, closed-form and stepped runs."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import torch
from torch import Tensor, nn

from ttfsnet import functional as TF
from ttfsnet.errors import TTFSValueError
from ttfsnet.nn.base import TTFSLayer, TTFSSpikingLayer
from ttfsnet.nn.registry import layer_kinds

__all__ = ["RobustnessConfig", "RunResult", "TTFSNetwork"]


def _clip(pre: Tensor, window: Tensor) -> Tensor:
    """``clamp(pre, 0, T)`` into a new tensor."""
    return cast(Tensor, torch.clamp(pre, 0.0, window))  # pyright: ignore[reportCallIssue, reportArgumentType] - torch stubs lack clamp(Tensor, float, Tensor)


def _shape_text(spec: tuple[int | None, ...] | None) -> str:
    """``(B, 4, 90, 90)`` for a per-sample spec; free dimensions of a ``(C, H, W)`` spec by name."""
    if spec is None:
        return "(B, ...)"
    names = ("C", "H", "W") if len(spec) == 3 else ("?",) * len(spec)
    dims = [name if d is None else str(d) for d, name in zip(spec, names, strict=True)]
    return f"({', '.join(['B', *dims])})"


@dataclass(frozen=True, kw_only=True, slots=True)
class RobustnessConfig:
    """Hardware-aware perturbations applied in [`TTFSNetwork.forward`][ttfsnet.nn.network.TTFSNetwork.forward]
    (``docs/training.md``).

    Attributes:
        time_noise_std: Std of Gaussian jitter on every hidden spiking layer's output spike times
            (firing neurons only), in the time units of the windows.
        time_bits: Fake-quantise each layer's input spike times over the previous window (``None`` =
            off); how is set by ``time_quant``.
        time_quant: ``"round"``: round to ``2**time_bits`` levels (``2**time_bits - 1`` intervals) over
            the window, not applied to the readout's inputs. ``"step"``: a time-stepped chip with
            ``L = 2**time_bits`` steps per window, ``Δ = T/L``: a neuron fires at the first step boundary
            at or after its continuous time (activation ``⌊x/Δ⌋·Δ``, below one step silent), applied to
            every spiking layer's inputs including the readout's and the network input (``Δ = 1/L``) —
            the grid of ``ttfsnet_hw``'s integer datapath.
        weight_bits: Fake-quantise weights (hidden and readout) to ``2**weight_bits`` levels over
            ``weight_range`` (``None`` = off).
        weight_range: ``(w_min, w_max)`` of the weight quantiser.
        straight_through: Use straight-through gradients for the quantisers (else zero gradient).
    """

    time_noise_std: float = 0.0
    time_bits: int | None = None
    time_quant: Literal["round", "step"] = "round"
    weight_bits: int | None = None
    weight_range: tuple[float, float] = (-1.0, 1.0)
    straight_through: bool = True

    def __post_init__(self) -> None:
        if not (self.time_noise_std >= 0 and math.isfinite(self.time_noise_std)):
            raise TTFSValueError(
                f"RobustnessConfig.time_noise_std must be finite and >= 0, got {self.time_noise_std}"
            )
        for name in ("time_bits", "weight_bits"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1 or v > 32):
                raise TTFSValueError(f"RobustnessConfig.{name} must be None or an int in [1, 32], got {v!r}")
        if self.time_quant not in ("round", "step"):
            raise TTFSValueError(
                f"RobustnessConfig.time_quant must be 'round' or 'step', got {self.time_quant!r}"
            )
        lo, hi = self.weight_range
        if not lo < hi:
            raise TTFSValueError(
                f"RobustnessConfig.weight_range must satisfy w_min < w_max, got {self.weight_range}"
            )


@dataclass
class RunResult:
    """Everything one simulation of a batch produces.

    Entries are ``"input"``, then every spiking layer and every max pool in order.

    Attributes:
        logits: Readout membrane potentials ``(B, classes)``.
        layer_names: Name of each entry (``"input"`` or ``"layers.<i>"``).
        entry_kinds: ``"input"``, ``"spiking"`` or ``"pool"`` per entry.
        spike_counts: Spikes per entry, summed over the batch.
        neuron_counts: Neurons per entry, per sample.
        saturation_counts: Neurons whose activation exceeded the window (fired at ``t_min``), summed
            over the batch (0 for input and pool entries).
        synops: Synaptic operations caused by the entry's spikes = spikes × exact fan-out into the
            next weighted layer (0 for spikes that feed a max pool), summed over the batch.
        batch_size: Batch size.
        windows: Window width ``T`` of each spiking layer, in order.
        spike_times: See the property.
    """

    logits: Tensor
    layer_names: list[str]
    entry_kinds: list[str]
    spike_counts: list[int]
    neuron_counts: list[int]
    saturation_counts: list[int]
    synops: list[int]
    batch_size: int
    windows: list[float] = field(default_factory=list[float])
    # Per entry: its activations with the window they live in, or (window ``None``) its spike times.
    _outputs: list[tuple[Tensor, Tensor | float | None]] = field(
        default_factory=list[tuple[Tensor, Tensor | float | None]], repr=False
    )
    _spike_times: list[Tensor] | None = field(default=None, init=False, repr=False)

    @property
    def spike_times(self) -> list[Tensor]:
        """Spike times relative to each entry's window start, ``inf`` = no spike; max-pool entries hold the
        pooled times (same window as the layer they pool).

        A closed-form run keeps activations and converts them on first access (``T - x`` where ``x > 0``),
        so runs that only need the statistics never pay for the conversion.
        """
        if self._spike_times is None:
            self._spike_times = [
                out if window is None else TF.activation_to_time(out, window) for out, window in self._outputs
            ]
        return self._spike_times

    @property
    def total_spikes(self) -> int:
        """Spikes emitted by hidden spiking neurons (input spikes and pooled relays excluded)."""
        return sum(c for c, k in zip(self.spike_counts, self.entry_kinds, strict=True) if k == "spiking")

    @property
    def total_synops(self) -> int:
        """All synaptic operations, input spikes included."""
        return sum(self.synops)

    @property
    def hidden_neurons(self) -> int:
        """Hidden spiking neurons per sample."""
        return sum(n for n, k in zip(self.neuron_counts, self.entry_kinds, strict=True) if k == "spiking")

    @property
    def spikes_per_neuron(self) -> float:
        """Average spikes per hidden neuron and sample (the paper's "spikes per neuron")."""
        n = self.hidden_neurons * self.batch_size
        return self.total_spikes / n if n else 0.0

    @property
    def total_saturated(self) -> int:
        """Saturated neurons summed over layers and batch (0 ⇔ the SNN equals the ANN)."""
        return sum(self.saturation_counts)


@dataclass
class _Entries:
    """Per-entry columns of a [`RunResult`][ttfsnet.nn.network.RunResult] collected while a run walks the
    layers.

    Counts stay 0-dim device tensors until the run ends, so the layer loop never waits for the device.
    """

    zero: Tensor  # int64 0 on the run's device
    names: list[str] = field(default_factory=list[str])
    kinds: list[str] = field(default_factory=list[str])
    outputs: list[tuple[Tensor, Tensor | float | None]] = field(
        default_factory=list[tuple[Tensor, Tensor | float | None]]
    )
    saturated: list[Tensor] = field(default_factory=list[Tensor])
    producers: list[int] = field(default_factory=list[int])  # index into ``layers`` (-1 for the input)

    def add(
        self,
        name: str,
        kind: str,
        output: Tensor,
        window: Tensor | float | None,
        saturated: Tensor | None,
        producer: int,
    ) -> None:
        """Record an entry: activations ``output`` in ``window``, or spike times (``window=None``)."""
        self.names.append(name)
        self.kinds.append(kind)
        self.outputs.append((output, window))
        self.saturated.append(self.zero if saturated is None else saturated)
        self.producers.append(producer)


def _spikes_per_neuron(fired: Tensor) -> Tensor:
    """Spikes of each neuron summed over the batch, from the batch-first boolean spike mask."""
    batch = fired.shape[0]
    # int16 counts exactly up to 32767 samples and moves half the bytes of int32 through the reduction
    dtype = torch.int16 if batch <= torch.iinfo(torch.int16).max else torch.int64
    return fired.reshape(batch, -1).sum(0, dtype=dtype)


class TTFSNetwork(nn.Module):
    """A feed-forward TTFS network of B1 layers with per-layer windows.

    The input window is ``[0, 1]``; each spiking layer ``n`` owns ``[t_min, t_min + T^{(n)})`` with
    ``t_min^{(n)} = t_max^{(n-1)}``; the readout is the membrane of the last layer at its window
    start. ``net(x)`` computes on activations at the cost of the equivalent ReLU network.

    Args:
        layers: TTFS layers in order (instances of the registered layer kinds,
            [`ttfsnet.nn.registry.layer_kinds`][ttfsnet.nn.registry.layer_kinds]); the last one must be
            ``TTFSLinear(readout=True)``.
        input_range: Declared range ``(p, q)`` of the raw inputs.
        input_shape: Per-sample input shape (e.g. ``(C, H, W)``), if known.
            [`ttfsnet.convert`][ttfsnet.convert.convert] records the calibration data's shape here and
            [`ttfsnet.export_nir`][ttfsnet.export_nir] reads it. It is a
            plain attribute, not a buffer: it survives ``torch.save``/``copy.deepcopy`` but is not part
            of ``state_dict()``, so state dicts stay loadable into networks built without it.

    Shapes:
        ``x``: raw inputs ``(B, ...)`` in ``[p, q]``; returns logits ``(B, classes)``.
    """

    input_low: Tensor
    input_high: Tensor

    def __init__(
        self,
        layers: Sequence[nn.Module],
        input_range: tuple[float, float] = (0.0, 1.0),
        *,
        input_shape: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        layers = list(layers)
        if not layers:
            raise TTFSValueError("TTFSNetwork: layers must not be empty")
        allowed = tuple(layer_kinds().values())
        for i, layer in enumerate(layers):
            if not isinstance(layer, allowed):
                raise TTFSValueError(
                    f"TTFSNetwork: layers[{i}] is {type(layer).__name__}; expected one of "
                    f"{', '.join(c.__name__ for c in allowed)}"
                )
            if layer.readout and i != len(layers) - 1:
                raise TTFSValueError(
                    f"TTFSNetwork: layers[{i}] is a readout {type(layer).__name__} but is not the last layer"
                )
        last = layers[-1]
        if not (isinstance(last, TTFSSpikingLayer) and last.readout):
            raise TTFSValueError(
                f"TTFSNetwork: the last layer must be TTFSLinear(readout=True), got {type(last).__name__}"
            )
        p, q = float(input_range[0]), float(input_range[1])
        if not (math.isfinite(p) and math.isfinite(q) and p < q):
            raise TTFSValueError(f"TTFSNetwork: input_range must be finite with p < q, got {input_range}")
        self.layers = nn.ModuleList(layers)
        self.register_buffer("input_low", torch.tensor(p, dtype=torch.float64))
        self.register_buffer("input_high", torch.tensor(q, dtype=torch.float64))
        self.robustness: RobustnessConfig | None = None
        self.input_shape: tuple[int, ...] | None = None
        if input_shape is not None:
            try:
                shape = tuple(operator.index(d) for d in input_shape)
            except TypeError:
                shape = ()
            if not shape or min(shape) < 1:
                raise TTFSValueError(
                    "TTFSNetwork: input_shape must be a non-empty sequence of positive ints, "
                    f"got {input_shape!r}"
                )
            self.input_shape = shape

    # ------------------------------------------------------------------ schedule
    @property
    def input_range(self) -> tuple[float, float]:
        """Declared raw input range ``(p, q)``."""
        # one copy to the host for both buffers (a device synchronisation each on a GPU)
        low, high = cast(list[float], torch.stack([self.input_low, self.input_high]).tolist())  # pyright: ignore[reportUnknownMemberType] - torch stubs: tolist() -> bare list
        return low, high

    def layer_names(self) -> list[str]:
        """``layers.<i>`` for every layer."""
        return [f"layers.{i}" for i in range(len(self.layers))]

    def ttfs_layers(self) -> list[TTFSLayer]:
        """The layers in order, typed as [`TTFSLayer`][ttfsnet.nn.base.TTFSLayer] (``list(self.layers)``)."""
        return [cast(TTFSLayer, m) for m in self.layers]  # checked in __init__

    def spiking_layers(self) -> list[TTFSSpikingLayer]:
        """Layers that own a window, in order."""
        return [m for m in self.ttfs_layers() if isinstance(m, TTFSSpikingLayer) and not m.readout]

    def windows(self) -> list[float]:
        """Window width ``T`` of each spiking layer, in order."""
        windows = [m.own_window() for m in self.spiking_layers()]
        # one copy to the host for all of them (a device synchronisation each on a GPU)
        return cast(list[float], torch.stack(windows).tolist()) if windows else []  # pyright: ignore[reportUnknownMemberType] - torch stubs: tolist() -> bare list

    def schedule(self) -> list[tuple[float, float]]:
        """Absolute ``(t_min, t_max)`` of the input window and of each spiking layer."""
        out = [(0.0, 1.0)]
        for w in self.windows():
            start = out[-1][1]
            out.append((start, start + w))
        return out

    def latency(self) -> float:
        """Time from the input window start to the readout, ``1 + Σ T^{(n)}``."""
        return self.schedule()[-1][1]

    # ------------------------------------------------------------------ forward
    def expected_input(self) -> tuple[int | None, ...] | None:
        """Per-sample input shape the network accepts: `input_shape` when recorded, else what its
        first layer fixes (``None`` for a free dimension); ``None`` when not even the rank is known."""
        if self.input_shape is not None:
            return self.input_shape
        return self.ttfs_layers()[0].input_spec()

    def check_input(self, x: object, *, where: str = "TTFSNetwork") -> Tensor:
        """Check the type, rank, per-sample shape and dtype of a batch (``x`` itself, for typing).

        Only ``.shape`` and ``.dtype`` are read: no pass over the data and no device synchronisation.
        `forward`, `forward_times`, `run` and `run_times` call it first.

        Raises:
            TTFSValueError: ``x`` is not a tensor, is not a batch of the expected per-sample shape, or its
                dtype differs from the network's; the message names the expected and the given one.
        """
        spec = self.expected_input()
        if not isinstance(x, Tensor):
            raise TTFSValueError(
                f"{where}: expected a torch.Tensor of shape {_shape_text(spec)}, got {type(x).__name__}"
            )
        if spec is not None:
            sample = tuple(x.shape[1:])
            fits = len(sample) == len(spec) and all(
                e is None or e == d for e, d in zip(spec, sample, strict=True)
            )
            if not fits:
                hint = ""
                if x.dim() == len(spec):
                    hint = " (unbatched; add a batch dimension with x.unsqueeze(0))"
                raise TTFSValueError(
                    f"{where}: expected input of shape {_shape_text(spec)}, got {tuple(x.shape)}{hint}"
                )
        dtype = self._dtype()
        if x.dtype != dtype:
            raise TTFSValueError(
                f"{where}: expected input of dtype {dtype} (the network's), got {x.dtype}; "
                f"convert it with x.to({dtype})"
            )
        return x

    def _dtype(self) -> torch.dtype:
        """The dtype of the network's parameters (the readout always has a weight)."""
        head = self.ttfs_layers()[-1]
        weight = head.synaptic_weight() if isinstance(head, TTFSSpikingLayer) else None
        assert weight is not None, "the last layer is a TTFSLinear readout"  # checked in __init__
        return weight.dtype

    def encode(self, x: Tensor) -> Tensor:
        """Validate raw inputs (`check_input`, then their range) and return input activations
        ``x̃ ∈ [0, 1]``."""
        return self._encode(x, "TTFSNetwork.encode")

    def _encode(self, x: Tensor, where: str) -> Tensor:
        self.check_input(x, where=where)
        input_range = self.input_range
        TF.check_input_range(x, input_range, where="TTFSNetwork")
        return TF.ttfs_encode(x, input_range)

    def forward(self, x: Tensor) -> Tensor:
        """Logits for raw inputs ``x`` in the declared input range."""
        return self.forward_activations(self._encode(x, "TTFSNetwork.forward"))

    def forward_times(self, t0: Tensor) -> Tensor:
        """Logits for input spike times ``t0`` in ``[0, 1]`` (``inf`` = no spike)."""
        self.check_input(t0, where="TTFSNetwork.forward_times")
        TF.check_input_times(t0, where="TTFSNetwork.forward_times")
        return self.forward_activations(TF.time_to_activation(t0, 1.0))

    def forward_activations(self, x: Tensor) -> Tensor:
        """Logits from input activations ``x̃ = 1 - t0`` (no validation); applies `robustness`."""
        rob = self.robustness
        prev_window: Tensor | float = 1.0
        for layer in self.ttfs_layers():
            if isinstance(layer, TTFSSpikingLayer):
                weight = None
                if rob is not None:
                    synaptic_weight = layer.synaptic_weight()
                    if rob.weight_bits is not None and synaptic_weight is not None:
                        weight = TF.fake_quantize(
                            synaptic_weight,
                            rob.weight_bits,
                            rob.weight_range[0],
                            rob.weight_range[1],
                            straight_through=rob.straight_through,
                        )
                    if rob.time_bits is not None and rob.time_quant == "step":
                        x = TF.step_quantize_activation_times(
                            x, rob.time_bits, prev_window, straight_through=rob.straight_through
                        )
                    elif rob.time_bits is not None and not layer.readout:
                        x = TF.quantize_activation_times(
                            x, rob.time_bits, prev_window, straight_through=rob.straight_through
                        )
                x = layer(x, weight)
                if not layer.readout:
                    assert layer.window is not None
                    if rob is not None and rob.time_noise_std > 0:
                        x = TF.add_time_noise(x, rob.time_noise_std, layer.window)
                    prev_window = layer.window
            else:
                x = layer(x)
        return x

    # ------------------------------------------------------------------ simulation
    @torch.no_grad()
    def run(self, x: Tensor, mode: str = "closed", dt: float | None = None) -> RunResult:
        """Simulate a batch and report spike times, counts, saturation and SynOPs.

        ``run`` always simulates the exact model (`robustness` is ignored). The statistics come from
        tensors the simulation has anyway and reach the host in one copy at the end; a closed-form run
        converts activations to spike times only when
        [`RunResult.spike_times`][ttfsnet.nn.network.RunResult.spike_times] is read.

        Args:
            x: Raw inputs in the declared input range.
            mode: ``"closed"`` (closed form) or ``"stepped"`` (time-stepped membrane ODE).
            dt: Stepped mode only: time step as a fraction of each window (default 0.01); it must cut
                a window into whole steps, ``dt = 1/n`` (other values raise ``TTFSValueError``).

        Returns:
            A [`RunResult`][ttfsnet.nn.network.RunResult].
        """
        return self._run(self._encode(x, "TTFSNetwork.run"), mode, dt)

    @torch.no_grad()
    def run_times(self, t0: Tensor, mode: str = "closed", dt: float | None = None) -> RunResult:
        """`run` starting from input spike times (``inf`` = no spike)."""
        self.check_input(t0, where="TTFSNetwork.run_times")
        TF.check_input_times(t0, where="TTFSNetwork.run_times")
        return self._run(TF.time_to_activation(t0, 1.0), mode, dt)

    def _run(self, x: Tensor, mode: str, dt: float | None) -> RunResult:
        if mode not in ("closed", "stepped"):
            raise TTFSValueError(f"TTFSNetwork.run: mode must be 'closed' or 'stepped', got {mode!r}")
        if mode == "closed" and dt is not None:
            raise TTFSValueError("TTFSNetwork.run: dt is only used with mode='stepped'")
        entries = _Entries(zero=torch.zeros((), dtype=torch.int64, device=x.device))
        if mode == "closed":
            entries.add("input", "input", x, 1.0, None, -1)
            logits = self._closed_entries(x, entries)
        else:
            t0 = TF.activation_to_time(x, 1.0)
            entries.add("input", "input", t0, None, None, -1)
            logits = self._stepped_entries(t0, 0.01 if dt is None else dt, entries)
        spikes: list[Tensor] = []
        synops: list[Tensor] = []
        for (out, window), producer in zip(entries.outputs, entries.producers, strict=True):
            # A neuron spiked iff its activation is positive (``activation_to_time`` is finite there).
            per_neuron = _spikes_per_neuron(torch.isfinite(out) if window is None else out > 0)
            spikes.append(per_neuron.sum(dtype=torch.int64))
            synops.append(self._consumer(producer).synops(per_neuron, tuple(out.shape[1:])))
        n = len(entries.names)
        # The only copies to the host: every count at once, then the windows.
        counts = cast(list[int], torch.stack([*spikes, *synops, *entries.saturated]).tolist())  # pyright: ignore[reportUnknownMemberType] - torch stubs: tolist() -> bare list
        return RunResult(
            logits=logits,
            layer_names=entries.names,
            entry_kinds=entries.kinds,
            spike_counts=counts[:n],
            neuron_counts=[math.prod(out.shape[1:]) for out, _ in entries.outputs],
            saturation_counts=counts[2 * n :],
            synops=counts[n : 2 * n],
            batch_size=x.shape[0],
            windows=self.windows(),
            _outputs=entries.outputs,
        )

    def _closed_entries(self, x: Tensor, entries: _Entries) -> Tensor:
        prev_window: Tensor | float = 1.0
        for i, layer in enumerate(self.ttfs_layers()):
            if isinstance(layer, TTFSSpikingLayer) and not layer.readout:
                window = layer.own_window()
                pre = layer.preactivation(x)
                saturated = torch.count_nonzero(TF.saturation_mask(pre, window))
                x = _clip(pre, window)
                entries.add(f"layers.{i}", "spiking", x, window, saturated, i)
                prev_window = window
            else:
                x = layer(x)
                if layer.pools:
                    entries.add(f"layers.{i}", "pool", x, prev_window, None, i)
        return x

    def _stepped_entries(self, t: Tensor, dt: float, entries: _Entries) -> Tensor:
        prev_window = 1.0
        for i, layer in enumerate(self.ttfs_layers()):
            if isinstance(layer, TTFSSpikingLayer) and layer.readout:
                alpha = layer.ann_bias() / prev_window
                return TF.integrate_phase1(t, prev_window, layer.synaptic_op(), dt, bias_current=alpha)
            if isinstance(layer, TTFSSpikingLayer):
                window = float(layer.own_window())
                thr = layer.effective_threshold()
                t, v0 = TF.ttfs_layer_stepped(t, prev_window, layer.synaptic_op(), thr, window, dt)
                # V(t_min) above the threshold <=> pre-clamp activation above the window (saturated)
                entries.add(f"layers.{i}", "spiking", t, None, torch.count_nonzero(v0 > thr), i)
                prev_window = window
            else:
                t = layer.relay_times(t)
                if layer.pools:
                    entries.add(f"layers.{i}", "pool", t, None, None, i)
        raise AssertionError("unreachable: the last layer is a readout")

    def _consumer(self, producer: int) -> TTFSLayer:
        """The layer whose synapses the spikes of entry ``producer`` reach: the next one that fires or pools
        (layers in between, e.g. flatten, only move the spikes)."""
        layers = self.ttfs_layers()
        j = producer + 1
        while not (isinstance(layers[j], TTFSSpikingLayer) or layers[j].pools):
            j += 1
        return layers[j]

    def extra_repr(self) -> str:
        p, q = self.input_range
        return f"input_range=({p:g}, {q:g}), windows=[{', '.join(f'{w:.4g}' for w in self.windows())}]"
