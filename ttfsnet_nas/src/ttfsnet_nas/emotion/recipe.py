"""Recipe schema of the TNAS-ER eye-emotion pipeline (``type: emotion``).

A recipe is a YAML mapping; every section below is a frozen dataclass, and unknown keys or values of the
wrong type are rejected with the YAML path of the offending key (e.g. ``search.pool_size``). Defaults
follow the paper text where it gives a value (TNAS-ER §4.2): Adam, batch 96, learning rates 5e-3 / 5e-4 /
5e-5 for supernet / retraining / fine-tuning, 600 epochs, 18 rounds, ζ = 0.5, 20 test runs, E4-S3 input.
Where the text lost or omits a value (G = 3, the 5×5 op, pool = elite = 12, the mutation probability, the
fitness formula, the 90 px input, ...), the default is an assumption, listed in
[`ttfsnet_nas.emotion.assumptions`][ttfsnet_nas.emotion.assumptions].

Example (the built-in ``tiny`` recipe)::

    type: emotion
    name: tiny
    data: {synthetic: tiny, image_size: 16}
    space: {groups: 1, width: 4}
    supernet: {epochs: 2}
    ...
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from ttfsnet_nas.config import RecipeError, from_dict, load_yaml, param, to_dict
from ttfsnet_nas.emotion.memory import MEMORY_LIMIT_BYTES, estimate_memory
from ttfsnet_nas.emotion.memory import format_bytes as _gib
from ttfsnet_nas.fitness import Fitness
from ttfsnet_nas.search import SearchConfig

__all__ = [
    "BaselinesConfig",
    "DataConfig",
    "EmotionRecipe",
    "RecipeError",
    "RetrainConfig",
    "RobustnessOptions",
    "EmotionSearchConfig",
    "QuantizeConfig",
    "SettingsConfig",
    "SnnConfig",
    "SpaceConfig",
    "SupernetConfig",
    "TestConfig",
    "load_recipe",
    "recipe_from_mapping",
    "recipe_to_dict",
    "MAX_EPOCHS",
    "MAX_GROUPS",
    "MAX_IMAGE_SIZE",
    "MAX_WIDTH",
    "SEEN_EVENT_MEAN",
    "SEEN_EVENT_STD",
]

# Upper bounds of a recipe (docs/nas.md, "Recipe limits"): far above any real use (TNAS-ER: 600 epochs,
# width 32; assumed: 90 px, 3 groups), low enough that a typo such as `epochs: 1e23` is refused when the
# recipe is read instead of running for ever or failing late with a MemoryError.
MAX_EPOCHS = 100_000
MAX_IMAGE_SIZE = 1024
MAX_WIDTH = 4096
MAX_GROUPS = 10
"""Each group halves the feature map, so ``MAX_IMAGE_SIZE = 2**MAX_GROUPS`` px is needed to fit them all."""
_MAX_WORKERS = 1024

SEEN_EVENT_MEAN = 0.504413
"""Mean of SEEN's event frames in [0, 1] (SEEN code, ``code/mean.py``), used by ``data.normalize: seen``."""
SEEN_EVENT_STD = 0.06928615
"""Standard deviation of SEEN's event frames in [0, 1] (SEEN code, ``code/mean.py``)."""


def _registered_ops() -> list[str]:
    from ttfsnet.models import available_ops  # the op registry of the one TNAS-ER backbone definition

    return available_ops()


def _check_ops(ops: tuple[str, ...], key: str) -> None:
    known = _registered_ops()
    for i, op in enumerate(ops):
        if op not in known:
            raise ValueError(f"{key}[{i}]: unknown op {op!r}; registered ops: {known}")


@dataclass(frozen=True, kw_only=True, slots=True)
class DataConfig:
    """Where the SEE-layout data comes from and how a sample is built.

    Attributes:
        root: dataset folder (SEE layout: ``event/``, ``emotion.json``); ``$VARS`` and ``~`` are expanded.
            ``None``: the ``TTFSNET_DATA`` environment variable, or, with ``synthetic`` set, the folder
            ``$TTFSNET_DATA/synthetic-<preset>-seed<seed>`` (``~/.cache/ttfsnet_nas/...`` without the
            variable; ``...-seed<seed>-events`` for a layout of raw event recordings such as ``events``).
        synthetic: synthetic preset generated into the root folder when it has no split JSON yet
            (``None`` = real data only: a missing folder is an error).
        synthetic_seed: seed of the generated synthetic set.
        layout: a registered dataset layout ([`ttfsnet_nas.emotion.layouts`][ttfsnet_nas.emotion.layouts]):
            ``see`` or ``dsee`` folder, JSON and sequence-name conventions, ``events`` (raw event recordings
            with an ``events.json`` / ``events.csv`` index, cut into 33 ms frames: docs/events.md), or a
            layout a plugin registered.
        sampling: E\\ *x*-S\\ *y* temporal setting (TNAS-ER: E4-S3).
        channels: input channels: ``x`` (one per event frame, the paper's 4 for E4) or ``2·x`` (each event
            frame split into a positive and a negative polarity map, so the grey background emits no spike).
        image_size: frames are resized to this square size (SEEN: 90; the TNAS-ER text gives none, so 90 is
            assumed).
        search_fraction: share of the training sequences held out for the search (TNAS-ER: 20 %).
        search_split: how the search part is drawn: ``random`` (default) draws sequences stratified by
            emotion, a plain 80 / 20 split; ``subject`` moves whole training subjects to it, so the fitness
            measures generalisation to unseen people (sequences without a subject token are split per
            sequence, stratified by emotion). The paper says only "80 % / 20 %": ``random`` is our reading
            of it (an assumption), ``subject`` this project's choice for the synthetic recipes. Replaces
            the key ``split`` of earlier versions.
        resize: how frames are resized to ``image_size``: ``area`` (default; exact block mean, so a
            polarity channel becomes the share of event pixels per block) or ``bilinear`` (Pillow's
            antialiased bilinear filter, SEEN's ``Resize(90)``). The frame cache keeps one file per setting.
        normalize: affine normalisation ``(x − mean) / std`` applied to every sample after the frame cache:
            ``none`` (default, values in [0, 1]), ``seen`` (SEEN's event-frame mean 0.504413 and std
            0.06928615) or ``custom`` (``mean`` and ``std`` below). The TTFS input range follows it.
        mean: with ``normalize: custom``, the mean subtracted.
        std: with ``normalize: custom``, the standard deviation divided by (> 0).
        workers: processes used to generate a synthetic set.
        cache: decode every frame once into a uint8 cache on disk (``<root>/.frame-cache/``), memory-mapped
            by every later run and loader worker; ``false`` decodes frames whenever a sample needs them.
        loader_workers: worker processes that draw and stack training batches (0: in the main process).
        strict: a corrupt or missing frame file, or a malformed JSON entry, is an error naming it
            (``true``); ``false`` skips it, counts it and logs the counts (nothing is dropped silently).
        legacy_quirks: reproduce the original SEEN sampler's quirks (see ``TemporalSampling``); off by
            default, on in the ``see*`` and ``dsee`` recipes.
        frame_window_ms: frame window (ms) that raw event recordings are cut into (> 0); ``None``: the
            index's ``window_ms``, else 33 ms. Only for layouts of raw event recordings (``events``); each
            window has its own frame cache.
        event_framing: what cuts raw event recordings into frames: ``numpy`` (default, our own code) or
            ``tonic`` (tonic's ``ToFrame`` transform, from the optional extra
            ``pip install "ttfsnet-nas[events]"``; a missing tonic is reported before the run starts). Both
            give the same frames (tested); ``tonic`` needs a frame window of whole microseconds and keeps a
            frame cache of its own. Only for layouts of raw event recordings (``events``).

    SEEN's input pipeline is ``search_split: random``, ``resize: bilinear``, ``normalize: seen``,
    ``legacy_quirks: true`` with ``channels`` = frames and ``image_size: 90`` (docs/emotion-data.md).
    """

    RENAMED_KEYS: ClassVar[dict[str, str]] = {"split": "search_split"}
    """Keys of earlier versions and their new names (a recipe that uses one gets a one-line hint)."""

    root: str | None = None
    synthetic: Literal["tiny", "small", "full", "hard", "wide"] | None = None
    synthetic_seed: int = param(0, ge=0)
    layout: str = "see"
    sampling: str = "E4-S3"
    channels: int = param(4, ge=1)
    image_size: int = param(90, ge=4, le=MAX_IMAGE_SIZE)
    search_fraction: float = param(0.2, gt=0.0, lt=1.0)
    search_split: Literal["random", "subject"] = "random"
    resize: Literal["area", "bilinear"] = "area"
    normalize: Literal["none", "seen", "custom"] = "none"
    mean: float | None = None
    std: float | None = param(None, gt=0.0)
    workers: int = param(1, ge=1, le=_MAX_WORKERS)
    cache: bool = True
    loader_workers: int = param(0, ge=0, le=_MAX_WORKERS, speed_only=True)
    strict: bool = True
    legacy_quirks: bool = False
    frame_window_ms: float | None = param(None, gt=0.0)
    event_framing: Literal["numpy", "tonic"] = "numpy"

    def __post_init__(self) -> None:
        from ttfsnet_nas.emotion.layouts import get_layout, layout_names
        from ttfsnet_nas.emotion.sampling import TemporalSampling

        if self.layout not in layout_names():
            raise ValueError(f"layout: expected one of {layout_names()}, got {self.layout!r}")
        window = self.frame_window_ms
        if window is not None and not math.isfinite(window):
            raise ValueError(f"frame_window_ms: expected a finite number of milliseconds, got {window}")
        if window is not None and not get_layout(self.layout).raw_events:
            raise ValueError(
                f"frame_window_ms: applies only to event-recording layouts (such as 'events'); "
                f"layout {self.layout!r} reads frames that are already cut"
            )
        if self.event_framing != "numpy" and not get_layout(self.layout).raw_events:
            raise ValueError(
                f"event_framing: applies only to event-recording layouts (such as 'events'); "
                f"layout {self.layout!r} reads frames that are already cut"
            )
        if self.event_framing == "tonic" and window is not None:
            from ttfsnet_nas.emotion.events import window_us_from_ms

            if not window_us_from_ms(window).is_integer():
                raise ValueError(
                    f"frame_window_ms: event_framing 'tonic' needs a whole number of microseconds "
                    f"(at most three decimals), got {window}"
                )
        try:
            frames = TemporalSampling.from_name(self.sampling).frames
        except ValueError as exc:
            raise ValueError(f"sampling: {exc}") from None
        if self.channels not in (frames, 2 * frames):
            raise ValueError(
                f"channels: expected {frames} (one per event frame of {self.sampling}) or {2 * frames} "
                f"(positive and negative polarity per frame), got {self.channels}"
            )
        custom = self.normalize == "custom"
        for key, value in (("mean", self.mean), ("std", self.std)):
            if custom and value is None:
                raise ValueError(f"{key}: required with normalize: custom")
            if not custom and value is not None:
                raise ValueError(f"{key}: only used with normalize: custom, got normalize: {self.normalize}")

    @property
    def normalization(self) -> tuple[float, float] | None:
        """``(mean, std)`` of the ``normalize`` setting (``None``: no normalisation)."""
        if self.normalize == "seen":
            return SEEN_EVENT_MEAN, SEEN_EVENT_STD
        if self.normalize == "custom" and self.mean is not None and self.std is not None:
            return self.mean, self.std
        return None

    @property
    def frames(self) -> int:
        """Event frames per sample (x of Ex-Sy)."""
        from ttfsnet_nas.emotion.sampling import TemporalSampling

        return TemporalSampling.from_name(self.sampling).frames

    @property
    def polarity_split(self) -> bool:
        """Whether each event frame becomes two polarity channels."""
        return self.channels == 2 * self.frames

    def resolved_root(self, where: str = "data") -> Path:
        """The dataset folder this config points to (it may not exist yet for a synthetic set).

        Args:
            where: YAML path of this section, for error messages (``data`` or ``target_data``).

        Raises:
            RecipeError: if neither ``root``, ``synthetic`` nor ``TTFSNET_DATA`` says where the data is.
        """
        if self.root:
            expanded = os.path.expandvars(self.root)
            if "$" in expanded:
                raise RecipeError(
                    f"{self.root!r} names an environment variable that is not set", key=f"{where}.root"
                )
            return Path(expanded).expanduser()
        env = os.environ.get("TTFSNET_DATA", "")
        if self.synthetic is None:
            if not env:
                raise RecipeError(
                    "not set, and the TTFSNET_DATA environment variable is empty", key=f"{where}.root"
                )
            return Path(env).expanduser()
        from ttfsnet_nas.emotion.layouts import get_layout

        base = Path(env).expanduser() if env else Path.home() / ".cache" / "ttfsnet_nas"
        # A set with raw event streams gets its own folder, so it never replaces a frames-only set.
        suffix = "-events" if get_layout(self.layout).raw_events else ""
        return base / f"synthetic-{self.synthetic}-seed{self.synthetic_seed}{suffix}"


@dataclass(frozen=True, kw_only=True, slots=True)
class SpaceConfig:
    """The eye-emotion search space (see [`ttfsnet_nas.emotion.space`][ttfsnet_nas.emotion.space]).

    Attributes:
        groups: macro-block groups G, each with two searchable blocks (the TNAS-ER text lost G; 3 is
            assumed).
        ops: candidate ops of every block (the text lost the kernel sizes; 3×3 and 5×5 are assumed).
        width: stem width; doubles after every pooling (TNAS-ER: 32).
    """

    groups: int = param(3, ge=1, le=MAX_GROUPS)
    ops: tuple[str, ...] = ("conv3x3", "conv5x5", "skip")
    width: int = param(32, ge=1, le=MAX_WIDTH)

    def __post_init__(self) -> None:
        if not self.ops:
            raise ValueError(f"ops: expected a non-empty list of registered ops {_registered_ops()}")
        if len(set(self.ops)) != len(self.ops):
            raise ValueError(f"ops: duplicate ops in {list(self.ops)}")
        _check_ops(self.ops, "ops")


@dataclass(frozen=True, kw_only=True, slots=True)
class SupernetConfig:
    """Stage 1: supernet training in the ANN domain with uniform single-path sampling.

    Attributes:
        epochs: passes over the supernet part of the training split (TNAS-ER: 600).
        lr: Adam learning rate, constant (TNAS-ER: 5e-3; the text gives no schedule, none is assumed).
        batch_size: batch size (TNAS-ER: 96).
        weight_decay: Adam weight decay (not in the TNAS-ER text; 0 assumed).
    """

    epochs: int = param(600, ge=1, le=MAX_EPOCHS)
    lr: float = param(5e-3, gt=0.0)
    batch_size: int = param(96, ge=1)
    weight_decay: float = param(0.0, ge=0.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class EmotionSearchConfig(SearchConfig):
    """Stage 2: evolutionary search on the held-out 20 % with inherited weights (ANN domain by default).

    The core [`ttfsnet_nas.search.SearchConfig`][ttfsnet_nas.search.SearchConfig] (strategy from the strategy
    registry, its hyper-parameters, ``fitness``) plus how candidates are scored. The strategy's seed is the
    recipe's master ``seed`` plus ``search.seed`` (default 0), so ``--seed`` reseeds the search too.

    Attributes:
        fitness: ``war_uar`` (TNAS-ER Eq. 6 read as the mean of WAR and UAR; an assumption, the formula is
            lost from the paper text), any objective name, or a full fitness mapping: ``{mode: pareto,
            objectives: [war_uar, energy_mj], constraints: [{objective: energy_mj, max: 0.04}]}`` for a
            Pareto search, constraints as hard budgets in any mode.
        hardware_profile: ttfsnet-hw profile for the hardware objectives (``None``: ``$TTFSNET_HW_PROFILE``
            or ``yoso``).
        bn_recalibration: recompute each candidate's BN statistics on the supernet split before scoring.
        batch_size: evaluation batch size (speed only).
        workers: Ray worker processes that score candidates in parallel with inherited weights (0: score in
            this process).
        gpus_per_worker: GPUs Ray reserves for each worker (fractions share one GPU; 0: CPU workers).
        domain: where candidates are scored (TNAS-ER §4.3, Fig. 4): ``ann`` on the ReLU subnet (the paper's
            choice), ``snn`` on its TTFS conversion (``snn.zeta``, windows calibrated on the supernet
            split): the same metrics under the exact mapping, slower.
    """

    fitness: Fitness = field(default_factory=lambda: Fitness.from_shorthand("war_uar"))
    hardware_profile: str | None = None
    bn_recalibration: bool = False
    batch_size: int = param(256, ge=1)
    workers: int = param(0, ge=0, le=_MAX_WORKERS, speed_only=True)
    gpus_per_worker: float = param(0.0, ge=0.0, speed_only=True)
    domain: Literal["ann", "snn"] = "ann"


@dataclass(frozen=True, kw_only=True, slots=True)
class RetrainConfig:
    """Stage 3: retraining the best subnet on the whole training split (ANN domain).

    Attributes:
        epochs: training epochs (TNAS-ER: 600).
        lr: Adam learning rate, constant (TNAS-ER: 5e-4; the text gives no schedule, none is assumed).
        batch_size: batch size (TNAS-ER: 96).
        weight_decay: Adam weight decay (not in the TNAS-ER text; 0 assumed).
        inherit: start from the supernet's weights instead of a fresh initialisation (the TNAS-ER text does
            not say; a fresh start is assumed).
    """

    epochs: int = param(600, ge=1, le=MAX_EPOCHS)
    lr: float = param(5e-4, gt=0.0)
    batch_size: int = param(96, ge=1)
    weight_decay: float = param(0.0, ge=0.0)
    inherit: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class RobustnessOptions:
    """Hardware non-idealities simulated during SNN fine-tuning and test (``ttfsnet.RobustnessConfig``).

    Attributes:
        time_noise_std: Gaussian jitter σ of hidden spike times.
        time_bits: spike-time resolution in bits (``None``: exact).
        weight_bits: weight resolution in bits (``None``: exact).
        weight_range: weight quantisation range.
    """

    time_noise_std: float = param(0.0, ge=0.0)
    time_bits: int | None = param(None, ge=1)
    weight_bits: int | None = param(None, ge=1)
    weight_range: tuple[float, float] = (-1.0, 1.0)

    def __post_init__(self) -> None:
        if self.weight_range[0] >= self.weight_range[1]:
            raise ValueError(
                f"weight_range: expected [low, high] with low < high, got {list(self.weight_range)}"
            )

    @property
    def active(self) -> bool:
        """Whether any non-ideality is switched on."""
        return self.time_noise_std > 0 or self.time_bits is not None or self.weight_bits is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class SnnConfig:
    """Stage 4: transfer to the TTFS SNN and SNN fine-tuning.

    Attributes:
        zeta: window factor ζ, ``T = (1 + ζ)·max activation`` (TNAS-ER: 0.5).
        calibration_samples: training samples used to calibrate the windows.
        finetune_epochs: SNN fine-tuning epochs (TNAS-ER: 100; 0 = transfer only).
        finetune_lr: fine-tuning learning rate (TNAS-ER: 5e-5).
        batch_size: fine-tuning batch size.
        robustness: non-idealities during fine-tuning and test (all off: exact TTFS).
    """

    zeta: float = param(0.5, ge=0.0)
    calibration_samples: int = param(512, ge=1)
    finetune_epochs: int = param(100, ge=0, le=MAX_EPOCHS)
    finetune_lr: float = param(5e-5, gt=0.0)
    batch_size: int = param(96, ge=1)
    robustness: RobustnessOptions = field(default_factory=RobustnessOptions)


@dataclass(frozen=True, kw_only=True, slots=True)
class TestConfig:
    """Stage 5: test evaluation of the SNN (with the ANN alongside).

    Attributes:
        runs: inference runs with fresh random temporal windows (TNAS-ER/SEEN: 20).
        batch_size: evaluation batch size.
    """

    __test__ = False  # keeps pytest from collecting this class when a test imports it

    runs: int = param(20, ge=1, le=10_000)
    batch_size: int = param(256, ge=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class BaselinesConfig:
    """Optional baselines of TNAS-ER §4.5 / Fig. 7, each retrained with the ``retrain`` budget.

    Attributes:
        random_sampling: number of random architectures trained, WAR/UAR averaged (paper: 10; 0 = off).
        random_search: best of this many random architectures scored on the supernet (paper: 100; 0 = off).
        fixed: fixed backbones, every block the same op (paper: one per kernel size; ``[conv3x3, conv5x5]``
            assumes the lost second kernel is 5×5).
    """

    random_sampling: int = param(0, ge=0, le=10_000)
    random_search: int = param(0, ge=0, le=1_000_000)
    fixed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_ops(self.fixed, "fixed")

    @property
    def enabled(self) -> bool:
        """Whether any baseline is requested."""
        return bool(self.random_sampling or self.random_search or self.fixed)


@dataclass(frozen=True, kw_only=True, slots=True)
class SettingsConfig:
    """Optional ``settings`` stage: the three retraining settings of TNAS-ER §4.3 / Fig. 5 for one
    architecture, each tested with ``test.runs`` runs (docs/paper-settings.md).

    (1) the ANN retrained as in stage 3, transferred to TTFS, not fine-tuned; (2) (1) plus SNN fine-tuning as
    in stage 4; (3) the same architecture without BatchNorm, freshly initialised, converted and trained as a
    TTFS network from scratch (exact spike-time gradients, windows fixed at their initial calibration).

    Attributes:
        enabled: run the stage after ``test``.
        op: the architecture: a registered op placed in every searchable block (paper: all blocks 3×3
            convolutions), or ``searched`` for the best architecture of the search.
        scratch_epochs: SNN training epochs of setting (3) (``None``: ``retrain.epochs``).
        scratch_lr: Adam learning rate of setting (3) (``None``: ``retrain.lr``; an assumption, the paper
            gives none).
    """

    enabled: bool = False
    op: str = "conv3x3"
    scratch_epochs: int | None = param(None, ge=1, le=MAX_EPOCHS)
    scratch_lr: float | None = param(None, gt=0.0)

    def __post_init__(self) -> None:
        if self.op != "searched":
            _check_ops((self.op,), "op")


@dataclass(frozen=True, kw_only=True, slots=True)
class QuantizeConfig:
    """Optional ``quantize`` stage: the final SNN quantised to a hardware profile's widths and tested on the
    ``test`` stage's R runs next to the float SNN (TNAS-ER §4.6 quantises before deployment; needs the
    ``ttfsnet-hw`` plugin).

    Attributes:
        enabled: run the stage after ``test``.
        profile: ``ttfsnet-hw`` profile (name or YAML path) whose widths are used (``None``:
            ``$TTFSNET_HW_PROFILE``, else ``yoso``).
        calibration_samples: training windows that calibrate the quantisation (membrane-width check).
        bias_correction: compensate the mean floor error of quantised spike times (``ttfsnet_hw.quantize``).
    """

    enabled: bool = False
    profile: str | None = None
    calibration_samples: int = param(256, ge=1)
    bias_correction: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class EmotionRecipe:
    """The whole TNAS-ER pipeline recipe.

    Attributes:
        type: pipeline type, always ``emotion``.
        name: run name (used in reports).
        seed: master seed (split, sampling, training, search, test windows).
        out: output folder (the CLI's ``--out`` overrides it).
        device: where every stage runs: ``auto`` (CUDA when available, else the CPU), ``cpu``, ``cuda`` or
            ``cuda:N`` (the CLI's ``--device`` overrides it). Files written stay device-independent.
        precision: ANN training stages in ``fp32`` or with ``bf16`` autocast; the SNN always runs in float32
            or float64.
        data: search data (supernet training and search); also retraining and test data unless
            ``target_data`` is set.
        target_data: optional separate data for retraining, transfer and test (search on SEE, train and
            test on DSEE: TNAS-ER §4.5 "architecture transferability").
        space: search space.
        supernet: stage 1.
        search: stage 2.
        retrain: stage 3.
        snn: stage 4.
        test: stage 5.
        baselines: optional baselines.
        settings: optional retraining settings of Fig. 5.
        quantize: optional quantised test of the final SNN.
    """

    type: Literal["emotion"] = "emotion"
    name: str = "emotion"
    seed: int = param(0, ge=0)
    out: str = "runs/emotion"
    device: str = "auto"
    precision: Literal["fp32", "bf16"] = "fp32"
    data: DataConfig = field(default_factory=DataConfig)
    target_data: DataConfig | None = None
    space: SpaceConfig = field(default_factory=SpaceConfig)
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    search: EmotionSearchConfig = field(default_factory=EmotionSearchConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    snn: SnnConfig = field(default_factory=SnnConfig)
    test: TestConfig = field(default_factory=TestConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    settings: SettingsConfig = field(default_factory=SettingsConfig)
    quantize: QuantizeConfig = field(default_factory=QuantizeConfig)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"device: expected auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.target_data is not None and self.target_data.channels != self.data.channels:
            raise ValueError(
                f"target_data.channels: must equal data.channels ({self.data.channels}) so the searched "
                f"architecture fits, got {self.target_data.channels}"
            )
        if self.target_data is not None and self.target_data.image_size != self.data.image_size:
            raise ValueError(
                f"target_data.image_size: must equal data.image_size ({self.data.image_size}), "
                f"got {self.target_data.image_size}"
            )
        if self.settings.enabled and self.eval_data.normalization is not None:
            # setting (3) saves the scratch SNN's ReLU twin as a plain layer chain, which has no input
            # normalisation layer: exact only on inputs in [0, 1]
            where = "target_data" if self.target_data is not None else "data"
            raise ValueError(
                f"settings.enabled: the scratch setting needs {where}.normalize: none (inputs in [0, 1]), "
                f"got {self.eval_data.normalize!r}"
            )
        if self.settings.enabled and self.settings.op not in ("searched", *self.space.ops):
            raise ValueError(
                f"settings.op: expected 'searched' or one of space.ops {list(self.space.ops)}, "
                f"got {self.settings.op!r}"
            )
        if self.target_data is not None and self.retrain.inherit:
            raise ValueError("retrain.inherit: cannot inherit supernet weights when target_data is set")
        fit = self.data.image_size.bit_length() - 1  # max-poolings a side of image_size px survives
        if self.space.groups > fit:
            raise ValueError(
                f"space.groups: {self.space.groups} groups halve the feature map {self.space.groups} times, "
                f"but data.image_size {self.data.image_size} px survives at most {fit} halvings"
            )
        estimate = estimate_memory(self)
        if estimate.total > MEMORY_LIMIT_BYTES:
            raise ValueError(
                f"{estimate.dominant}: one {estimate.step} needs about {_gib(estimate.total)} "
                f"(activations {_gib(estimate.activations)} for {estimate.batch_key} = "
                f"{estimate.batch_size}, "
                f"supernet weights {_gib(estimate.weights)}), above the {_gib(MEMORY_LIMIT_BYTES)} limit "
                f"(docs/nas.md, 'Recipe limits'); lower {estimate.dominant}"
            )

    @property
    def eval_data(self) -> DataConfig:
        """Data for retraining, transfer and test."""
        return self.target_data if self.target_data is not None else self.data


def recipe_from_mapping(
    data: Mapping[str, Any], *, file: str | os.PathLike[str] | None = None
) -> EmotionRecipe:
    """Check and build a recipe from parsed YAML.

    Raises:
        RecipeError: one line naming the file (when given), the YAML path and what was expected.
    """
    try:
        return from_dict(EmotionRecipe, data)
    except RecipeError as exc:
        raise exc.with_file(file) if file is not None else exc from None


def load_recipe(path: str | os.PathLike[str]) -> EmotionRecipe:
    """Load and check a recipe file.

    Raises:
        RecipeError: missing file, YAML syntax error, or a bad key/value (naming the YAML path).
    """
    data = load_yaml(path)
    return recipe_from_mapping({} if data is None else data, file=path)


def recipe_to_dict(recipe: EmotionRecipe) -> dict[str, Any]:
    """Plain YAML/JSON-ready form of a recipe (tuples become lists)."""
    return to_dict(recipe)
