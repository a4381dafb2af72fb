"""Interoperability with snnTorch (step-mode neuron, loop schedule, rasters, latency input, reset) and NIR.

``nir``/``nirtorch``/``h5py`` are optional (extra ``ttfsnet[nir]``); they are imported only when
[`export_nir`][ttfsnet.interop.export_nir] or [`import_nir`][ttfsnet.interop.import_nir] is called.
"""

from ttfsnet.interop.nir import export_nir, import_nir
from ttfsnet.interop.snntorch import (
    PhaseSteps,
    StepSchedule,
    TTFSMembraneReadout,
    TTFSNeuron,
    TTFSNeuronState,
    TTFSSpikeMaxPool2d,
    TTFSStepNetwork,
    latency_encode,
    output_raster,
    raster_to_times,
    reset_net,
    step_schedule,
    times_to_raster,
    to_snntorch,
)

__all__ = [
    "PhaseSteps",
    "StepSchedule",
    "TTFSMembraneReadout",
    "TTFSNeuron",
    "TTFSNeuronState",
    "TTFSSpikeMaxPool2d",
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
]
