"""Datasets: generated or read locally (never downloaded at run time), cached by their settings."""

from __future__ import annotations

from xaibench.cache import Cache
from xaibench.data import mnist1d  # noqa: F401  (registers the dataset)
from xaibench.data.registry import DATASETS, Dataset, DatasetInfo, register_dataset
from xaibench.registry import check_params, default_params

__all__ = ["DATASETS", "Dataset", "DatasetInfo", "load_dataset", "register_dataset"]


def load_dataset(name: str, params: dict, cache: Cache) -> tuple[Dataset, dict, bool]:
    """(dataset, spec, was_cached); `spec` identifies the data in model cache keys."""
    info = DATASETS[name]
    check_params(info.build, params, "dataset", name, skip=0)
    # Defaults go into the spec too, so changing a default in code cannot reuse stale data.
    spec = {"dataset": name, **default_params(info.build, skip=0), **params}
    tensors, cached = cache.load_or_build("datasets", spec, lambda: info.build(**params))
    return Dataset(name=name, **tensors), spec, cached
