"""The TNAS-ER architecture family at SEE input size, as a torch-free IR, and the paper's YOSO figures.

Macro structure (TNAS-ER §3.3/§4.2, same as ``ttfsnet_nas.emotion.space``): a stem of two 3×3 convs
(4 → 32 → 32), then G groups of two searchable blocks (``conv3x3``/``conv5x5`` = two convs of that kernel,
``skip`` = identity, or a 1×1 width adapter in the first block of a group that doubles the width), a 2×2
max pool after every group, flatten and a linear head to 7 classes; input 4×90×90.

The paper's searched architecture is not given in the text (only 1.04 M parameters, Table 3), so
:func:`reference_architecture` picks, among all 3^(2G) choices for G = 3, the one whose parameter count is
closest to 1.04 M. That choice is a stand-in, stated wherever it is used.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ttfsnet_hw.ir import IRBuilder, NetworkIR

__all__ = ["PAPER_FIGURES", "calibrate_reference", "paper_network", "reference_architecture", "reference_record"]

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
    """Build one member of the TNAS-ER family.

    Args:
        arch: gene ``g<group>b<block>`` → ``conv3x3`` | ``conv5x5`` | ``skip`` (default: all ``conv3x3``).
        groups: macro-block groups G.
        image_size: input height = width.
        in_channels: input channels (4 stacked event frames).
        width: stem width; doubles after every pooling.
        num_classes: classes.
        rng: if given, random weights/thresholds/windows (a runnable IR); otherwise cost-only.
        name: network name.

    Returns:
        The IR.
    """
    genes = [f"g{g}b{b}" for g in range(groups) for b in range(2)]
    arch = dict(arch) if arch is not None else {gene: "conv3x3" for gene in genes}
    unknown = set(arch) - set(genes)
    if unknown or any(op not in _OPS for op in arch.values()):
        raise ValueError(f"paper_network: genes must be {genes} with ops in {list(_OPS)}, got {arch}")
    b = IRBuilder(name or "tnas-er-family", (in_channels, image_size, image_size), rng=rng)
    b.conv(width, 3, name="stem0").conv(width, 3, name="stem1")
    channels = width
    for g in range(groups):
        out = width * 2**g
        for blk in range(2):
            op = arch.get(f"g{g}b{blk}", "conv3x3")
            if op == "skip":
                if channels != out:
                    b.conv(out, 1, name=f"g{g}b{blk}_adapt")
            else:
                k = 3 if op == "conv3x3" else 5
                b.conv(out, k, name=f"g{g}b{blk}_c0").conv(out, k, name=f"g{g}b{blk}_c1")
            channels = out
        b.maxpool(2, name=f"pool{g}")
    b.flatten(name="flatten")
    return b.readout(num_classes, name="head")


@functools.lru_cache(maxsize=4)
def reference_architecture(groups: int = 3, target_params: float = 1.04e6) -> dict[str, str]:
    """The family member whose parameter count is closest to the paper's 1.04 M (ties: fewer MACs).

    Returns:
        gene → op mapping.
    """
    genes = [f"g{g}b{b}" for g in range(groups) for b in range(2)]
    scored = []
    for ops in itertools.product(_OPS, repeat=len(genes)):
        net = paper_network(dict(zip(genes, ops, strict=True)), groups=groups)
        scored.append((abs(net.params - target_params), ops))
    best_gap = min(gap for gap, _ in scored)
    tied = [ops for gap, ops in scored if gap == best_gap]
    # ties (same parameter count): fewer MACs, then the op names
    best = min(tied, key=lambda ops: (paper_network(dict(zip(genes, ops, strict=True)), groups=groups).macs, ops))
    return dict(zip(genes, best, strict=True))


def reference_record(ir: NetworkIR, synops: float = PAPER_FIGURES["ops_g"] * 1e9) -> Any:
    """Uniform spike record whose total SynOPs equal the paper's 0.03 G "OPs" (Table 3).

    Reading Table 3's OPs as SynOPs per inference is an assumption (``yoso-hw-model.md`` §8). One firing
    fraction ρ is shared by the input and every spiking layer and found by bisection.
    """
    from ttfsnet_hw.estimate import uniform_spike_record

    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if uniform_spike_record(ir, mid, mid).per_sample_synops.sum() < synops:
            lo = mid
        else:
            hi = mid
    return uniform_spike_record(ir, 0.5 * (lo + hi), 0.5 * (lo + hi))


def calibrate_reference(profile: Any = "yoso", out: str | Path | None = None, date: str | None = None) -> tuple[Any, Any]:
    """Fit ``profile`` to the paper's YOSO point on the reference architecture with :func:`reference_record`.

    Args:
        profile: starting profile (name, path or profile).
        out: if given, write the calibrated profile there.
        date: ISO date recorded with the fit (default today).

    Returns:
        ``(calibrated profile, estimate)``.
    """
    from ttfsnet_hw.estimate import calibrate
    from ttfsnet_hw.profile import load_profile, write_profile

    arch = reference_architecture()
    ir = paper_network(arch, name="tnas-er-reference")
    record = reference_record(ir)
    rho = float(record.per_sample_spikes[0, 1] / ir.layers[0].neurons)
    desc = (
        "TNAS-ER family at 4x90x90, G=3, " + ",".join(f"{k}={v}" for k, v in arch.items())
        + f" ({ir.params} params, closest to 1.04 M); synthetic uniform firing fraction {rho:.4f} chosen so "
        "that SynOPs = 0.03 G/inference (Table 3 OPs read as SynOPs)"
    )
    fitted, est = calibrate(ir, record, load_profile(profile), latency_ms=PAPER_FIGURES["latency_ms"],
                            energy_mj=PAPER_FIGURES["energy_mj"], data_point=PAPER_SOURCE,
                            reference_network=desc, date=date,
                            note="no trained weights or real data: the spike statistics are synthetic")
    if out is not None:
        write_profile(fitted, out, header=_YOSO_HEADER)
    return fitted, est


_YOSO_HEADER = """YOSO profile for ttfsnet_hw (TNAS-ER deployment, 54 MHz). Generated by
ttfsnet_hw.paper.calibrate_reference(out=...); edit the base values, then re-run it.
Every constant carries source + confidence: V primary, P TNAS-ER text, S secondary, D derived,
U unverified assumption, F fitted (see 'calibration' at the end for value, target, data point, date).
Only two scalars are fitted (one published data point): pe.cycles_per_synop and energy.base_power_mw."""
