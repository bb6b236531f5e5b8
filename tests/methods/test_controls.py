"""Control methods: the edge detector's values by hand, and its indifference to the model."""

from __future__ import annotations

import torch

import xaibench
from tests.helpers import tiny_cnn1d


def test_edge_on_a_step_signal_is_half_the_step_beside_it(cnn1d):
    # |x[i+1] - x[i-1]| / 2 with the end values repeated: nonzero only next to the step.
    x = torch.tensor([[[0.0, 0.0, 0.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0, 2.0, 2.0]]])
    attr = xaibench.explain(tiny_cnn1d(length=6), x, 0, "edge")
    expected = torch.tensor([[[0.0, 0.0, 0.5, 0.5, 0.0, 0.0], [0.0] * 6]])
    torch.testing.assert_close(attr, expected)


def test_edge_on_an_image_is_the_sobel_magnitude(cnn2d):
    # A vertical unit step between columns 2 and 3: Sobel's x kernel sums 1 + 2 + 1 = 4 on the
    # two columns beside it, its y kernel gives 0 (rows are equal, borders repeated).
    image = torch.zeros(1, 3, 8, 8)
    image[:, :, :, 3:] = 1.0
    attr = xaibench.explain(cnn2d, image, 0, "edge")
    expected = torch.zeros(1, 3, 8, 8)
    expected[:, :, :, 2:4] = 4.0
    torch.testing.assert_close(attr, expected)


def test_edge_ignores_model_and_target(signals):
    first = xaibench.explain(tiny_cnn1d(seed=0), signals, 0, "edge")
    second = xaibench.explain(tiny_cnn1d(seed=1), signals, 2, "edge")
    assert torch.equal(first, second)
