"""The dataset registry and the tensors every dataset provides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from xaibench.registry import Registry


@dataclass(frozen=True)
class Dataset:
    """Train and test tensors: inputs (N, C, L) or (N, C, H, W), labels (N,) as class indices."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int


@dataclass(frozen=True)
class DatasetInfo:
    """`build(**params)` returns a dict with x_train, y_train, x_test, y_test, num_classes."""

    name: str
    build: Callable[..., dict]
    description: str
    citation: str


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def register_dataset(name: str, *, description: str, citation: str):
    def decorator(build: Callable[..., dict]) -> Callable[..., dict]:
        DATASETS.add(name, DatasetInfo(name, build, description, citation))
        return build

    return decorator
