"""Op registry, supernet sampling, single-path training semantics, subnet extraction, BN recalibration."""

from __future__ import annotations

import copy
from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from ttfsnet_nas.torch import (
    ChoiceBlock,
    MacroConfig,
    MacroSupernet,
    Supernet,
    TrainConfig,
    create_op,
    recalibrate_bn,
    register_op,
    train_model,
    train_supernet,
    unregister_op,
)
from ttfsnet_nas.torch.train import supernet_train_step

# ---------------------------------------------------------------------------------------------- ops


@pytest.mark.parametrize(("name", "k"), [("conv3x3", 3), ("conv5x5", 5)])
def test_double_conv_ops(name: str, k: int) -> None:
    op = create_op(name, 3, 6, stride=2)
    kinds = [type(m) for m in op]
    assert kinds == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 2
    first, second = op[0], op[3]
    assert first.kernel_size == (k, k) and first.padding == (k // 2, k // 2) and first.stride == (2, 2)
    assert second.kernel_size == (k, k) and second.stride == (1, 1) and second.in_channels == 6
    assert op(torch.rand(2, 3, 9, 9)).shape == (2, 6, 5, 5)


def test_skip_is_identity_or_projection() -> None:
    assert isinstance(create_op("skip", 5, 5), nn.Identity)
    proj = create_op("skip", 5, 8)
    assert [type(m) for m in proj] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert proj[0].kernel_size == (1, 1)
    assert create_op("skip", 5, 5, stride=2)(torch.rand(1, 5, 6, 6)).shape == (1, 5, 3, 3)


def test_register_custom_op_and_errors() -> None:
    @register_op("test_conv1x1")
    def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Module:
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride), nn.ReLU())

    try:
        block = ChoiceBlock.from_ops("g", ["test_conv1x1", "skip"], 4, 4)
        assert block.ops == ("test_conv1x1", "skip")
        with pytest.raises(ValueError, match="already registered"):
            register_op("test_conv1x1")(conv1x1)
    finally:
        unregister_op("test_conv1x1")
    with pytest.raises(KeyError, match="unknown op 'test_conv1x1'"):
        create_op("test_conv1x1", 1, 1)
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        create_op("skip", 0, 1)


# ------------------------------------------------------------------------------------------ supernet


def test_genes_and_sampling(supernet: Supernet, rng: np.random.Generator) -> None:
    assert supernet.genes == {f"block{i}": ("conv3x3", "conv5x5", "skip") for i in range(3)}
    draws = [supernet.sample(rng) for _ in range(300)]
    counts = Counter(a["block1"] for a in draws)
    assert set(counts) == {"conv3x3", "conv5x5", "skip"} and min(counts.values()) > 70
    again = [supernet.sample(np.random.default_rng(7)) for _ in range(1)]
    assert again[0] == draws[0]


def test_check_arch_errors(supernet: Supernet) -> None:
    with pytest.raises(KeyError, match=r"missing \['block2'\]"):
        supernet.check_arch({"block0": "skip", "block1": "skip"})
    with pytest.raises(KeyError, match="gene 'block1' has op 'conv7x7'"):
        supernet.check_arch({"block0": "skip", "block1": "conv7x7", "block2": "skip"})
    with pytest.raises(ValueError, match="used by more than one"):
        Supernet([ChoiceBlock.from_ops("a", ["skip"], 2, 2), ChoiceBlock.from_ops("a", ["skip"], 2, 2)])


def test_forward_accepts_any_mapping(supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    from types import MappingProxyType

    arch = {"block0": "conv5x5", "block1": "skip", "block2": "conv3x3"}
    supernet.eval()
    out = supernet(data[0][:4], MappingProxyType(arch))
    assert out.shape == (4, 4)


def _snapshot(params: list[nn.Parameter]) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def test_unsampled_parameters_untouched_by_adam_weight_decay(
    supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = data[0][:16], data[1][:16]
    opt = torch.optim.Adam(supernet.parameters(), lr=1e-2, weight_decay=0.1)
    first = {"block0": "conv3x3", "block1": "conv3x3", "block2": "conv3x3"}
    second = {"block0": "conv5x5", "block1": "conv5x5", "block2": "skip"}
    supernet.train()
    supernet_train_step(supernet, opt, x, y, first)  # gives the conv3x3 weights non-zero Adam moments
    unsampled = list(supernet.unsampled_parameters(second))
    sampled = list(supernet.path_parameters(second))
    before_un, before_s = _snapshot(unsampled), _snapshot(sampled)
    supernet_train_step(supernet, opt, x, y, second)
    assert all(torch.equal(a, p) for a, p in zip(before_un, unsampled, strict=True))
    assert all(p.grad is None for p in unsampled)
    assert any(not torch.equal(a, p) for a, p in zip(before_s, sampled, strict=True))


def test_zeroed_grads_would_move_unsampled_params(
    supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """Control for the test above: with zero (not None) gradients Adam's moments and decay move weights,
    and drop_unsampled_grads is what prevents it when gradients were zeroed in place."""
    x, y = data[0][:16], data[1][:16]
    first = {"block0": "conv3x3", "block1": "conv3x3", "block2": "conv3x3"}
    second = {"block0": "conv5x5", "block1": "conv5x5", "block2": "skip"}
    supernet.train()
    for drop in (False, True):
        net = copy.deepcopy(supernet)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=0.1)
        supernet_train_step(net, opt, x, y, first)
        unsampled = list(net.unsampled_parameters(second))
        before = _snapshot(unsampled)
        opt.zero_grad(set_to_none=False)
        for p in net.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        nn.functional.cross_entropy(net(x, second), y).backward()
        if drop:
            assert net.drop_unsampled_grads(second) > 0
        opt.step()
        moved = any(not torch.equal(a, p) for a, p in zip(before, unsampled, strict=True))
        assert moved is not drop


def test_train_supernet_counts_determinism_progress(
    tiny_config: MacroConfig, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    config = TrainConfig(epochs=2, batch_size=32, lr=5e-3, seed=11)
    results, states, infos = [], [], []
    for _ in range(2):
        torch.manual_seed(0)
        net = MacroSupernet(tiny_config)
        infos.clear()
        results.append(train_supernet(net, data, config, progress=infos.append))
        states.append(net.state_dict())
    assert results[0].steps == 8 == len(infos)  # 120 samples / 32 -> 4 batches per epoch
    assert results[0].epoch_losses == results[1].epoch_losses
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    counts = results[0].op_counts
    assert all(sum(per_op.values()) == 8 for per_op in counts.values())
    trained = Counter((g, op) for info in infos if info.arch is not None for g, op in info.arch.items())
    assert all(counts[g][op] == n for (g, op), n in trained.items())
    assert [i.step for i in infos] == [0, 1, 2, 3, 0, 1, 2, 3]


def test_train_supernet_custom_sampler(supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    fixed = {"block0": "skip", "block1": "conv3x3", "block2": "skip"}
    result = train_supernet(supernet, data, TrainConfig(epochs=1, batch_size=60), sampler=lambda _rng: fixed)
    assert result.op_counts["block0"] == {"conv3x3": 0, "conv5x5": 0, "skip": 2}


def test_train_model_learns_separable_task() -> None:
    torch.manual_seed(0)
    x = torch.randn(200, 6)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    result = train_model(model, (x, y), TrainConfig(epochs=15, batch_size=20, lr=1e-2))
    assert result.epoch_losses[-1] < 0.3 * result.epoch_losses[0]
    assert (model(x).argmax(1) == y).float().mean() > 0.95


def test_train_config_validation() -> None:
    with pytest.raises(ValueError, match="TrainConfig.batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="TrainConfig.shards: 5 exceeds batch_size 4"):
        TrainConfig(batch_size=4, shards=5)


# ------------------------------------------------------------------------------------------- subnet

ARCHS = [
    {"block0": "conv3x3", "block1": "conv5x5", "block2": "skip"},
    {"block0": "skip", "block1": "skip", "block2": "skip"},
    {"block0": "conv5x5", "block1": "conv3x3", "block2": "conv5x5"},
]


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: ",".join(a.values()))
def test_subnet_matches_supernet_path(
    supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor], arch: dict[str, str]
) -> None:
    train_supernet(supernet, data, TrainConfig(epochs=1, batch_size=40))  # non-trivial BN statistics
    supernet.eval()
    sub = supernet.subnet(arch)
    assert isinstance(sub, nn.Sequential) and not sub.training
    allowed = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Linear)
    assert all(isinstance(m, allowed) for m in sub)
    with torch.no_grad():
        assert torch.equal(sub(data[0]), supernet(data[0], arch))
    sub[0].weight.data.add_(1.0)  # deep copy: the supernet is unaffected
    assert not torch.equal(sub[0].weight, supernet.layers[0][0].weight)


def test_subnet_layer_count_follows_ops(supernet: Supernet) -> None:
    n_conv = sum(isinstance(m, nn.Conv2d) for m in supernet.subnet(ARCHS[1]))
    assert n_conv == 1 + 0 + 1 + 0  # stem, skip, projection skip (4 -> 8 channels), skip
    n_conv = sum(isinstance(m, nn.Conv2d) for m in supernet.subnet(ARCHS[2]))
    assert n_conv == 1 + 2 + 2 + 2


# ---------------------------------------------------------------------------------- BN recalibration


def _full_batch_stats(model: nn.Module, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    ref = copy.deepcopy(model)
    for m in ref.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    ref.train()
    with torch.no_grad():
        ref(x)
    return [(m.running_mean, m.running_var) for m in ref.modules() if isinstance(m, nn.BatchNorm2d)]


def test_recalibration_equals_full_data_batch_statistics(
    supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    train_supernet(supernet, data, TrainConfig(epochs=1, batch_size=40))
    supernet.eval()
    sub = supernet.subnet(ARCHS[2])
    x = data[0]
    expected = _full_batch_stats(sub, x)
    recalibrate_bn(sub, list(torch.split(x, 25)))  # uneven batches: 25, 25, 25, 25, 20
    got = [(m.running_mean, m.running_var) for m in sub.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(got) == 7
    # float32 moments merged over batches vs one pass: a few eps32 ≈ 4e-7 relative (measured ≤ 9e-8);
    # rtol 1e-6 plus atol 1e-7 for channels near 0.
    for (m_got, v_got), (m_exp, v_exp) in zip(got, expected, strict=True):
        torch.testing.assert_close(m_got, m_exp, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(v_got, v_exp, rtol=1e-6, atol=1e-7)
    assert not sub.training


def test_naive_cumulative_average_is_not_exact(
    supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """PyTorch's momentum=None average over batches misses the between-batch variance of the means."""
    sub = supernet.subnet(ARCHS[2])
    expected = _full_batch_stats(sub, data[0])
    naive = copy.deepcopy(sub)
    for m in naive.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    naive.train()
    with torch.no_grad():
        for xb in torch.split(data[0], 25):
            naive(xb)
    bn = next(m for m in naive.modules() if isinstance(m, nn.BatchNorm2d))
    assert not torch.allclose(bn.running_var, expected[0][1], rtol=1e-6, atol=1e-7)  # exact: see above


def test_recalibration_leaves_supernet_alone(
    supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    recalibrate_bn(supernet.subnet(ARCHS[0]), [data[0]])
    assert all(torch.equal(before[k], v) for k, v in supernet.state_dict().items())


def test_recalibrate_supernet_path_with_forward(
    supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    arch = ARCHS[0]
    net = copy.deepcopy(supernet)
    recalibrate_bn(net, [data[0][:60], data[0][60:]], forward=lambda m, x: m(x, arch))
    sub = supernet.subnet(arch)
    recalibrate_bn(sub, [data[0]])
    net.eval()
    with torch.no_grad():  # BN stats differ by a few eps32 (see above), carried through ~7 BN layers to
        # |logit| ≈ 1.3: ≲ 7·4e-7·1.3 ≈ 4e-6 (measured 0); rtol = atol = 1e-5 is ~5x that.
        torch.testing.assert_close(net(data[0], arch), sub(data[0]), rtol=1e-5, atol=1e-5)


def test_recalibrate_errors() -> None:
    with pytest.raises(ValueError, match="data is empty"):
        recalibrate_bn(nn.Sequential(nn.BatchNorm1d(2)), [])
    with pytest.raises(ValueError, match="saw 1 value"):
        recalibrate_bn(nn.Sequential(nn.BatchNorm1d(2)), [torch.ones(1, 2)])


def test_recalibrate_skips_bn_without_running_stats() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, track_running_stats=False), nn.BatchNorm1d(4))
    x = torch.randn(50, 3)
    recalibrate_bn(model, [x])  # one batch: the first BN normalises it by its own statistics
    with torch.no_grad():
        h = model[1](model[0](x))
    # h is normalised (mean ≈ 0, var ≈ 1): float32 moments of 50 values of O(1) agree to a few eps32
    # ≈ 4e-7 absolute (measured 1.5e-8); atol 1e-6 (means) and rtol 1e-6 (variances).
    torch.testing.assert_close(model[2].running_mean, h.mean(0), rtol=0, atol=1e-6)
    torch.testing.assert_close(model[2].running_var, h.var(0, unbiased=True), rtol=1e-6, atol=1e-7)


def test_checkpoint_resume_is_bit_identical(
    tiny_config: MacroConfig, data: tuple[torch.Tensor, torch.Tensor], tmp_path
) -> None:
    config = TrainConfig(epochs=3, batch_size=32, lr=5e-3, weight_decay=1e-3, seed=9)
    torch.manual_seed(0)
    straight = MacroSupernet(tiny_config)
    expected = train_supernet(straight, data, config)

    ckpt = tmp_path / "ckpt.pt"
    torch.manual_seed(0)
    first = MacroSupernet(tiny_config)
    train_supernet(
        first, data, TrainConfig(epochs=1, batch_size=32, lr=5e-3, weight_decay=1e-3, seed=9), checkpoint=ckpt
    )
    torch.manual_seed(123)  # a "crashed" process restarts with different initial weights
    resumed = MacroSupernet(tiny_config)
    steps_seen: list[int] = []
    result = train_supernet(
        resumed, data, config, checkpoint=ckpt, progress=lambda i: steps_seen.append(i.epoch)
    )
    assert set(steps_seen) == {1, 2}  # only the missing epochs ran
    assert result.epoch_losses == expected.epoch_losses and result.steps == expected.steps
    assert result.op_counts == expected.op_counts
    assert all(torch.equal(v, straight.state_dict()[k]) for k, v in resumed.state_dict().items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


def test_checkpoint_refuses_other_config(
    supernet: Supernet, data: tuple[torch.Tensor, torch.Tensor], tmp_path
) -> None:
    from ttfsnet_nas.torch.train import CheckpointError

    ckpt = tmp_path / "ckpt.pt"
    train_supernet(supernet, data, TrainConfig(epochs=1, batch_size=60, seed=1), checkpoint=ckpt)
    with pytest.raises(CheckpointError, match=r"different \['seed'\]"):
        train_supernet(supernet, data, TrainConfig(epochs=2, batch_size=60, seed=2), checkpoint=ckpt)
    with pytest.raises(CheckpointError, match="'supernet' run"):
        train_model(
            supernet.subnet(ARCHS[0]), data, TrainConfig(epochs=2, batch_size=60, seed=1), checkpoint=ckpt
        )


def test_train_model_checkpoint_resume(data: tuple[torch.Tensor, torch.Tensor], tmp_path) -> None:
    def fresh() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(192, 8), nn.ReLU(), nn.Linear(8, 4))

    config = TrainConfig(epochs=2, batch_size=50, seed=3)
    straight = fresh()
    train_model(straight, data, config)
    part = fresh()
    train_model(part, data, TrainConfig(epochs=1, batch_size=50, seed=3), checkpoint=tmp_path / "m.pt")
    resumed = fresh()
    train_model(resumed, data, config, checkpoint=tmp_path / "m.pt")
    assert all(
        torch.equal(a, b)
        for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True)
    )


def test_training_loops_call_set_epoch_per_epoch_also_after_resume(
    data: tuple[torch.Tensor, torch.Tensor], tmp_path
) -> None:
    class Epochal(torch.utils.data.Dataset):
        """Inputs shift with the epoch, like fresh random windows; records the epochs it was given."""

        def __init__(self) -> None:
            self.epoch, self.seen = 0, []

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch
            self.seen.append(epoch)

        def __len__(self) -> int:
            return len(data[1])

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            return data[0][i] + self.epoch, int(data[1][i])

    def fresh() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(192, 8), nn.ReLU(), nn.Linear(8, 4))

    straight, ds = fresh(), Epochal()
    train_model(straight, ds, TrainConfig(epochs=3, batch_size=50, seed=3))
    assert ds.seen == [0, 1, 2]
    part, resumed, ds2 = fresh(), fresh(), Epochal()
    train_model(part, Epochal(), TrainConfig(epochs=1, batch_size=50, seed=3), checkpoint=tmp_path / "m.pt")
    train_model(resumed, ds2, TrainConfig(epochs=3, batch_size=50, seed=3), checkpoint=tmp_path / "m.pt")
    assert ds2.seen == [1, 2]  # the checkpoint holds epoch 0
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
