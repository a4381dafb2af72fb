"""snnTorch interoperability: [`to_snntorch`][ttfsnet.interop.snntorch.to_snntorch], the step-mode network
it builds, and [`reset_net`][ttfsnet.interop.snntorch.reset_net].

snnTorch interop spans four modules: spike rasters ⇄ spike times, latency-coded input and the
readout raster in [`ttfsnet.interop.rasters`][ttfsnet.interop.rasters] (which also states the raster
conventions shared with snnTorch), the step-mode B1 neuron in
[`ttfsnet.interop.neuron`][ttfsnet.interop.neuron], the loop bookkeeping in
[`ttfsnet.interop.schedule`][ttfsnet.interop.schedule], and, here, the step-mode max pool and membrane
readout, [`TTFSStepNetwork`][ttfsnet.interop.snntorch.TTFSStepNetwork],
[`to_snntorch`][ttfsnet.interop.snntorch.to_snntorch] and [`reset_net`][ttfsnet.interop.snntorch.reset_net].
This module re-exports the rest, so ``ttfsnet.interop.snntorch`` stays the one import for all of it.

snnTorch itself is only imported where it is needed: [`reset_net`][ttfsnet.interop.snntorch.reset_net]
recognises snnTorch neurons only if ``snntorch`` has already been imported (a network cannot contain one
otherwise).
"""

# Public functions check argument types at run time for untyped callers.
# pyright: reportUnnecessaryIsInstance=false

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import Tensor, nn

from ttfsnet import functional as TF
from ttfsnet.errors import TTFSRuntimeError, TTFSValueError
from ttfsnet.interop.neuron import TTFSNeuron, TTFSNeuronState
from ttfsnet.interop.rasters import latency_encode, output_raster, raster_to_times, times_to_raster
from ttfsnet.interop.schedule import PhaseSteps, StepSchedule, step_schedule
from ttfsnet.nn import TTFSMaxPool2d, TTFSNetwork, TTFSSpikingLayer

__all__ = [
    "PhaseSteps",
    "StepSchedule",
    "TTFSMembraneReadout",
    "TTFSNeuron",
    "TTFSNeuronState",
    "TTFSSpikeMaxPool2d",
    "TTFSStepNetwork",
    "latency_encode",
    "output_raster",
    "raster_to_times",
    "reset_net",
    "step_schedule",
    "times_to_raster",
    "to_snntorch",
]


# --------------------------------------------------------------------------------------------------
# whole networks in step mode
# --------------------------------------------------------------------------------------------------


class TTFSSpikeMaxPool2d(nn.Module):
    """Step-mode max pooling of TTFS spikes: relays the earliest spike of each pool window once.

    Channels with ``sign = -1`` relay the *latest* spike instead, i.e. they fire once every
    non-padding input of the window has fired (max pooling after a negative fused BN scale).
    Stateful (reset with `reset` or [`reset_net`][ttfsnet.interop.snntorch.reset_net]).

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
    ``b + W x`` (``α = b/Δ``, ``Δ`` the last hidden window; see ``docs/ttfs-model.md``).

    Args:
        bias_current: ``α`` per output ``(C,)``.
        phase1_steps: Steps of the integration window.
        start_step: First step of the integration window.
        dt: Time per step.

    Shapes:
        cur: ``(B, C)`` per step; returns ``(B, C)``.
    """

    bias_current: Tensor
    syn: Tensor
    mem: Tensor

    def __init__(self, bias_current: Tensor, *, phase1_steps: int, start_step: int, dt: float) -> None:
        super().__init__()
        self.register_buffer("bias_current", bias_current.detach().clone())
        self.phase1_steps = phase1_steps
        self.start_step = start_step
        self.dt = float(dt)
        empty = torch.zeros(0, device=bias_current.device)
        self.register_buffer("syn", empty, persistent=False)
        self.register_buffer("mem", empty.clone(), persistent=False)
        self.step = 0

    def reset(self) -> None:
        """Forget the membrane and the clock."""
        empty = torch.zeros(0, device=self.bias_current.device)
        self.syn, self.mem, self.step = empty, empty.clone(), 0

    def forward(self, cur: Tensor) -> Tensor:
        if self.mem.shape != cur.shape:
            syn, mem, k = torch.zeros_like(cur), torch.zeros_like(cur), 0
        else:
            syn, mem, k = self.syn, self.mem, self.step
        if 0 <= k - self.start_step < self.phase1_steps:
            syn = syn + cur
            mem = mem + (syn + self.bias_current) * self.dt
        self.syn, self.mem, self.step = syn, mem, k + 1
        return mem


class TTFSStepNetwork(nn.Sequential):
    """A [`TTFSNetwork`][ttfsnet.nn.TTFSNetwork] as a step-mode ``nn.Sequential`` for snnTorch-style loops.

    Built by [`to_snntorch`][ttfsnet.interop.snntorch.to_snntorch]. Call it once per step with that
    step's input spikes (e.g. ``raster[t]``); the return value is the readout membrane, which after
    `num_steps` steps holds the logits. All neurons keep their state on the module (snnTorch
    ``init_hidden=True``).

    A sequence is exactly `num_steps` calls. Call [`reset_net`][ttfsnet.interop.snntorch.reset_net]
    (or [`reset`][ttfsnet.interop.snntorch.TTFSStepNetwork.reset]) before every new one; a further
    call without a reset raises [`TTFSRuntimeError`][ttfsnet.TTFSRuntimeError] instead of returning
    the previous sequence's logits again. ``snntorch.utils.reset(net)`` (snnTorch 1.0.0) resets only
    snnTorch's own neuron classes, so it leaves this network untouched, and the next sequence fails
    with that error.

    Input spikes are cast to the network's dtype (lossless for 0/1 spikes), so snnTorch's float32
    rasters drive a float64 network.

    Attributes:
        schedule: The loop's [`StepSchedule`][ttfsnet.interop.StepSchedule].
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
        schedule: StepSchedule,
        input_range: tuple[float, float],
    ) -> None:
        super().__init__(*modules)
        self.schedule = schedule
        self.input_steps = schedule.input_steps
        self.window_steps = list(schedule.window_steps)
        self.step_sizes = [schedule.layers[0].phase1_dt if schedule.layers else schedule.readout.dt]
        self.step_sizes += [layer.dt for layer in schedule.layers]
        self.num_steps = schedule.num_steps
        self.steps_taken = 0
        self.register_buffer("input_low", torch.tensor(float(input_range[0]), dtype=torch.float64))
        self.register_buffer("input_high", torch.tensor(float(input_range[1]), dtype=torch.float64))

    def _dtype(self) -> torch.dtype:
        # The readout's bias current has the dtype of the converted network's parameters.
        readout = self[-1]
        assert isinstance(readout, TTFSMembraneReadout)  # to_snntorch always ends with it
        return readout.bias_current.dtype

    def reset(self) -> None:
        """Start a new sequence: reset the step counter.

        [`reset_net`][ttfsnet.interop.snntorch.reset_net] calls this and also resets every neuron.
        """
        self.steps_taken = 0

    def forward(self, input: Tensor) -> Tensor:
        """One step: input spikes ``(B, ...)`` of this step → readout membrane ``(B, C)``.

        Raises:
            TTFSRuntimeError: The sequence already had `num_steps` steps and was not reset.
        """
        if self.steps_taken >= self.num_steps:
            raise TTFSRuntimeError(
                f"TTFSStepNetwork: the sequence ended after num_steps={self.num_steps} steps; call "
                "ttfsnet.reset_net(net) before the next one "
                "(snntorch.utils.reset does not reach ttfsnet modules)"
            )
        self.steps_taken += 1
        dtype = self._dtype()
        out: Tensor = input if input.dtype == dtype else input.to(dtype)
        for module in self:
            out = module(out)
        return out

    def input_raster(self, x: Tensor) -> Tensor:
        """Raw inputs in the network's ``input_range`` → input raster ``(num_steps, B, ...)``.

        Input spike times ``1 - x̃`` are rounded to the nearest step of the input grid, so the step
        network sees inputs quantised to ``1/P_0``
        ([`latency_encode`][ttfsnet.interop.rasters.latency_encode] with ``P_0 + 1`` steps, padded
        with zeros).
        """
        rng = (float(self.input_low), float(self.input_high))
        TF.check_input_range(x, rng, where="TTFSStepNetwork.input_raster")
        raster = latency_encode(x, self.input_steps + 1, input_range=rng)
        pad = raster.new_zeros((self.num_steps - raster.shape[0], *raster.shape[1:]))
        return torch.cat([raster, pad]) if pad.shape[0] > 0 else raster[: self.num_steps]

    def run_raster(self, raster: Tensor) -> Tensor:
        """Reset, drive the network with the first `num_steps` steps of ``raster``, return the logits."""
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
    """Build a step-mode copy of ``net`` from torch layers and
    [`TTFSNeuron`][ttfsnet.interop.snntorch.TTFSNeuron] s.

    Every window (the input window and each hidden window) is cut into ``steps_per_window`` steps of
    its own length ``T/steps_per_window``, the same grid as ``net.run(x, mode="stepped",
    dt=1/steps_per_window)``; with inputs on that grid both give the same spike times and logits
    (up to float rounding). Weighted layers become ``nn.Linear``/``nn.Conv2d`` without bias followed
    by a [`TTFSNeuron`][ttfsnet.interop.snntorch.TTFSNeuron] (``init_hidden=True``); average pooling becomes
    ``nn.AvgPool2d`` plus a neuron with threshold ``T``; max pooling a
    [`TTFSSpikeMaxPool2d`][ttfsnet.interop.snntorch.TTFSSpikeMaxPool2d]; the readout an ``nn.Linear`` plus a
    [`TTFSMembraneReadout`][ttfsnet.interop.snntorch.TTFSMembraneReadout]. Parameters are copied (the result
    is independent of ``net``) in their dtype.

    Args:
        net: The network.
        steps_per_window: Steps per window (>= 1).

    Returns:
        A [`TTFSStepNetwork`][ttfsnet.interop.snntorch.TTFSStepNetwork].
    """
    if isinstance(steps_per_window, bool) or not isinstance(steps_per_window, int) or steps_per_window < 1:
        raise TTFSValueError(f"to_snntorch: steps_per_window must be an int >= 1, got {steps_per_window!r}")
    schedule = step_schedule(net, steps_per_window=steps_per_window)
    phases = iter(schedule.layers)
    modules: list[nn.Module] = []
    prev_window = 1.0
    with torch.no_grad():
        for layer in net.ttfs_layers():
            if isinstance(layer, TTFSSpikingLayer) and layer.readout:
                ro = schedule.readout
                modules += [
                    layer.synapse(),
                    TTFSMembraneReadout(
                        layer.ann_bias() / prev_window,
                        phase1_steps=ro.phase1_steps,
                        start_step=ro.start_step,
                        dt=ro.phase1_dt,
                    ),
                ]
            elif isinstance(layer, TTFSSpikingLayer):
                assert layer.window is not None
                phase: PhaseSteps = next(phases)
                modules += [
                    layer.synapse(),
                    TTFSNeuron(layer.effective_threshold().detach(), init_hidden=True, **phase._asdict()),
                ]
                prev_window = float(layer.window)
            elif isinstance(layer, TTFSMaxPool2d):
                modules.append(TTFSSpikeMaxPool2d(layer))
            elif layer.pools:
                raise TTFSValueError(
                    f"to_snntorch: pooling layer {type(layer).__name__} has no step-mode form"
                )
            else:
                modules += layer.to_ann()  # only moves spikes (flatten): its ANN form maps rasters alike
    return TTFSStepNetwork(modules, schedule=schedule, input_range=net.input_range)


# --------------------------------------------------------------------------------------------------
# reset
# --------------------------------------------------------------------------------------------------


def reset_net(net: nn.Module) -> int:
    """Reset the state of every stateful module inside ``net`` (any depth), and only those.

    Walks ``net.modules()`` (spikingjelly-style): modules with a ``reset()`` method (the ``ttfsnet``
    protocol, e.g. [`TTFSNeuron`][ttfsnet.interop.snntorch.TTFSNeuron]) are reset with it; snnTorch neurons
    get their *instance-level* ``reset_mem()``. Unlike ``snntorch.utils.reset`` in snnTorch 1.0.0, this finds
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
