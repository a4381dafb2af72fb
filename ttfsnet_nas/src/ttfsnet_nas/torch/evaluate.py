"""Score candidates with inherited weights: accuracy metrics and TTFS cost statistics in one pass.

For each batch the candidate runs **once**; forward hooks collect the ANN statistics of that same pass
(no second run as a separate ``ttfsnet.ann_statistics`` call would need):

* ``spikes``: positive outputs of ``nn.ReLU`` layers per sample. Under the exact ReLU↔TTFS (B1) mapping a
  hidden neuron fires once iff its ReLU output is positive (``docs/ttfs-model.md`` §8). Pooling and flatten
  layers only pass spikes on and add none. Input spikes are reported separately as ``input_spikes``
  (an input value other than ``input_floor``, i.e. ``x̃ > 0`` after the input encoding).
* ``synops``: synaptic operations per sample, ``Σ_l Σ_i s_i · fanout_l(i)`` over the weighted layers
  (``nn.Conv2d``, ``nn.Linear`` and ``nn.AvgPool2d``, which is a spiking layer with fixed weights in TTFS),
  where ``s_i`` marks a non-zero input element of layer ``l``; computed exactly, borders included, by
  running the layer's geometry on the spike mask with unit weights (``docs/hardware.md``, Pipeline).
* ``macs``: dense multiply-accumulates per sample of the weighted layers (padding positions included);
  ``params``: parameters of the model as given (BN included, i.e. before BN folding); ``neurons``: ReLU
  outputs per sample.

These are the numbers of ``ttfsnet.ann_statistics`` (checked in the tests), obtained from the scoring
pass itself.

Accuracy metrics: ``accuracy`` (= ``war``, weighted average recall), ``uar`` (mean recall over the
classes present in the data), ``recall/<k>`` per present class, ``loss`` (mean cross-entropy). All values
are plain floats; identical inputs give bit-identical results (eval mode, fixed batches, no sampling).

**SNN domain** (``domain="snn"``, TNAS-ER §4.3 search setting 1): each candidate is first converted with
[`ttfsnet.convert`][ttfsnet.convert.convert] (windows calibrated on fixed calibration inputs) and scored
with the closed-form TTFS simulation ([`TTFSNetwork.run`][ttfsnet.nn.network.TTFSNetwork.run]): the
accuracy metrics and ``loss`` come from the SNN's logits, ``spikes``, ``input_spikes``, ``synops``,
``neurons`` and ``macs`` from the simulated spikes and the TTFS layers, ``params`` from the candidate as
given (BN included, as in the ANN domain). The keys are those of the ANN domain; under the exact mapping
the values agree too (unless a search input drives a neuron past its calibrated window, which the SNN
clips), only slower (docs/paper-settings.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules.utils import _pair

import ttfsnet
from ttfsnet.stats import network_macs
from ttfsnet_nas.torch.data import LabelledData, iter_batches, num_samples
from ttfsnet_nas.torch.supernet import Supernet, recalibrate_bn

__all__ = ["AnnStatsCollector", "Evaluation", "Evaluator", "classification_metrics"]

_DOMAINS: tuple[str, ...] = ("ann", "snn")
"""Where candidates are scored: the ReLU ANN itself, or its converted TTFS network."""


class AnnStatsCollector:
    """Forward hooks counting spikes, SynOPs and MACs of a ReLU ANN while it runs normally.

    Use as a context manager around forward passes; the hooks are removed on exit.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> with AnnStatsCollector(model) as stats:
        ...     _ = model(torch.ones(2, 4))
        >>> "synops" in stats.summary()
        True
    """

    def __init__(self, model: nn.Module, *, input_floor: float = 0.0) -> None:
        self.model = model
        self.input_floor = input_floor
        self.samples = 0
        self.spikes = 0
        self.input_spikes = 0
        self.synops = 0
        self.macs_per_sample = 0
        self.neurons_per_sample = 0
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._first_weighted: nn.Module | None = None
        self._geometry_done = False
        self._neurons_this_pass = 0
        self._macs_this_pass = 0

    def __enter__(self) -> AnnStatsCollector:
        weighted = [m for m in self.model.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.AvgPool2d))]
        self._first_weighted = weighted[0] if weighted else None
        for module in self.model.modules():
            if isinstance(module, nn.ReLU):
                self._handles.append(module.register_forward_hook(self._on_relu))
            elif isinstance(module, (nn.Conv2d, nn.Linear, nn.AvgPool2d)):
                self._handles.append(module.register_forward_hook(self._on_weighted))
        self._handles.append(self.model.register_forward_pre_hook(self._on_model_input))
        self._handles.append(self.model.register_forward_hook(self._on_model_output))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _on_model_input(self, _module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0]
        self.samples += int(x.shape[0])
        self.input_spikes += int((x != self.input_floor).sum())
        self._neurons_this_pass = 0
        self._macs_this_pass = 0

    def _on_model_output(self, _module: nn.Module, _inputs: object, _output: object) -> None:
        if not self._geometry_done:
            self.neurons_per_sample = self._neurons_this_pass
            self.macs_per_sample = self._macs_this_pass
            self._geometry_done = True

    def _on_relu(self, _module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        self.spikes += int((output > 0).sum())
        self._neurons_this_pass += output[0].numel()

    def _on_weighted(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        x = inputs[0]
        # Only the network input can have a non-zero "silent" value (the lower end of its range).
        floor = self.input_floor if module is self._first_weighted else 0.0
        mask = (x != floor).to(x.dtype if x.is_floating_point() else torch.float32)
        if isinstance(module, nn.Linear):
            self.synops += int(mask.sum()) * module.out_features
            self._macs_this_pass += module.in_features * module.out_features
        elif isinstance(module, nn.AvgPool2d):
            kh, kw = _pair(module.kernel_size)
            # Sum pooling of the mask counts, for every window, the spikes it receives.
            reached = F.avg_pool2d(
                mask,
                module.kernel_size,
                module.stride,
                module.padding,
                module.ceil_mode,
                module.count_include_pad,
                divisor_override=1,
            )
            self.synops += int(round(float(reached.sum(dtype=torch.float64))))
            self._macs_this_pass += output[0].numel() * kh * kw
        else:
            assert isinstance(module, nn.Conv2d)
            self.synops += _conv_synops(module, mask)
            c_in = module.in_channels // module.groups
            kh, kw = module.kernel_size
            self._macs_this_pass += output[0].numel() * c_in * kh * kw

    def summary(self) -> dict[str, float]:
        """Per-sample statistics collected so far (plain floats)."""
        if self.samples == 0:
            raise RuntimeError("AnnStatsCollector: no forward pass was recorded")
        params = sum(p.numel() for p in self.model.parameters())
        spikes = self.spikes / self.samples
        return {
            "params": float(params),
            "macs": float(self.macs_per_sample),
            "neurons": float(self.neurons_per_sample),
            "spikes": spikes,
            "spikes_per_neuron": spikes / self.neurons_per_sample if self.neurons_per_sample else 0.0,
            "input_spikes": self.input_spikes / self.samples,
            "synops": self.synops / self.samples,
        }


def _conv_synops(conv: nn.Conv2d, mask: torch.Tensor) -> int:
    # Fan-out of an input element depends on its input-channel group and position only, so sum the mask
    # over the channels of each group and count the output positions each element reaches.
    pad: str | tuple[int, ...] | int = conv.padding  # type: ignore[assignment]
    if conv.padding_mode != "zeros":
        # Reflect/replicate padding repeats border spikes, each of which then costs its own SynOPs.
        mask = F.pad(mask, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)  # noqa: SLF001
        pad = 0
    b, c, h, w = mask.shape
    g = conv.groups
    grouped = mask.reshape(b, g, c // g, h, w).sum(dim=2)
    ones = torch.ones(g, 1, *conv.kernel_size, dtype=mask.dtype, device=mask.device)
    reached = F.conv2d(grouped, ones, stride=conv.stride, padding=pad, dilation=conv.dilation, groups=g)
    return int(round(float(reached.sum(dtype=torch.float64)))) * (conv.out_channels // g)


def classification_metrics(
    predictions: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None
) -> dict[str, float]:
    """Accuracy (WAR), UAR and per-class recall of integer predictions.

    UAR averages the recall of the classes that occur in ``labels`` (a class without samples has no
    recall); ``num_classes`` only bounds the class indices.
    """
    if predictions.shape != labels.shape:
        raise ValueError(
            f"classification_metrics: predictions {tuple(predictions.shape)} vs labels {tuple(labels.shape)}"
        )
    if labels.numel() == 0:
        raise ValueError("classification_metrics: no samples")
    n_classes = num_classes if num_classes is not None else int(labels.max()) + 1
    if int(labels.max()) >= n_classes or int(labels.min()) < 0:
        raise ValueError(f"classification_metrics: labels outside [0, {n_classes})")
    correct = predictions == labels
    support = torch.bincount(labels, minlength=n_classes)
    hits = torch.bincount(labels[correct], minlength=n_classes)
    metrics: dict[str, float] = {"accuracy": float(correct.double().mean())}
    metrics["war"] = metrics["accuracy"]
    recalls = []
    for k in range(n_classes):
        if int(support[k]) > 0:
            recall = float(hits[k]) / float(support[k])
            metrics[f"recall/{k}"] = recall
            recalls.append(recall)
    metrics["uar"] = sum(recalls) / len(recalls)
    return metrics


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything one evaluation pass produced.

    Attributes:
        predictions: Predicted class per sample (int64, data-set order).
        labels: True class per sample.
        logits: Model outputs per sample (float32).
        metrics: Accuracy and cost metrics as plain floats (see the module docstring for the keys).
    """

    predictions: torch.Tensor
    labels: torch.Tensor
    logits: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)


class Evaluator:
    """Evaluates candidate subnets on a fixed labelled data set.

    Args:
        data: The evaluation data (TNAS-ER: the 20 % search split).
        batch_size: Evaluation batch size (affects speed only).
        num_classes: Number of classes (default: inferred from the labels).
        recalibrate_bn: Recompute BN statistics of each subnet before scoring (off in TNAS-ER/AutoSNN;
            on in SPOS), exactly, see [`recalibrate_bn`][ttfsnet_nas.torch.supernet.recalibrate_bn].
        calibration_data: Data for recalibration (inputs only are used); defaults to ``data``.
        input_floor: The lower end of the input range: other input values are input spikes.
        device: Where to evaluate.
        domain: ``ann`` scores the ReLU subnet; ``snn`` converts it to a TTFS network first and scores that
            (see the module docstring).
        snn_calibration_data: SNN domain: inputs whose largest activations set the windows (labels are
            ignored); defaults to ``data``.
        zeta: SNN domain: window factor ζ of the conversion, ``T = (1 + ζ)·X``.
        input_range: SNN domain: declared range of the raw inputs.
    """

    def __init__(
        self,
        data: LabelledData,
        *,
        batch_size: int = 256,
        num_classes: int | None = None,
        recalibrate_bn: bool = False,
        calibration_data: LabelledData | None = None,
        input_floor: float = 0.0,
        device: torch.device | str = "cpu",
        domain: Literal["ann", "snn"] = "ann",
        snn_calibration_data: LabelledData | None = None,
        zeta: float = 0.5,
        input_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        if num_samples(data) == 0:
            raise ValueError("Evaluator: evaluation data is empty")
        if domain not in _DOMAINS:
            raise ValueError(f"Evaluator: domain must be one of {list(_DOMAINS)}, got {domain!r}")
        self.device = torch.device(device)
        self.batches = [(x.to(self.device), y.to(self.device)) for x, y in iter_batches(data, batch_size)]
        labels = torch.cat([y for _, y in self.batches])
        self.num_classes = num_classes if num_classes is not None else int(labels.max()) + 1
        self.recalibrate_bn = recalibrate_bn
        calib = calibration_data if calibration_data is not None else data
        self.calibration_inputs = (
            [x.to(self.device) for x, _ in iter_batches(calib, batch_size)] if recalibrate_bn else []
        )
        self.input_floor = input_floor
        self.domain = domain
        self.zeta = zeta
        self.input_range = (float(input_range[0]), float(input_range[1]))
        snn_calib = snn_calibration_data if snn_calibration_data is not None else data
        # Calibration inputs stay on the CPU: convert reads them there and calibrates on the model's device.
        self.snn_calibration = (
            torch.cat([x for x, _ in iter_batches(snn_calib, batch_size)]) if domain == "snn" else None
        )

    @torch.no_grad()
    def run(self, model: nn.Module) -> Evaluation:
        """Evaluate a standalone model (in eval mode; its train/eval mode is restored afterwards), in the
        evaluator's domain."""
        if self.domain == "snn":
            return self._run_snn(model)
        was_training = model.training
        model.to(self.device).eval()
        logits, labels, loss_sum = [], [], 0.0
        try:
            with AnnStatsCollector(model, input_floor=self.input_floor) as stats:
                for x, y in self.batches:
                    out = model(x)
                    loss_sum += float(F.cross_entropy(out, y, reduction="sum"))
                    logits.append(out.float().cpu())
                    labels.append(y.cpu())
        finally:
            model.train(was_training)
        all_logits = torch.cat(logits)
        all_labels = torch.cat(labels)
        predictions = all_logits.argmax(dim=1)
        metrics = classification_metrics(predictions, all_labels, self.num_classes)
        metrics["loss"] = loss_sum / all_labels.numel()
        metrics.update(stats.summary())
        return Evaluation(predictions, all_labels, all_logits, metrics)

    def _run_snn(self, model: nn.Module) -> Evaluation:
        was_training = model.training
        model.to(self.device).eval()
        try:
            net = ttfsnet.convert(model, self.snn_calibration, zeta=self.zeta, input_range=self.input_range)
        finally:
            model.train(was_training)
        net.eval()
        logits, labels, loss_sum = [], [], 0.0
        spikes = input_spikes = synops = samples = neurons = 0
        # without TF32, which alone moves float32 logits on a GPU (the ANN domain's logits are the reference)
        with ttfsnet.exact_float32():
            for x, y in self.batches:
                res = net.run(x)  # the closed-form TTFS simulation: logits and spike counts of one pass
                loss_sum += float(F.cross_entropy(res.logits, y, reduction="sum"))
                logits.append(res.logits.float().cpu())
                labels.append(y.cpu())
                spikes += res.total_spikes
                input_spikes += sum(
                    c for c, k in zip(res.spike_counts, res.entry_kinds, strict=True) if k == "input"
                )
                synops += res.total_synops
                samples += res.batch_size
                neurons = res.hidden_neurons
        all_logits = torch.cat(logits)
        all_labels = torch.cat(labels)
        predictions = all_logits.argmax(dim=1)
        metrics = classification_metrics(predictions, all_labels, self.num_classes)
        metrics["loss"] = loss_sum / all_labels.numel()
        shape = tuple(self.batches[0][0].shape[1:])
        metrics.update({
            "params": float(sum(p.numel() for p in model.parameters())),
            "macs": float(sum(network_macs(net, shape))),
            "neurons": float(neurons),
            "spikes": spikes / samples,
            "spikes_per_neuron": spikes / samples / neurons if neurons else 0.0,
            "input_spikes": input_spikes / samples,
            "synops": synops / samples,
        })
        return Evaluation(predictions, all_labels, all_logits, metrics)

    def subnet(self, supernet: Supernet, arch: Mapping[str, str]) -> nn.Sequential:
        """The candidate as evaluated: the subnet of ``arch``, BN-recalibrated if enabled."""
        model = supernet.subnet(arch)
        if self.recalibrate_bn:
            recalibrate_bn(model, self.calibration_inputs)
        return model

    def evaluate(self, supernet: Supernet, arch: Mapping[str, str]) -> dict[str, float]:
        """Metrics of candidate ``arch`` with weights inherited from ``supernet`` (which is not modified)."""
        return self.run(self.subnet(supernet, arch)).metrics

    __call__ = evaluate
