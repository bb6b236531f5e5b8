"""MNIST-1D with masks: the same signals as the mnist1d package, and masks that mark exactly
the positions whose values depend on the digit template."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mnist1d.data import get_dataset_args, make_dataset

from xaibench.data.mnist1d import make_dataset_with_masks, mnist1d

NOISE_FREE = {"corr_noise_scale": 0.0, "iid_noise_scale": 0.0, "shear_scale": 0.0}


def package_args(**changes) -> SimpleNamespace:
    return SimpleNamespace(**{**get_dataset_args(as_dict=True), "num_samples": 600, **changes})


@pytest.mark.parametrize(
    "changes",
    [{}, {"seed": 7, "shuffle_seq": True}, {"final_seq_length": 60, "max_translation": 20}],
    ids=["default", "shuffled", "longer"],
)
def test_signals_and_labels_equal_the_packages_output_exactly(changes):
    ours = make_dataset_with_masks(package_args(**changes))
    theirs = make_dataset(package_args(**changes))
    for key in ("x", "x_test", "y", "y_test"):
        assert np.array_equal(ours[key], theirs[key]), key


@pytest.mark.slow
def test_the_canonical_dataset_is_unchanged():
    """The defaults (5000 signals, seed 42) give the package's canonical dataset."""
    data = mnist1d()
    theirs = make_dataset(SimpleNamespace(**get_dataset_args(as_dict=True)))
    assert np.array_equal(data["x_test"][:, 0].numpy(), theirs["x_test"].astype(np.float32))
    assert np.array_equal(data["y_train"].numpy(), theirs["y"])
    assert data["masks_test"].shape == (1000, 40)
    assert data["masks_test"].dtype == torch.bool


@pytest.mark.parametrize("shuffle_seq", [False, True])
def test_without_noise_the_mask_is_exactly_where_the_signal_leaves_the_background(shuffle_seq):
    # With no noise and no shear, every position that does not depend on the template is
    # exactly zero before standardisation, i.e. one common background value after it.
    data = make_dataset_with_masks(package_args(shuffle_seq=shuffle_seq, **NOISE_FREE))
    x, mask = data["x"], data["mask"]
    values, counts = np.unique(x, return_counts=True)
    background = values[counts.argmax()]
    assert np.array_equal(x != background, mask)


def test_masks_do_not_depend_on_the_noise_settings():
    """Noise and shear draw the same random numbers whatever their scale, so a sample's
    template lands in the same place with or without them."""
    noisy = make_dataset_with_masks(package_args())
    clean = make_dataset_with_masks(package_args(**NOISE_FREE))
    assert np.array_equal(noisy["mask"], clean["mask"])
    assert np.array_equal(noisy["mask_test"], clean["mask_test"])


def test_mask_width_follows_the_padding():
    """Closed form: the 12-point template padded with p zeros is dilated to 72 points, of which
    the first ceil(12 * 71 / (11 + p)) depend on it (interpolation positions below 12). The
    open interval they span, one point wider, holds floor or ceil of (span + 1) * 39 / 71 of
    the 40 final positions. Over p = 36..60 that is 7 to 11 positions."""

    def interval(p: int) -> float:
        return (np.ceil(12 * 71 / (11 + p)) + 1) * 39 / 71

    shortest, longest = int(np.floor(interval(60))), int(np.ceil(interval(36)))
    assert (shortest, longest) == (7, 11)
    widths = make_dataset_with_masks(package_args())["mask"].sum(axis=1)
    assert widths.min() == shortest
    assert widths.max() == longest


def test_generation_leaves_the_global_random_state_alone():
    np.random.seed(123)  # noqa: NPY002  (the legacy global state is what the package seeds)
    random.seed(123)
    expected = np.random.rand(), random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    mnist1d(num_samples=100)
    assert (np.random.rand(), random.random()) == expected  # noqa: NPY002
