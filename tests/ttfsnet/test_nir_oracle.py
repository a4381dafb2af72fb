"""Exported NIR graphs run by an interpreter written here from NIR's node semantics (issue 14, item 1).

The interpreter below never calls ``ttfsnet``: it reads the file ``export_nir`` wrote (``nir.read``) and
evaluates it node by node, in continuous time and exactly (event-driven, no time step):

* ``Affine`` ``y = W x + b``, ``Linear`` ``y = W x``, ``Conv2d`` (zero padding, stride, dilation, groups),
  ``SumPool2d`` (window sum, zero padding), ``AvgPool2d`` (window sum / ``kh·kw``, as the node's
  ``count_include_pad`` metadata says) and ``Flatten`` act on the signal at every instant, so they act on a
  weighted train of Dirac pulses by acting on its weights (NIR's published definitions, nir 1.0.8 docstrings);
* ``I``: ``dv/dt = R·I``; ``IF``: ``dv/dt = R·I``, spike when ``v > v_threshold``, then ``v = v_reset``
  (``-inf``: the neuron never fires again);
* an input value ``x`` is one spike at ``t0 = 1 − (x − p)/(q − p)`` in the input window ``[0, 1)``.

NIR has no phases, so the B1 neuron is not expressible by the primitives alone. ``docs/nir.md`` ("What lives
in metadata") states the semantics the metadata carries, and the interpreter applies exactly those:

* a spiking ``IF`` whose metadata has ``t_min`` and ``window`` ``T``: its threshold is live only in
  ``[t_min, t_min + T)``; at ``t_min`` its step currents are switched off and the membrane rises with slope 1;
* the readout's bias current ``α`` (the ``Affine`` bias after the readout ``I``) flows for the
  ``integration_window`` ``Δ`` before ``t_read``, and the logits are the last ``I``'s membrane at ``t_read``
  (readout ``Linear`` metadata).

Checked against the TTFS network (``run()`` spike times, ``net(x)`` logits) and, where nothing saturates,
against the original ReLU network in plain torch: every spiking layer's and every max pool's spike times
(absolute, so the exported window starts are checked too) and the silent/firing pattern, for a dense network
and for a conv network with max pooling (earliest and latest spike, padding, dilation), average pooling,
grouped and strided convolutions and flatten, with and without saturated neurons.

Not checked: what a backend that ignores the metadata computes (``docs/nir.md`` only says its spike times
differ); the ``ann_bias`` metadata (the interpreter uses the primitive ``α·Δ`` instead).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nir
import numpy as np
import pytest
import torch
from torch import nn
from ttfsnet_testutils import randomize_bn

import ttfsnet

# Both sides compute in float64 (unit roundoff u ≈ 1.1e-16). Every value is a sum of at most ~100 products
# of magnitude ≲ 10 through ≤ 5 layers, so the forward error bound γ_K·Σ|terms| is ≲ 1e-12 of the scale of
# the quantity (window or logit size, ~0.1-10 here; measured ≤ 4e-16). 1e-11 of that scale leaves a 10x
# margin over the bound, while a semantic error (a wrong window start, α·Δ, pooling rule or threshold)
# moves a spike time or a logit by a sizeable fraction of a window.
REL_TOL = 1e-11

_Op = Callable[[np.ndarray], np.ndarray]  # a linear node acting on a batch (N, *shape) -> (N, *shape')


def _pair(value: Any) -> tuple[int, int]:
    arr = np.atleast_1d(np.asarray(value)).astype(int)
    return (int(arr[0]), int(arr[-1]))


def _window_sum(
    x: np.ndarray,
    weight: np.ndarray,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> np.ndarray:
    """Cross-correlation of ``x`` (N, C_in, H, W) with ``weight`` (C_out, C_in/groups, kh, kw), zero
    padding, output size rounded down."""
    n, c_in, h, w = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c_out, ho, wo))
    out_per_group = c_out // groups
    for g in range(groups):
        xin = xp[:, g * c_per_group : (g + 1) * c_per_group]
        wg = weight[g * out_per_group : (g + 1) * out_per_group]
        for i in range(kh):
            for j in range(kw):
                patch = xin[
                    :, :, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw
                ]
                out[:, g * out_per_group : (g + 1) * out_per_group] += np.einsum(
                    "nchw,oc->nohw", patch, wg[:, :, i, j]
                )
    return out


def _pool_sum(
    x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> np.ndarray:
    """Per-channel window sum with zero padding (output size rounded down)."""
    c = x.shape[1]
    ones = np.zeros((c, 1, *kernel))
    ones[:, 0] = 1.0
    return _window_sum(x, ones, stride, padding, (1, 1), groups=c)


@dataclass
class _Signal:
    """The signal on an edge: ``ops`` applied to the spikes of the last spiking population after ``order``
    integrations (0: Dirac pulses, 1: step currents), plus a constant current ``const`` (``Affine`` bias)."""

    times: np.ndarray  # (B, *shape) absolute spike times of the last spiking population; inf = no spike
    window_start: float  # t_min of that population's window
    ops: list[_Op] = field(default_factory=list[_Op])
    order: int = 0
    const: np.ndarray | None = None

    def add(self, op: _Op) -> None:
        self.ops.append(op)
        if self.const is not None:
            self.const = op(self.const[None])[0]

    def integrated(self, t: np.ndarray) -> np.ndarray:
        """``ops`` applied to the sources integrated ``order + 1`` times, at times ``t`` of shape (B, K):
        returns (B, K, *out). One more integration turns a Dirac at τ into ``H(t−τ)``, two into ``(t−τ)⁺``."""
        b, k = t.shape
        src = self.times.reshape(b, 1, -1)
        lag = t[:, :, None] - src  # -inf for silent sources
        kernel = (lag >= 0).astype(np.float64) if self.order == 0 else np.where(lag > 0, lag, 0.0)
        x = kernel.reshape(b * k, *self.times.shape[1:])
        for op in self.ops:
            x = op(x)
        return x.reshape(b, k, *x.shape[1:])


@dataclass
class NirTrace:
    """What the interpreter computed: absolute spike times per spiking node (by ``ttfsnet_layer``)."""

    spikes: dict[int, tuple[np.ndarray, float]] = field(default_factory=dict[int, tuple[np.ndarray, float]])
    input_times: np.ndarray | None = None
    logits: np.ndarray | None = None


def _fire_once(node: nir.IF, where: str) -> None:
    if not np.all(np.isneginf(np.asarray(node.v_reset))):
        raise AssertionError(f"{where}: v_reset is not -inf; this interpreter only runs fire-once IF neurons")


def _if_node(sig: _Signal, node: nir.IF, name: str) -> tuple[np.ndarray, float]:
    """Absolute spike times of an ``IF`` node fed by ``sig``; also the window start the times belong to."""
    _fire_once(node, name)
    r = np.asarray(node.r, dtype=np.float64)
    thr = np.asarray(node.v_threshold, dtype=np.float64)
    meta = node.metadata
    b = sig.times.shape[0]
    if sig.order == 1:
        # Step currents → ramp membrane; B1 gating from the metadata (docs/nir.md).
        # The width comes from ``window``, not ``t_max - t_min`` (rounded): a neuron with ϑ = T and no input
        # (an average pool over silent inputs) sits exactly on the boundary and must stay silent.
        t_min, width = float(meta["t_min"]), float(meta["window"])
        v0 = r * sig.integrated(np.full((b, 1), t_min))[:, 0]
        rise = thr - v0  # the membrane rises with slope 1 from t_min
        spikes = np.where(rise >= width, np.inf, t_min + np.maximum(rise, 0.0))
        return spikes, t_min
    if sig.order == 0:
        # Dirac pulses → unit jumps: the first instant v > v_threshold, an input spike time (no gating).
        assert "t_min" not in meta, f"{name}: a gated IF fed by Dirac pulses is not in the documented layout"
        out = np.full((b, *thr.shape), np.inf)
        for s in range(b):
            cand = np.unique(sig.times[s][np.isfinite(sig.times[s])])
            if cand.size == 0:
                continue
            one = _Signal(times=sig.times[s : s + 1], window_start=sig.window_start, ops=sig.ops)
            v = r * one.integrated(cand[None])[0]  # membrane just after each candidate, (K, *shape)
            crossed = v > thr
            first = np.argmax(crossed, axis=0)
            out[s] = np.where(crossed.any(axis=0), cand[first], np.inf)
        return out, sig.window_start
    raise AssertionError(f"{name}: IF fed by a signal integrated {sig.order} times")


def _map(node: nir.NIRNode, name: str) -> _Op | None:
    """The instantaneous map of a stateless node on a batch (N, *shape), ``None`` for other nodes. A bias is
    not part of the map: it is a constant current, added by the caller."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        w = np.asarray(node.weight, dtype=np.float64)
        return lambda a: a.reshape(a.shape[0], -1) @ w.T
    if isinstance(node, nir.Conv2d):
        assert not np.any(np.asarray(node.bias) != 0), f"{name}: a conv bias current is not in the layout"
        w = np.asarray(node.weight, dtype=np.float64)
        stride, pad, dil = _pair(node.stride), _pair(node.padding), _pair(node.dilation)
        groups = int(node.groups)
        return lambda a: _window_sum(a, w, stride, pad, dil, groups)
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        k, s, p = _pair(node.kernel_size), _pair(node.stride), _pair(node.padding)
        scale = 1.0
        if isinstance(node, nir.AvgPool2d):
            assert bool(node.metadata["count_include_pad"]), f"{name}: only count_include_pad=True is read"
            scale = 1.0 / (k[0] * k[1])
        return lambda a: scale * _pool_sum(a, k, s, p)
    if isinstance(node, nir.Flatten):
        start, end = int(node.start_dim), int(node.end_dim)

        def flatten(a: np.ndarray) -> np.ndarray:
            shape = a.shape[1:]
            stop = len(shape) if end == -1 else end + 1
            return a.reshape(a.shape[0], *shape[:start], -1, *shape[stop:])

        return flatten
    return None


def _encode(node: nir.Input, x: np.ndarray) -> _Signal:
    """Input spikes at ``t0 = t_min + (t_max − t_min)·(1 − (x − p)/(q − p))``; ``t0 = t_max`` is no spike."""
    meta = node.metadata
    p, q = (float(v) for v in meta["input_range"])
    t_min, t_max = float(meta["t_min"]), float(meta["t_max"])
    t0 = t_min + (t_max - t_min) * (1.0 - (x - p) / (q - p))
    return _Signal(times=np.where(t0 < t_max, t0, np.inf), window_start=t_min)


def run_nir(path: Path, x: np.ndarray) -> NirTrace:
    """Evaluate the NIR graph at ``path`` on raw inputs ``x`` (B, *input_shape) and return its trace."""
    graph = nir.read(path)
    succ: dict[str, list[str]] = {}
    for a, z in graph.edges:
        succ.setdefault(a, []).append(z)
    trace = NirTrace()
    readout: dict[str, float] = {}
    name = "input"
    node = graph.nodes[name]
    assert isinstance(node, nir.Input)
    sig = _encode(node, x)
    trace.input_times = sig.times
    while not isinstance(node := graph.nodes[name := succ[name][0]], nir.Output):
        assert len(succ[name]) == 1, f"{name}: the exported graph is a single chain"
        meta = node.metadata
        if (op := _map(node, name)) is not None:
            sig.add(op)
            if isinstance(node, nir.Affine) and np.any(node.bias != 0):
                bias = np.asarray(node.bias, dtype=np.float64)
                sig.const = bias if sig.const is None else sig.const + bias
            if meta.get("ttfsnet_kind") == "readout":
                readout = {"window": float(meta["integration_window"]), "t_read": float(meta["t_read"])}
        elif isinstance(node, nir.I):
            r = np.asarray(node.r, dtype=np.float64)
            if meta.get("part") == "membrane":
                # The readout membrane at t_read: step currents integrated once more, plus α for Δ.
                v = sig.integrated(np.full((len(x), 1), readout["t_read"]))[:, 0]
                if sig.const is not None:
                    v = v + sig.const * readout["window"]
                trace.logits = r * v
            else:
                assert sig.const is None, f"{name}: a constant current into a hidden integrator"
                sig.add(lambda a, r=r: a * r)
                sig.order += 1
        elif isinstance(node, nir.IF):
            spikes, start = _if_node(sig, node, name)
            trace.spikes[int(meta["ttfsnet_layer"])] = (spikes, start)
            sig = _Signal(times=spikes, window_start=start)
        else:
            raise AssertionError(f"{name}: node type {type(node).__name__} is not interpreted")
    assert trace.logits is not None, "the graph must end in the readout membrane"
    return trace


# ------------------------------------------------------------------ networks


def _dense() -> tuple[nn.Sequential, torch.Tensor, tuple[float, float]]:
    torch.manual_seed(3)
    ann = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4)).double()
    x = torch.rand(48, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 3 - 1
    return ann.eval(), x, (-1.0, 2.0)


def _conv_pool() -> tuple[nn.Sequential, torch.Tensor, tuple[float, float]]:
    """Padded max pool after a BN with negative scales (latest-spike channels), grouped strided conv,
    padded average pool, dilated max pool (an all-ones ``Conv2d`` in NIR), flatten, dense readout."""
    torch.manual_seed(5)
    ann = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.BatchNorm2d(4),
        nn.MaxPool2d(2, stride=2, padding=1),
        nn.Conv2d(4, 6, 3, stride=1, padding=1, groups=2),
        nn.ReLU(),
        nn.AvgPool2d(2, stride=1, padding=1),
        nn.Conv2d(6, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, stride=1, dilation=2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    ).double()
    randomize_bn(ann, torch.Generator().manual_seed(5))
    x = torch.rand(16, 2, 9, 9, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    return ann.eval(), x, (0.0, 1.0)


def _with_edges(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Seeded inputs plus one sample at the range ends (no input spike / spike at t = 0)."""
    edge = x[:2].clone()
    edge[0] = lo
    edge[1].view(-1)[::2] = hi
    return torch.cat([x, edge])


@pytest.fixture(params=["dense", "conv_pool"])
def case(request: pytest.FixtureRequest) -> tuple[nn.Sequential, torch.Tensor, tuple[float, float]]:
    return _dense() if request.param == "dense" else _conv_pool()


def _compare(net: ttfsnet.TTFSNetwork, trace: NirTrace, x: torch.Tensor) -> None:
    result = net.run(x)
    schedule = net.schedule()
    latency = net.latency()
    atol_t = REL_TOL * latency
    assert trace.input_times is not None
    np.testing.assert_allclose(trace.input_times, result.spike_times[0].numpy(), rtol=0, atol=atol_t)
    # window start of each entry, in the network's own schedule: spiking layers own the next window, a max
    # pool relays in the window of the layer it pools
    starts: dict[int, float] = {}
    k = 0
    for i, layer in enumerate(net.layers):
        if isinstance(layer, ttfsnet.TTFSMaxPool2d):
            starts[i] = schedule[k][0]
        elif isinstance(layer, (ttfsnet.TTFSConv2d, ttfsnet.TTFSAvgPool2d)) or (
            isinstance(layer, ttfsnet.TTFSLinear) and not layer.readout
        ):
            k += 1
            starts[i] = schedule[k][0]
    entries = [int(n.split(".")[1]) for n in result.layer_names[1:]]
    assert sorted(trace.spikes) == entries  # one IF per spiking layer and per max pool
    for pos, layer_index in enumerate(entries, 1):
        got, _ = trace.spikes[layer_index]
        want = result.spike_times[pos].numpy() + starts[layer_index]
        where = f"layers.{layer_index}"
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=f"{where}: firing pattern")
        fired = np.isfinite(want)
        assert fired.any(), f"{where}: nothing fires, the comparison would be empty"
        np.testing.assert_allclose(got[fired], want[fired], rtol=0, atol=atol_t, err_msg=where)
    assert trace.logits is not None
    logits = net(x).detach().numpy()
    np.testing.assert_allclose(trace.logits, logits, rtol=0, atol=REL_TOL * (1 + np.abs(logits).max()))


def test_nir_graph_reproduces_spike_times_and_logits(
    tmp_path: Path, case: tuple[nn.Sequential, torch.Tensor, tuple[float, float]]
) -> None:
    ann, x, (lo, hi) = case
    net = ttfsnet.convert(ann, x, input_range=(lo, hi))
    pools = [m for m in net.layers if isinstance(m, ttfsnet.TTFSMaxPool2d)]
    if pools:  # the conv case exercises both pooling rules and the dilated (all-ones Conv2d) form
        sign = pools[0].sign
        assert sign is not None and bool((sign < 0).any()) and bool((sign > 0).any())
        assert pools[-1].dilation == (2, 2)
    path = tmp_path / "net.nir"
    ttfsnet.export_nir(net, path)
    xs = _with_edges(x, lo, hi)
    trace = run_nir(path, xs.numpy())
    _compare(net, trace, xs)
    # The calibration set never saturates (ζ = 0.5), so on it the graph also computes the ReLU network.
    assert net.run(x).total_saturated == 0
    with torch.no_grad():
        ann_logits = ann(x).numpy()
    calib = run_nir(path, x.numpy())
    assert calib.logits is not None
    np.testing.assert_allclose(
        calib.logits, ann_logits, rtol=0, atol=REL_TOL * (1 + np.abs(ann_logits).max())
    )


def test_nir_graph_saturated_neurons_fire_at_window_start(
    tmp_path: Path, case: tuple[nn.Sequential, torch.Tensor, tuple[float, float]]
) -> None:
    """With windows 30 % narrower than the largest activation (ζ = -0.3), some neurons saturate: the
    gated threshold makes them fire at ``t_min`` in the graph as in the network."""
    ann, x, (lo, hi) = case
    net = ttfsnet.convert(ann, x, zeta=-0.3, input_range=(lo, hi))
    path = tmp_path / "net.nir"
    ttfsnet.export_nir(net, path)
    trace = run_nir(path, x.numpy())
    assert net.run(x).total_saturated > 0
    at_start = [
        np.isclose(spikes, start, rtol=0, atol=REL_TOL).any()
        for layer, (spikes, start) in trace.spikes.items()
        if not isinstance(net.layers[layer], ttfsnet.TTFSMaxPool2d)
    ]
    assert any(at_start)
    _compare(net, trace, x)
