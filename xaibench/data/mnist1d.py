"""MNIST-1D: ten 1D digit templates, padded, scaled, shifted, sheared and noised to 40 points."""

from __future__ import annotations

import numpy as np
import torch

from xaibench.data.registry import register_dataset


@register_dataset(
    "mnist1d",
    description="MNIST-1D signals (1 channel, 40 points, 10 classes), generated offline by the "
    "mnist1d package; defaults give its canonical 4000/1000 split.",
    citation="Greydanus, Kobak. Scaling Down Deep Learning with MNIST-1D. ICML 2024",
)
def mnist1d(
    num_samples: int = 5000,
    train_split: float = 0.8,
    seed: int = 42,
    template_len: int = 12,
    padding: tuple[int, int] = (36, 60),
    scale_coeff: float = 0.4,
    max_translation: int = 48,
    corr_noise_scale: float = 0.25,
    iid_noise_scale: float = 0.02,
    shear_scale: float = 0.75,
    shuffle_seq: bool = False,
    final_seq_length: int = 40,
) -> dict:
    from mnist1d.data import get_dataset_args, make_dataset  # imports matplotlib: load lazily

    args = get_dataset_args(as_dict=True)
    args.update(
        num_samples=num_samples, train_split=train_split, seed=seed, template_len=template_len,
        padding=list(padding), scale_coeff=scale_coeff, max_translation=max_translation,
        corr_noise_scale=corr_noise_scale, iid_noise_scale=iid_noise_scale,
        shear_scale=shear_scale, shuffle_seq=shuffle_seq, final_seq_length=final_seq_length,
    )  # fmt: skip
    # make_dataset seeds numpy's global generator; restore it so the caller's stream is untouched.
    state = np.random.get_state()  # noqa: NPY002  (the legacy global state is what it seeds)
    try:
        data = make_dataset(type("Args", (), args))
    finally:
        np.random.set_state(state)  # noqa: NPY002

    def signals(x: np.ndarray) -> torch.Tensor:
        return torch.tensor(x, dtype=torch.float32).unsqueeze(1)

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.tensor(y, dtype=torch.long)

    return {
        "x_train": signals(data["x"]),
        "y_train": labels(data["y"]),
        "x_test": signals(data["x_test"]),
        "y_test": labels(data["y_test"]),
        "num_classes": 10,
    }
