"""scikit-learn's 8x8 handwritten digits: small real images that ship inside the package."""

from __future__ import annotations

import torch

from xaibench.constraints import Seed
from xaibench.data.registry import register_dataset
from xaibench.data.splits import TestFraction, stratified_split


@register_dataset(
    "digits",
    description="scikit-learn's handwritten digits (1797 grey 8x8 images, 10 classes), split "
    "into train and test here.",
    citation="Alpaydin, Kaynak. Optical Recognition of Handwritten Digits. UCI Machine "
    "Learning Repository, 1998",
)
def digits(test_fraction: TestFraction = 0.25, split_seed: Seed = 0) -> dict:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are counts 0..16: scaled to [0, 1] like the other image sets.
    images = torch.tensor(bunch.images / 16, dtype=torch.float32).unsqueeze(1)
    labels = torch.from_numpy(bunch.target).long()
    train, test = stratified_split(labels, test_fraction, split_seed)
    return {
        "x_train": images[train],
        "y_train": labels[train],
        "x_test": images[test],
        "y_test": labels[test],
        "num_classes": 10,
    }
