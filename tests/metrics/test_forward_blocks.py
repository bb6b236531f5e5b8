"""How large batches of perturbed inputs run forward (perturb.py): on a CPU in passes of a
cache-friendly size, never under 16 rows, with the outputs of one pass."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

import xaibench
import xaibench.perturb
from xaibench.perturb import (
    CPU_FORWARD_VALUES,
    forward_grid,
    forward_in_passes,
    pass_slices,
    rows_per_forward,
)


def test_cpu_passes_are_capped_by_the_input_size_and_never_below_16_rows():
    signal = torch.zeros(1, 40)
    assert rows_per_forward(4096, signal) == CPU_FORWARD_VALUES // 40
    assert rows_per_forward(64, signal) == 64  # a smaller batch_size is kept
    assert rows_per_forward(4096, torch.zeros(3, 64, 64)) == 16  # large inputs: at least 16
    assert rows_per_forward(4096, torch.zeros(1, 40, device="meta")) == 4096  # not a CPU
    assert pass_slices(15, 1, signal) == [slice(0, 15)]  # a caller's larger batch: as it is


@pytest.mark.parametrize("rows", [1, 15, 16, 17, 31, 33, 100, 255, 256, 257, 1000, 4096])
@pytest.mark.parametrize(("batch_size", "shape"), [(4096, (1, 40)), (4096, (3, 64, 64)),
                                                   (20, (1, 40)), (1, (1, 40))])  # fmt: skip
def test_passes_cover_the_batch_in_near_equal_slices_of_16_rows_or_more(rows, batch_size, shape):
    if rows > batch_size:
        return  # a caller never has a batch larger than its batch_size
    example = torch.zeros(shape)
    passes = pass_slices(rows, batch_size, example)
    assert passes[0].start == 0 and passes[-1].stop == rows
    assert all(a.stop == b.start for a, b in itertools.pairwise(passes))
    lengths = [p.stop - p.start for p in passes]
    assert max(lengths) <= batch_size
    assert max(lengths) - min(lengths) <= 1
    if len(passes) > 1:  # only a batch above the cap is split, and never into small passes
        assert rows > rows_per_forward(batch_size, example)
        assert min(lengths) >= 16
        assert max(lengths) <= max(rows_per_forward(batch_size, example), 31)


class RowSizes(nn.Module):
    """A per-row function of the input that records how many rows each forward pass saw."""

    def __init__(self):
        super().__init__()
        self.weight = torch.linspace(-1, 1, 40 * 3).view(40, 3)
        self.sizes: list[int] = []

    def forward(self, x):
        self.sizes.append(len(x))
        return x.flatten(1) @ self.weight


def test_a_large_batch_runs_in_capped_passes_with_the_outputs_of_one_pass():
    batch = torch.randn(1000, 1, 40, generator=torch.Generator().manual_seed(0))
    model = RowSizes()
    outputs = forward_in_passes(model, batch, 4096)
    assert model.sizes == [250] * 4  # 1000 rows, at most 256 per pass, evenly
    torch.testing.assert_close(outputs, batch.flatten(1) @ model.weight, rtol=0, atol=0)


@pytest.mark.parametrize(("samples", "per_sample"), [(300, 1), (30, 41), (3, 700), (1, 5)])
def test_forward_grid_on_a_cpu_runs_capped_passes_with_the_same_outputs(samples, per_sample):
    inputs = torch.randn(samples, 1, 40, generator=torch.Generator().manual_seed(0))
    scale = torch.linspace(0.5, 1.5, per_sample)
    target = torch.arange(samples) % 3
    model = RowSizes()

    def make_inputs(rows: slice, items: slice) -> torch.Tensor:
        grid = inputs[rows, None] * scale[None, items, None, None]
        return grid.reshape(-1, 1, 40)

    outputs = forward_grid(model, target, per_sample, make_inputs, "logit", 4096)
    assert max(model.sizes) <= rows_per_forward(4096, inputs[0])
    assert sum(model.sizes) == samples * per_sample
    expected = torch.einsum("sl,i,ls->si", inputs.flatten(1), scale, model.weight[:, target])
    torch.testing.assert_close(outputs, expected)


@pytest.mark.parametrize(("method", "params"), [("rise", {"num_masks": 64}),
                                                ("occlusion", {"window": 1, "stride": 1}),
                                                ("scorecam", {})])  # fmt: skip
def test_methods_that_run_masked_copies_give_the_same_maps_in_capped_passes(
    method, params, cnn1d, monkeypatch
):
    """The masked copies of 60 signals (hundreds of rows) run in passes of at most
    rows_per_forward rows, with the maps of one pass per batch bit for bit."""
    signals = torch.randn(60, 2, 16, generator=torch.Generator().manual_seed(1))
    target = torch.arange(60) % 3
    sizes = []
    handle = cnn1d[0].register_forward_pre_hook(lambda m, args: sizes.append(len(args[0])))
    try:
        capped = xaibench.explain(cnn1d, signals, target, method, **params)
    finally:
        handle.remove()
    most = rows_per_forward(4096, signals[0])
    assert max(sizes) <= most < sum(sizes)
    monkeypatch.setattr(xaibench.perturb, "CPU_FORWARD_VALUES", 10**12)  # no cap
    whole = xaibench.explain(cnn1d, signals, target, method, **params)
    torch.testing.assert_close(capped, whole, rtol=0, atol=0)


# Each perturbation metric, with settings that fit 16-position signals.
PERTURBING = {"deletion": {"steps": 16}, "insertion": {"steps": 16}, "aopc_morf": {"steps": 16},
              "abpc": {"steps": 16}, "sensitivity_n": {}, "faithfulness_correlation": {},
              "infidelity": {}, "monotonicity": {}, "road_morf": {}, "selectivity": {"steps": 16},
              "region_perturbation": {"steps": 8}, "faithfulness_estimate": {}}  # fmt: skip


@pytest.mark.parametrize("metric", PERTURBING)
def test_perturbation_metrics_give_the_same_scores_in_capped_passes(metric, cnn1d, monkeypatch):
    """Hundreds of perturbed inputs per block, run (and, for ROAD, imputed) in capped passes:
    the scores and curves of one pass per block, bit for bit."""
    signals = torch.randn(60, 2, 16, generator=torch.Generator().manual_seed(2))
    target = torch.arange(60) % 3
    maps = xaibench.explain(cnn1d, signals, target, "input_x_gradient")
    capped = xaibench.evaluate(cnn1d, signals, target, maps, metric, **PERTURBING[metric])
    monkeypatch.setattr(xaibench.perturb, "CPU_FORWARD_VALUES", 10**12)  # no cap
    whole = xaibench.evaluate(cnn1d, signals, target, maps, metric, **PERTURBING[metric])
    torch.testing.assert_close(capped.scores, whole.scores, rtol=0, atol=0, equal_nan=True)
    if whole.curves is not None:
        torch.testing.assert_close(capped.curves, whole.curves, rtol=0, atol=0, equal_nan=True)
