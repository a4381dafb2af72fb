"""Model families built from the op registry: the TNAS-ER macro backbone and its candidate ops."""

from ttfsnet.models.macro import Choice, Fixed, MacroConfig, Slot, macro_genes, macro_layout, macro_network
from ttfsnet.models.ops import (
    OpSpec,
    available_ops,
    conv_bn_relu,
    create_op,
    get_op,
    primitives,
    register_op,
    unregister_op,
)

__all__ = [
    "Choice",
    "Fixed",
    "MacroConfig",
    "OpSpec",
    "Slot",
    "available_ops",
    "conv_bn_relu",
    "create_op",
    "get_op",
    "macro_genes",
    "macro_layout",
    "macro_network",
    "primitives",
    "register_op",
    "unregister_op",
]
