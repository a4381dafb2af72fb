"""The step-mode training quantiser (``RobustnessConfig(time_quant="step")``) is the integer datapath's, and
quantisation-aware fine-tuning with it recovers accuracy lost to 4-bit spike times (sklearn digits)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import ttfsnet  # noqa: E402
from ttfsnet_hw.adapters.torch import ir_from_ttfs  # noqa: E402
from ttfsnet_hw.adapters.torch_quant import apply_quantization, qat_finetune  # noqa: E402
from ttfsnet_hw.intsim import simulate  # noqa: E402
from ttfsnet_hw.profile import PrecisionSpec  # noqa: E402
from ttfsnet_hw.quantize import quantize  # noqa: E402

PREC = PrecisionSpec(weight_bits=8, membrane_bits=24, time_bits=4)


@pytest.fixture(scope="module")
def digits_cnn() -> tuple[ttfsnet.TTFSNetwork, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(d.target)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(y), generator=g)
    train, test = perm[:1437], perm[1437:]
    torch.manual_seed(0)
    ann = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 32),
        nn.ReLU(),
        nn.Linear(32, 10),
    )
    opt = torch.optim.Adam(ann.parameters(), 1e-3)
    for _ in range(15):
        order = train[torch.randperm(len(train), generator=g)]
        for i in range(0, len(order), 64):
            b = order[i : i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(ann(x[b]), y[b]).backward()
            opt.step()
    net = ttfsnet.convert(ann.eval(), x[train[:256]])
    return net, x[train], y[train], x[test], y[test]


def test_step_mode_on_quantised_values_equals_integer_simulation(digits_cnn) -> None:  # type: ignore[no-untyped-def]
    net, x_tr, _, x_te, _ = digits_cnn
    q = quantize(ir_from_ttfs(net, (1, 8, 8)), PREC, x_tr[:256].double().numpy())
    on_grid = apply_quantization(net, q)  # chip weights, thresholds, power-of-two windows (float64)
    on_grid.robustness = ttfsnet.RobustnessConfig(time_bits=PREC.time_bits, time_quant="step")
    with torch.no_grad():
        logits = on_grid(x_te.double()).numpy()
    sim = simulate(q, x_te.double().numpy())
    np.testing.assert_array_equal(logits.argmax(axis=1), sim.predictions)
    np.testing.assert_array_equal(logits, sim.logits)  # dyadic values: float64 is exact
    # the reference code's rounding quantiser is a different grid: it does not reproduce the chip
    on_grid.robustness = ttfsnet.RobustnessConfig(time_bits=PREC.time_bits)
    with torch.no_grad():
        rounded = on_grid(x_te.double()).numpy()
    assert not np.array_equal(rounded, sim.logits)


def test_step_qat_does_not_lose_accuracy_vs_ptq(digits_cnn) -> None:  # type: ignore[no-untyped-def]
    net0, x_tr, y_tr, x_te, y_te = digits_cnn
    batches = [(x_tr[i : i + 64], y_tr[i : i + 64]) for i in range(0, len(y_tr), 64)]
    val = [(x_te, y_te)]
    cal = x_tr[:256].double().numpy()
    results = {}
    for mode, corrected in (("round", False), ("step", False), ("step", True)):
        results[mode, corrected] = qat_finetune(
            copy.deepcopy(net0),
            batches,
            val,
            PREC,
            input_shape=(1, 8, 8),
            epochs=5,
            lr=1e-3,
            calibration=cal,
            bias_correction=corrected,
            time_quant=mode,
        )
    step, rnd, step_bc = results["step", False], results["round", False], results["step", True]
    summary = {m: (r["float_before"], r["int_before"], r["int_after"]) for m, r in results.items()}
    assert step["int_before"] == rnd["int_before"]  # same PTQ starting point
    assert step["int_after"] >= step["int_before"], summary
    assert step["int_after"] >= rnd["int_after"], summary
    assert step["float_before"] - step["int_after"] <= 0.03, summary
    # with the correction folded in before fine-tuning (and not applied twice) it still does not lose
    assert step_bc["int_after"] >= step_bc["int_before"], summary
    with pytest.raises(ValueError, match="time_quant"):
        qat_finetune(net0, batches, val, PREC, input_shape=(1, 8, 8), time_quant="ceil")  # type: ignore[arg-type]
