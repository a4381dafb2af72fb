"""The built-in TTFS layer kinds, imported in registration order.

Each kind lives in the module of its family: `ttfsnet.nn.dense` ([`TTFSLinear`][ttfsnet.nn.TTFSLinear]),
`ttfsnet.nn.conv` ([`TTFSConv2d`][ttfsnet.nn.TTFSConv2d], [`fan_out_map`][ttfsnet.nn.fan_out_map]),
`ttfsnet.nn.pool` ([`TTFSMaxPool2d`][ttfsnet.nn.TTFSMaxPool2d], [`TTFSAvgPool2d`][ttfsnet.nn.TTFSAvgPool2d])
and `ttfsnet.nn.flatten` ([`TTFSFlatten`][ttfsnet.nn.TTFSFlatten]). All layers map input *activations*
``x = T_prev - t`` to output activations (see [`ttfsnet.functional`][ttfsnet.functional]).

Each class is one layer kind: it implements [`TTFSLayer`][ttfsnet.nn.base.TTFSLayer] (or
[`TTFSSpikingLayer`][ttfsnet.nn.base.TTFSSpikingLayer]) and registers itself with
[`register_layer`][ttfsnet.nn.registry.register_layer] when its module is imported. [`ttfsnet.nn`][ttfsnet.nn]
imports this module, so the import order below is the order of
[`layer_kinds`][ttfsnet.nn.registry.layer_kinds] (and of the registry-driven tests and of the kinds listed in
error messages). The names stay importable from ``ttfsnet.nn.layers``, where they were defined before the
layer families got their own modules.
"""

# Registration order = import order, so these imports are not sorted alphabetically (that would register
# "conv" before "linear" and "flatten" before the pools).
# isort: off
from ttfsnet.nn.dense import TTFSLinear
from ttfsnet.nn.conv import TTFSConv2d, fan_out_map
from ttfsnet.nn.pool import TTFSAvgPool2d, TTFSMaxPool2d
from ttfsnet.nn.flatten import TTFSFlatten

# isort: on

__all__ = ["TTFSLinear", "TTFSConv2d", "TTFSMaxPool2d", "TTFSAvgPool2d", "TTFSFlatten", "fan_out_map"]
