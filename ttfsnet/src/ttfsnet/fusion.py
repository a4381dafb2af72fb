"""ANN-side fusion for [`ttfsnet.convert`][ttfsnet.convert.convert]: fold every affine into the neighbouring
weighted layer.

[`fuse`][ttfsnet.fusion.fuse] walks the leaves of a (nested) ``nn.Sequential`` once, as a state machine: an
affine that sits between two weighted layers (BatchNorm before or after ReLU, the input normalisation
``x = p + (q - p)·x̃``) is folded into the weighted layer it feeds or follows (``docs/ttfs-model.md`` §6), max
pools before a ReLU are deferred past it (they commute), and every unsupported module is refused with its
path and the reason. The result is the fused intermediate form of [`ttfsnet.fused_ops`][ttfsnet.fused_ops];
building and calibrating the TTFS layers from it is [`ttfsnet.convert`][ttfsnet.convert]'s part. Fusion works
on detached CPU copies and never touches the model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ttfsnet import functional as TF
from ttfsnet.errors import TTFSValueError
from ttfsnet.fused_ops import AvgPoolOp, FlattenOp, FusedOp, MaxPoolOp, WeightedOp
from ttfsnet.nn import InputNormalization, PositionBias, SignedMaxPool2d
from ttfsnet.nn.base import pair

__all__ = ["fuse"]


_DROPPED = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
    nn.Identity,
)


def _optional(value: Tensor | None) -> Tensor | None:
    """``value`` typed as optional: torch annotates ``bias``/``weight`` as tensors although ``bias=False`` or
    ``affine=False`` leaves them ``None``."""
    return value


def _unsupported(path: str, module: nn.Module, why: str) -> TTFSValueError:
    return TTFSValueError(f"convert: module '{path}' ({type(module).__name__}) is not supported: {why}")


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Flatten nested ``nn.Sequential`` containers into ``(path, module)`` in execution order."""
    out: list[tuple[str, nn.Module]] = []

    def walk(prefix: str, m: nn.Module) -> None:
        if type(m) is nn.Sequential:
            for name, child in m.named_children():
                walk(f"{prefix}.{name}" if prefix else name, child)
            return
        if isinstance(m, nn.Sequential):
            raise _unsupported(
                prefix or "<root>",
                m,
                "subclasses of nn.Sequential may override forward; use a plain nn.Sequential",
            )
        out.append((prefix or "<root>", m))

    walk("", model)
    return out


class _Fuser:
    """Walks the leaves once, fusing affines into weighted layers (state machine, see module doc)."""

    def __init__(
        self, sample_shape: tuple[int, ...], input_range: tuple[float, float], dtype: torch.dtype
    ) -> None:
        p, q = input_range
        self.dtype = dtype
        self.shape = sample_shape
        # Pending affine applied to the spiking activations before the next weighted layer:
        # value = scale * x + shift, stored at full per-sample shape.
        self.scale: Tensor = torch.full(sample_shape, q - p, dtype=dtype)
        self.shift: Tensor = torch.full(sample_shape, p, dtype=dtype)
        self.identity = False
        self.open: WeightedOp | None = None
        self.deferred: list[MaxPoolOp] = []
        self.ops: list[FusedOp] = []

    # -- helpers
    def _reset_pending(self) -> None:
        self.scale = torch.ones(self.shape, dtype=self.dtype)
        self.shift = torch.zeros(self.shape, dtype=self.dtype)
        self.identity = True

    def _channel_values(self, t: Tensor, path: str, m: nn.Module, what: str) -> Tensor:
        c = t.shape[0]
        flat = t.reshape(c, -1)
        if not bool((flat == flat[:, :1]).all()):
            raise _unsupported(
                path,
                m,
                f"it follows a position-dependent {what} (e.g. AvgPool2d with padding "
                "after a BatchNorm), which max pooling cannot carry",
            )
        return flat[:, 0]

    def _need_closed(self, path: str, m: nn.Module) -> None:
        if self.open is not None:
            raise _unsupported(
                path,
                m,
                f"it follows weighted layer '{self.open.path}' without a ReLU in between; "
                "TTFS layers need a ReLU after every hidden Conv2d/Linear",
            )

    # -- dispatch
    def feed(self, path: str, m: nn.Module) -> None:
        if isinstance(m, _DROPPED):
            return
        if isinstance(m, nn.Conv2d):
            self._conv(path, m)
        elif isinstance(m, nn.Linear):
            self._linear(path, m)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            self._batchnorm(path, m)
        elif type(m) is nn.ReLU:
            self._relu(path, m)
        elif isinstance(m, nn.MaxPool2d):
            self._maxpool(path, m)
        elif isinstance(m, SignedMaxPool2d):
            self._maxpool(path, m)
        elif isinstance(m, nn.AvgPool2d):
            self._avgpool(path, m)
        elif isinstance(m, nn.Flatten):
            self._flatten(path, m)
        elif isinstance(m, InputNormalization):
            self._input_normalization(path, m)
        elif isinstance(m, PositionBias):
            self._position_bias(path, m)
        elif isinstance(
            m,
            (
                nn.ReLU6,
                nn.Hardtanh,
                nn.LeakyReLU,
                nn.PReLU,
                nn.GELU,
                nn.SiLU,
                nn.ELU,
                nn.Sigmoid,
                nn.Tanh,
                nn.Softplus,
                nn.Mish,
                nn.Hardswish,
                nn.Softmax,
                nn.LogSoftmax,
            ),
        ):
            raise _unsupported(
                path,
                m,
                "only ReLU maps exactly to B1 spike times (a single spike encodes "
                "max(0, z) up to the window; other activations have no TTFS equivalent)",
            )
        elif isinstance(m, (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d)):
            raise _unsupported(
                path,
                m,
                "normalisation with per-sample statistics cannot be fused into fixed weights/thresholds",
            )
        elif isinstance(m, (nn.ModuleList, nn.ModuleDict)) or len(list(m.children())) > 0:
            raise _unsupported(
                path,
                m,
                "only nested nn.Sequential containers are supported; a custom container's "
                "forward (e.g. a residual add) cannot be inspected or expressed as a TTFS layer chain",
            )
        else:
            raise _unsupported(
                path,
                m,
                "no TTFS equivalent (supported: Conv2d, Linear, BatchNorm1d/2d, ReLU, "
                "MaxPool2d, AvgPool2d, Flatten, Dropout, nested nn.Sequential)",
            )

    def _conv(self, path: str, m: nn.Conv2d) -> None:
        self._need_closed(path, m)
        if m.padding_mode != "zeros":
            raise _unsupported(
                path, m, f"padding_mode='{m.padding_mode}'; only zero padding maps to 'no spike'"
            )
        if len(self.shape) != 3 or self.shape[0] != m.in_channels:
            raise _unsupported(
                path, m, f"expected input of shape (C={m.in_channels}, H, W), got {self.shape}"
            )
        padding: tuple[int, int]
        if isinstance(m.padding, str):
            if m.padding == "valid":
                padding = (0, 0)
            else:
                total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size, strict=True)]
                if any(t % 2 for t in total):
                    raise _unsupported(path, m, "padding='same' with an even effective kernel is asymmetric")
                padding = (total[0] // 2, total[1] // 2)
        else:
            padding = pair(m.padding)
        geom = TF.Conv2dGeometry(pair(m.stride), padding, pair(m.dilation), m.groups)
        w = m.weight.detach().to(device="cpu", dtype=self.dtype).clone()
        b = (
            m.bias.detach().to(device="cpu", dtype=self.dtype).clone()
            if m.bias is not None
            else torch.zeros(m.out_channels, dtype=self.dtype)
        )
        c_in = m.in_channels
        out = F.conv2d(
            torch.zeros((1, *self.shape), dtype=self.dtype),
            w,
            None,
            geom.stride,
            geom.padding,
            geom.dilation,
            geom.groups,
        )
        out_shape = tuple(out.shape[1:])
        if not self.identity:
            scale_c = self._channel_values(self.scale, path, m, "scale")
            cin_g = c_in // m.groups
            cout_g = m.out_channels // m.groups
            # Input channel of weight[o, j] is group(o)·cin_g + j.
            idx = (torch.arange(m.out_channels) // cout_g).view(-1, 1) * cin_g + torch.arange(cin_g).view(
                1, -1
            )
            bias_map = (
                b.view(-1, 1, 1)
                + F.conv2d(self.shift[None], w, None, geom.stride, geom.padding, geom.dilation, geom.groups)[
                    0
                ]
            )
            w = w * scale_c[idx].view(m.out_channels, cin_g, 1, 1)
            flat = bias_map.reshape(bias_map.shape[0], -1)
            b = flat[:, 0].clone() if bool((flat == flat[:, :1]).all()) else bias_map
        self.open = WeightedOp(path, "conv", w, b, self.shape, out_shape, geom)
        self.shape = out_shape
        self._reset_pending()

    def _linear(self, path: str, m: nn.Linear) -> None:
        self._need_closed(path, m)
        if self.shape != (m.in_features,):
            raise _unsupported(
                path,
                m,
                f"expected a flat input of {m.in_features} features, got per-sample shape "
                f"{self.shape} (add nn.Flatten before it)",
            )
        w = m.weight.detach().to(device="cpu", dtype=self.dtype).clone()
        bias = _optional(m.bias)
        b = (
            bias.detach().to(device="cpu", dtype=self.dtype).clone()
            if bias is not None
            else torch.zeros(m.out_features, dtype=self.dtype)
        )
        if not self.identity:
            b = b + w @ self.shift
            w = w * self.scale.view(1, -1)
        self.open = WeightedOp(path, "linear", w, b, self.shape, (m.out_features,))
        self.shape = (m.out_features,)
        self._reset_pending()

    def _batchnorm(self, path: str, m: nn.BatchNorm1d | nn.BatchNorm2d) -> None:
        if m.running_mean is None or m.running_var is None:
            raise _unsupported(path, m, "track_running_stats=False: batch statistics cannot be fused")
        expected_dims = 1 if isinstance(m, nn.BatchNorm1d) else 3
        if len(self.shape) != expected_dims or self.shape[0] != m.num_features:
            raise _unsupported(
                path, m, f"num_features={m.num_features} does not match per-sample shape {self.shape}"
            )
        var = m.running_var.detach().to(device="cpu", dtype=self.dtype)
        mean = m.running_mean.detach().to(device="cpu", dtype=self.dtype)
        weight, bias = _optional(m.weight), _optional(m.bias)
        gamma = (
            weight.detach().to(device="cpu", dtype=self.dtype) if weight is not None else torch.ones_like(var)
        )
        beta = bias.detach().to(device="cpu", dtype=self.dtype) if bias is not None else torch.zeros_like(var)
        kappa = gamma / torch.sqrt(var + m.eps)
        offset = beta - mean * kappa
        view = (-1,) + (1,) * (len(self.shape) - 1)
        if self.open is not None:
            # BN before ReLU: fold into the open layer (docs/ttfs-model.md §6); pooling already applied to the
            # pre-activation commutes with BN up to the sign of κ.
            op = self.open
            op.weight = op.weight * kappa.view(-1, *([1] * (op.weight.dim() - 1)))
            op.bias = op.bias * kappa.view(-1, *([1] * (op.bias.dim() - 1))) + offset.view(
                -1, *([1] * (op.bias.dim() - 1))
            )
            for pool in self.deferred:
                pool.sign = pool.sign * torch.where(kappa < 0, -1.0, 1.0).to(pool.sign.dtype)
            return
        # BN after ReLU (or on the raw input): compose into the pending affine (§7b, §7c).
        self.scale = self.scale * kappa.view(view)
        self.shift = self.shift * kappa.view(view) + offset.view(view)
        self.identity = False

    def _relu(self, path: str, m: nn.Module) -> None:
        if self.open is not None:
            self.open.relu = True
            self.ops.append(self.open)
            self.ops.extend(self.deferred)
            self.open = None
            self.deferred = []
            self._reset_pending()
            return
        if self.identity and self.ops:
            return  # ReLU of spiking activations (already >= 0) is the identity
        raise _unsupported(
            path,
            m,
            "ReLU applied to an affine of spiking activations (a BatchNorm after ReLU or "
            "the raw input) has no weighted layer to live in",
        )

    def _maxpool(self, path: str, m: nn.MaxPool2d | SignedMaxPool2d) -> None:
        if getattr(m, "return_indices", False):
            raise _unsupported(path, m, "return_indices=True")
        if len(self.shape) != 3:
            raise _unsupported(path, m, f"expected a (C, H, W) input, got {self.shape}")
        # both classes store stride = kernel_size when built with stride=None
        ks, st = pair(m.kernel_size), pair(m.stride)
        pad, dil, ceil = pair(m.padding), pair(m.dilation), bool(m.ceil_mode)
        c = self.shape[0]
        base_sign = m.sign if isinstance(m, SignedMaxPool2d) else torch.ones(c)
        base_sign = base_sign.to(device="cpu", dtype=self.dtype)
        pool = MaxPoolOp(path, ks, st, pad, dil, ceil, base_sign)
        probe = F.max_pool2d(torch.zeros((1, *self.shape), dtype=self.dtype), ks, st, pad, dil, ceil)
        new_shape = tuple(probe.shape[1:])
        if self.open is not None:
            self.deferred.append(pool)  # max pool before ReLU: they commute, apply after the ReLU
            self.shape = new_shape
            return
        if not self.identity:
            scale_c = self._channel_values(self.scale, path, m, "scale")
            shift_c = self._channel_values(self.shift, path, m, "shift")
            # max(κx + s) = κ·max(x) + s for κ >= 0 and κ·min(x) + s for κ < 0.
            pool.sign = pool.sign * torch.where(scale_c < 0, -1.0, 1.0).to(self.dtype)
            self.scale = scale_c.view(-1, 1, 1).expand(new_shape).clone()
            self.shift = shift_c.view(-1, 1, 1).expand(new_shape).clone()
        self.ops.append(pool)
        self.shape = new_shape
        if self.identity:
            self._reset_pending()

    def _avgpool(self, path: str, m: nn.AvgPool2d) -> None:
        if self.open is not None:
            raise _unsupported(
                path,
                m,
                f"average pooling of the pre-activation of '{self.open.path}' does not "
                "commute with ReLU; place AvgPool2d after the ReLU",
            )
        if m.ceil_mode or m.divisor_override is not None:
            raise _unsupported(path, m, "ceil_mode and divisor_override are not supported")
        pad = pair(m.padding)
        if any(pad) and not m.count_include_pad:
            raise _unsupported(path, m, "padding with count_include_pad=False has position-dependent weights")
        if len(self.shape) != 3:
            raise _unsupported(path, m, f"expected a (C, H, W) input, got {self.shape}")
        ks = pair(m.kernel_size)
        st = pair(m.stride)  # nn.AvgPool2d stores stride = kernel_size when built with stride=None
        op = AvgPoolOp(path, ks, st, pad)
        new_shift = op.apply(self.shift[None])[0]
        new_shape = tuple(new_shift.shape)
        if not self.identity:
            scale_c = self._channel_values(self.scale, path, m, "scale")
            # avg(κx + s) with zero padding = κ·avg(x) + avg(s): the shift may become border dependent.
            self.scale = scale_c.view(-1, 1, 1).expand(new_shape).clone()
            self.shift = new_shift
        self.ops.append(op)
        self.shape = new_shape
        if self.identity:
            self._reset_pending()

    def _flatten(self, path: str, m: nn.Flatten) -> None:
        if self.open is not None:
            raise _unsupported(
                path, m, f"flattening the pre-activation of '{self.open.path}'; put Flatten after the ReLU"
            )
        if m.start_dim != 1 or m.end_dim not in (-1, len(self.shape)):
            raise _unsupported(path, m, "only Flatten(start_dim=1, end_dim=-1) is supported")
        self.ops.append(FlattenOp(path))
        self.scale = self.scale.reshape(-1)
        self.shift = self.shift.reshape(-1)
        self.shape = (int(math.prod(self.shape)),)

    def _input_normalization(self, path: str, m: InputNormalization) -> None:
        self._need_closed(path, m)
        k = 1.0 / (m.high - m.low)
        self.shift = (self.shift - m.low) * k
        self.scale = self.scale * k
        self.identity = False

    def _position_bias(self, path: str, m: PositionBias) -> None:
        if (
            self.open is None
            or self.open.kind != "conv"
            or tuple(m.bias.shape) != self.open.out_shape
            or self.deferred
        ):
            raise _unsupported(
                path, m, "PositionBias must directly follow a Conv2d with matching output shape"
            )
        b = self.open.bias
        self.open.bias = (b.view(-1, 1, 1) if b.dim() == 1 else b) + m.bias.detach().to(
            device="cpu", dtype=self.dtype
        )

    def finish(self) -> WeightedOp:
        if self.open is None or self.open.kind != "linear" or self.deferred:
            last = self.ops[-1].path if self.ops else "<none>"
            raise TTFSValueError(
                f"convert: the model must end with an nn.Linear producing logits (no ReLU after it); "
                f"last layer seen: '{self.open.path if self.open else last}'"
            )
        return self.open


def fuse(
    model: nn.Module, sample_shape: tuple[int, ...], input_range: tuple[float, float], dtype: torch.dtype
) -> tuple[list[FusedOp], WeightedOp]:
    """The fused ops of ``model`` in order, and its readout (the final ``nn.Linear``, kept apart).

    Raises:
        TTFSValueError: For an unsupported module (naming its path and type) or a model that does not
            end with the logits' ``nn.Linear``.
    """
    fuser = _Fuser(sample_shape, input_range, dtype)
    for path, m in _leaves(model):
        fuser.feed(path, m)
    readout = fuser.finish()
    return fuser.ops, readout
