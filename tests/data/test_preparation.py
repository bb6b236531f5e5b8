"""Settings every dataset takes (limits, normalisation), the dataset spec and the cache."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import compose_config
from xaibench.cache import Cache
from xaibench.data import DATASETS, Dataset, Preparation, load_dataset, register_dataset
from xaibench.data.preparation import prepare, split_preparation, with_model_preprocessing
from xaibench.registry import XaibenchError
from xaibench.settings import read_settings


def toy(masks: bool = True) -> Dataset:
    gen = torch.Generator().manual_seed(0)
    return Dataset(
        name="toy",
        x_train=torch.randint(0, 256, (10, 3, 4, 4), generator=gen, dtype=torch.uint8),
        y_train=torch.arange(10) % 2,
        x_test=torch.randint(0, 256, (6, 3, 4, 4), generator=gen, dtype=torch.uint8),
        y_test=torch.arange(6) % 2,
        num_classes=2,
        masks_test=torch.rand(6, 4, 4, generator=gen) > 0.5 if masks else None,
    )


def test_limits_keep_the_first_inputs_of_each_split_with_their_masks():
    data = toy()
    limited = prepare(data, Preparation(normalise="none", train_limit=4, test_limit=3))
    assert torch.equal(limited.x_train, data.x_train[:4].float() / 255)
    assert torch.equal(limited.y_train, data.y_train[:4])
    assert torch.equal(limited.x_test, data.x_test[:3].float() / 255)
    assert torch.equal(limited.masks_test, data.masks_test[:3])
    assert limited.preparation["train_size"] == 4
    assert limited.preparation["test_size"] == 3


def test_standard_normalisation_uses_the_training_statistics_for_both_splits():
    data = toy(masks=False)
    prepared = prepare(data, Preparation(normalise="standard", train_limit=8))
    x_train = data.x_train[:8].double() / 255
    mean = x_train.mean(dim=(0, 2, 3))
    std = x_train.std(dim=(0, 2, 3))
    # Per channel, the training inputs have mean 0 and standard deviation 1 ...
    assert prepared.x_train.mean(dim=(0, 2, 3)).abs().max() < 1e-6
    assert torch.allclose(prepared.x_train.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-5)
    # ... and the test inputs are shifted and scaled by the same numbers.
    expected = (data.x_test.double() / 255 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    assert torch.allclose(prepared.x_test.double(), expected, atol=1e-5)
    assert prepared.preparation["mean"] == pytest.approx(mean.tolist(), abs=1e-6)
    assert prepared.preparation["std"] == pytest.approx(std.tolist(), abs=1e-6)
    assert prepared.masks_test is None


def test_no_normalisation_leaves_float_inputs_untouched():
    data = Dataset("toy", torch.randn(4, 1, 5), torch.zeros(4).long(), torch.randn(2, 1, 5),
                   torch.zeros(2).long(), 1)  # fmt: skip
    prepared = prepare(data, Preparation(normalise="none"))
    assert torch.equal(prepared.x_train, data.x_train)
    assert torch.equal(prepared.x_test, data.x_test)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"normalise": "minmax"},
            "dataset 'toy_counter': normalise='minmax' must be one of none, standard, given",
        ),
        ({"train_limit": 0},
         "dataset 'toy_counter': train_limit=0 must be an integer >= 1 or null"),
        ({"test_limit": 2.5},
         "dataset 'toy_counter': test_limit=2.5 must be an integer >= 1 or null"),
        ({"nosuch": 1}, "unknown parameter 'nosuch' for dataset 'toy_counter'; valid parameters: "
                        "count, normalise, train_limit, test_limit, mean, std"),
    ],
)  # fmt: skip
def test_bad_settings_fail_in_one_line(settings, message, counted_dataset, tmp_path):
    with pytest.raises(XaibenchError) as error:
        load_dataset("toy_counter", settings, Cache(tmp_path))
    assert str(error.value) == message


@pytest.fixture
def counted_dataset(monkeypatch):
    """A registered dataset that counts how often it is built."""
    monkeypatch.setattr(DATASETS, "_entries", dict(DATASETS._entries))
    builds = []

    @register_dataset("toy_counter", description="test", citation="test")
    def toy_counter(count: int = 6) -> dict:
        builds.append(count)
        x = torch.arange(count * 2, dtype=torch.float32).view(count, 1, 2)
        y = torch.arange(count) % 2
        return {"x_train": x, "y_train": y, "x_test": x[:3], "y_test": y[:3],
                "num_classes": 2}  # fmt: skip

    return builds


def test_the_cache_holds_raw_data_once_and_the_spec_names_what_the_model_sees(
    counted_dataset, tmp_path
):
    cache = Cache(tmp_path)
    _, full_spec, cached = load_dataset("toy_counter", {}, cache)
    assert not cached
    limited, limited_spec, cached = load_dataset("toy_counter", {"train_limit": 2}, cache)
    assert cached  # the raw data was reused ...
    assert counted_dataset == [6]
    assert len(limited.x_train) == 2
    assert full_spec != limited_spec  # ... but a model trained on it gets another key
    assert full_spec == {
        "dataset": "toy_counter", "version": 1, "count": 6,
        "normalise": "standard", "train_limit": None, "test_limit": None,
    }  # fmt: skip
    load_dataset("toy_counter", {"count": 8}, cache)
    assert counted_dataset == [6, 8]


def test_each_dataset_has_a_default_normalisation_in_its_config(tmp_path):
    for name in DATASETS:
        cfg = compose_config(f"dataset={name}", f"cache_dir={tmp_path}")
        # null: the preprocessing of a model with pretrained weights, else the default
        assert cfg.dataset.normalise in (DATASETS[name].normalise, None), name
        preparation, _ = split_preparation(read_settings(cfg).dataset_params, "standard")
        assert preparation.normalise == DATASETS[name].normalise, name
    assert DATASETS["mnist1d"].normalise == "none"  # the generator standardises already


@pytest.mark.parametrize("setup", ["mnist1d", "shapes"])
def test_the_studies_datasets_are_recorded_as_before(setup, tmp_path):
    """mean and std (null) are new keys of every dataset config; a run that leaves them unset
    records the same dataset settings and spec as before they existed."""
    cfg = compose_config(f"setup={setup}", f"cache_dir={tmp_path}")
    given = {k: v for k, v in cfg.dataset.items() if k not in ("name", "mean", "std")}
    assert read_settings(cfg).dataset_params == given
    preparation, _ = split_preparation(given, "standard")
    assert set(preparation.spec()) == {"normalise", "train_limit", "test_limit"}


def test_given_normalisation_computes_torchvisions_normalize_exactly():
    from torchvision.transforms import Normalize

    data = toy(masks=False)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    prepared = prepare(data, Preparation(normalise="given", mean=mean, std=std))
    normalize = Normalize(mean, std)
    for image, expected in zip(prepared.x_test, data.x_test, strict=True):
        assert torch.equal(image, normalize(expected.float() / 255))
    assert prepared.preparation["mean"] == mean
    assert prepared.preparation["std"] == std


def test_given_statistics_of_the_wrong_channel_count_fail_in_one_line():
    with pytest.raises(XaibenchError, match=r"^dataset toy has 3 channel\(s\) but dataset.mean and "
                       r"dataset.std have 1 numbers; give one per channel$"):  # fmt: skip
        prepare(toy(), Preparation(normalise="given", mean=[0.5], std=[0.5]))


MODEL = {"resize": 232, "size": 224, "interpolation": "bilinear", "normalise": "given",
         "mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]}  # fmt: skip
IMAGE_SETTINGS = {"root", "size", "resize", "interpolation"}


@pytest.mark.parametrize(
    ("config", "taken", "model", "expected"),
    [
        # unset (null) settings take the model's
        ({"size": None, "normalise": None, "mean": None, "std": None}, IMAGE_SETTINGS, MODEL,
         {k: v for k, v in MODEL.items() if k != "resize"} | {"resize": 232}),
        # a setting the dataset config gives wins; the model's mean and std come with its
        # normalisation only
        ({"size": 32, "normalise": "standard", "mean": None}, IMAGE_SETTINGS, MODEL,
         {"size": 32, "normalise": "standard", "resize": 232, "interpolation": "bilinear"}),
        # a dataset that does not read images takes the normalisation only
        ({"normalise": None}, {"count"}, MODEL,
         {"normalise": "given", "mean": [0.5] * 3, "std": [0.2] * 3}),
        # no model: unset settings are dropped (their defaults apply) ...
        ({"size": None, "normalise": None, "mean": None, "train_limit": None}, IMAGE_SETTINGS,
         None, {"train_limit": None}),
        # ... and mean and std given without a normalisation mean normalise=given
        ({"normalise": None, "mean": [0.1], "std": [0.3]}, set(), None,
         {"normalise": "given", "mean": [0.1], "std": [0.3]}),
    ],
)  # fmt: skip
def test_unset_dataset_settings_take_the_models_preprocessing(config, taken, model, expected):
    assert with_model_preprocessing(config, taken, model) == expected
