"""``nn.Module`` layers and the :class:`TTFSNetwork` container."""

from ttfsnet.nn.layers import TTFSAvgPool2d, TTFSConv2d, TTFSFlatten, TTFSLinear, TTFSMaxPool2d, fan_out_map
from ttfsnet.nn.network import RobustnessConfig, RunResult, TTFSNetwork

__all__ = [
    "RobustnessConfig",
    "RunResult",
    "TTFSAvgPool2d",
    "TTFSConv2d",
    "TTFSFlatten",
    "TTFSLinear",
    "TTFSMaxPool2d",
    "TTFSNetwork",
    "fan_out_map",
]
