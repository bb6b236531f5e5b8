"""Settings every dataset takes, applied to the cached data in one place: which part of each
split is used, inputs as floats, and normalisation.

They are not generator arguments (the cache holds the full, raw data once), but they change
what a model is trained on, so they belong to the dataset spec that keys trained models.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Annotated

import torch

from xaibench.constraints import OneOf, Positive, Range
from xaibench.data.registry import NORMALISATIONS, Dataset
from xaibench.registry import XaibenchError

Limit = Annotated[int | None, Range(low=1)]


@dataclass(frozen=True)
class Preparation:
    """normalise    none: inputs as generated or read (uint8 inputs scaled to [0, 1]);
                 standard: each channel shifted and scaled by the mean and standard deviation
                 of the training inputs (after `train_limit`), the same for both splits;
                 given: each channel shifted and scaled by `mean` and `std` (the statistics a
                 checkpoint or pretrained weights were trained with).
    mean, std    one number per channel, for normalise=given (None otherwise).
    train_limit  use only the first N training inputs (None: all).
    test_limit   use only the first N test inputs (None: all)."""

    normalise: Annotated[str, OneOf(NORMALISATIONS)] = "standard"
    train_limit: Limit = None
    test_limit: Limit = None
    mean: list[float] | None = None
    std: list[Positive] | None = None

    def spec(self) -> dict:
        """The settings as the dataset spec records them: mean and std only when given, so the
        spec of data prepared as before (standard, none) is the same as before."""
        record = asdict(self)
        return {k: v for k, v in record.items() if v is not None or k not in ("mean", "std")}


PREPARATION_KEYS = tuple(Preparation.__dataclass_fields__)

# Dataset settings that a model with its own preprocessing (pretrained weights) sets when the
# dataset config leaves them unset (None): the generic ones and the image geometry of the
# datasets that read images from files (data/vision.py).
MODEL_SET_KEYS = ("normalise", "mean", "std", "size", "resize", "interpolation")


def with_model_preprocessing(params: dict, taken: set[str], model: dict | None) -> dict:
    """The dataset config `params` with each setting it leaves unset (None) taken from the
    model's preprocessing `model` (e.g. {"resize": 232, "size": 224, "normalise": "given",
    "mean": [...], "std": [...]}), where the dataset takes that setting (`taken`: its
    generator's parameters); settings still unset are dropped, so their defaults apply.

    A setting the dataset config gives wins over the model's. mean and std come from the model
    only with its normalisation: a config that sets normalise=standard or none gets neither.
    mean and std given while normalise is unset mean normalise=given.
    """
    resolved = dict(params)
    explicit_normalise = resolved.get("normalise") is not None
    if not explicit_normalise and (
        resolved.get("mean") is not None or resolved.get("std") is not None
    ):
        resolved["normalise"] = "given"
    for key, value in (model or {}).items():
        usable = key in PREPARATION_KEYS or key in taken
        if usable and resolved.get(key) is None:
            if key in ("mean", "std") and resolved.get("normalise") not in (None, "given"):
                continue
            resolved[key] = value
    return {k: v for k, v in resolved.items() if v is not None or k not in MODEL_SET_KEYS}


def split_preparation(params: dict, default_normalise: str) -> tuple[Preparation, dict]:
    """(the generic settings, the generator's own parameters) of a dataset config; one line
    when the normalisation's statistics are missing, needless or of unequal lengths."""
    generic = {key: params[key] for key in PREPARATION_KEYS if params.get(key) is not None}
    own = {key: value for key, value in params.items() if key not in PREPARATION_KEYS}
    preparation = Preparation(**{"normalise": default_normalise, **generic})
    mean, std = preparation.mean, preparation.std
    if preparation.normalise == "given":
        if mean is None or std is None:
            raise XaibenchError(
                "normalise=given needs dataset.mean and dataset.std, one number per channel "
                "(e.g. dataset.mean=[0.485,0.456,0.406] dataset.std=[0.229,0.224,0.225])"
            )
        if len(mean) != len(std):
            raise XaibenchError(
                f"dataset.mean has {len(mean)} numbers but dataset.std has {len(std)}; give one "
                "of each per channel"
            )
    elif mean is not None or std is not None:
        raise XaibenchError(
            f"dataset.mean and dataset.std apply with normalise=given, not "
            f"normalise={preparation.normalise}; set dataset.normalise=given, or remove them"
        )
    return preparation, own


def prepare(data: Dataset, preparation: Preparation) -> Dataset:
    """The dataset as a model sees it; its `preparation` records what was done (meta.json)."""
    train, test = slice(preparation.train_limit), slice(preparation.test_limit)
    x_train, x_test = as_float(data.x_train[train]), as_float(data.x_test[test])
    record = {**preparation.spec(), "train_size": len(x_train), "test_size": len(x_test)}
    if preparation.normalise == "standard":
        dims = [0, *range(2, x_train.dim())]
        mean = x_train.mean(dim=dims, keepdim=True)
        std = x_train.std(dim=dims, keepdim=True).clamp_min(1e-12)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
        record |= {"mean": mean.flatten().tolist(), "std": std.flatten().tolist()}
    elif preparation.normalise == "given":
        x_train, x_test = (normalised(x, preparation, data.name) for x in (x_train, x_test))
    masks = None if data.masks_test is None else data.masks_test[test]
    return replace(
        data,
        x_train=x_train,
        y_train=data.y_train[train],
        x_test=x_test,
        y_test=data.y_test[test],
        masks_test=masks,
        preparation=record,
    )


def normalised(inputs: torch.Tensor, preparation: Preparation, name: str) -> torch.Tensor:
    """(inputs - mean) / std per channel, as torchvision's Normalize computes it (float32
    statistics), so pretrained weights see exactly the inputs their own transforms make."""
    assert preparation.mean is not None
    assert preparation.std is not None
    channels = inputs.shape[1]
    if len(preparation.mean) != channels:
        raise XaibenchError(
            f"dataset {name} has {channels} channel(s) but dataset.mean and dataset.std have "
            f"{len(preparation.mean)} numbers; give one per channel"
        )
    shape = (1, channels) + (1,) * (inputs.dim() - 2)
    mean = torch.as_tensor(preparation.mean, dtype=inputs.dtype).view(shape)
    std = torch.as_tensor(preparation.std, dtype=inputs.dtype).view(shape)
    return inputs.sub(mean).div(std)


def as_float(inputs: torch.Tensor) -> torch.Tensor:
    """float32 inputs; uint8 pixels become value / 255."""
    if inputs.dtype == torch.uint8:
        return inputs.float() / 255
    return inputs.float()
