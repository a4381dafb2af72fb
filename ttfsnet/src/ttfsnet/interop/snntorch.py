"""snnTorch interoperability: step-mode B1 neurons and networks, spike rasters, readout rasters, reset.

Conventions shared with snnTorch (``snntorch-nir.md`` §3, §4):

* rasters are **time-first** ``[T, B, ...]``; a non-zero entry is a spike;
* spike times are ``[B, ...]`` tensors with ``+inf`` for "no spike";
* a raster of ``num_steps`` steps samples the window ``[0, t_max]`` on the grid
  ``k · t_max / (num_steps - 1)``, ``k = 0 … num_steps - 1`` (both ends included). This is exactly the
  grid of ``snntorch.spikegen.latency(x, num_steps, linear=True, normalize=True)``, which puts the
  spike of value ``x ∈ [0, 1]`` at step ``round((num_steps - 1)(1 - x))``; :func:`raster_to_times`
  with ``t_max=1`` therefore turns such a raster directly into ``ttfsnet`` input spike times.
  The last step (``t = t_max``) carries activation 0, which in the B1 model is the same as no spike.

snnTorch itself is only imported where it is needed: :func:`reset_net` recognises snnTorch neurons
only if ``snntorch`` has already been imported (a network cannot contain one otherwise).
"""

# Public functions check argument types at run time for untyped callers.
# pyright: reportUnnecessaryIsInstance=false

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import torch
from torch import Tensor, nn

from ttfsnet import functional as TF
from ttfsnet.errors import TTFSTypeError, TTFSValueError
from ttfsnet.nn import TTFSMaxPool2d, TTFSNetwork, TTFSSpikingLayer

if TYPE_CHECKING:
    from ttfsnet.nn import RunResult

__all__ = [
    "TTFSMembraneReadout",
    "TTFSNeuron",
    "TTFSNeuronState",
    "TTFSSpikeMaxPool2d",
    "TTFSStepNetwork",
    "output_raster",
    "raster_to_times",
    "reset_net",
    "times_to_raster",
    "to_snntorch",
]

SpikeFn = Callable[[Tensor], Tensor]


# --------------------------------------------------------------------------------------------------
# rasters <-> spike times
# --------------------------------------------------------------------------------------------------


def _check_grid(num_steps: int, t_max: float, where: str) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 2:
        raise TTFSValueError(
            f"{where}: num_steps must be an int >= 2 (the grid includes 0 and t_max), got {num_steps!r}"
        )
    if not (math.isfinite(t_max) and t_max > 0):
        raise TTFSValueError(f"{where}: t_max must be a finite positive float, got {t_max!r}")


def times_to_raster(times: Tensor, num_steps: int, t_max: float = 1.0) -> Tensor:
    """Spike times → time-first spike raster on the grid ``k·t_max/(num_steps-1)``.

    Each finite time is placed at its nearest grid step (``torch.round``, half to even), so times that
    lie on the grid round-trip exactly through :func:`raster_to_times`, and other times move by at most
    half a step.

    Args:
        times: Spike times ``(B, ...)`` in ``[0, t_max]``; ``+inf`` = no spike.
        num_steps: Number of raster steps ``T >= 2``.
        t_max: Window end (the time of the last step).

    Returns:
        Raster ``(T, B, ...)`` with the dtype of ``times`` (float), one ``1`` per spiking neuron.

    Raises:
        TTFSValueError: On NaN, ``-inf`` or finite times outside ``[0, t_max]`` (beyond a 1e-9 relative
            tolerance), or an invalid ``num_steps``/``t_max``.

    Shapes:
        times: ``(B, ...)``; returns ``(T, B, ...)``.
    """
    _check_grid(num_steps, t_max, "times_to_raster")
    if not times.is_floating_point():
        raise TTFSValueError(f"times_to_raster: times must be a floating tensor, got dtype {times.dtype}")
    if bool(torch.isnan(times).any()) or bool((times == float("-inf")).any()):
        raise TTFSValueError(
            "times_to_raster: times contain NaN or -inf; expected values in [0, t_max] or +inf"
        )
    finite = torch.isfinite(times)
    tol = 1e-9 * t_max
    if bool(finite.any()):
        lo, hi = float(times[finite].min()), float(times[finite].max())
        if lo < -tol or hi > t_max + tol:
            raise TTFSValueError(
                f"times_to_raster: finite times span [{lo:.6g}, {hi:.6g}], outside the window [0, {t_max}]"
            )
    steps = torch.round(torch.where(finite, times, torch.zeros_like(times)) * (num_steps - 1) / t_max)
    steps = steps.clamp(0, num_steps - 1).long()
    raster = torch.zeros((num_steps, *times.shape), dtype=times.dtype, device=times.device)
    raster.scatter_(0, steps.unsqueeze(0), finite.to(times.dtype).unsqueeze(0))
    return raster


def raster_to_times(raster: Tensor, t_max: float = 1.0, *, dtype: torch.dtype | None = None) -> Tensor:
    """Time-first spike raster → first-spike times (``+inf`` where a neuron never spikes).

    Only the first spike of each neuron counts, so multi-spike rasters are accepted. Rasters from
    ``snntorch.spikegen.latency(x, num_steps=T, linear=True, normalize=True, clip=True, threshold=θ)``
    decode to ``t = round((T-1)(1-x))/(T-1)``: the input spike times of the quantised values
    ``x_q = 1 - t`` (``x < θ`` has no spike, i.e. ``x_q = 0``); feed them to
    ``TTFSNetwork.forward_times``.

    Args:
        raster: ``(T, B, ...)``, any dtype; non-zero entries are spikes.
        t_max: Time of the last step; the grid is ``k·t_max/(T-1)``.
        dtype: Floating dtype of the result; default: the raster's dtype if floating, else the
            default dtype.

    Returns:
        Spike times ``(B, ...)``.

    Shapes:
        raster: ``(T, B, ...)``; returns ``(B, ...)``.
    """
    if raster.dim() < 1:
        raise TTFSValueError("raster_to_times: raster must have a leading time dimension [T, B, ...]")
    num_steps = raster.shape[0]
    _check_grid(num_steps, t_max, "raster_to_times")
    out_dtype = dtype or (raster.dtype if raster.is_floating_point() else torch.get_default_dtype())
    spiking = raster != 0
    any_spike = spiking.any(dim=0)
    # argmax on the int view returns the first maximal index, i.e. the first spike step.
    first = spiking.to(torch.int8).argmax(dim=0)
    # k·t_max/(T-1) (not k·h) so that grid times written as k/(T-1) round-trip bit for bit
    times = first.to(out_dtype) * t_max / (num_steps - 1)
    return torch.where(any_spike, times, torch.full_like(times, float("inf")))


def output_raster(
    source: Tensor | RunResult,
    num_steps: int,
    *,
    t_out: float | None = None,
    dt: float | None = None,
) -> Tensor:
    """Spike raster of a spike-based readout: output neuron ``i`` fires at ``t_out - z_i`` (clipped).

    ``ttfsnet`` reads logits ``z`` from the output membrane (``ttfs-math.md`` §6). To decode the
    decision from spikes instead, continue the output layer as a B1 phase 2: its membrane ramps up
    from ``z`` with unit slope towards the threshold ``t_out``, so neuron ``i`` fires at
    ``s_i = max(t_out - z_i, 0)``; larger logits fire earlier. On a grid of step ``dt`` the spike lands
    on step ``ceil(s_i / dt)`` (first grid point with ``z_i + k·dt >= t_out``, as in
    :class:`TTFSNeuron`); neurons whose step is ``>= num_steps`` stay silent.
    ``snntorch.functional.accuracy_temporal`` on the raster then equals argmax accuracy of the logits
    unless two logits of a sample fall into the same step (ties: snnTorch picks the lowest index,
    and silent neurons all count as step ``T-1``). Choose ``dt`` below the smallest top-1/top-2 logit
    gap to rule this out.

    Args:
        source: Logits ``(B, C)`` or a :class:`~ttfsnet.RunResult` (its ``logits``).
        num_steps: Raster length ``T >= 2``.
        t_out: Readout threshold. Default: the largest logit of the batch (it fires at step 0).
        dt: Step. Default: ``(max z - min z)/(T - 1)`` over the batch, so every output neuron fires
            within the raster (``1.0`` if all logits are equal).

    Returns:
        Raster ``(T, B, C)`` with the dtype of the logits, at most one spike per neuron.

    Shapes:
        source: ``(B, C)``; returns ``(T, B, C)``.
    """
    logits = source if isinstance(source, Tensor) else source.logits
    if logits.dim() != 2 or not logits.is_floating_point():
        raise TTFSValueError(
            f"output_raster: expected floating logits of shape (B, C), got {tuple(logits.shape)}"
        )
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 2:
        raise TTFSValueError(f"output_raster: num_steps must be an int >= 2, got {num_steps!r}")
    z = logits.detach()
    if not bool(torch.isfinite(z).all()):
        raise TTFSValueError("output_raster: logits contain NaN or Inf")
    z_max, z_min = float(z.max()), float(z.min())
    thr = z_max if t_out is None else float(t_out)
    if dt is None:
        step = (z_max - z_min) / (num_steps - 1) if z_max > z_min else 1.0
    else:
        step = float(dt)
    if not (math.isfinite(step) and step > 0):
        raise TTFSValueError(f"output_raster: dt must be a finite positive float, got {dt!r}")
    k = torch.ceil((thr - z).clamp(min=0.0) / step)
    fires = k < num_steps
    k = k.clamp(max=num_steps - 1).long()
    raster = torch.zeros((num_steps, *z.shape), dtype=z.dtype, device=z.device)
    raster.scatter_(0, k.unsqueeze(0), fires.to(z.dtype).unsqueeze(0))
    return raster


# --------------------------------------------------------------------------------------------------
# step-mode neuron
# --------------------------------------------------------------------------------------------------


class TTFSNeuronState(NamedTuple):
    """State of a :class:`TTFSNeuron` (opaque to a time loop; pass it back unchanged).

    Attributes:
        syn: Summed synaptic step current switched on so far in phase 1.
        mem: Membrane potential; ``-inf`` once the neuron has fired (fire once: NIR
            ``IF(v_reset=-inf)``), so any reset that re-creates the state clears the fired flag too.
        step: Number of steps taken since the last reset.
    """

    syn: Tensor
    mem: Tensor
    step: int


class _AtanHeaviside(torch.autograd.Function):
    """``H(x >= 0)`` with the arctan surrogate derivative used by snnTorch's default ``atan``."""

    # ``ctx`` is Any: it carries ``alpha`` and ``saved_tensors``, which ``FunctionCtx`` does not declare.
    @staticmethod
    def forward(ctx: Any, x: Tensor, alpha: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Tensor) -> tuple[Tensor, None]:
        (grad,) = grad_outputs
        saved: tuple[Tensor, ...] = ctx.saved_tensors
        (x,) = saved
        alpha: float = ctx.alpha
        return grad * (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2), None


def _atan_heaviside(x: Tensor) -> Tensor:
    return cast(Tensor, _AtanHeaviside.apply(x, 2.0))  # pyright: ignore[reportUnknownMemberType] - Function.apply is untyped


class TTFSNeuron(nn.Module):
    r"""Step-mode B1 TTFS neuron with snnTorch's call conventions.

    Drive it inside an ordinary snnTorch time loop: one call per step with the synaptic input of
    that step (e.g. ``nn.Linear`` applied to a spike raster slice). The neuron's clock counts calls
    since the last reset; with step index ``k`` and ``s = start_step``:

    * ``k < s``: idle (input ignored).
    * **Phase 1**, ``s <= k < s + phase1_steps`` (the previous layer's window): every input is a step
      current that stays on, ``syn += cur``, then ``mem += syn · phase1_dt`` — snnTorch's
      ``Synaptic(alpha=1, beta=1)``. An input spike at phase-1 step ``i`` thus contributes
      ``W · (phase1_steps - i) · phase1_dt`` at the end of phase 1, the B1 value ``W (t_min - t_j)``.
    * **Phase 2**, ``s + phase1_steps <= k < s + phase1_steps + phase2_steps`` (own window): input is
      ignored (the B1 slope is 1 whatever fired), the membrane ramps by ``dt`` per step (not on the
      first phase-2 step, so the ``j``-th phase-2 step compares ``V(t_min) + j·dt``), and the neuron
      fires at the first step with ``mem >= threshold``. The threshold is live only here.
    * afterwards: silent, state frozen.

    The spike of phase-2 step ``j`` stands for the time ``t_min + j·dt``: the closed-form time
    ``t_min + ϑ - V(t_min)`` rounded **up** to the grid (the activation rounded down), so a neuron
    whose activation is below ``dt`` stays silent, like one with activation 0. Saturated neurons
    (``V(t_min) >= ϑ``) fire on the first phase-2 step. After firing ``mem`` is ``-inf``.

    For a network with input window ``[0, 1]`` and hidden windows ``T_1, T_2, …`` on one step ``dt``:
    layer ``n`` has ``start_step = Σ_{m<n-1} P_m``, ``phase1_steps = P_{n-1}``, ``phase2_steps = P_n``
    with ``P_0 = 1/dt`` and ``P_m = T_m/dt`` (windows must be multiples of ``dt``). :func:`to_snntorch`
    instead gives every window the same number of steps, each window its own step length.

    Args:
        threshold: Firing threshold ``ϑ`` (scalar or tensor broadcastable to the neuron shape, e.g.
            ``(C, H, W)`` position-dependent thresholds).
        phase1_steps: Length of phase 1 in steps (>= 1).
        phase2_steps: Length of phase 2 (the neuron's own window) in steps (>= 1).
        start_step: Step index at which phase 1 begins.
        dt: Time per step; the phase-2 ramp adds ``dt`` per step (slope 1 in time units).
        phase1_dt: Time per step during phase 1 (default ``dt``). Differs from ``dt`` when the
            previous window is cut into steps of a different length (see :func:`to_snntorch`).
        spike_grad: snnTorch surrogate (e.g. ``snntorch.surrogate.fast_sigmoid()``); called as
            ``1 - spike_grad(ϑ - mem)`` so that its strict ``>`` becomes ``mem >= ϑ``. Default: an
            arctan surrogate equal to snnTorch's default ``atan(alpha=2)``.
        init_hidden: Keep the state on the module; ``forward(cur)`` then returns ``spk`` only.
        learn_threshold: Store ``threshold`` as an ``nn.Parameter`` instead of a buffer.
        output: With ``init_hidden=True``, also return the state: ``spk, state = neuron(cur)``.

    Shapes:
        cur: ``(B, ...)`` per step; spk: same shape, with the dtype of ``cur``.
    """

    threshold: Tensor

    def __init__(
        self,
        threshold: float | Tensor = 1.0,
        *,
        phase1_steps: int,
        phase2_steps: int,
        start_step: int = 0,
        dt: float = 1.0,
        phase1_dt: float | None = None,
        spike_grad: SpikeFn | None = None,
        init_hidden: bool = False,
        learn_threshold: bool = False,
        output: bool = False,
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("phase1_steps", phase1_steps, 1),
            ("phase2_steps", phase2_steps, 1),
            ("start_step", start_step, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise TTFSValueError(f"TTFSNeuron: {name} must be an int >= {low}, got {value!r}")
        for name, step in (("dt", dt), ("phase1_dt", dt if phase1_dt is None else phase1_dt)):
            if not (math.isfinite(step) and step > 0):
                raise TTFSValueError(f"TTFSNeuron: {name} must be a finite positive float, got {step!r}")
        thr = threshold.detach().clone() if isinstance(threshold, Tensor) else torch.tensor(float(threshold))
        if learn_threshold:
            self.threshold = nn.Parameter(thr)
        else:
            self.register_buffer("threshold", thr)
        self.phase1_steps = phase1_steps
        self.phase2_steps = phase2_steps
        self.start_step = start_step
        self.dt = float(dt)
        self.phase1_dt = float(dt if phase1_dt is None else phase1_dt)
        self.spike_grad = spike_grad
        self.init_hidden = init_hidden
        self.output = output
        self.state: TTFSNeuronState = self._empty_state()

    @property
    def end_step(self) -> int:
        """First step after phase 2 (the neuron is inert from here on)."""
        return self.start_step + self.phase1_steps + self.phase2_steps

    def extra_repr(self) -> str:
        p1 = "" if self.phase1_dt == self.dt else f", phase1_dt={self.phase1_dt:.6g}"
        return (
            f"phase1_steps={self.phase1_steps}, phase2_steps={self.phase2_steps}, "
            f"start_step={self.start_step}, dt={self.dt:.6g}{p1}, init_hidden={self.init_hidden}"
        )

    def _empty_state(self) -> TTFSNeuronState:
        empty = torch.zeros(0, device=self.threshold.device)
        return TTFSNeuronState(syn=empty, mem=empty, step=0)

    def reset_mem(self) -> TTFSNeuronState:
        """Forget the stored state (membrane, fired flags, clock) and return the fresh state.

        Mirrors snnTorch's instance-level ``reset_mem``/``init_leaky``: the returned state may be
        passed as ``mem`` to the first call of a new sequence.
        """
        self.state = self._empty_state()
        return self.state

    def reset(self) -> None:
        """The ``ttfsnet`` reset protocol used by :func:`reset_net`."""
        self.reset_mem()

    def _fire(self, mem: Tensor) -> Tensor:
        if self.spike_grad is None:
            return _atan_heaviside(mem - self.threshold)
        return (1 - self.spike_grad(self.threshold - mem)).to(mem.dtype)

    def forward(
        self, cur: Tensor, mem: TTFSNeuronState | None = None
    ) -> Tensor | tuple[Tensor, TTFSNeuronState]:
        """Advance one step.

        Args:
            cur: Synaptic input of this step.
            mem: State from the previous call (``init_hidden=False`` only); ``None`` uses the state
                stored on the module, as snnTorch does.

        Returns:
            ``(spk, state)``; ``spk`` alone when ``init_hidden=True`` and ``output=False``.
        """
        if mem is not None and self.init_hidden:
            raise TTFSTypeError("TTFSNeuron: `mem` must not be passed when init_hidden=True")
        state = self.state if mem is None else mem
        if state.mem.shape != cur.shape:
            # New batch shape (or fresh state): start a new sequence, as snnTorch re-zeros its state.
            zeros = torch.zeros_like(cur)
            state = TTFSNeuronState(syn=zeros, mem=zeros, step=0)
        syn, v, k = state.syn, state.mem, state.step
        local = k - self.start_step
        spk = torch.zeros_like(cur)
        if 0 <= local < self.phase1_steps:
            syn = syn + cur
            v = v + syn * self.phase1_dt
        elif self.phase1_steps <= local < self.phase1_steps + self.phase2_steps:
            fired = torch.isneginf(v)
            if local > self.phase1_steps:
                v = v + self.dt
            # Keep the surrogate's argument finite where the neuron already fired (its mem is -inf).
            safe = torch.where(fired, torch.zeros_like(v), v)
            spk = self._fire(safe) * (~fired).to(cur.dtype)
            v = torch.where(spk.detach() > 0, torch.full_like(v, float("-inf")), v)
        new_state = TTFSNeuronState(syn=syn, mem=v, step=k + 1)
        self.state = new_state
        if self.init_hidden and not self.output:
            return spk
        return spk, new_state


# --------------------------------------------------------------------------------------------------
# whole networks in step mode
# --------------------------------------------------------------------------------------------------


class TTFSSpikeMaxPool2d(nn.Module):
    """Step-mode max pooling of TTFS spikes: relays the earliest spike of each pool window once.

    Channels with ``sign = -1`` relay the *latest* spike instead, i.e. they fire once every
    non-padding input of the window has fired (max pooling after a negative fused BN scale).
    Stateful (reset with :meth:`reset` or :func:`reset_net`).

    Args:
        pool: The closed-form pool whose geometry and signs to copy.

    Shapes:
        spk: ``(B, C, H, W)`` per step; returns ``(B, C, H_out, W_out)``.
    """

    sign: Tensor | None

    def __init__(self, pool: TTFSMaxPool2d) -> None:
        super().__init__()
        self.kernel_size = pool.kernel_size
        self.stride = pool.stride
        self.padding = pool.padding
        self.dilation = pool.dilation
        self.ceil_mode = pool.ceil_mode
        self.register_buffer("sign", None if pool.sign is None else pool.sign.detach().clone())
        self._fired: Tensor | None = None
        self._pooled: Tensor | None = None

    def reset(self) -> None:
        """Forget which inputs have fired."""
        self._fired = None
        self._pooled = None

    def forward(self, spk: Tensor) -> Tensor:
        if self._fired is None or self._fired.shape != spk.shape:
            self._fired = torch.zeros_like(spk)
            self._pooled = None
        self._fired = torch.maximum(self._fired, spk)
        pooled = TF.ttfs_max_pool2d(
            self._fired, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.sign
        )
        out = pooled if self._pooled is None else pooled - self._pooled
        self._pooled = pooled
        return out


class TTFSMembraneReadout(nn.Module):
    """Step-mode output layer: integrates step currents plus the bias current ``α`` and never fires.

    During its phase 1 (the last hidden window) ``syn += cur`` and ``mem += (syn + α)·dt``; afterwards
    the membrane is frozen. It returns ``mem`` every step; after the last step it equals the logits
    ``b + W x`` (``ttfs-math.md`` §6, ``α = b/Δ``).

    Args:
        bias_current: ``α`` per output ``(C,)``.
        phase1_steps: Steps of the integration window.
        start_step: First step of the integration window.
        dt: Time per step.

    Shapes:
        cur: ``(B, C)`` per step; returns ``(B, C)``.
    """

    bias_current: Tensor

    def __init__(self, bias_current: Tensor, *, phase1_steps: int, start_step: int, dt: float) -> None:
        super().__init__()
        self.register_buffer("bias_current", bias_current.detach().clone())
        self.phase1_steps = phase1_steps
        self.start_step = start_step
        self.dt = float(dt)
        self.state: TTFSNeuronState | None = None

    def reset(self) -> None:
        """Forget the membrane and the clock."""
        self.state = None

    def forward(self, cur: Tensor) -> Tensor:
        state = self.state
        if state is None or state.mem.shape != cur.shape:
            zeros = torch.zeros_like(cur)
            state = TTFSNeuronState(syn=zeros, mem=zeros, step=0)
        syn, mem, k = state
        if 0 <= k - self.start_step < self.phase1_steps:
            syn = syn + cur
            mem = mem + (syn + self.bias_current) * self.dt
        self.state = TTFSNeuronState(syn=syn, mem=mem, step=k + 1)
        return mem


class TTFSStepNetwork(nn.Sequential):
    """A :class:`~ttfsnet.nn.TTFSNetwork` as a step-mode ``nn.Sequential`` for snnTorch-style loops.

    Built by :func:`to_snntorch`. Call it once per step with that step's input spikes (e.g.
    ``raster[t]``); the return value is the readout membrane, which after :attr:`num_steps` steps
    holds the logits. All neurons keep their state on the module (snnTorch ``init_hidden=True``);
    call :func:`reset_net` before every new sequence.

    Attributes:
        input_steps: Steps ``P_0`` of the input window ``[0, 1]``; the input raster has ``P_0 + 1``
            steps on the grid ``k/P_0`` (the last one at ``t = 1``, equal to no spike).
        window_steps: Steps per hidden window, in order.
        step_sizes: Time per step of the input window and of every hidden window.
        num_steps: Steps from the first input step to the readout, ``P_0 + Σ P_n``.
    """

    input_low: Tensor
    input_high: Tensor

    def __init__(
        self,
        modules: list[nn.Module],
        *,
        input_steps: int,
        window_steps: list[int],
        step_sizes: list[float],
        input_range: tuple[float, float],
    ) -> None:
        super().__init__(*modules)
        self.input_steps = input_steps
        self.window_steps = list(window_steps)
        self.step_sizes = list(step_sizes)
        self.num_steps = input_steps + sum(window_steps)
        self.register_buffer("input_low", torch.tensor(float(input_range[0]), dtype=torch.float64))
        self.register_buffer("input_high", torch.tensor(float(input_range[1]), dtype=torch.float64))

    def input_raster(self, x: Tensor) -> Tensor:
        """Raw inputs in the network's ``input_range`` → input raster ``(num_steps, B, ...)``.

        Input spike times ``1 - x̃`` are rounded to the nearest step of the input grid, so the step
        network sees inputs quantised to ``1/P_0``.
        """
        rng = (float(self.input_low), float(self.input_high))
        TF.check_input_range(x, rng, where="TTFSStepNetwork.input_raster")
        raster = times_to_raster(TF.ttfs_encode_times(x, rng), self.input_steps + 1)
        pad = raster.new_zeros((self.num_steps - raster.shape[0], *raster.shape[1:]))
        return torch.cat([raster, pad]) if pad.shape[0] > 0 else raster[: self.num_steps]

    def run_raster(self, raster: Tensor) -> Tensor:
        """Reset, drive the network with every step of ``raster`` and return the final logits."""
        if raster.shape[0] < self.num_steps:
            raise TTFSValueError(
                f"TTFSStepNetwork.run_raster: raster has {raster.shape[0]} steps, "
                f"expected at least num_steps={self.num_steps}"
            )
        reset_net(self)
        out = raster.new_zeros(())
        for step in range(self.num_steps):
            out = self(raster[step])
        return out


def to_snntorch(net: TTFSNetwork, steps_per_window: int) -> TTFSStepNetwork:
    """Build a step-mode copy of ``net`` from torch layers and :class:`TTFSNeuron` s.

    Every window (the input window and each hidden window) is cut into ``steps_per_window`` steps of
    its own length ``T/steps_per_window``, the same grid as ``net.run(x, mode="stepped",
    dt=1/steps_per_window)``; with inputs on that grid both give the same spike times and logits
    (up to float rounding). Weighted layers become ``nn.Linear``/``nn.Conv2d`` without bias followed
    by a :class:`TTFSNeuron` (``init_hidden=True``); average pooling becomes ``nn.AvgPool2d`` plus a
    neuron with threshold ``T``; max pooling a :class:`TTFSSpikeMaxPool2d`; the readout an
    ``nn.Linear`` plus a :class:`TTFSMembraneReadout`. Parameters are copied (the result is
    independent of ``net``) in their dtype.

    Args:
        net: The network.
        steps_per_window: Steps per window (>= 1).

    Returns:
        A :class:`TTFSStepNetwork`.
    """
    if isinstance(steps_per_window, bool) or not isinstance(steps_per_window, int) or steps_per_window < 1:
        raise TTFSValueError(f"to_snntorch: steps_per_window must be an int >= 1, got {steps_per_window!r}")
    n = steps_per_window
    modules: list[nn.Module] = []
    window_steps: list[int] = []
    step_sizes = [1.0 / n]
    prev_window, prev_dt, start = 1.0, 1.0 / n, 0
    with torch.no_grad():
        for layer in net.ttfs_layers():
            if isinstance(layer, TTFSSpikingLayer) and layer.readout:
                modules += [
                    layer.synapse(),
                    TTFSMembraneReadout(
                        layer.ann_bias() / prev_window, phase1_steps=n, start_step=start, dt=prev_dt
                    ),
                ]
            elif isinstance(layer, TTFSSpikingLayer):
                assert layer.window is not None
                window = float(layer.window)
                dt = window / n
                modules += [
                    layer.synapse(),
                    TTFSNeuron(
                        layer.effective_threshold().detach(),
                        phase1_steps=n,
                        phase2_steps=n,
                        start_step=start,
                        dt=dt,
                        phase1_dt=prev_dt,
                        init_hidden=True,
                    ),
                ]
                window_steps.append(n)
                step_sizes.append(dt)
                start += n
                prev_window, prev_dt = window, dt
            elif isinstance(layer, TTFSMaxPool2d):
                modules.append(TTFSSpikeMaxPool2d(layer))
            elif layer.pools:
                raise TTFSValueError(
                    f"to_snntorch: pooling layer {type(layer).__name__} has no step-mode form"
                )
            else:
                modules += layer.to_ann()  # only moves spikes (flatten): its ANN form maps rasters alike
    return TTFSStepNetwork(
        modules, input_steps=n, window_steps=window_steps, step_sizes=step_sizes, input_range=net.input_range
    )


# --------------------------------------------------------------------------------------------------
# reset
# --------------------------------------------------------------------------------------------------


def reset_net(net: nn.Module) -> int:
    """Reset the state of every stateful module inside ``net`` (any depth), and only those.

    Walks ``net.modules()`` (spikingjelly-style): modules with a ``reset()`` method (the ``ttfsnet``
    protocol, e.g. :class:`TTFSNeuron`) are reset with it; snnTorch neurons get their
    *instance-level* ``reset_mem()``. Unlike ``snntorch.utils.reset`` in snnTorch 1.0.0, this finds
    neurons nested in containers and never touches neurons of other networks.

    Args:
        net: Any module.

    Returns:
        Number of modules reset.
    """
    snn = sys.modules.get("snntorch")
    spiking_base = getattr(snn, "SpikingNeuron", None) if snn is not None else None
    count = 0
    for module in net.modules():
        # snnTorch neurons keep a tensor attribute called ``reset``; test for them first.
        if spiking_base is not None and isinstance(module, spiking_base):
            neuron: Any = module  # an snnTorch neuron (snnTorch is untyped)
            neuron.reset_mem()
            count += 1
            continue
        reset = getattr(module, "reset", None)
        if callable(reset) and not isinstance(reset, nn.Module):
            reset()
            count += 1
    return count
