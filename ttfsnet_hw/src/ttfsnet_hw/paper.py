"""The TNAS-ER architecture family at SEE input size as hardware IRs, and the paper's YOSO figures.

The family is the one backbone definition of ``ttfsnet``
([`ttfsnet.models.MacroConfig`][ttfsnet.models.MacroConfig] and
[`ttfsnet.models.macro_network`][ttfsnet.models.macro_network]) at the emotion geometry of TNAS-ER §3.3/§4.2:
a stem of two 3×3 convs (4 → 32 → 32), then G groups of two searchable blocks (``conv3x3``/``conv5x5`` = two
convs of that kernel, ``skip`` = identity, or a 1×1 width adapter in the first block of a group that doubles
the width), a 2×2 max pool after every group, flatten and a linear head to 7 classes; input 4×90×90.
[`paper_network`][ttfsnet_hw.paper.paper_network] lowers a member to the IR with the torch adapter (BN
folded), so it needs the ``[torch]`` extra.

The paper's searched architecture is not given in the text (only 1.04 M parameters, Table 3), so
[`reference_architecture`][ttfsnet_hw.paper.reference_architecture] picks, among all 3^(2G) choices for G = 3,
the one whose parameter count is closest to 1.04 M. That choice is a stand-in, stated wherever it is used.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ttfsnet_hw.calibrate import calibrate
from ttfsnet_hw.errors import IRError, MissingExtraError
from ttfsnet_hw.estimate import Estimate, estimate
from ttfsnet_hw.intsim import closed_form_quantized, compare, float_disagreement, simulate
from ttfsnet_hw.ir import random_parameters
from ttfsnet_hw.profile import HardwareProfile, load_profile, write_profile
from ttfsnet_hw.quantize import quantize
from ttfsnet_hw.records import uniform_spike_record
from ttfsnet_hw.types import LayerIR, NetworkIR, SpikeRecord

__all__ = [
    "PAPER_FIGURES",
    "calibrate_reference",
    "groups_of",
    "paper_config",
    "paper_network",
    "reference_architecture",
    "reference_record",
    "reference_report",
]

PAPER_FIGURES: dict[str, float] = {
    "latency_ms": 48.0,
    "energy_mj": 9.0,
    "clock_mhz": 54.0,
    "war_quantized": 76.6,
    "uar_quantized": 77.1,
    "params_m": 1.04,
    "ops_g": 0.03,
}
"""TNAS-ER on YOSO (§1, §4.6; Table 3 for parameters and OPs)."""

PAPER_SOURCE = "TNAS-ER (arXiv 2512.02459) §4.6: YOSO at 54 MHz, 48.0 ms and 9.0 mJ per inference"

_OPS = ("conv3x3", "conv5x5", "skip")


def _models() -> Any:
    """``ttfsnet.models`` (torch), or a one-line error saying which extra to install."""
    try:
        from ttfsnet import models
    except ImportError as exc:
        raise MissingExtraError(
            f"TNAS-ER paper models are built with ttfsnet and torch: install the [torch] extra "
            f"(pip install 'ttfsnet-hw[torch]'; {exc})"
        ) from None
    return models


def paper_config(
    *, groups: int = 3, image_size: int = 90, in_channels: int = 4, width: int = 32, num_classes: int = 7
) -> Any:
    """The TNAS-ER emotion geometry as a [`ttfsnet.models.MacroConfig`][ttfsnet.models.MacroConfig] (genes
    ``g<group>b<block>``).

    Raises:
        MissingExtraError: torch is not installed.
        ValueError: an impossible geometry (``ttfsnet``'s message names the field).
    """
    return _models().MacroConfig(
        in_channels=in_channels,
        num_classes=num_classes,
        input_size=(image_size, image_size),
        stem_channels=(width, width),
        stage_blocks=(2,) * groups,
        ops=_OPS,
        gene_names="g{stage}b{block}",
    )


def _choices(config: Any) -> dict[str, tuple[Any, int]]:
    """Gene → (its ``Choice`` slot, its stage): blocks come stage by stage in the layout."""
    models = _models()
    slots = [slot for slot in models.macro_layout(config) if isinstance(slot, models.Choice)]
    stages = [stage for stage, n in enumerate(config.stage_blocks) for _ in range(n)]
    return {slot.gene: (slot, stage) for slot, stage in zip(slots, stages, strict=True)}


@functools.lru_cache(maxsize=256)
def _block_layers(config: Any, gene: str, op: str) -> tuple[LayerIR, ...]:
    """The IR layers of one block (gene, op), lowered once: its costs do not depend on the other blocks."""
    from torch import nn

    from ttfsnet_hw.adapters.torch import lower_ann

    models = _models()
    slot, stage = _choices(config)[gene]
    h, w = config.input_size
    # every 2x2 pooling floors the size, and flooring twice by 2 is flooring once by 4
    shape = (slot.in_channels, h >> stage, w >> stage)
    module = models.create_op(op, slot.in_channels, slot.out_channels, slot.stride)
    return lower_ann(nn.Sequential(*models.get_op(op).lower(module)), shape)


def _full_arch(config: Any, arch: Mapping[str, str] | None) -> dict[str, str]:
    """Every gene's op: ``arch``'s, ``conv3x3`` where it has none."""
    genes = list(_choices(config))
    given = dict(arch) if arch is not None else {}
    unknown = set(given) - set(genes)
    if unknown or any(op not in _OPS for op in given.values()):
        raise IRError(f"paper_network: genes must be {genes} with ops in {list(_OPS)}, got {given}")
    return {gene: given.get(gene, "conv3x3") for gene in genes}


def _with_paper_names(ir: NetworkIR, config: Any, arch: Mapping[str, str]) -> NetworkIR:
    """The lowered layers renamed as reports name them: ``stem<i>``, ``<gene>_c<j>`` (the ``skip``
    adapter: ``<gene>_adapt``), ``pool<g>``, ``flatten``, ``head``."""
    models = _models()
    fixed = {"conv": "stem", "maxpool": "pool", "avgpool": "pool"}
    counts = dict.fromkeys(fixed.values(), 0)
    names: list[str] = []
    for slot in models.macro_layout(config):
        if isinstance(slot, models.Choice):
            op = arch[slot.gene]
            n = len(_block_layers(config, slot.gene, op))
            names += (
                [f"{slot.gene}_adapt"] if op == "skip" and n == 1 else [f"{slot.gene}_c{j}" for j in range(n)]
            )
            continue
        # a fixed slot (stem conv, pooling, flatten, head) lowers to exactly one IR layer
        kind = ir.layers[len(names)].kind
        if kind in fixed:
            names.append(f"{fixed[kind]}{counts[fixed[kind]]}")
            counts[fixed[kind]] += 1
        else:
            names.append("head" if kind == "readout" else kind)
    if len(names) != len(ir.layers):
        raise IRError(f"network {ir.name}: {len(ir.layers)} layers do not match the backbone's slots")
    layers = tuple(replace(layer, name=name) for layer, name in zip(ir.layers, names, strict=True))
    return replace(ir, layers=layers)


def paper_network(
    arch: Mapping[str, str] | None = None,
    *,
    groups: int = 3,
    image_size: int = 90,
    in_channels: int = 4,
    width: int = 32,
    num_classes: int = 7,
    rng: np.random.Generator | None = None,
    name: str | None = None,
) -> NetworkIR:
    """Build one member of the TNAS-ER family (``ttfsnet.models.macro_network`` lowered to the IR).

    Args:
        arch: gene ``g<group>b<block>`` → ``conv3x3`` | ``conv5x5`` | ``skip`` (missing genes: ``conv3x3``).
        groups: macro-block groups G.
        image_size: input height = width.
        in_channels: input channels (4 stacked event frames).
        width: stem width; doubles after every pooling.
        num_classes: classes.
        rng: if given, random weights/thresholds/windows (a runnable IR,
            [`ttfsnet_hw.ir.random_parameters`][ttfsnet_hw.ir.random_parameters]); otherwise cost-only.
        name: network name.

    Returns:
        The IR.

    Raises:
        MissingExtraError: torch is not installed (paper models need the ``[torch]`` extra).
        ValueError: unknown genes or ops, or an impossible geometry.
    """
    from ttfsnet_hw.adapters.torch import ir_from_ann

    config = paper_config(
        groups=groups, image_size=image_size, in_channels=in_channels, width=width, num_classes=num_classes
    )
    full = _full_arch(config, arch)
    net = _models().macro_network(config, full)
    ir = ir_from_ann(net, (in_channels, image_size, image_size), name=name or "tnas-er-family")
    ir = _with_paper_names(ir, config, full)
    return ir if rng is None else random_parameters(ir, rng)


_GENE = re.compile(r"g(\d+)b\d+")


def groups_of(genes: Iterable[str]) -> int:
    """Number of macro-block groups G named by TNAS-ER genes ``g<i>b<j>`` (0 when there are none); used to
    size a ``paper:gene=op,...`` model from its genes."""
    found = [int(m.group(1)) for g in genes if (m := _GENE.fullmatch(g))]
    return 1 + max(found) if found else 0


def _costs(layers: Iterable[LayerIR]) -> tuple[int, int]:
    layers = list(layers)
    return sum(layer.param_count for layer in layers), sum(layer.macs for layer in layers)


@functools.lru_cache(maxsize=4)
def reference_architecture(groups: int = 3, target_params: float = 1.04e6) -> dict[str, str]:
    """The family member whose parameter count is closest to the paper's 1.04 M (ties: fewer MACs).

    Parameters and MACs are sums over layers, so a member's totals are the fixed layers' plus each block's;
    each (gene, op) block is lowered once instead of building all 3^(2G) networks.

    Returns:
        gene → op mapping.
    """
    config = paper_config(groups=groups)
    genes = list(_choices(config))
    block = {(g, op): _costs(_block_layers(config, g, op)) for g in genes for op in _OPS}
    base = {g: _OPS[0] for g in genes}
    whole = paper_network(base, groups=groups)
    fixed_params = whole.params - sum(block[g, op][0] for g, op in base.items())
    fixed_macs = whole.macs - sum(block[g, op][1] for g, op in base.items())

    def totals(ops: tuple[str, ...]) -> tuple[int, int]:
        p, m = fixed_params, fixed_macs
        for gene, op in zip(genes, ops, strict=True):
            p, m = p + block[gene, op][0], m + block[gene, op][1]
        return p, m

    scored = [
        (abs(totals(ops)[0] - target_params), ops) for ops in itertools.product(_OPS, repeat=len(genes))
    ]
    best_gap = min(gap for gap, _ in scored)
    tied = [ops for gap, ops in scored if gap == best_gap]
    # ties (same parameter count): fewer MACs, then the op names
    best = min(tied, key=lambda ops: (totals(ops)[1], ops))
    return dict(zip(genes, best, strict=True))


def reference_record(ir: NetworkIR, synops: float = PAPER_FIGURES["ops_g"] * 1e9) -> SpikeRecord:
    """Uniform spike record whose total SynOPs equal the paper's 0.03 G "OPs" (Table 3).

    Reading Table 3's OPs as SynOPs per inference is an assumption (``docs/hardware.md``). One firing
    fraction ρ is shared by the input and every spiking layer and found by bisection.
    """
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if uniform_spike_record(ir, mid, mid).per_sample_synops.sum() < synops:
            lo = mid
        else:
            hi = mid
    return uniform_spike_record(ir, 0.5 * (lo + hi), 0.5 * (lo + hi))


def calibrate_reference(
    profile: str | Path | HardwareProfile = "yoso", out: str | Path | None = None, date: str | None = None
) -> tuple[HardwareProfile, Estimate]:
    """Fit ``profile`` to the paper's YOSO point on the reference architecture with
    [`reference_record`][ttfsnet_hw.paper.reference_record].

    Args:
        profile: starting profile (name, path or profile).
        out: if given, write the calibrated profile there.
        date: ISO date recorded with the fit (default today).

    Returns:
        ``(calibrated profile, estimate)``.
    """
    arch = reference_architecture()
    ir = paper_network(arch, name="tnas-er-reference")
    record = reference_record(ir)
    rho = float(record.per_sample_spikes[0, 1] / ir.layers[0].neurons)
    desc = (
        "TNAS-ER family at 4x90x90, G=3, "
        + ",".join(f"{k}={v}" for k, v in arch.items())
        + f" ({ir.params} params, closest to 1.04 M); synthetic uniform firing fraction {rho:.4f} chosen so "
        "that SynOPs = 0.03 G/inference (Table 3 OPs read as SynOPs)"
    )
    fitted, est = calibrate(
        ir,
        record,
        load_profile(profile),
        latency_ms=PAPER_FIGURES["latency_ms"],
        energy_mj=PAPER_FIGURES["energy_mj"],
        data_point=PAPER_SOURCE,
        reference_network=desc,
        date=date,
        note="no trained weights or real data: the spike statistics are synthetic",
    )
    if out is not None:
        write_profile(fitted, out, header=_YOSO_HEADER)
    return fitted, est


_YOSO_HEADER = """YOSO profile for ttfsnet_hw (TNAS-ER deployment, 54 MHz). Generated by
ttfsnet_hw.paper.calibrate_reference(out=...); edit the base values, then re-run it.
Every constant carries source + confidence: V primary, P TNAS-ER text, S secondary, D derived,
U unverified assumption, F fitted (see 'calibration' at the end for value, target, data point, date).
Only two scalars are fitted (one published data point): pe.cycles_per_synop and energy.base_power_mw."""


def reference_report(n_samples: int = 64, seed: int = 0) -> str:
    """Markdown tables of the reference figures (used for ``docs/hardware.md``; needs torch for speed).

    Args:
        n_samples: synthetic inputs for the random-weight SNN run.
        seed: seed of weights and inputs.

    Returns:
        Markdown text.
    """
    import torch

    import ttfsnet
    from ttfsnet_hw.adapters.torch import ann_from_ir, ir_from_ttfs, record_snn

    torch.set_num_threads(1)
    arch = reference_architecture()
    ref = paper_network(arch, name="reference")
    yoso, h45 = load_profile("yoso"), load_profile("horowitz45")
    lines = [
        f"Reference architecture: {', '.join(f'{k}={v}' for k, v in arch.items())}; {ref.params} parameters, "
        f"{ref.macs / 1e6:.1f} M MACs, {ref.neurons} neurons.",
        "",
    ]
    rows = []
    rec_u = reference_record(ref)
    draft = paper_network(arch, rng=np.random.default_rng(seed), name="random")
    x = torch.rand(n_samples, *draft.input_shape, generator=torch.Generator().manual_seed(seed))
    # windows sized on the data (ttfsnet.convert, zeta = 0.5), as for a trained network
    net = ttfsnet.convert(ann_from_ir(draft), x)
    rnd = ir_from_ttfs(net, draft.input_shape, name="random")
    rec_r = record_snn(net, rnd, x, batch_size=16)
    for label, ir, rec in (
        ("uniform rate, SynOPs = 0.03 G", ref, rec_u),
        (f"random weights, {n_samples} uniform random inputs", rnd, rec_r),
    ):
        for prof in (yoso, h45):
            e = estimate(ir, rec, prof)
            rows.append(
                f"| {label} | {prof.name} | {e.synops.mean / 1e6:.1f} | {e.spikes.mean / 1e3:.1f} | "
                f"{e.latency_ms.mean:.2f} [{e.latency_ms.min:.2f}, {e.latency_ms.max:.2f}] | "
                f"{e.energy_mj.mean:.3f} [{e.energy_mj.min:.3f}, {e.energy_mj.max:.3f}] | "
                f"{e.energy_split_mj['synaptic']:.3f} / {e.energy_split_mj['neuron']:.4f} / "
                f"{e.energy_split_mj['noc']:.4f} / {e.energy_split_mj['static']:.3f} | {e.pes_used} |"
            )
    lines += [
        "| spikes | profile | SynOPs (M) | spikes (k) | latency ms [min, max] | energy mJ [min, max] | "
        "syn / neuron / NoC / static mJ | PEs |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    e = estimate(ref, rec_u, yoso)
    lines += [
        "Per layer, reference on `yoso` (uniform rate):",
        "",
        "| layer | PEs | split | SynOPs | cycles | latency ms |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.name} | {r.pes} | {r.partition} | {r.synops:.3g} | {r.cycles:.4g} | {r.latency_ms:.3f} |"
        for r in e.layers
    ]
    xs = x[:16].double().numpy()
    q = quantize(rnd, yoso, xs)
    agree = compare(simulate(q, xs), closed_form_quantized(q, xs))
    dis = float_disagreement(rnd, q, xs)
    lines += [
        "",
        "Quantisation of the random-weight network at yoso widths "
        f"({yoso.precision.weight_bits}-bit weights, "
        f"{yoso.precision.time_bits}-bit times, {yoso.precision.membrane_bits}-bit membrane), 16 "
        "inputs: integer "
        f"simulation exact vs quantised closed form: {agree.exact}; prediction disagreement with "
        "the float SNN "
        f"{dis['prediction_disagreement']:.3f}, spike (fired/silent) disagreement "
        f"{dis['spike_disagreement']:.4f}, "
        f"mean |Δt| {dis['mean_abs_time_error']:.4f} windows; overflow-adjusted layers: "
        f"{list(q.overflow_layers)}.",
    ]
    return "\n".join(lines) + "\n"
