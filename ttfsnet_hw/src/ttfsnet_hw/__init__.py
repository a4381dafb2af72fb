"""ttfsnet_hw: YOSO-style neuromorphic backend for TTFS networks (torch-free core).

The names below are the public API; importing this package never imports torch. Modules:

* data types [`types`][ttfsnet_hw.types] and errors [`errors`][ttfsnet_hw.errors];
* building IRs [`ir`][ttfsnet_hw.ir], spike records [`records`][ttfsnet_hw.records];
* profiles [`profile`][ttfsnet_hw.profile], PE mapping [`mapping`][ttfsnet_hw.mapping], latency/energy
  [`estimate`][ttfsnet_hw.estimate], calibration [`calibrate`][ttfsnet_hw.calibrate];
* the datapath kernels [`datapath`][ttfsnet_hw.datapath], the shared layer walk [`walk`][ttfsnet_hw.walk], the
  float closed form [`closedform`][ttfsnet_hw.closedform], post-training quantisation
  [`quantize`][ttfsnet_hw.quantize] and its file format [`quantized_file`][ttfsnet_hw.quantized_file], the
  integer simulator [`intsim`][ttfsnet_hw.intsim];
* the TNAS-ER family [`paper`][ttfsnet_hw.paper].

Torch models enter through [`ttfsnet_hw.adapters.torch`][ttfsnet_hw.adapters.torch] and
[`ttfsnet_hw.load`][ttfsnet_hw.load] (the ``[torch]`` extra); NAS through the ``ttfsnet_nas.objectives`` entry
point in [`ttfsnet_hw.nas`][ttfsnet_hw.nas]. See ``docs/hardware.md``.
"""

from ttfsnet_hw.calibrate import calibrate
from ttfsnet_hw.closedform import run, run_times
from ttfsnet_hw.errors import (
    DatapathOverflowError,
    HardwareError,
    HardwareObjectiveError,
    HardwareValueError,
    IRError,
    MappingError,
    MissingExtraError,
    ModelLoadError,
    ProfileError,
    QuantizationError,
)
from ttfsnet_hw.estimate import Estimate, LayerEstimate, Stat, estimate
from ttfsnet_hw.intsim import closed_form_quantized, compare, float_disagreement, simulate
from ttfsnet_hw.ir import IRBuilder, random_parameters
from ttfsnet_hw.mapping import NetworkMapping, Partition, map_network
from ttfsnet_hw.paper import PAPER_FIGURES, paper_network, reference_architecture
from ttfsnet_hw.profile import HardwareProfile, builtin_profiles, load_profile, write_profile
from ttfsnet_hw.quantize import quantize
from ttfsnet_hw.quantized_file import load_quantized, save_quantized
from ttfsnet_hw.records import (
    SpikeRecorder,
    assumed_spike_record,
    layer_totals_record,
    record_from_times,
    uniform_spike_record,
)
from ttfsnet_hw.types import (
    Agreement,
    IntSimResult,
    LayerIR,
    NetworkIR,
    PrecisionSpec,
    QLayer,
    QuantizedNetwork,
    SpikeRecord,
)

__version__ = "0.1.0"

__all__ = [
    "PAPER_FIGURES",
    "Agreement",
    "DatapathOverflowError",
    "Estimate",
    "HardwareError",
    "HardwareObjectiveError",
    "HardwareProfile",
    "HardwareValueError",
    "IRBuilder",
    "IRError",
    "IntSimResult",
    "LayerEstimate",
    "LayerIR",
    "MappingError",
    "MissingExtraError",
    "ModelLoadError",
    "NetworkIR",
    "NetworkMapping",
    "Partition",
    "PrecisionSpec",
    "ProfileError",
    "QLayer",
    "QuantizationError",
    "QuantizedNetwork",
    "SpikeRecord",
    "SpikeRecorder",
    "Stat",
    "__version__",
    "assumed_spike_record",
    "builtin_profiles",
    "calibrate",
    "closed_form_quantized",
    "compare",
    "estimate",
    "float_disagreement",
    "layer_totals_record",
    "load_profile",
    "load_quantized",
    "map_network",
    "paper_network",
    "quantize",
    "random_parameters",
    "record_from_times",
    "reference_architecture",
    "run",
    "run_times",
    "save_quantized",
    "simulate",
    "uniform_spike_record",
    "write_profile",
]
