"""MNIST-1D: ten 1D digit templates, padded, scaled, shifted, sheared and noised to 40 points,
with the positions each signal's template occupies as ground-truth masks.

The `mnist1d` package's `transform` does not say where the template ends up, so
`make_dataset_with_masks` repeats the package's `make_dataset` and `transform` step by step,
calling the package's own functions with the same random draws in the same order, and keeps
the template's positions along the way. The tests check that the signals equal the package's
output exactly.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Annotated

import numpy as np
import torch

from xaibench.constraints import Count, NonNegative, Range, Seed
from xaibench.data.registry import register_dataset
from xaibench.registry import XaibenchError

# The package adds this to the template before padding, so template values are never zero
# and `x != 0` tells template positions from padding (mnist1d.transform.transform's `eps`).
TEMPLATE_EPS = 1e-8


def transform_with_mask(x: np.ndarray, args: SimpleNamespace) -> tuple[np.ndarray, np.ndarray]:
    """The package's `transform(x, t, args)` signal, and the bool mask of the final positions
    whose value depends on the template.

    After padding, dilation, scaling and translation the package itself marks the template as
    `new_x != 0` (correlated noise goes everywhere else). The final interpolation mixes two
    neighbouring points; a final position is in the mask when either of the points it mixes
    with a non-zero weight is template, so the mask covers the template's support exactly and
    can be at most one position wider than the template on each side.
    """
    from mnist1d.transform import (
        corr_noise_like,
        iid_noise_like,
        interpolate,
        pad,
        shear,
        translate,
    )

    new_x = pad(x + TEMPLATE_EPS, args.padding)
    new_x = interpolate(new_x, args.template_len + args.padding[-1])
    new_x *= 1 + args.scale_coeff * (np.random.rand() - 0.5)  # noqa: NPY002  (the package's draws)
    new_x = translate(new_x, args.max_translation)
    template = new_x != 0
    new_x = template * new_x + (1 - template) * corr_noise_like(new_x, args.corr_noise_scale)
    new_x = new_x + iid_noise_like(new_x, args.iid_noise_scale)
    new_x = shear(new_x, args.shear_scale)
    new_x = interpolate(new_x, args.final_seq_length)
    mask = interpolate(template.astype(float), args.final_seq_length) > 0
    return new_x, mask


def make_dataset_with_masks(args: SimpleNamespace) -> dict:
    """The package's `make_dataset(args)` (x, y, x_test, y_test) plus `mask` and `mask_test`."""
    from mnist1d.data import get_templates
    from mnist1d.utils import set_seed

    templates = get_templates()
    set_seed(args.seed)
    x_rows, y_rows, mask_rows = [], [], []
    per_class = args.num_samples // len(templates["y"])
    for label_ix in range(len(templates["y"])):
        for _ in range(per_class):
            x, mask = transform_with_mask(templates["x"][label_ix], args)
            x_rows.append(x)
            y_rows.append(templates["y"][label_ix])
            mask_rows.append(mask)

    batch_shuffle = np.random.permutation(len(y_rows))  # noqa: NPY002
    xs, ys, masks = (np.stack(a)[batch_shuffle] for a in (x_rows, y_rows, mask_rows))
    if args.shuffle_seq:
        seq_shuffle = np.random.permutation(args.final_seq_length)  # noqa: NPY002
        xs, masks = xs[..., seq_shuffle], masks[..., seq_shuffle]
    xs = (xs - xs.mean()) / xs.std()

    split = int(len(ys) * args.train_split)
    return {
        "x": xs[:split], "x_test": xs[split:], "y": ys[:split], "y_test": ys[split:],
        "mask": masks[:split], "mask_test": masks[split:],
    }  # fmt: skip


@contextmanager
def global_random_state_restored():
    """The package seeds numpy's and Python's global generators; leave the caller's intact."""
    numpy_state, python_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(numpy_state)  # noqa: NPY002
        random.setstate(python_state)


@register_dataset(
    "mnist1d",
    description="MNIST-1D signals (1 channel, 40 points, 10 classes), generated offline by the "
    "mnist1d package; defaults give its canonical 4000/1000 split. Masks: the positions the "
    "digit template occupies.",
    citation="Greydanus, Kobak. Scaling Down Deep Learning with MNIST-1D. ICML 2024",
    version=2,
    normalise="none",  # the generator already standardises (mean and std over all signals)
)
def mnist1d(
    num_samples: Annotated[int, Range(low=10)] = 5000,  # split evenly over the 10 classes
    train_split: Annotated[float, Range(0, 1, low_open=True, high_open=True)] = 0.8,
    seed: Seed = 42,
    template_len: Count = 12,
    padding: Annotated[tuple[int, int], Range(low=0)] = (36, 60),
    scale_coeff: NonNegative = 0.4,
    max_translation: Count = 48,
    corr_noise_scale: NonNegative = 0.25,
    iid_noise_scale: NonNegative = 0.02,
    shear_scale: NonNegative = 0.75,
    shuffle_seq: bool = False,
    final_seq_length: Count = 40,
) -> dict:
    if padding[0] > padding[1]:
        raise XaibenchError(f"mnist1d: padding={list(padding)} must be [min, max]")
    args = SimpleNamespace(
        num_samples=num_samples, train_split=train_split, seed=seed, template_len=template_len,
        padding=list(padding), scale_coeff=scale_coeff, max_translation=max_translation,
        corr_noise_scale=corr_noise_scale, iid_noise_scale=iid_noise_scale,
        shear_scale=shear_scale, shuffle_seq=shuffle_seq, final_seq_length=final_seq_length,
    )  # fmt: skip
    with global_random_state_restored():
        data = make_dataset_with_masks(args)

    def signals(x: np.ndarray) -> torch.Tensor:
        return torch.tensor(x, dtype=torch.float32).unsqueeze(1)

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.tensor(y, dtype=torch.long)

    return {
        "x_train": signals(data["x"]),
        "y_train": labels(data["y"]),
        "x_test": signals(data["x_test"]),
        "y_test": labels(data["y_test"]),
        "masks_test": torch.from_numpy(data["mask_test"]),
        "num_classes": 10,
    }
