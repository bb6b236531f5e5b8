"""Train/test splits for datasets that come as one pool of labelled samples."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from torch import Tensor

from xaibench.constraints import Range
from xaibench.registry import XaibenchError

TestFraction = Annotated[float, Range(0, 1, low_open=True, high_open=True)]


def stratified_split(labels: Tensor, test_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(train indices, test indices): a seeded, shuffled split that keeps the class proportions
    (scikit-learn's `train_test_split` with `stratify`). Shuffling matters: runs explain the
    first test samples with `subset=first`, which must not all come from one class."""
    from sklearn.model_selection import train_test_split  # imported on use: it takes a second

    index = np.arange(len(labels))
    try:
        train, test = train_test_split(
            index, test_size=test_fraction, random_state=seed, stratify=labels.numpy()
        )
    except ValueError as error:  # e.g. fewer test samples than classes
        raise XaibenchError(
            f"test_fraction={test_fraction} cannot split {len(labels)} samples keeping every "
            f"class in both splits ({str(error).splitlines()[0]})"
        ) from None
    return torch.from_numpy(train), torch.from_numpy(test)
