"""NIR export and import of [`TTFSNetwork`][ttfsnet.nn.TTFSNetwork] (``docs/nir.md``; NIR: Pedersen et al.,
Nat. Commun. 2024).

Graph layout (one chain, every node name prefixed ``layer<i>_``):

==========================  ===================================================================
ttfsnet layer               NIR nodes
==========================  ===================================================================
``TTFSLinear`` (hidden)     ``Affine(W, 0)`` → ``I(r=1)`` → ``IF(r=1, v_threshold=ϑ, v_reset=-inf)``
``TTFSConv2d``              ``Conv2d(W, stride, padding, dilation, groups, bias=0)`` → ``I`` → ``IF``
                            (``v_threshold`` has the output shape ``(C, H, W)``)
``TTFSAvgPool2d``           ``AvgPool2d(k, s, p)`` → ``I`` → ``IF(v_threshold=T)``
``TTFSMaxPool2d``           ``SumPool2d(k, s, p)`` → ``IF(r=1, v_threshold=0.5, v_reset=-inf)``
                            (dilated: an all-ones per-channel ``Conv2d`` instead of ``SumPool2d``)
``TTFSFlatten``             ``Flatten(start_dim=0)``
readout ``TTFSLinear``      ``Linear(W)`` → ``I`` → ``Affine(1, α = b/Δ)`` → ``I`` (the membrane)
==========================  ===================================================================

Continuous-time semantics: the first ``I`` turns each input spike into a step current that stays on
(``docs/ttfs-model.md`` §1, phase 1), the ``IF`` integrates it into a ramp and fires once (its reset to
``-inf`` keeps it below threshold afterwards). Max pooling of activations is the earliest spike
(§7); NIR has no max-pool primitive, so it is written as ``SumPool2d`` of the spike trains into a
fire-once ``IF`` with threshold 0.5: the first input spike in the pool window lifts the membrane
to 1 and the neuron fires at once, later spikes are ignored. Channels with a negative pooling sign
(latest spike) get the threshold ``n - 0.5`` where ``n`` counts the non-padding inputs of the window.

What NIR cannot express is carried in metadata (``coding="ttfs"``): the B1 phase structure
(threshold live only in ``[t_min, t_max)``, unit ramp in phase 2, per-layer windows ``T``,
``t_min``, ``t_max``), the input range ``[p, q]`` and encoding ``t0 = 1 - (x - p)/(q - p)``, and the
exact ANN readout bias. [`import_nir`][ttfsnet.interop.nir.import_nir] needs that metadata and therefore reads
graphs written by [`export_nir`][ttfsnet.interop.nir.export_nir]; backends that ignore metadata still get a
well-typed executable graph.

The code is split by direction: [`ttfsnet.interop.nir_export`][ttfsnet.interop.nir_export]
    ([`export_nir`][ttfsnet.interop.nir.export_nir], one exporter per
layer class), [`ttfsnet.interop.nir_import`][ttfsnet.interop.nir_import]
([`import_nir`][ttfsnet.interop.nir.import_nir]) and what both share,
[`ttfsnet.interop.nir_format`][ttfsnet.interop.nir_format]. This module documents the layout and re-exports
the public names.
"""

from ttfsnet.interop.nir_export import export_nir
from ttfsnet.interop.nir_format import FORMAT_VERSION
from ttfsnet.interop.nir_import import import_nir

__all__ = ["export_nir", "import_nir", "FORMAT_VERSION"]
