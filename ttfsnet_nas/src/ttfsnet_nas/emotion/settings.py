"""The three retraining settings of TNAS-ER §4.3 / Fig. 5 (``settings`` stage), for one architecture (every
searchable block a 3×3 convolution by default, or the searched one):

1. ``transfer`` – the ANN retrained as in stage 3, transferred to the TTFS SNN, not fine-tuned;
2. ``transfer_finetune`` – (1) followed by SNN fine-tuning as in stage 4;
3. ``snn_scratch`` – the same architecture without BatchNorm, freshly initialised, converted to TTFS and
   trained as a TTFS network from scratch with exact closed-form spike-time gradients
   ([`ttfsnet.finetune`][ttfsnet.finetune]; the windows stay at their calibration on the initial network).

Each is tested like stage 5 (``test.runs`` runs with fresh windows). Outputs in ``RUN/settings/``::

    ann/                          the retrained ANN of (1) and (2) (the stage-3 ANN itself for ``searched``)
    <name>/snn.pt                 the SNN of each setting
    <name>/summary.json           name, label, test summary, training details (written when it finished)
    snn_scratch/ann/              the ReLU twin of the scratch SNN (no BatchNorm)
    settings.json                 {"architecture": key, "settings": [{name, label, summary}, ...]}

Under ``--resume`` a setting whose ``summary.json`` exists is skipped, and a finished retrained ANN is kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

import ttfsnet
from ttfsnet.models import macro_network
from ttfsnet_nas.journal import atomic_write_json
from ttfsnet_nas.space import Architecture
from ttfsnet_nas.torch import save_model

if TYPE_CHECKING:
    from ttfsnet_nas.emotion.stages import EmotionStages

__all__ = [
    "SETTINGS", "relu_twin", "run_settings", "scratch_network", "settings_architecture", "without_batchnorm"
]

SETTINGS: tuple[tuple[str, str], ...] = (
    ("transfer", "(1) ANN retraining → TTFS transfer"),
    ("transfer_finetune", "(2) (1) + SNN fine-tuning"),
    ("snn_scratch", "(3) SNN trained from scratch"),
)
"""(name, label) of the three settings, in the order of ``settings.json``."""


def settings_architecture(stages: EmotionStages) -> Architecture:
    """The architecture of the stage: ``settings.op`` in every searchable block, or the searched one."""
    op = stages.recipe.settings.op
    if op == "searched":
        return stages.best_architecture()
    return Architecture({gene: op for gene in stages.search_space().gene_names})


def without_batchnorm(model: nn.Sequential) -> nn.Sequential:
    """``model`` (a flat chain of primitive layers) with every BatchNorm removed; the convolution or linear
    layer before each gets a bias in its place. Those layers are new, so their weights are freshly drawn.

    Raises:
        ValueError: a BatchNorm that does not follow a convolution or linear layer.
    """
    layers: list[nn.Module] = []
    for module in model:
        if not isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            layers.append(module)
            continue
        prev = layers[-1] if layers else None
        if isinstance(prev, nn.Conv2d):
            k, st, d, pad = prev.kernel_size, prev.stride, prev.dilation, prev.padding
            layers[-1] = nn.Conv2d(
                prev.in_channels, prev.out_channels, (k[0], k[1]), (st[0], st[1]),
                pad if isinstance(pad, str) else (pad[0], pad[1]), (d[0], d[1]), prev.groups, bias=True,
                padding_mode=prev.padding_mode,
            )
        elif isinstance(prev, nn.Linear):
            layers[-1] = nn.Linear(prev.in_features, prev.out_features, bias=True)
        else:
            raise ValueError(
                f"without_batchnorm: BatchNorm after {type(prev).__name__}, expected Conv2d or Linear"
            )
    return nn.Sequential(*layers)


def scratch_network(stages: EmotionStages, arch: Architecture, num_classes: int) -> nn.Sequential:
    """Setting (3)'s ANN: ``arch`` on the recipe's backbone without BatchNorm, freshly initialised with He
    initialisation (normal, fan-in, zero biases; seeded with the master seed + 5).

    He initialisation (He et al., ICCV 2015) keeps the activation scale through a deep ReLU chain that has no
    BatchNorm to restore it. PyTorch's default (uniform, a third of that variance) shrinks it layer by layer:
    on the demo the calibrated windows fell from 1.18 to 0.08 over the network and the SNN trained from
    scratch stayed at chance."""
    torch.manual_seed(stages.recipe.seed + 5)
    model = without_batchnorm(macro_network(stages.backbone(num_classes), arch))
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def relu_twin(model: nn.Sequential, net: ttfsnet.TTFSNetwork) -> nn.Sequential:
    """``model`` (BN-free, the ANN ``net`` was converted from with input range [0, 1]) with ``net``'s trained
    weights: its exact ReLU counterpart as a plain, saveable chain.

    Raises:
        ValueError: ``net`` does not map onto ``model`` layer by layer.
    """
    if tuple(net.input_range) != (0.0, 1.0):
        raise ValueError(f"relu_twin: expected input range (0, 1), got {net.input_range}")
    twin = [m for m in ttfsnet.to_ann(net) if isinstance(m, (nn.Conv2d, nn.Linear, ttfsnet.PositionBias))]
    mine = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    if len(twin) != len(mine) or not all(type(a) is type(b) for a, b in zip(twin, mine, strict=False)):
        raise ValueError("relu_twin: the TTFS network's weighted layers do not match the model's")
    with torch.no_grad():
        for src, dst in zip(twin, mine, strict=True):
            assert isinstance(src, (nn.Conv2d, nn.Linear)) and src.bias is not None and dst.bias is not None
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    return model


def _train_scratch(stages: EmotionStages, arch: Architecture, folder: Path, task: str) -> dict[str, Any]:
    """Setting (3): build, convert and train the BN-free network as a TTFS SNN; save it and its ReLU twin."""
    r = stages.recipe
    s = r.settings
    data = stages.eval_data()
    device = stages.device
    model = scratch_network(stages, arch, len(data.classes)).to(device)
    n = min(r.snn.calibration_samples, len(data.train))
    calib = data.train.materialize(epoch=20_000)[0][:n].to(device)
    net = ttfsnet.convert(model, calib, zeta=r.snn.zeta, input_range=data.train.input_range)
    epochs = s.scratch_epochs if s.scratch_epochs is not None else r.retrain.epochs
    lr = s.scratch_lr if s.scratch_lr is not None else r.retrain.lr
    result = stages.train_snn(
        net, epochs=epochs, lr=lr, batch_size=r.retrain.batch_size, seed=r.seed + 5, task=task,
        weight_decay=r.retrain.weight_decay,
    )
    net.eval()
    ttfsnet.save(
        net, folder / "snn.pt", input_shape=list(calib.shape[1:]), classes=list(data.classes),
        architecture=dict(arch), zeta=r.snn.zeta,
    )
    twin = relu_twin(model, net).eval()
    with torch.no_grad(), ttfsnet.exact_float32():
        # against the unclipped counterpart: the SNN itself differs where training pushed a neuron past its
        # fixed window (the test summary counts those saturated neurons)
        twin_diff = float((twin(calib) - ttfsnet.to_ann(net)(calib)).abs().max())
    save_model(twin, folder / "ann", metadata={"architecture": dict(arch), "classes": list(data.classes)})
    return {
        "epochs": epochs,
        "lr": lr,
        "batch_norm": any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in model.modules()),
        "losses": [round(float(x), 5) for x in result.train_losses],
        "train_accuracy": [round(float(rec.train_accuracy), 5) for rec in result.history],
        "windows": [float(w) for w in net.windows()],
        "twin_max_abs_logit_diff": twin_diff,
    }


def _retrained_ann(stages: EmotionStages, arch: Architecture) -> Path:
    """The retrained ANN of settings (1) and (2): stage 3's for ``searched``, else retrained here once."""
    if stages.recipe.settings.op == "searched":
        return stages.out / "retrain" / "ann"
    ann_dir = stages.out / "settings" / "ann"
    # model.json is written last (after the weights), so it marks a complete saved model
    if not ((ann_dir / "model.json").is_file() and stages.resuming("settings")):
        stages.retrain(arch, ann_dir, "settings: retrain")
    return ann_dir


def run_settings(stages: EmotionStages) -> dict[str, Any]:
    """Run the three retraining settings on one architecture and write ``settings/settings.json``.

    The progress task ``settings`` counts the settings (resumed ones as done), next to the retrain,
    fine-tune, training and test tasks of each."""
    root = stages.out / "settings"
    arch = settings_architecture(stages)
    resuming = stages.resuming("settings")
    finished = {name for name, _ in SETTINGS if resuming and (root / name / "summary.json").is_file()}
    stages.progress.start("settings", len(SETTINGS), completed=len(finished))
    rows: list[dict[str, Any]] = []
    ann_dir: Path | None = None
    for name, label in SETTINGS:
        folder = root / name
        done = folder / "summary.json"
        if name in finished:
            rows.append(json.loads(done.read_text()))
            continue
        folder.mkdir(parents=True, exist_ok=True)
        if name == "snn_scratch":
            training = _train_scratch(stages, arch, folder, f"{name}: train")
            test_ann = folder / "ann"
        else:
            if ann_dir is None:
                ann_dir = _retrained_ann(stages, arch)
            training = stages.transfer(
                ann_dir, folder / "snn.pt", arch, f"{name}: finetune", finetune=name == "transfer_finetune"
            )
            test_ann = ann_dir
        summary = stages.test(test_ann, folder / "snn.pt", None, f"{name}: test")
        row = {"name": name, "label": label, "summary": summary, "training": training}
        atomic_write_json(done, row)
        rows.append(row)
        stages.progress.advance("settings", 1, war=f"{summary['snn']['mean']['war']:.3f}")
    stages.progress.finish("settings")
    out = {
        "architecture": arch.key,
        "settings": [{k: row[k] for k in ("name", "label", "summary")} for row in rows],
    }
    atomic_write_json(root / "settings.json", out)
    return {row["name"]: {"war": row["summary"]["snn"]["mean"]["war"]} for row in rows}
