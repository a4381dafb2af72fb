"""Weight-sharing supernet with single-path uniform sampling (TNAS-ER §3.2, SPOS).

A [`Supernet`][ttfsnet_nas.torch.supernet.Supernet] is a chain of fixed layers and
[`ChoiceBlock`][ttfsnet_nas.torch.supernet.ChoiceBlock] s. Each choice block is keyed by a gene name and holds
one module per candidate op; an architecture (any ``Mapping[str, str]``, e.g.
``ttfsnet_nas.space.Architecture``) picks one op per gene. Every training step runs one uniformly sampled
path; the parameters of the other candidates receive no gradient and, because their ``.grad`` is dropped to
``None`` (not zeroed), optimizers with momentum or weight decay leave them untouched.

[`Supernet.subnet`][ttfsnet_nas.torch.supernet.Supernet.subnet] extracts a standalone plain ``nn.Sequential``
(standard torch layers only, with deep-copied inherited weights), which is what the evaluator scores, what
``ttfsnet.convert`` maps to a TTFS network and what the artifact writer stores.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ttfsnet.models import Choice, MacroConfig, Slot, create_op, get_op, macro_genes, macro_layout, primitives

__all__ = [
    "ChoiceBlock",
    "MacroConfig",
    "MacroSupernet",
    "Supernet",
    "flatten_sequential",
    "layout_layers",
    "recalibrate_bn",
]

# MacroConfig (the one TNAS-ER backbone definition) lives in ttfsnet.models; re-exported here for the NAS API.


class ChoiceBlock(nn.Module):
    """A searchable position: one candidate module per op, exactly one of which runs per forward.

    Args:
        gene: Gene name of this position in architectures.
        candidates: Op name → module, in the order used for sampling.

    Attributes:
        gene: The gene name.
        candidates: ``nn.ModuleDict`` op name → module (the weights shared by every path through this op).
        train_counts: Buffer (int64, one entry per op) counting the training steps in which each op ran.

    Shapes:
        - Input: whatever the candidates accept, e.g. ``(B, C_in, H, W)``.
        - Output: the chosen candidate's output; all candidates must agree on it.
    """

    train_counts: torch.Tensor

    def __init__(self, gene: str, candidates: Mapping[str, nn.Module]) -> None:
        super().__init__()
        if not candidates:
            raise ValueError(f"ChoiceBlock {gene!r}: needs at least one candidate op")
        for name in candidates:
            if not name or "." in name:
                raise ValueError(
                    f"ChoiceBlock {gene!r}: op name {name!r} must be non-empty and contain no '.'"
                )
        self.gene = gene
        self.candidates = nn.ModuleDict(dict(candidates))
        self.register_buffer("train_counts", torch.zeros(len(candidates), dtype=torch.int64))

    @classmethod
    def from_ops(
        cls, gene: str, ops: Sequence[str], in_channels: int, out_channels: int, stride: int = 1
    ) -> ChoiceBlock:
        """Build a block whose candidates come from the op registry
        ([`ttfsnet.models.ops`][ttfsnet.models.ops])."""
        if len(set(ops)) != len(ops):
            raise ValueError(f"ChoiceBlock {gene!r}: duplicate op names in {list(ops)}")
        return cls(gene, {op: create_op(op, in_channels, out_channels, stride) for op in ops})

    @property
    def ops(self) -> tuple[str, ...]:
        """Candidate op names in order."""
        return tuple(self.candidates.keys())

    def candidate(self, op: str) -> nn.Module:
        """The module of ``op``.

        Raises:
            KeyError: If ``op`` is not a candidate of this block.
        """
        if op not in self.candidates:
            raise KeyError(f"ChoiceBlock {self.gene!r}: unknown op {op!r}; expected one of {list(self.ops)}")
        return self.candidates[op]

    def forward(self, x: torch.Tensor, op: str) -> torch.Tensor:
        """Run the candidate ``op`` on ``x``."""
        return self.candidate(op)(x)


class Supernet(nn.Module):
    """Generic single-path supernet: a chain of fixed modules and
    [`ChoiceBlock`][ttfsnet_nas.torch.supernet.ChoiceBlock] s.

    Subclasses only need to build the layer list (see
    [`MacroSupernet`][ttfsnet_nas.torch.supernet.MacroSupernet]). The layers are applied in order; a choice
    block runs the op the architecture assigns to its gene.

    Args:
        layers: The chain. Gene names of the choice blocks must be unique.

    Shapes:
        - Input: ``(B, ...)`` as accepted by the first layer.
        - Output: ``(B, num_classes)`` logits for classification backbones.
    """

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        seen: set[str] = set()
        for layer in self.layers:
            if isinstance(layer, ChoiceBlock):
                if layer.gene in seen:
                    raise ValueError(f"Supernet: gene {layer.gene!r} is used by more than one ChoiceBlock")
                seen.add(layer.gene)
        if not seen:
            raise ValueError("Supernet: the layer chain contains no ChoiceBlock")

    @classmethod
    def from_layout(cls, slots: Sequence[Slot], genes: Mapping[str, Sequence[str]]) -> Supernet:
        """The supernet of a backbone layout (e.g.
        [`ttfsnet.models.macro_layout`][ttfsnet.models.macro_layout])."""
        return cls(layout_layers(slots, genes))

    # ----------------------------------------------------------------------------------------- space
    @property
    def choice_blocks(self) -> dict[str, ChoiceBlock]:
        """Gene name → choice block, in chain order."""
        return {layer.gene: layer for layer in self.layers if isinstance(layer, ChoiceBlock)}

    @property
    def genes(self) -> dict[str, tuple[str, ...]]:
        """Gene name → candidate op names, in chain order (the input of ``ttfsnet_nas.space.SearchSpace``)."""
        return {gene: block.ops for gene, block in self.choice_blocks.items()}

    def check_arch(self, arch: Mapping[str, str]) -> dict[str, str]:
        """Validate ``arch`` against the supernet's genes.

        Returns:
            A plain dict gene → op in chain order.

        Raises:
            KeyError: If a gene is missing or unknown, or an op is not a candidate of its gene.
        """
        genes = self.genes
        missing = [g for g in genes if g not in arch]
        extra = [g for g in arch if g not in genes]
        if missing or extra:
            raise KeyError(
                f"Supernet: architecture genes do not match; missing {missing}, unknown {extra}, "
                f"expected {list(genes)}"
            )
        for gene, ops in genes.items():
            if arch[gene] not in ops:
                raise KeyError(f"Supernet: gene {gene!r} has op {arch[gene]!r}; expected one of {list(ops)}")
        return {gene: arch[gene] for gene in genes}

    def sample(self, rng: np.random.Generator) -> dict[str, str]:
        """Draw one architecture, each gene's op uniformly and independently.

        Args:
            rng: The generator to draw from (one integer per gene, in chain order).
        """
        return {gene: ops[int(rng.integers(len(ops)))] for gene, ops in self.genes.items()}

    # --------------------------------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor, arch: Mapping[str, str]) -> torch.Tensor:
        """Run the path selected by ``arch``."""
        chosen = self.check_arch(arch)
        for layer in self.layers:
            x = layer(x, chosen[layer.gene]) if isinstance(layer, ChoiceBlock) else layer(x)
        return x

    # -------------------------------------------------------------------------------------- training
    def record(self, arch: Mapping[str, str]) -> None:
        """Count one training step for every op of ``arch`` (see `op_counts`)."""
        chosen = self.check_arch(arch)
        for gene, block in self.choice_blocks.items():
            block.train_counts[block.ops.index(chosen[gene])] += 1

    def op_counts(self) -> dict[str, dict[str, int]]:
        """Gene → op → number of training steps in which that op ran (a fairness diagnostic)."""
        return {
            gene: {op: int(n) for op, n in zip(block.ops, block.train_counts.tolist(), strict=True)}
            for gene, block in self.choice_blocks.items()
        }

    def path_parameters(self, arch: Mapping[str, str]) -> Iterator[nn.Parameter]:
        """Parameters used by the path of ``arch`` (fixed layers and the chosen candidates)."""
        chosen = self.check_arch(arch)
        for layer in self.layers:
            module = layer.candidate(chosen[layer.gene]) if isinstance(layer, ChoiceBlock) else layer
            yield from module.parameters()

    def unsampled_parameters(self, arch: Mapping[str, str]) -> Iterator[nn.Parameter]:
        """Parameters of every candidate that ``arch`` does not choose."""
        chosen = self.check_arch(arch)
        for gene, block in self.choice_blocks.items():
            for op, module in block.candidates.items():
                if op != chosen[gene]:
                    yield from module.parameters()

    def drop_unsampled_grads(self, arch: Mapping[str, str]) -> int:
        """Set ``.grad = None`` on every parameter outside the path of ``arch``.

        ``optimizer.zero_grad(set_to_none=True)`` already leaves them ``None`` after a backward pass; this
        also covers callers that zero gradients in place (a zero gradient would still let Adam's moments
        and weight decay move the weights, which is exactly what single-path training must avoid).

        Returns:
            How many gradients were dropped.
        """
        dropped = 0
        for param in self.unsampled_parameters(arch):
            if param.grad is not None:
                param.grad = None
                dropped += 1
        return dropped

    # ------------------------------------------------------------------------------------ extraction
    def subnet(self, arch: Mapping[str, str]) -> nn.Sequential:
        """Standalone copy of the path of ``arch`` as one flat ``nn.Sequential``.

        Nested ``nn.Sequential`` s are flattened and ``nn.Identity`` layers dropped, so the result holds
        only primitive layers; weights and BN statistics are deep copies (changing the subnet never
        changes the supernet). The subnet keeps the supernet's train/eval mode.
        """
        chosen = self.check_arch(arch)
        modules: list[nn.Module] = []
        for layer in self.layers:
            if isinstance(layer, ChoiceBlock):
                op = chosen[layer.gene]
                modules.extend(get_op(op).lower(layer.candidate(op)))
            else:
                modules.extend(flatten_sequential(layer))
        net = nn.Sequential(*(copy.deepcopy(m) for m in modules))
        net.train(self.training)
        return net


def layout_layers(slots: Sequence[Slot], genes: Mapping[str, Sequence[str]]) -> list[nn.Module]:
    """The supernet chain of a layout: a [`ChoiceBlock`][ttfsnet_nas.torch.supernet.ChoiceBlock] over
    ``genes[gene]`` for every [`Choice`][ttfsnet.models.Choice], the fixed modules built in chain order (the
    order decides the initial weights, so a supernet and a fixed network of the same seed draw them alike)."""
    layers: list[nn.Module] = []
    for slot in slots:
        if isinstance(slot, Choice):
            block = ChoiceBlock.from_ops(
                slot.gene, genes[slot.gene], slot.in_channels, slot.out_channels, slot.stride
            )
            layers.append(block)
        else:
            layers.append(slot.build())
    return layers


def flatten_sequential(module: nn.Module) -> list[nn.Module]:
    """Expand nested ``nn.Sequential`` s into a flat list of layers, dropping ``nn.Identity``.

    Raises:
        TypeError: If a [`ChoiceBlock`][ttfsnet_nas.torch.supernet.ChoiceBlock] is found (it needs an
            architecture to resolve).
    """
    if any(isinstance(m, ChoiceBlock) for m in module.modules()):
        gene = next(m.gene for m in module.modules() if isinstance(m, ChoiceBlock))
        raise TypeError(f"flatten_sequential: ChoiceBlock {gene!r} must be resolved with an architecture")
    return primitives(module)


class MacroSupernet(Supernet):
    """The TNAS-ER backbone ([`ttfsnet.models.MacroConfig`][ttfsnet.models.MacroConfig], the one definition of
    the family) as a weight-sharing supernet: one choice block per searchable block, holding every op of
    ``config.ops`` that may stand there.

    Example:
        >>> import numpy as np, torch
        >>> net = MacroSupernet(MacroConfig(input_size=(16, 16), stem_channels=(8,), stage_blocks=(1, 1)))
        >>> arch = net.sample(np.random.default_rng(0))
        >>> net(torch.rand(2, 4, 16, 16), arch).shape
        torch.Size([2, 7])
    """

    def __init__(self, config: MacroConfig) -> None:
        super().__init__(layout_layers(macro_layout(config), macro_genes(config)))
        self.config = config


def _batch_norms(model: nn.Module) -> list[_BatchNorm]:
    # Layers without running statistics always normalise with batch statistics: nothing to calibrate.
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


class _StopForward(Exception):
    """Raised by a hook to cut a calibration forward pass short once the needed statistics are in."""


@torch.no_grad()
def recalibrate_bn(
    model: nn.Module,
    data: Iterable[torch.Tensor],
    *,
    forward: Callable[[nn.Module, torch.Tensor], object] | None = None,
) -> nn.Module:
    """Reset and recompute the running statistics of every BatchNorm layer from ``data``, exactly.

    The result equals the statistics PyTorch would record (``momentum=None``, fresh running stats) if the
    *whole* of ``data`` went through the model in train mode as a single batch: for each BN layer the
    running mean and the unbiased running variance of its input over all samples and positions, where the
    layers before it normalise with their own full-data statistics. A cumulative average of per-batch
    statistics is exact only for the means; averaging per-batch variances misses the spread of the batch
    means. So the layers are calibrated one after another in execution order, merging per-batch moments
    in float64 (Chan et al.); pass ``k`` stops the forward right after layer ``k``'s input, so the cost
    is about ``L/2 + 1`` forward passes over ``data`` for ``L`` BN layers. BN layers without running
    statistics (``track_running_stats=False``) are left alone: they normalise every batch by itself, so
    layers after them see batch-dependent inputs and are exact only for a single batch. Inherited-weight
    scores use no recalibration by default (TNAS-ER, AutoSNN); SPOS recalibrates.

    Args:
        model: Model to recalibrate in place (e.g. a
            [`Supernet.subnet`][ttfsnet_nas.torch.supernet.Supernet.subnet]); it is left in eval mode.
        data: Re-iterable of input batches (e.g. a list of tensors).
        forward: ``forward(model, x)`` if the model needs more than ``model(x)``.

    Returns:
        ``model``.

    Raises:
        ValueError: If ``data`` is empty or holds fewer than two values per channel for some BN layer.
    """
    run = forward or (lambda m, x: m(x))
    batches = list(data)
    if not batches:
        raise ValueError("recalibrate_bn: data is empty")
    norms = _batch_norms(model)
    model.eval()
    if not norms:
        return model

    # Execution order may differ from registration order (e.g. a Supernet path), so record it first.
    order: list[_BatchNorm] = []

    def record_order(module: nn.Module, _inputs: tuple[torch.Tensor, ...]) -> None:
        if module not in order:
            order.append(module)  # type: ignore[arg-type]

    handles = [bn.register_forward_pre_hook(record_order) for bn in norms]
    try:
        run(model, batches[0])
    finally:
        for h in handles:
            h.remove()

    for bn in order:
        count = 0
        mean = torch.zeros(bn.num_features, dtype=torch.float64)
        m2 = torch.zeros(bn.num_features, dtype=torch.float64)

        def accumulate(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            nonlocal count, mean, m2
            x = inputs[0].detach().to(torch.float64).transpose(0, 1).reshape(inputs[0].shape[1], -1)
            n_b = x.shape[1]
            mean_b = x.mean(dim=1).cpu()
            m2_b = ((x - x.mean(dim=1, keepdim=True)) ** 2).sum(dim=1).cpu()
            total = count + n_b
            delta = mean_b - mean
            mean = mean + delta * (n_b / total)
            m2 = m2 + m2_b + delta**2 * (count * n_b / total)
            count = total
            raise _StopForward

        handle = bn.register_forward_pre_hook(accumulate)
        try:
            for x in batches:
                try:
                    run(model, x)
                except _StopForward:
                    pass
        finally:
            handle.remove()
        if count < 2:
            raise ValueError(
                f"recalibrate_bn: BN layer with {bn.num_features} features saw {count} value(s); need >= 2"
            )
        biased = m2 / count
        # Later layers must see this layer normalise with the *biased* full-batch variance, as in train mode.
        assert bn.running_mean is not None and bn.running_var is not None
        bn.running_mean.copy_(mean.to(bn.running_mean))
        bn.running_var.copy_(biased.to(bn.running_var))
        bn.__dict__["_ttfsnas_unbiased"] = (m2 / (count - 1)).to(bn.running_var)

    for bn in order:
        assert bn.running_var is not None and bn.num_batches_tracked is not None
        bn.running_var.copy_(bn.__dict__.pop("_ttfsnas_unbiased"))
        bn.num_batches_tracked.fill_(1)
    return model
