"""The gallery: the input, then each method's map, with the ground truth's outline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.image import AxesImage

from xaibench.report import plots


@pytest.fixture
def figures(monkeypatch):
    """plot_gallery returns its figure instead of saving it."""
    monkeypatch.setattr(plots, "save", lambda fig, path: fig)


def maps_of(ax) -> list[np.ndarray]:
    return [image.get_array() for image in ax.get_images()]


def test_images_show_the_picture_then_maps_scaled_per_sample_with_mask_outlines(figures):
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(3, 3, 10, 10, generator=gen)
    signed = torch.randn(3, 3, 10, 10, generator=gen)
    unsigned = signed.abs() * torch.tensor([1.0, 100.0, 0.01]).view(3, 1, 1, 1)  # unlike scales
    masks = torch.zeros(3, 10, 10, dtype=torch.bool)
    masks[:, 2:5, 3:7] = True
    labels = torch.tensor([0, 1, 2])
    fig = plots.plot_gallery(inputs, {"signed": signed, "unsigned": unsigned}, labels, labels,
                             path=None, masks=masks)  # fmt: skip
    axes = np.array(fig.axes).reshape(3, 3)
    for row in axes:
        picture = row[0].get_images()[0].get_array()
        assert picture.shape == (10, 10, 3)  # RGB, stretched to [0, 1] for display
        assert picture.min() == pytest.approx(0) and picture.max() == pytest.approx(1)
        signed_map, unsigned_map = row[1].get_images()[0], row[2].get_images()[0]
        assert signed_map.get_cmap().name == "RdBu_r"
        assert signed_map.get_clim() == (-1, 1)
        assert unsigned_map.get_cmap().name == "Reds"
        assert unsigned_map.get_clim() == (0, 1)
        # Each sample's map reaches the end of the colour scale, whatever its own scale.
        assert np.abs(signed_map.get_array()).max() == pytest.approx(1)
        assert unsigned_map.get_array().max() == pytest.approx(1)
        for ax in row:  # the mask's outline on every panel, halfway between pixel centres
            (outline,) = ax.collections
            vertices = np.concatenate([path.vertices for path in outline.get_paths()])
            assert vertices.min(0) == pytest.approx([2.5, 1.5])  # (column, row)
            assert vertices.max(0) == pytest.approx([6.5, 4.5])
    expected = signed[1].sum(0) / signed[1].sum(0).abs().max()
    assert np.allclose(axes[1, 1].get_images()[0].get_array(), expected.numpy(), atol=1e-6)


def test_without_masks_there_are_no_outlines(figures):
    inputs = torch.rand(2, 1, 6, 6)
    fig = plots.plot_gallery(inputs, {"m": inputs}, torch.zeros(2), torch.zeros(2), path=None)
    assert all(not ax.collections and not ax.patches for ax in fig.axes)
    assert all(isinstance(ax.get_images()[0], AxesImage) for ax in fig.axes)


def test_signals_draw_one_outline_per_run_of_the_mask(figures):
    signal = torch.linspace(-1, 1, 12).view(1, 1, 12)
    mask = torch.zeros(1, 12, dtype=torch.bool)
    mask[0, [0, 1, 5, 6, 7, 11]] = True  # three runs: 0-1, 5-7, 11 (wrapping around the end)
    fig = plots.plot_gallery(signal, {"m": signal}, torch.zeros(1), torch.zeros(1), path=None,
                             masks=mask)  # fmt: skip
    input_ax, map_ax = fig.axes
    for ax in (input_ax, map_ax):
        spans = [p for p in ax.patches if not p.get_fill()]
        assert len(spans) == 3
        assert sorted((p.get_x(), p.get_width()) for p in spans) == [(-0.5, 2), (4.5, 3),
                                                                       (10.5, 1)]  # fmt: skip
    assert len(input_ax.get_images()) == 0  # the input panel is the signal alone
    assert np.allclose(input_ax.lines[0].get_ydata(), signal[0, 0].numpy())
    assert len(map_ax.get_images()) == 1
