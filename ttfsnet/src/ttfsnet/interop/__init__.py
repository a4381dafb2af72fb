"""Interoperability with snnTorch (step-mode neuron, rasters, reset) and NIR (export/import).

``nir``/``nirtorch``/``h5py`` are optional (extra ``ttfsnet[nir]``); they are imported only when
:func:`export_nir` or :func:`import_nir` is called.
"""

from ttfsnet.interop.nir import export_nir, import_nir
from ttfsnet.interop.snntorch import (
    TTFSMembraneReadout,
    TTFSNeuron,
    TTFSNeuronState,
    TTFSSpikeMaxPool2d,
    TTFSStepNetwork,
    output_raster,
    raster_to_times,
    reset_net,
    times_to_raster,
    to_snntorch,
)

__all__ = [
    "TTFSMembraneReadout",
    "TTFSNeuron",
    "TTFSNeuronState",
    "TTFSSpikeMaxPool2d",
    "TTFSStepNetwork",
    "export_nir",
    "import_nir",
    "output_raster",
    "raster_to_times",
    "reset_net",
    "times_to_raster",
    "to_snntorch",
]
