"""Shared fixtures (tiny models with hand-set or seeded weights, small inputs) and the rule that
keeps `slow` tests out of any run that does not ask for them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.helpers import LinearSignalModel, tiny_cnn1d, tiny_cnn2d


def pytest_collection_modifyitems(config, items):
    """pyproject's `-m 'not slow'` leaves out the slow tests by default, but any `-m` on the
    command line replaces it: `pytest -m "not e2e"` (the quick loop) would run them. So a
    marker expression that does not mention `slow` leaves them out too; `-m slow`,
    `-m "slow and e2e"` or `-m ""` (everything) choose them explicitly."""
    expression = config.option.markexpr
    if not expression or "slow" in expression:
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


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
