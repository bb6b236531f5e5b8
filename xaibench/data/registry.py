"""The dataset registry and the tensors every dataset provides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import Tensor

from xaibench.registry import Registry, check_choice

NORMALISATIONS = ("none", "standard", "given")


@dataclass(frozen=True)
class Dataset:
    """Train and test tensors: inputs (N, C, L) or (N, C, H, W) as floats, labels (N,) as class
    indices, and where the dataset has ground truth, `masks_test` (N_test, L) or
    (N_test, H, W), bool: the positions of each test input that decide its class.
    `preparation` records how the inputs were prepared (data/preparation.py)."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int
    masks_test: Tensor | None = None
    preparation: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetInfo:
    """`build(**params)` returns a dict with x_train, y_train, x_test, y_test, num_classes and
    optionally masks_test; inputs may be uint8 (read as value / 255).

    version     part of the cache key: bump it when `build` returns something new for the
                same parameters, so stale cached data is never read.
    normalise   the default of the generic `normalise` setting (see data/preparation.py).
    fingerprint `fingerprint(**params)` names the state of the files a dataset reads from a
                local folder (for example their sizes and times), so edited files are re-read.
    """

    name: str
    build: Callable[..., dict]
    description: str
    citation: str
    version: int = 1
    normalise: str = "standard"
    fingerprint: Callable[..., str] | None = None


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def register_dataset(
    name: str,
    *,
    description: str,
    citation: str,
    version: int = 1,
    normalise: str = "standard",
    fingerprint: Callable[..., str] | None = None,
):
    check_choice("normalisation", normalise, NORMALISATIONS)

    def decorator(build: Callable[..., dict]) -> Callable[..., dict]:
        info = DatasetInfo(name, build, description, citation, version, normalise, fingerprint)
        DATASETS.add(name, info)
        return build

    return decorator
