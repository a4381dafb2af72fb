"""``nn.Module`` layers and the [`TTFSNetwork`][ttfsnet.nn.TTFSNetwork] container.

Each layer kind is one [`TTFSLayer`][ttfsnet.nn.TTFSLayer] subclass registered under a name
([`ttfsnet.nn.registry`][ttfsnet.nn.registry]); the container, [`ttfsnet.to_ann`][ttfsnet.to_ann], the
statistics and [`ttfsnet.save`][ttfsnet.save] use only that interface. Importing this package registers the
built-in kinds: `ttfsnet.nn.layers` imports their modules (`dense`, `conv`, `pool`, `flatten`) in
registration order.
"""

from ttfsnet.nn.ann import InputNormalization, PositionBias, SignedMaxPool2d
from ttfsnet.nn.base import TTFSLayer, TTFSSpikingLayer
from ttfsnet.nn.layers import TTFSAvgPool2d, TTFSConv2d, TTFSFlatten, TTFSLinear, TTFSMaxPool2d, fan_out_map
from ttfsnet.nn.network import RobustnessConfig, RunResult, TTFSNetwork
from ttfsnet.nn.registry import build_layer, layer_kind, layer_kinds, register_layer

__all__ = [
    "InputNormalization",
    "PositionBias",
    "RobustnessConfig",
    "RunResult",
    "SignedMaxPool2d",
    "TTFSAvgPool2d",
    "TTFSConv2d",
    "TTFSFlatten",
    "TTFSLayer",
    "TTFSLinear",
    "TTFSMaxPool2d",
    "TTFSNetwork",
    "TTFSSpikingLayer",
    "build_layer",
    "fan_out_map",
    "layer_kind",
    "layer_kinds",
    "register_layer",
]
