"""Peak memory of a recipe's largest step, from its geometry alone: refuses clearly impossible recipes up
front (``EmotionRecipe`` checks it when it is built; docs/nas.md, "Recipe limits")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ttfsnet_nas.emotion.recipe import EmotionRecipe

__all__ = ["MEMORY_LIMIT_BYTES", "MemoryEstimate", "estimate_memory", "format_bytes"]

MEMORY_LIMIT_BYTES = 2**40
"""1 TiB: the ceiling of [`estimate_memory`][ttfsnet_nas.emotion.memory.estimate_memory] (a fixed number, so a
recipe is valid on every machine)."""


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    """Peak memory of the largest step of a recipe, from its geometry alone
    ([`estimate_memory`][ttfsnet_nas.emotion.memory.estimate_memory]).

    Attributes:
        step: ``training batch`` or ``evaluation batch``, whichever needs more.
        batch_key: recipe key of that step's batch size.
        batch_size: its value.
        activations: bytes of the batch's activations (training: what autograd keeps for the backward pass).
        weights: bytes of the supernet's weights (training: with gradients and Adam's two moments).
        dominant: the recipe key furthest above the TNAS-ER setting among those driving the larger part.
    """

    step: str
    batch_key: str
    batch_size: int
    activations: int
    weights: int
    dominant: str

    @property
    def total(self) -> int:
        """Activations plus weights, in bytes."""
        return self.activations + self.weights


# what the dominant key is measured against: the TNAS-ER setting (batch 96, 90 px, width 32, G = 3, 3 ops)
_PAPER = {"batch": 96, "image_size": 90, "width": 32, "groups": 3, "ops": 3}
_FLOAT_BYTES = 4  # float32 (bf16 autocast keeps less: this is an upper bound)
_KERNEL_AREA = 25  # every candidate op is counted as two 5×5 convolutions, the largest built-in op
_CLASSES = 7


def estimate_memory(recipe: EmotionRecipe) -> MemoryEstimate:
    """Peak memory of the recipe's largest training or evaluation batch on the widest supernet path.

    Training (``supernet``/``retrain``/``snn`` batch sizes): per sample, the float32 tensors autograd saves
    for the backward pass when every block takes two 5×5 convolution–BN–ReLU layers (input, conv and ReLU
    outputs, max-pool outputs and their int64 indices), plus the supernet's weights with gradients and
    Adam's two moments (16 bytes per parameter, every candidate op counted as two 5×5 convolutions).
    Evaluation (``search``/``test`` batch sizes, no gradients): the input and two layer outputs alive at
    once, plus the weights. The activation part matches the bytes autograd saves to within 1 % (checked
    in ``tests/ttfsnet_nas/emotion/test_recipe_guards.py``). The data set and its frame cache are not
    counted: their size is known only once the data are indexed.
    """
    d, s = recipe.data, recipe.space
    size, width, groups, channels = d.image_size, s.width, s.groups, d.channels
    saved = largest = channels * size * size  # float elements per sample
    params = 9 * channels * width + 9 * width * width  # two 3×3 stem convolutions
    h = size
    for _ in range(2):
        saved += 2 * width * h * h  # conv output (kept by BN) and ReLU output (kept by ReLU / next conv)
        largest = max(largest, width * h * h)
    c_in = width
    for g in range(groups):
        c = width * 2**g
        saved += 4 * 2 * c * h * h  # two blocks of two conv–BN–ReLU layers
        largest = max(largest, c * h * h)
        params += len(s.ops) * _KERNEL_AREA * (c_in * c + 3 * c * c)
        c_in = c
        h //= 2
        saved += 3 * c * h * h  # pool output and its int64 indices (two floats' worth)
    params += c_in * h * h * _CLASSES
    train_key, train_batch = max(
        (
            ("supernet.batch_size", recipe.supernet.batch_size),
            ("retrain.batch_size", recipe.retrain.batch_size),
            ("snn.batch_size", recipe.snn.batch_size),
        ),
        key=lambda kv: kv[1],
    )
    eval_key, eval_batch = max(
        (("search.batch_size", recipe.search.batch_size), ("test.batch_size", recipe.test.batch_size)),
        key=lambda kv: kv[1],
    )
    train = (train_batch * saved * _FLOAT_BYTES, 4 * params * _FLOAT_BYTES)
    evaluate = (eval_batch * (channels * size * size + 2 * largest) * _FLOAT_BYTES, params * _FLOAT_BYTES)
    step, key, batch, (activations, weights) = max(
        (
            ("training batch", train_key, train_batch, train),
            ("evaluation batch", eval_key, eval_batch, evaluate),
        ),
        key=lambda row: sum(row[3]),
    )
    # the key furthest above the paper's setting, among those that drive the larger part
    if activations >= weights:
        ratios = {
            key: batch / _PAPER["batch"],
            "data.image_size": (size / _PAPER["image_size"]) ** 2,
            "space.width": width / _PAPER["width"],
        }
    else:
        ratios = {
            "space.width": (width / _PAPER["width"]) ** 2,
            "space.groups": 4.0 ** (groups - _PAPER["groups"]),
            "space.ops": len(s.ops) / _PAPER["ops"],
        }
    dominant = max(ratios, key=lambda k: ratios[k])
    return MemoryEstimate(step, key, batch, activations, weights, dominant)


def format_bytes(n: int) -> str:
    """``n`` bytes in MiB, GiB or TiB, for messages."""
    if n < 2**30:
        return f"{n / 2**20:,.1f} MiB"
    return f"{n / 2**30:,.1f} GiB" if n < 2**40 else f"{n / 2**40:,.1f} TiB"
