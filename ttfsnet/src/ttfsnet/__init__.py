"""ttfsnet: time-to-first-spike (B1) spiking networks with an exact ReLU ⇄ TTFS mapping.

Core API: [`convert`][ttfsnet.convert.convert], [`to_ann`][ttfsnet.to_ann],
    [`TTFSNetwork`][ttfsnet.TTFSNetwork] and its layers, [`RunResult`][ttfsnet.RunResult],
[`RobustnessConfig`][ttfsnet.RobustnessConfig], [`statistics`][ttfsnet.statistics],
[`ann_statistics`][ttfsnet.ann_statistics], the network file format ([`save`][ttfsnet.save],
[`load`][ttfsnet.load]), fine-tuning ([`finetune`][ttfsnet.finetune]), snnTorch and NIR interoperability, the
float32 policy ([`exact_float32`][ttfsnet.exact_float32]) and the errors ([`TTFSError`][ttfsnet.TTFSError] and
its subclasses). See ``docs/ttfs-model.md``.

Subpackages: [`ttfsnet.functional`][ttfsnet.functional] (pure tensor functions), [`ttfsnet.nn`][ttfsnet.nn]
    (layers, the layer-kind
registry), [`ttfsnet.models`][ttfsnet.models] (the op registry and the TNAS-ER backbone),
[`ttfsnet.interop`][ttfsnet.interop].
"""

from ttfsnet import functional, models
from ttfsnet.convert import InputNormalization, PositionBias, SignedMaxPool2d, convert, to_ann
from ttfsnet.errors import (
    FormatError,
    TTFSError,
    TTFSFloatingPointError,
    TTFSImportError,
    TTFSRuntimeError,
    TTFSTypeError,
    TTFSValueError,
    UnknownNameError,
)
from ttfsnet.interop import (
    StepSchedule,
    TTFSNeuron,
    TTFSNeuronState,
    TTFSStepNetwork,
    export_nir,
    import_nir,
    latency_encode,
    output_raster,
    raster_to_times,
    reset_net,
    step_schedule,
    times_to_raster,
    to_snntorch,
)
from ttfsnet.io import load, load_tensors, save
from ttfsnet.nn import (
    RobustnessConfig,
    RunResult,
    TTFSAvgPool2d,
    TTFSConv2d,
    TTFSFlatten,
    TTFSLinear,
    TTFSMaxPool2d,
    TTFSNetwork,
)
from ttfsnet.numerics import exact_float32
from ttfsnet.stats import LayerStats, NetworkStats, ann_statistics, statistics
from ttfsnet.training import EpochRecord, FinetuneResult, finetune, train_step

__version__ = "0.1.0"

__all__ = [
    # conversion and the ANN-side helper modules
    "InputNormalization",
    "PositionBias",
    "SignedMaxPool2d",
    "convert",
    "to_ann",
    # numerics policy
    "exact_float32",
    # network, layers, simulation
    "RobustnessConfig",
    "RunResult",
    "TTFSAvgPool2d",
    "TTFSConv2d",
    "TTFSFlatten",
    "TTFSLinear",
    "TTFSMaxPool2d",
    "TTFSNetwork",
    # statistics
    "LayerStats",
    "NetworkStats",
    "ann_statistics",
    "statistics",
    # file format
    "load",
    "load_tensors",
    "save",
    # training
    "EpochRecord",
    "FinetuneResult",
    "finetune",
    "train_step",
    # snnTorch and NIR
    "StepSchedule",
    "TTFSNeuron",
    "TTFSNeuronState",
    "TTFSStepNetwork",
    "export_nir",
    "import_nir",
    "latency_encode",
    "output_raster",
    "raster_to_times",
    "reset_net",
    "step_schedule",
    "times_to_raster",
    "to_snntorch",
    # errors
    "FormatError",
    "TTFSError",
    "TTFSFloatingPointError",
    "TTFSImportError",
    "TTFSRuntimeError",
    "TTFSTypeError",
    "TTFSValueError",
    "UnknownNameError",
    # subpackages
    "functional",
    "models",
    "__version__",
]
