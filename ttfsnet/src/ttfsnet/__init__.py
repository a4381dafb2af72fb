"""ttfsnet: time-to-first-spike (B1) spiking networks with an exact ReLU ⇄ TTFS mapping.

Core API: :func:`convert`, :func:`to_ann`, :class:`TTFSNetwork` and its layers, :class:`RunResult`,
:class:`RobustnessConfig`, :func:`statistics`, :func:`ann_statistics`. See ``docs/ttfs-model.md``.
"""

from ttfsnet import functional
from ttfsnet.convert import InputNormalization, PositionBias, SignedMaxPool2d, convert, to_ann
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
from ttfsnet.stats import LayerStats, NetworkStats, ann_statistics, statistics

__all__ = [
    "InputNormalization",
    "LayerStats",
    "NetworkStats",
    "PositionBias",
    "RobustnessConfig",
    "RunResult",
    "SignedMaxPool2d",
    "TTFSAvgPool2d",
    "TTFSConv2d",
    "TTFSFlatten",
    "TTFSLinear",
    "TTFSMaxPool2d",
    "TTFSNetwork",
    "ann_statistics",
    "convert",
    "functional",
    "statistics",
    "to_ann",
]

# --- interop / training (helper B) ---
from ttfsnet.interop import (  # noqa: E402
    TTFSNeuron,
    TTFSNeuronState,
    TTFSStepNetwork,
    export_nir,
    import_nir,
    output_raster,
    raster_to_times,
    reset_net,
    times_to_raster,
    to_snntorch,
)
from ttfsnet.training import EpochRecord, FinetuneResult, finetune, train_step  # noqa: E402

__all__ += [
    "EpochRecord",
    "FinetuneResult",
    "TTFSNeuron",
    "TTFSNeuronState",
    "TTFSStepNetwork",
    "export_nir",
    "finetune",
    "import_nir",
    "output_raster",
    "raster_to_times",
    "reset_net",
    "times_to_raster",
    "to_snntorch",
    "train_step",
]
