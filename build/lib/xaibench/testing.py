"""Small, seeded problems to try methods and metrics on, in docstring examples and tests.

    >>> from xaibench.testing import toy_problem
    >>> model, inputs, target = toy_problem()
    >>> tuple(inputs.shape), tuple(target.shape)
    ((4, 1, 16), (4,))

Nothing here is trained: the weights are seeded noise, enough to check shapes, directions and
properties, never to judge a method.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def toy_model(dims: int = 1, channels: int = 1, classes: int = 3, seed: int = 0) -> nn.Module:
    """A two-convolution CNN with seeded weights, in eval mode: `dims` 1 for signals (N, C, L),
    2 for images (N, C, H, W)."""
    conv, pool = (
        (nn.Conv1d, nn.AdaptiveAvgPool1d) if dims == 1 else (nn.Conv2d, nn.AdaptiveAvgPool2d)
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(
            conv(channels, 4, 3, padding=1),
            nn.ReLU(),
            conv(4, 4, 3, padding=1),
            nn.ReLU(),
            pool(2),
            nn.Flatten(),
            nn.Linear(4 * 2**dims, classes),
        )
    return model.eval()


def toy_problem(
    dims: int = 1, samples: int = 4, size: int = 16, channels: int = 1, seed: int = 0
) -> tuple[nn.Module, Tensor, Tensor]:
    """(model, inputs, target): `toy_model` with 3 classes, `samples` seeded random inputs of
    length `size` (or `size` x `size` images) and targets 0, 1, 2, 0, ... in turn."""
    model = toy_model(dims, channels, seed=seed)
    shape = (samples, channels, *[size] * dims)
    inputs = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    return model, inputs, torch.arange(samples) % 3
