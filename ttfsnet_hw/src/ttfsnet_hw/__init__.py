"""ttfsnet_hw: YOSO-style neuromorphic backend for TTFS networks (torch-free core).

Profiles (:mod:`~ttfsnet_hw.profile`), network IR (:mod:`~ttfsnet_hw.ir`), PE mapping
(:mod:`~ttfsnet_hw.mapping`), latency/energy estimates (:mod:`~ttfsnet_hw.estimate`), post-training
quantisation (:mod:`~ttfsnet_hw.quantize`) and the integer datapath simulator (:mod:`~ttfsnet_hw.intsim`).
Torch models enter through :mod:`ttfsnet_hw.adapters.torch`; NAS through the ``ttfsnet_nas.objectives``
entry points in :mod:`ttfsnet_hw.nas`. See ``docs/hardware.md``.
"""

from ttfsnet_hw.estimate import Estimate, LayerEstimate, Stat, calibrate, estimate, layer_totals_record
from ttfsnet_hw.intsim import (
    Agreement,
    IntSimResult,
    closed_form_quantized,
    compare,
    float_disagreement,
    simulate,
)
from ttfsnet_hw.ir import (
    IRBuilder,
    IRError,
    LayerIR,
    NetworkIR,
    SpikeRecord,
    SpikeRecorder,
    assumed_spike_record,
    record_from_times,
)
from ttfsnet_hw.mapping import MappingError, NetworkMapping, Partition, map_network
from ttfsnet_hw.paper import PAPER_FIGURES, paper_network, reference_architecture
from ttfsnet_hw.profile import HardwareProfile, ProfileError, builtin_profiles, load_profile, write_profile
from ttfsnet_hw.quantize import QuantizationError, QuantizedNetwork, quantize

__version__ = "0.1.0"

__all__ = [
    "PAPER_FIGURES",
    "Agreement",
    "Estimate",
    "HardwareProfile",
    "IRBuilder",
    "IRError",
    "IntSimResult",
    "LayerEstimate",
    "LayerIR",
    "MappingError",
    "NetworkIR",
    "NetworkMapping",
    "Partition",
    "ProfileError",
    "QuantizationError",
    "QuantizedNetwork",
    "SpikeRecord",
    "SpikeRecorder",
    "Stat",
    "assumed_spike_record",
    "builtin_profiles",
    "calibrate",
    "closed_form_quantized",
    "compare",
    "estimate",
    "float_disagreement",
    "layer_totals_record",
    "load_profile",
    "map_network",
    "paper_network",
    "quantize",
    "record_from_times",
    "reference_architecture",
    "simulate",
    "write_profile",
]
