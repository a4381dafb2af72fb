"""Data of the TNAS-ER pipeline: the dataset folder (generated when it is a synthetic preset), the
train/test datasets over the memory-mapped frame cache ([`frame_cache`][ttfsnet_nas.emotion.frame_cache]), the
supernet/search split ([`split_training`][ttfsnet_nas.emotion.splits.split_training]) and re-iterable epoch
batches for SNN fine-tuning."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ttfsnet_nas.emotion.dataset import EventEmotionDataset, subset_view
from ttfsnet_nas.emotion.events import require_tonic, window_us_from_ms, with_event_framing, with_frame_window
from ttfsnet_nas.emotion.frame_cache import default_cache_dir
from ttfsnet_nas.emotion.layouts import DatasetLayout, get_layout
from ttfsnet_nas.emotion.recipe import DataConfig
from ttfsnet_nas.emotion.sampling import TemporalSampling
from ttfsnet_nas.emotion.see import DatasetError, load_see
from ttfsnet_nas.emotion.splits import split_training
from ttfsnet_nas.errors import PipelineError
from ttfsnet_nas.progress import Progress
from ttfsnet_nas.torch.data import BatchLoader

__all__ = ["EmotionData", "EpochBatches", "check_event_framing", "ensure_dataset", "layout_of", "load_data"]


@dataclass(slots=True)
class EmotionData:
    """The datasets of one data source.

    Attributes:
        classes: label names, in label order.
        train: every training sequence.
        test: every testing sequence.
        supernet: the supernet part of ``train`` (only with a search split).
        search: the search part of ``train`` (only with a search split).
        split: sequence names of the two parts (``split.json``).
    """

    classes: tuple[str, ...]
    train: EventEmotionDataset
    test: EventEmotionDataset
    supernet: EventEmotionDataset | None = None
    search: EventEmotionDataset | None = None
    split: dict[str, list[str]] | None = None

    def split_rows(self) -> dict[str, list[int]]:
        """Row indices of the supernet and search parts in ``train`` (journal headers carry them, so a
        resume on other data is refused)."""
        rows = {name: i for i, name in enumerate(self.train.names)}
        split = self.split or {}
        return {part: [rows[n] for n in split.get(part, [])] for part in ("supernet", "search")}


def layout_of(cfg: DataConfig) -> DatasetLayout:
    """The registered dataset layout that ``cfg.layout`` names."""
    return get_layout(cfg.layout)


def check_event_framing(cfg: DataConfig, where: str) -> None:
    """Check that what ``cfg.event_framing`` frames raw recordings with is installed (tonic is an optional
    extra), so a missing package is reported before a run starts rather than when the data is loaded.

    Raises:
        DatasetError: one line naming ``<where>.event_framing`` and the install command.
    """
    if cfg.event_framing == "tonic":
        require_tonic(f"{where}.event_framing")


def ensure_dataset(cfg: DataConfig, progress: Progress, where: str) -> Path:
    """The dataset folder of ``cfg``; a synthetic preset is generated there first when absent.

    Raises:
        DatasetError: a real-data folder without the split JSON.
        PipelineError: the synthetic generator refuses the folder (it holds foreign files).
    """
    root = cfg.resolved_root(where)
    layout = layout_of(cfg)
    if any((root / name).is_file() for name in layout.json_names):
        return root
    if cfg.synthetic is None:
        raise DatasetError(
            f"{where}.root: {root} holds no {' / '.join(layout.json_names)} "
            f"(not a {cfg.layout!r}-layout dataset)"
        )
    from ttfsnet_nas.emotion.synth import generate

    progress.log(f"generating the synthetic '{cfg.synthetic}' set (seed {cfg.synthetic_seed}) in {root}")

    def tick(done: int, total: int) -> None:
        if done == 1:  # the total is known once the generator has planned the set: a bar with an ETA
            progress.start("generate data", total)
        progress.advance("generate data", 1)

    try:
        # An interrupted generation leaves frames but no split JSON (written last); the generator wipes
        # such a folder only when it holds nothing but its own outputs.
        generate(
            root,
            preset=cfg.synthetic,
            seed=cfg.synthetic_seed,
            workers=cfg.workers,
            overwrite=True,
            progress=tick,
            events=layout.raw_events,
        )
    except ValueError as exc:
        raise PipelineError(f"{where}.root: {exc}") from None
    progress.finish("generate data")
    return root


def load_data(
    cfg: DataConfig, *, seed: int, with_search_split: bool, progress: Progress, where: str
) -> EmotionData:
    """Load (generating it first if needed) the data of ``cfg``.

    With ``cfg.cache`` the decoded frames of each part go to a memory-mapped cache in
    [`default_cache_dir`][ttfsnet_nas.emotion.frame_cache.default_cache_dir], built by the first run and
    opened by later ones without decoding; the cache keys on ``cfg.resize`` (one file per setting), while
    ``cfg.normalize`` is applied to each batch on top of it. ``cfg.loader_workers`` goes to the datasets (see
    [`BatchLoader`][ttfsnet_nas.torch.data.BatchLoader]). ``cfg.frame_window_ms`` cuts raw event recordings
    at that window instead of the index's
    ([`with_frame_window`][ttfsnet_nas.emotion.events.with_frame_window]); each window has its own cache.
    ``cfg.event_framing: tonic`` frames them with tonic's ``ToFrame`` instead of our own code
    ([`with_event_framing`][ttfsnet_nas.emotion.events.with_event_framing]): the same frames, in a cache of
    their own.

    Args:
        cfg: the ``data`` or ``target_data`` section.
        seed: seed of the temporal windows and of the split.
        with_search_split: also split the training sequences into supernet and search parts
            (``cfg.search_split`` rule, ``cfg.search_fraction``).
        progress: progress sink.
        where: recipe key of ``cfg``, for messages.

    Raises:
        DatasetError: a missing or malformed dataset, or tonic missing for ``event_framing: tonic`` (bad
            input: the CLI exits with 2).
    """
    check_event_framing(cfg, where)
    root = ensure_dataset(cfg, progress, where)
    index = load_see(root, layout=layout_of(cfg), strict=cfg.strict)
    if cfg.frame_window_ms is not None:
        index = with_frame_window(index, window_us_from_ms(cfg.frame_window_ms))
    if cfg.event_framing != "numpy":
        index = with_event_framing(index, cfg.event_framing)
    train_seqs, test_seqs = index.train_test()
    sampling = TemporalSampling.from_name(cfg.sampling, legacy_quirks=cfg.legacy_quirks)
    kwargs: dict[str, Any] = {
        "sampling": sampling,
        "strict": cfg.strict,
        "size": cfg.image_size,
        "resample": cfg.resize,
        "normalize": cfg.normalization,
        "polarity_split": cfg.polarity_split,
        "cache": cfg.cache,
        "cache_dir": default_cache_dir(root) if cfg.cache else None,
        "seed": seed,
        "loader_workers": cfg.loader_workers,
    }
    progress.start(f"load {where}", len(train_seqs) + len(test_seqs))

    def ticker() -> Callable[[int, int], None]:
        last = [0]

        def tick(done: int, total: int) -> None:
            # a cache that is opened, not built, reports all its sequences at once
            progress.advance(f"load {where}", done - last[0])
            last[0] = done

        return tick

    train = EventEmotionDataset(train_seqs, progress=ticker(), **kwargs)
    test = EventEmotionDataset(test_seqs, progress=ticker(), **kwargs)
    progress.finish(f"load {where}")
    skipped = dict(index.skipped)
    for part, ds in (("train", train), ("test", test)):
        if ds.skipped_frames or ds.skipped_sequences:
            skipped[f"{part} frames"] = ds.skipped_frames
            skipped[f"{part} sequences"] = ds.skipped_sequences
    if skipped:
        progress.log(f"{where}: skipped and counted: {skipped}")
    data = EmotionData(classes=tuple(index.labels), train=train, test=test)
    if with_search_split:
        sup, sea = split_training(
            list(train.sequences), search_fraction=cfg.search_fraction, seed=seed, rule=cfg.search_split
        )
        rows = {s.name: i for i, s in enumerate(train.sequences)}
        data.supernet = subset_view(train, [rows[s.name] for s in sup])
        data.search = subset_view(train, [rows[s.name] for s in sea])
        data.split = {"supernet": [s.name for s in sup], "search": [s.name for s in sea]}
    return data


class EpochBatches:
    """Re-iterable shuffled batches that draw fresh temporal windows on every pass (for fine-tuning).

    Batches come through a [`BatchLoader`][ttfsnet_nas.torch.data.BatchLoader] with the dataset's
    ``loader_workers`` (its workers live as long as this object) and land on ``device``.
    """

    def __init__(
        self, data: EventEmotionDataset, batch_size: int, seed: int, *, device: torch.device | str = "cpu"
    ) -> None:
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.loader = BatchLoader(data, device=device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.data.set_epoch(self.epoch)
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(len(self.data), generator=generator)
        self.epoch += 1
        yield from self.loader(torch.split(order, self.batch_size))
