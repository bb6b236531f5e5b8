"""Datasets: generated or read locally (never downloaded at run time), cached by their settings."""

from __future__ import annotations

import inspect

from xaibench.cache import Cache
from xaibench.checks import count_nonfinite
from xaibench.data import digits, mnist1d, shapes, vision  # noqa: F401  (register the datasets)
from xaibench.data.preparation import (
    PREPARATION_KEYS,
    Preparation,
    prepare,
    split_preparation,
    with_model_preprocessing,
)
from xaibench.data.registry import DATASETS, Dataset, DatasetInfo, register_dataset
from xaibench.registry import XaibenchError, check_params, check_values, default_params, type_hints
from xaibench.renames import DATASETS as RENAMED

__all__ = [
    "DATASETS",
    "PREPARATION_KEYS",
    "Dataset",
    "DatasetInfo",
    "Preparation",
    "check_dataset_params",
    "load_dataset",
    "register_dataset",
    "resolve_dataset_params",
]


def resolve_dataset_params(name: str, params: dict, model_preprocessing: dict | None) -> dict:
    """The settings of dataset `name` as a run uses them: those its config leaves unset (None)
    taken from the model's own preprocessing (pretrained weights), the rest dropped so that
    their defaults apply (data/preparation.py `with_model_preprocessing`)."""
    taken = set(inspect.signature(DATASETS[name].build).parameters)
    return with_model_preprocessing(params, taken, model_preprocessing)


def check_dataset_params(name: str, params: dict) -> tuple[Preparation, dict]:
    """(the generic settings, the generator's own parameters) of a dataset config; rejects
    unknown names and settings, and values outside their type and range, before any work
    starts."""
    info = DATASETS[name]
    check_params(info.build, params, "dataset", name, (), RENAMED, also=PREPARATION_KEYS)
    check_values(
        params, {**type_hints(info.build), **type_hints(Preparation)}, f"dataset {name!r}: "
    )
    return split_preparation(params, info.normalise)


def load_dataset(name: str, params: dict, cache: Cache) -> tuple[Dataset, dict, bool]:
    """(dataset, spec, was_cached).

    `params` holds the generator's own parameters and the generic settings of `Preparation`
    (normalise, train_limit, test_limit). The cache holds the generator's raw output; `spec`
    identifies the prepared data (it keys trained models and is recorded in every run), and
    `dataset.preparation` records what was done, with the normalisation's statistics.
    """
    info = DATASETS[name]
    preparation, own = check_dataset_params(name, params)
    # Defaults go into the spec too, so changing a default in code cannot reuse stale data.
    raw_spec = {"dataset": name, "version": info.version, **default_params(info.build, ())}
    raw_spec |= own
    if info.fingerprint is not None:
        raw_spec["files"] = info.fingerprint(**own)
    tensors, cached = cache.load_or_build("datasets", raw_spec, lambda: info.build(**own))
    data = prepare(Dataset(name=name, **tensors), preparation)
    check_data(data)
    return data, {**raw_spec, **preparation.spec()}, cached


def check_data(data: Dataset) -> None:
    """One line if the prepared data cannot be explained: a split without inputs, fewer than
    two classes, or inputs holding NaN or infinite values."""
    if data.num_classes < 2:
        raise XaibenchError(
            f"dataset {data.name} has {data.num_classes} class(es); explaining a class takes two "
            "at least"
        )
    for split, inputs in (("training", data.x_train), ("test", data.x_test)):
        if len(inputs) == 0:
            raise XaibenchError(
                f"dataset {data.name} has no {split} inputs with these settings; check the "
                "split settings (train_split, test_fraction, ...) and the limits"
            )
        bad = count_nonfinite(inputs)
        if bad:
            raise XaibenchError(
                f"dataset {data.name}: {bad} of {len(inputs)} {split} inputs hold NaN or "
                "infinite values"
            )
