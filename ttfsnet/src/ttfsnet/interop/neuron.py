"""The step-mode B1 neuron [`TTFSNeuron`][ttfsnet.interop.neuron.TTFSNeuron] and the snapshot of its state
[`TTFSNeuronState`][ttfsnet.interop.neuron.TTFSNeuronState].

The neuron follows snnTorch's call conventions (one call per step, ``spk, mem = neuron(cur, mem)``,
state on the module and ``spk`` only with ``init_hidden=True``, ``reset_mem``), so it runs inside an
ordinary snnTorch time loop; [`to_snntorch`][ttfsnet.interop.to_snntorch] builds whole networks of them and
`step_schedule` computes the phase bookkeeping of a hand-written loop. Its
default surrogate gradient is the arctan surrogate of snnTorch's default ``atan``, implemented here so
that the neuron never imports snnTorch.
"""

# The constructor checks argument types at run time for untyped callers.
# pyright: reportUnnecessaryIsInstance=false

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn

from ttfsnet.errors import TTFSTypeError, TTFSValueError

__all__ = ["TTFSNeuron", "TTFSNeuronState"]

SpikeFn = Callable[[Tensor], Tensor]


class TTFSNeuronState(NamedTuple):
    """A read-only snapshot of a [`TTFSNeuron`][ttfsnet.interop.neuron.TTFSNeuron]'s state
    ([`TTFSNeuron.state`][ttfsnet.interop.neuron.TTFSNeuron.state]).

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

    State lives on the module, as in snnTorch 1.0.0: the membrane ``mem`` and the summed step current
    ``syn`` (non-persistent buffers) and the clock ``step``. Passing ``mem`` only replaces the
    membrane. A ``mem`` (or stored state) whose shape differs from ``cur``, e.g. the empty tensor
    [`reset_mem`][ttfsnet.interop.neuron.TTFSNeuron.reset_mem] returns, starts a new sequence: ``syn``,
    ``mem`` and the clock restart at 0. A membrane of zeros built by hand does not reset the clock.

    [`step_schedule`][ttfsnet.interop.schedule.step_schedule] computes ``start_step``,
    ``phase1_steps``, ``phase2_steps``, ``dt`` and ``phase1_dt`` of every layer of a network
    (``TTFSNeuron(ϑ, **schedule.layers[n]._asdict())``);
    [`to_snntorch`][ttfsnet.interop.to_snntorch] builds whole networks.

    Args:
        threshold: Firing threshold ``ϑ`` (scalar or tensor broadcastable to the neuron shape, e.g.
            ``(C, H, W)`` position-dependent thresholds).
        phase1_steps: Length of phase 1 in steps (>= 1).
        phase2_steps: Length of phase 2 (the neuron's own window) in steps (>= 1).
        start_step: Step index at which phase 1 begins.
        dt: Time per step; the phase-2 ramp adds ``dt`` per step (slope 1 in time units).
        phase1_dt: Time per step during phase 1 (default ``dt``). Differs from ``dt`` when the
            previous window is cut into steps of a different length (see
            [`to_snntorch`][ttfsnet.interop.to_snntorch]).
        spike_grad: snnTorch surrogate (e.g. ``snntorch.surrogate.fast_sigmoid()``); called as
            ``1 - spike_grad(ϑ - mem)`` so that its strict ``>`` becomes ``mem >= ϑ``. Default: an
            arctan surrogate equal to snnTorch's default ``atan(alpha=2)``.
        init_hidden: As ``snn.Leaky``: ``forward(cur)`` returns ``spk`` only, and passing ``mem`` is
            an error (the state is only kept on the module).
        learn_threshold: Store ``threshold`` as an ``nn.Parameter`` instead of a buffer.
        output: With ``init_hidden=True``, return ``spk, mem`` anyway (for the last layer).

    Shapes:
        cur: ``(B, ...)`` per step; spk and mem: same shape, with the dtype of ``cur``.
    """

    threshold: Tensor
    syn: Tensor
    mem: Tensor

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
        # Non-persistent buffers (as snnTorch's ``mem``): they follow ``.to(device)`` but stay out of
        # ``state_dict``, which holds parameters, not the state of a running sequence.
        empty = torch.zeros(0, device=thr.device)
        self.register_buffer("syn", empty, persistent=False)
        self.register_buffer("mem", empty.clone(), persistent=False)
        self.step = 0

    @property
    def end_step(self) -> int:
        """First step after phase 2 (the neuron is inert from here on)."""
        return self.start_step + self.phase1_steps + self.phase2_steps

    @property
    def state(self) -> TTFSNeuronState:
        """A snapshot of the stored state (``syn``, ``mem``, ``step``)."""
        return TTFSNeuronState(syn=self.syn, mem=self.mem, step=self.step)

    def extra_repr(self) -> str:
        p1 = "" if self.phase1_dt == self.dt else f", phase1_dt={self.phase1_dt:.6g}"
        return (
            f"phase1_steps={self.phase1_steps}, phase2_steps={self.phase2_steps}, "
            f"start_step={self.start_step}, dt={self.dt:.6g}{p1}, init_hidden={self.init_hidden}"
        )

    def reset_mem(self) -> Tensor:
        """Forget the stored state (membrane, fired flags, step current, clock); return the fresh ``mem``.

        As snnTorch's instance-level ``reset_mem``: the returned (empty) membrane may be passed as
        ``mem`` to the first call of a new sequence.
        """
        empty = torch.zeros(0, device=self.threshold.device)
        self.syn = empty
        self.mem = empty.clone()
        self.step = 0
        return self.mem

    def reset(self) -> None:
        """The ``ttfsnet`` reset protocol used by [`reset_net`][ttfsnet.interop.reset_net]."""
        self.reset_mem()

    def _fire(self, mem: Tensor) -> Tensor:
        if self.spike_grad is None:
            return _atan_heaviside(mem - self.threshold)
        return (1 - self.spike_grad(self.threshold - mem)).to(mem.dtype)

    def forward(self, cur: Tensor, mem: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        """Advance one step.

        Args:
            cur: Synaptic input of this step.
            mem: Membrane from the previous call (``init_hidden=False`` only); ``None`` uses the one
                stored on the module, as snnTorch does.

        Returns:
            ``(spk, mem)``; ``spk`` alone when ``init_hidden=True`` and ``output=False``.

        Raises:
            TTFSTypeError: ``mem`` is passed with ``init_hidden=True``, or is not a tensor.
        """
        if mem is not None and self.init_hidden:
            raise TTFSTypeError("TTFSNeuron: `mem` must not be passed when init_hidden=True")
        if mem is not None and not isinstance(mem, Tensor):
            raise TTFSTypeError(
                "TTFSNeuron: `mem` must be the membrane tensor a previous call returned, "
                f"got {type(mem).__name__}"
            )
        v = self.mem if mem is None else mem
        if v.shape != cur.shape:
            # New batch shape (or fresh state): start a new sequence, as snnTorch re-zeros its state.
            v = torch.zeros_like(cur)
            syn = torch.zeros_like(cur)
            k = 0
        else:
            syn = self.syn if self.syn.shape == cur.shape else torch.zeros_like(cur)
            k = self.step
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
        self.syn, self.mem, self.step = syn, v, k + 1
        if self.init_hidden and not self.output:
            return spk
        return spk, v
