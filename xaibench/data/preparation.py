"""Settings every dataset takes, applied to the cached data in one place: which part of each
split is used, inputs as floats, and normalisation.

They are not generator arguments (the cache holds the full, raw data once), but they change
what a model is trained on, so they belong to the dataset spec that keys trained models.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Annotated

import torch

from xaibench.constraints import OneOf, Range
from xaibench.data.registry import NORMALISATIONS, Dataset

Limit = Annotated[int | None, Range(low=1)]


@dataclass(frozen=True)
class Preparation:
    """normalise    none: inputs as generated or read (uint8 inputs scaled to [0, 1]);
                 standard: each channel shifted and scaled by the mean and standard deviation
                 of the training inputs (after `train_limit`), the same for both splits.
    train_limit  use only the first N training inputs (None: all).
    test_limit   use only the first N test inputs (None: all)."""

    normalise: Annotated[str, OneOf(NORMALISATIONS)] = "standard"
    train_limit: Limit = None
    test_limit: Limit = None


PREPARATION_KEYS = tuple(Preparation.__dataclass_fields__)


def split_preparation(params: dict, default_normalise: str) -> tuple[Preparation, dict]:
    """(the generic settings, the generator's own parameters) of a dataset config."""
    generic = {key: params[key] for key in PREPARATION_KEYS if key in params}
    own = {key: value for key, value in params.items() if key not in PREPARATION_KEYS}
    return Preparation(**{"normalise": default_normalise, **generic}), own


def prepare(data: Dataset, preparation: Preparation) -> Dataset:
    """The dataset as a model sees it; its `preparation` records what was done (meta.json)."""
    train, test = slice(preparation.train_limit), slice(preparation.test_limit)
    x_train, x_test = as_float(data.x_train[train]), as_float(data.x_test[test])
    record = {**asdict(preparation), "train_size": len(x_train), "test_size": len(x_test)}
    if preparation.normalise == "standard":
        dims = [0, *range(2, x_train.dim())]
        mean = x_train.mean(dim=dims, keepdim=True)
        std = x_train.std(dim=dims, keepdim=True).clamp_min(1e-12)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
        record |= {"mean": mean.flatten().tolist(), "std": std.flatten().tolist()}
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


def as_float(inputs: torch.Tensor) -> torch.Tensor:
    """float32 inputs; uint8 pixels become value / 255."""
    if inputs.dtype == torch.uint8:
        return inputs.float() / 255
    return inputs.float()
