"""How the perturbation metrics cut their perturbed inputs into forward passes (perturb.py):
even slices, a CPU cap that keeps passes cache-sized, and outputs that do not depend on it."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from xaibench.perturb import CPU_FORWARD_VALUES, even_slices, forward_grid, rows_per_forward


@pytest.mark.parametrize("total", [1, 2, 15, 16, 17, 100, 255, 256, 257, 1000, 4097])
@pytest.mark.parametrize("most", [1, 7, 16, 256, 4096])
def test_even_slices_cover_everything_in_the_fewest_near_equal_slices(total, most):
    slices = even_slices(total, most)
    assert slices[0].start == 0 and slices[-1].stop == total
    assert all(a.stop == b.start for a, b in itertools.pairwise(slices))
    lengths = [s.stop - s.start for s in slices]
    assert max(lengths) <= most
    assert max(lengths) - min(lengths) <= 1
    assert len(slices) == -(-total // most)


def test_cpu_passes_are_capped_by_the_input_size_and_never_below_16_rows():
    signal = torch.zeros(1, 40)
    assert rows_per_forward(4096, signal) == CPU_FORWARD_VALUES // 40
    assert rows_per_forward(64, signal) == 64  # a smaller batch_size is kept
    assert rows_per_forward(4096, torch.zeros(3, 64, 64)) == 16  # large inputs: at least 16
    assert rows_per_forward(4096, torch.zeros(1, 40, device="meta")) == 4096  # not a CPU


class RowSizes(nn.Module):
    """A per-row function of the input (so outputs cannot depend on the blocks) that records
    how many rows each forward pass saw."""

    def __init__(self):
        super().__init__()
        self.weight = torch.linspace(-1, 1, 40 * 3).view(40, 3)
        self.sizes: list[int] = []

    def forward(self, x):
        self.sizes.append(len(x))
        return x.flatten(1) @ self.weight


@pytest.mark.parametrize(("samples", "per_sample"), [(300, 1), (30, 41), (3, 700), (1, 5)])
def test_forward_grid_on_a_cpu_runs_capped_even_passes_with_the_same_outputs(samples, per_sample):
    """batch_size 4096 on a CPU: no pass above the cap, none below 16 rows unless the whole
    grid is smaller, and the outputs those of one pass per sample and item."""
    inputs = torch.randn(samples, 1, 40, generator=torch.Generator().manual_seed(0))
    scale = torch.linspace(0.5, 1.5, per_sample)
    target = torch.arange(samples) % 3
    model = RowSizes()

    def make_inputs(rows: slice, items: slice) -> torch.Tensor:
        grid = inputs[rows, None] * scale[None, items, None, None]
        return grid.reshape(-1, 1, 40)

    outputs = forward_grid(model, target, per_sample, make_inputs, "logit", 4096, inputs)
    cap = rows_per_forward(4096, inputs[0])
    assert max(model.sizes) <= cap
    assert sum(model.sizes) == samples * per_sample
    if samples * per_sample >= 16:
        assert min(model.sizes) >= 16
    expected = torch.stack([
        torch.stack([(inputs[s] * scale[i]).flatten() @ model.weight[:, target[s]]
                     for i in range(per_sample)])
        for s in range(samples)
    ])  # fmt: skip
    torch.testing.assert_close(outputs, expected)
