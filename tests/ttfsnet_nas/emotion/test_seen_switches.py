"""The SEEN-compatible data switches: ``data.search_split``, ``data.resize``, ``data.normalize`` and
``legacy_quirks`` in the ``see*`` recipes (SEEN's input pipeline, docs/emotion-data.md)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torch import nn

import ttfsnet
from ttfsnet_nas.config import RecipeError
from ttfsnet_nas.emotion.data import load_data
from ttfsnet_nas.emotion.dataset import INPUT_RANGE, EventEmotionDataset
from ttfsnet_nas.emotion.recipe import (
    SEEN_EVENT_MEAN,
    SEEN_EVENT_STD,
    DataConfig,
    load_recipe,
    recipe_from_mapping,
)
from ttfsnet_nas.emotion.see import read_frame
from ttfsnet_nas.progress import NullProgress

RECIPES = Path(__file__).resolve().parents[3] / "ttfsnet_nas" / "src" / "ttfsnet_nas" / "recipes"
SEEN_RECIPES = ("see", "see-transfer", "see-synthetic", "dsee")


def _load(root: Path, **kwargs: object):
    cfg = DataConfig(root=str(root), **kwargs)  # type: ignore[arg-type]
    return load_data(cfg, seed=0, with_search_split=True, progress=NullProgress(), where="data")


# -- data.search_split ---------------------------------------------------------------------------------


def test_default_search_split_is_random_and_stratified(tiny_see_root: Path) -> None:
    assert DataConfig().search_split == "random"
    data = _load(tiny_see_root, image_size=16)
    assert data.supernet is not None and data.search is not None
    train = Counter(s.emotion for s in data.train.sequences)
    search = Counter(s.emotion for s in data.search.sequences)
    # stratified: every emotion keeps its 20 % share, to the rounding of one sequence
    for emotion, n in train.items():
        assert abs(search[emotion] - 0.2 * n) <= 0.5, (emotion, search[emotion], n)
    # a plain split of sequences: people are shared between the two parts (the synthetic set has 2 takes
    # per subject and emotion, so some subject is always on both sides)
    supernet_subjects = {s.subject for s in data.supernet.sequences}
    assert supernet_subjects & {s.subject for s in data.search.sequences}
    assert set(data.supernet.names) | set(data.search.names) == set(data.train.names)
    assert not set(data.supernet.names) & set(data.search.names)


def test_subject_search_split_keeps_people_apart(tiny_see_root: Path) -> None:
    data = _load(tiny_see_root, image_size=16, search_split="subject")
    assert data.supernet is not None and data.search is not None
    supernet_subjects = {s.subject for s in data.supernet.sequences}
    search_subjects = {s.subject for s in data.search.sequences}
    assert supernet_subjects and search_subjects and not supernet_subjects & search_subjects
    random = _load(tiny_see_root, image_size=16)
    assert random.split != data.split  # the two rules draw different parts


def test_the_old_split_key_names_its_new_name(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as info:
        recipe_from_mapping({"data": {"split": "subject"}})
    assert str(info.value) == "data.split: renamed to data.search_split; use that key instead"
    recipe = tmp_path / "old.yaml"
    recipe.write_text(yaml.safe_dump({"type": "emotion", "target_data": {"split": "random"}}))
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    message = str(info.value)
    assert "\n" not in message
    expected = "target_data.split: renamed to target_data.search_split; use that key instead"
    assert message == f"{recipe}: {expected}"
    # a key that was never renamed keeps the usual error
    with pytest.raises(RecipeError, match=r"^data\.splitt: unknown key"):
        recipe_from_mapping({"data": {"splitt": "random"}})


# -- data.resize ---------------------------------------------------------------------------------------


def _frames_of(ds: EventEmotionDataset, item: int) -> list[np.ndarray]:
    seq = ds.sequences[item]
    return [read_frame(seq.event_dir / seq.event_files[j]) for j in ds.indices(item)]


def test_bilinear_and_area_resize_differ_and_match_pillow(tiny_see_root: Path) -> None:
    area = _load(tiny_see_root, image_size=24)
    bilinear = _load(tiny_see_root, image_size=24, resize="bilinear")
    assert area.train.resample == "area" and bilinear.train.resample == "bilinear"
    # one cache file per setting: the two never share decoded frames
    assert area.train.cache_path is not None and bilinear.train.cache_path is not None
    assert area.train.cache_path != bilinear.train.cache_path
    assert "-bilinear-" in bilinear.train.cache_path.name and "-area-" in area.train.cache_path.name
    items = range(6)
    a = area.train.windows(list(items))
    b = bilinear.train.windows(list(items))
    assert a.shape == b.shape == (6, 4, 24, 24)
    assert not np.array_equal(a, b)
    for i in items:
        frames = _frames_of(bilinear.train, i)
        assert frames[0].shape == (48, 48)  # the tiny set's native size: 2× down, as SEEN's 180 → 90
        for c, frame in enumerate(frames):
            # reference 1: Pillow's bilinear filter on the [0, 1] values, rounded to the cache's uint8
            values = Image.fromarray(frame.astype(np.float32) / 255.0)
            ref = values.resize((24, 24), Image.Resampling.BILINEAR)
            expected = np.clip(np.round(np.asarray(ref) * 255.0), 0, 255).astype(np.uint8)
            np.testing.assert_array_equal(b[i, c], expected)
            # reference 2: SEEN's Resize(90) on the 8-bit image (Pillow bilinear, 8-bit output): one grey
            # level at most, from where the rounding happens
            seen = np.asarray(Image.fromarray(frame).resize((24, 24), Image.Resampling.BILINEAR)).astype(int)
            assert np.abs(b[i, c].astype(int) - seen).max() <= 1
            # area: the 2 × 2 block mean of the [0, 1] values (float32), rounded to the cache's uint8
            values = frame.astype(np.float32) / np.float32(255.0)
            block = values.reshape(24, 2, 24, 2).mean(axis=(1, 3), dtype=np.float32)
            np.testing.assert_array_equal(a[i, c], np.round(block * np.float32(255.0)).astype(np.uint8))


def test_resize_accepts_only_area_and_bilinear() -> None:
    expected = r'^data\.resize: expected one of "area", "bilinear", got "nearest"'
    with pytest.raises(RecipeError, match=expected):
        recipe_from_mapping({"data": {"resize": "nearest"}})


# -- data.normalize ------------------------------------------------------------------------------------


def test_seen_normalisation_values_and_input_range(tiny_see_root: Path) -> None:
    plain = _load(tiny_see_root, image_size=16)
    seen = _load(tiny_see_root, image_size=16, normalize="seen")
    assert (SEEN_EVENT_MEAN, SEEN_EVENT_STD) == (0.504413, 0.06928615)
    assert DataConfig(normalize="seen").normalization == (SEEN_EVENT_MEAN, SEEN_EVENT_STD)
    # applied after the uint8 cache: both read the same file
    assert plain.train.cache_path == seen.train.cache_path
    x, y = plain.train.gather_batch(np.arange(10))
    xn, yn = seen.train.gather_batch(np.arange(10))
    assert torch.equal(y, yn)
    expected = (x.numpy() - np.float32(SEEN_EVENT_MEAN)) / np.float32(SEEN_EVENT_STD)
    assert torch.equal(xn, torch.from_numpy(expected))
    # the grey background (128/255 ≈ 0.502) lands just below 0
    background = (128 / 255 - SEEN_EVENT_MEAN) / SEEN_EVENT_STD
    assert float(xn.flatten().mode().values) == pytest.approx(background, abs=1e-5)
    low, high = seen.train.input_range
    assert plain.train.input_range == INPUT_RANGE
    assert low == pytest.approx(-SEEN_EVENT_MEAN / SEEN_EVENT_STD, rel=1e-6)
    assert high == pytest.approx((1 - SEEN_EVENT_MEAN) / SEEN_EVENT_STD, rel=1e-6)
    assert low <= float(xn.min()) and float(xn.max()) <= high
    # the range is what pixels 0 and 255 become, bit for bit
    ends = seen.train._normalized(np.array([0.0, 255.0], dtype=np.float32) / np.float32(255.0))
    assert (float(ends[0]), float(ends[1])) == (low, high)
    # the test and search parts carry the same normalisation
    assert seen.test.input_range == seen.train.input_range
    assert seen.search is not None and seen.search.input_range == seen.train.input_range


def test_custom_normalisation_and_its_errors(tiny_see_root: Path) -> None:
    data = _load(tiny_see_root, image_size=16, normalize="custom", mean=0.5, std=0.25)
    assert data.train.input_range == (-2.0, 2.0)
    x, _ = data.train.gather_batch([0])
    plain, _ = _load(tiny_see_root, image_size=16).train.gather_batch([0])
    assert torch.equal(x, (plain - 0.5) / 0.25)
    for mapping, key, fragment in (
        ({"normalize": "custom", "std": 0.1}, "data.mean", "required with normalize: custom"),
        ({"normalize": "custom", "mean": 0.1}, "data.std", "required with normalize: custom"),
        ({"normalize": "seen", "mean": 0.1}, "data.mean", "only used with normalize: custom"),
        ({"normalize": "custom", "mean": 0.1, "std": 0.0}, "data.std", "> 0"),
        ({"normalize": "zscore"}, "data.normalize", '"none", "seen", "custom"'),
    ):
        with pytest.raises(RecipeError) as info:
            recipe_from_mapping({"data": mapping})
        assert str(info.value).startswith(f"{key}: ") and fragment in str(info.value), str(info.value)


def test_conversion_on_normalised_samples_is_exact(tiny_see_root: Path) -> None:
    """ttfsnet.convert takes the normalised range as input_range, and the SNN's logits equal the ANN's."""
    data = _load(tiny_see_root, image_size=8, normalize="seen", resize="bilinear")
    x, _ = data.train.gather_batch(np.arange(len(data.train)))
    assert float(x.min()) < 0  # a negative input range: below-average pixels are negative
    x = x.double()
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(6 * 4 * 4, 7),
    ).double()
    with torch.no_grad():  # BN statistics of the normalised inputs, then inference mode
        model.train()
        model(x)
    model.eval()
    net = ttfsnet.convert(model, x, input_range=data.train.input_range)
    assert net.input_range == data.train.input_range
    with torch.no_grad():
        run = net.run(x)
        ann = model(x)
    assert run.total_saturated == 0
    # float64 closed form against the ANN: rounding only
    torch.testing.assert_close(run.logits, ann, rtol=0, atol=1e-10)
    assert torch.equal(run.logits.argmax(1), ann.argmax(1))


# -- legacy_quirks and the SEEN pipeline in the see* recipes ----------------------------------------


@pytest.mark.parametrize("name", SEEN_RECIPES)
def test_see_recipes_use_seens_input_pipeline(name: str) -> None:
    r = load_recipe(RECIPES / f"{name}.yaml")
    for cfg in (r.data, r.target_data) if r.target_data is not None else (r.data,):
        assert cfg.legacy_quirks is True
        assert (cfg.search_split, cfg.resize, cfg.normalize) == ("random", "bilinear", "seen")
        assert (cfg.image_size, cfg.sampling, cfg.channels) == (90, "E4-S3", 4)


@pytest.mark.parametrize("name", ["tiny", "demo", "demo-hw", "demo-events"])
def test_synthetic_recipes_keep_the_subject_split(name: str) -> None:
    r = load_recipe(RECIPES / f"{name}.yaml")
    assert r.data.search_split == "subject" and r.data.resize == "area" and r.data.normalize == "none"
    line = next(s for s in (RECIPES / f"{name}.yaml").read_text().splitlines() if "search_split:" in s)
    assert "this project's choice" in line and "plain split is random" in line
