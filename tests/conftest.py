"""Shared fixtures: tiny models with hand-set or seeded weights, small inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn


class LinearSignalModel(nn.Module):
    """Bias-free linear model on flattened signals: logits = W x, with W set by hand."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.flatten(x))


def tiny_cnn1d(channels: int = 2, length: int = 16, classes: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv1d(channels, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv1d(4, 5, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Flatten(),
        nn.Linear(5 * (length // 2), classes),
    ).eval()


def tiny_cnn2d(channels: int = 3, size: int = 8, classes: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, classes),
    ).eval()


@pytest.fixture
def linear_model() -> LinearSignalModel:
    # Two classes over 6 positions of one channel; class 0's weights are distinct so rankings
    # of gradient x input have no ties on inputs of ones.
    weight = torch.tensor([[1.0, -2.0, 3.0, 0.5, 4.0, -1.0], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]])
    return LinearSignalModel(weight).eval()


@pytest.fixture
def cnn1d() -> nn.Module:
    return tiny_cnn1d()


@pytest.fixture
def signals() -> torch.Tensor:
    return torch.randn(6, 2, 16, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def cnn2d() -> nn.Module:
    return tiny_cnn2d()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(2))
